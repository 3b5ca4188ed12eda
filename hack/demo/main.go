// Command demo walks the embedded default through the infra-* workflow
// steps with the real vela CLI: mycloud seeded with a pre-existing VPC, a
// real kube-apiserver + etcd, the real vela-core and step-runner, the
// project's definitions. It prints what happens in plain language with the
// real `vela status` output. `make demo` runs it; KEEP=1 keeps it up.
//
// Not yet part of it (README, "Status"): a kubelet, so terraform-controller's
// Job pods do not run and components are not provisioned by it here.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vela-infra/vela-infra/pkg/testenv"
)

const (
	accessKey  = "demo-access-key"
	secretKey  = "demo-secret-key"
	adminToken = "demo-admin-token"
)

var (
	start = time.Now()
	root  string
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n\033[1m==> [%4.1fs] %s\033[0m\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func run() error {
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		return err
	}
	bin := func(name string) string { return filepath.Join(root, "bin", name) }
	state := filepath.Join(root, ".demo")
	_ = os.RemoveAll(state)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	addr := os.Getenv("MYCLOUD_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8480"
	}
	endpoint := "http://" + addr

	step("starting mycloud on %s, seeded with e2e/testdata/mycloud-seed.yaml (a pre-existing VPC and bucket)", addr)
	mycloud := exec.Command(bin("mycloud"), "-addr", addr, "-data-dir", filepath.Join(state, "mycloud"),
		"-access-key", accessKey, "-seed", filepath.Join(root, "e2e", "testdata", "mycloud-seed.yaml"), "-create-delay", "1s")
	mycloud.Env = append(os.Environ(), "MYCLOUD_SECRET_KEY="+secretKey, "MYCLOUD_ADMIN_TOKEN="+adminToken)
	logFile, err := os.Create(filepath.Join(state, "mycloud.log"))
	if err != nil {
		return err
	}
	mycloud.Stdout, mycloud.Stderr = logFile, logFile
	if err := mycloud.Start(); err != nil {
		return err
	}
	defer func() { _ = mycloud.Process.Signal(syscall.SIGTERM); _ = mycloud.Wait() }()
	if err := waitHealthy(endpoint); err != nil {
		return err
	}

	step("starting a real kube-apiserver + etcd, vela-core and the step-runner")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	stack, err := testenv.StartStack(env, root, testenv.StackOptions{
		VelaCore: bin("vela-core"), Vela: bin("vela"), StepRunner: bin("step-runner"), Terraform: bin("terraform"),
		TerraformCLIConfig: bin("terraformrc"), Bare: true,
	})
	if err != nil {
		return err
	}
	defer stack.Stop()
	step("vela addon enable ./addons/terraform-mycloud endpoint=%s ...; vela addon enable ./addons/vela-infra (offline, from the local directories)", endpoint)
	if err := stack.EnableAddons(root, bin("vela"), endpoint, accessKey, secretKey); err != nil {
		return err
	}
	vela := func(args ...string) (string, error) { return stack.Vela(bin("vela"), args...) }
	until := func(app, want string) (string, error) {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			out, _ := vela("status", app)
			if strings.Contains(out, want) {
				return out, nil
			}
			if time.Now().After(deadline) {
				return out, fmt.Errorf("vela status %s never showed %q; last output:\n%s\nstep-runner log:\n%s", app, want, out, stack.LogTail("step-runner", 3000))
			}
			time.Sleep(time.Second)
		}
	}

	step("1. infra-import adopts the pre-existing VPC vpc-legacy01, then infra-drift checks it (e2e/testdata/network.yaml)")
	if out, err := vela("up", "-f", filepath.Join(root, "e2e", "testdata", "network.yaml")); err != nil {
		return fmt.Errorf("vela up: %v\n%s", err, out)
	}
	out, err := until("network", "has no drift")
	if err != nil {
		return err
	}
	fmt.Println("$ vela status network\n" + workflowPart(out))
	fmt.Println("mycloud request log, creates/deletes of VPCs:", vpcWrites(endpoint))

	step("2. someone changes the VPC in the console (an out-of-band edit through mycloud's admin API)")
	if err := admin(endpoint, http.MethodPatch, "resources/vpcs/vpc-legacy01", `{"tags":{"owner":"someone-else","temp":"yes"}}`); err != nil {
		return err
	}
	fmt.Println("tags are now {owner=someone-else, temp=yes}; re-running the workflow: vela workflow restart network")
	if out, err := vela("workflow", "restart", "network"); err != nil {
		return fmt.Errorf("vela workflow restart: %v\n%s", err, out)
	}
	if out, err = until("network", "drifted:"); err != nil {
		return err
	}
	fmt.Println("$ vela status network\n" + workflowPart(out))

	step("3. a new bucket held by infra-approve: vela status shows the diff while the workflow waits (e2e/testdata/assets.yaml)")
	if out, err := vela("up", "-f", filepath.Join(root, "e2e", "testdata", "assets.yaml")); err != nil {
		return fmt.Errorf("vela up: %v\n%s", err, out)
	}
	if out, err = until("assets", "suspending"); err != nil {
		return err
	}
	fmt.Println("$ vela status assets\n" + workflowPart(out))
	step("approving: vela workflow resume assets")
	if out, err := vela("workflow", "resume", "assets"); err != nil {
		return fmt.Errorf("vela workflow resume: %v\n%s", err, out)
	}
	if out, err = until("assets", "applied the approved plan"); err != nil {
		return err
	}
	fmt.Println("$ vela status assets\n" + workflowPart(out))

	step("done in %.0fs", time.Since(start).Seconds())
	fmt.Println("Not shown yet: terraform-controller provisioning components through its Job pods, which needs the local cluster (README, Status).")
	if os.Getenv("KEEP") == "1" {
		fmt.Printf("\nKeeping it up. In another shell:\n  export KUBECONFIG=%s\n  bin/vela status assets\n  bin/kubectl get infraimports,infradrifts,infraapprovals\nPress Ctrl-C to stop.\n", stack.Kubeconfig)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
	}
	return nil
}

func waitHealthy(endpoint string) error {
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(endpoint + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("mycloud did not become healthy at %s in 10s (port in use? set MYCLOUD_ADDR); see .demo/mycloud.log", endpoint)
}

func admin(endpoint, method, path, body string) error {
	req, err := http.NewRequest(method, endpoint+"/admin/v1/"+path, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("mycloud admin %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return nil
}

// vpcWrites lists the create and delete calls on VPCs in mycloud's request log.
func vpcWrites(endpoint string) string {
	req, _ := http.NewRequest(http.MethodGet, endpoint+"/admin/v1/requests", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var log struct {
		Items []struct{ Method, Path string } `json:"items"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&log)
	var writes []string
	for _, r := range log.Items {
		if (r.Method == http.MethodPost || r.Method == http.MethodDelete) && strings.HasPrefix(r.Path, "/v1/vpcs") {
			writes = append(writes, r.Method+" "+r.Path)
		}
	}
	if len(writes) == 0 {
		return "none"
	}
	return strings.Join(writes, ", ")
}

// workflowPart keeps the Workflow section of vela status.
func workflowPart(status string) string {
	if i := strings.Index(status, "Workflow:"); i >= 0 {
		return status[i:]
	}
	return status
}
