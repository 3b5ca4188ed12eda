package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/testground/testenv"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// startCloud starts mycloud, its data and log in bin/bench, and fails when
// it exits within half a second (its port taken).
func (b *bench) startCloud() error {
	b.cloud = cloudURL
	mc := exec.Command(b.bin("mycloud"), "-addr", cloudAddr, "-data-dir", filepath.Join(b.out, "mycloud"), "-access-key", accessKey, "-create-delay", "0s", "-log-format", "text")
	mc.Env = append(os.Environ(), "MYCLOUD_SECRET_KEY="+secretKey, "MYCLOUD_ADMIN_TOKEN="+adminToken)
	_ = os.RemoveAll(filepath.Join(b.out, "mycloud"))
	mcLog, err := os.Create(filepath.Join(b.out, "mycloud.log"))
	if err != nil {
		return err
	}
	defer mcLog.Close()
	mc.Stdout, mc.Stderr = mcLog, mcLog
	if err := mc.Start(); err != nil {
		return err
	}
	b.mcPid = mc.Process.Pid
	mcDone := make(chan struct{})
	go func() { _ = mc.Wait(); close(mcDone) }()
	b.exits.add(func() { _ = mc.Process.Kill(); <-mcDone })
	select {
	case <-mcDone:
		logged, _ := os.ReadFile(mcLog.Name())
		return fmt.Errorf("mycloud did not start (is %s in use? a bench stopped by SIGKILL leaves its mycloud behind):\n%s", cloudAddr, logged)
	case <-time.After(500 * time.Millisecond):
	}
	return nil
}

// startStack starts the API server and the stack (step-runner, vela-core)
// on mycloud, and the bench's client of the API server.
func (b *bench) startStack() error {
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	b.exits.add(func() { _ = env.Stop() })
	b.exits.add(func() { close(b.drifts.done) })
	b.stack, err = testenv.StartStack(env, b.root, testenv.StackOptions{
		VelaCore: b.bin("vela-core"), Vela: b.bin("vela"), StepRunner: b.stepRunner(), Terraform: b.bin("terraform"),
		TerraformCLIConfig: b.bin("terraformrc"), Endpoint: b.cloud, AccessKey: accessKey, SecretKey: secretKey,
	})
	if err != nil {
		return err
	}
	b.exits.add(b.stack.Stop)
	s := env.Scheme
	_ = v1alpha1.AddToScheme(s)
	b.c, err = client.NewWithWatch(env.Config, client.Options{Scheme: s})
	return err
}

// stepRunner is the step-runner binary the bench runs: STEP_RUNNER, else
// bin/step-runner.
func (b *bench) stepRunner() string {
	if p := os.Getenv("STEP_RUNNER"); p != "" {
		return p
	}
	return b.bin("step-runner")
}
