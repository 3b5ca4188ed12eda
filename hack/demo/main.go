// Command demo walks the embedded default through the whole flow on a fresh
// local cluster (internal/testground/localcluster): mycloud on the host seeded with a
// pre-existing VPC and bucket, vela-core and terraform-controller in the
// cluster, both addons enabled with `vela addon enable`, and
// e2e/testdata/platform.yaml taken through import, provisioning by
// terraform-controller, drift and approval. It prints what happens in plain
// language with the real `vela status` output. `make demo` runs it; KEEP=1
// leaves the cluster and mycloud running (make down stops both).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
	"github.com/vela-infra/vela-infra/internal/testground/testenv"
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
	fmt.Printf("\n\033[1m==> [%5.1fs] %s\033[0m\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func run() error {
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	keep := os.Getenv("KEEP") == "1"
	c, err := localcluster.New(root, os.Stdout)
	if err != nil {
		return err
	}
	if c.Running() {
		step("a local cluster is running: the demo starts from a fresh one (make down)")
		if err := c.Down(); err != nil {
			return err
		}
	}
	localcluster.StopPidFile(filepath.Join(root, ".demo", "mycloud.pid"))

	step("make up: a single-node Kubernetes on this machine, vela-core and terraform-controller in it")
	if err := c.Up(ctx); err != nil {
		return err
	}
	if !keep {
		defer func() {
			step("make down (KEEP=1 leaves everything running)")
			localcluster.StopPidFile(filepath.Join(root, ".demo", "mycloud.pid"))
			_ = c.Down()
		}()
	}
	p, err := localcluster.DefaultPlatform(root, testenv.ModuleDir)
	if err != nil {
		return err
	}
	if err := c.Install(ctx, p); err != nil {
		return err
	}

	addr := os.Getenv("MYCLOUD_ADDR")
	if addr == "" {
		addr = c.HostIP().String() + ":8480"
	}
	endpoint := "http://" + addr
	step("mycloud on %s (pods reach the host there), seeded with e2e/testdata/mycloud-seed.yaml: VPC vpc-legacy01 and a bucket exist before the platform manages them", addr)
	if err := startCloud(addr); err != nil {
		return err
	}

	step("vela addon enable ./addons/terraform-mycloud endpoint=%s accessKey=... secretKey=...; vela addon enable ./addons/vela-infra", endpoint)
	if err := c.EnableAddons(ctx, root, endpoint, accessKey, secretKey); err != nil {
		return err
	}
	vela := func(args ...string) (string, error) { return c.Vela(ctx, args...) }
	until := func(want string) (string, error) {
		deadline := time.Now().Add(6 * time.Minute)
		for {
			out, _ := vela("status", "platform")
			if strings.Contains(out, want) {
				return out, nil
			}
			if time.Now().After(deadline) {
				logs, _ := c.Kubectl(ctx, "-n", "vela-system", "logs", "deploy/vela-infra-step-runner", "--tail=40")
				return out, fmt.Errorf("vela status platform never showed %q; last output:\n%s\nstep-runner log:\n%s", want, out, logs)
			}
			time.Sleep(2 * time.Second)
		}
	}
	show := func(out string) {
		fmt.Println("$ vela status platform\n" + workflowPart(out))
	}
	app := filepath.Join(root, "e2e", "testdata", "platform.yaml")

	step("1+2. vela up -f e2e/testdata/platform.yaml: infra-import adopts vpc-legacy01, terraform-controller provisions the subnet and the MySQL instance, and the new bucket waits for approval")
	if out, err := vela("up", "-f", app); err != nil {
		return fmt.Errorf("vela up: %v\n%s", err, out)
	}
	out, err := until("suspending")
	if err != nil {
		return err
	}
	show(out)
	fmt.Println("mycloud's request log, creates/deletes of VPCs:", writes(endpoint, "/v1/vpcs"), "(the VPC was adopted, not recreated)")
	fmt.Println("creates by terraform-controller's Jobs:", writes(endpoint, "/v1/subnets"), writes(endpoint, "/v1/mysql-instances"))
	cfgs, _ := c.Kubectl(ctx, "get", "configurations")
	fmt.Println("$ kubectl get configurations\n" + cfgs)

	step("approving the new bucket: vela workflow resume platform")
	if out, err := vela("workflow", "resume", "platform"); err != nil {
		return fmt.Errorf("vela workflow resume: %v\n%s", err, out)
	}
	if _, err = until("finished: true"); err != nil {
		return err
	}
	fmt.Println("bucket creates:", writes(endpoint, "/v1/buckets"))

	step("3. someone edits the VPC in the console (mycloud's admin API), then the workflow runs again: vela workflow restart platform")
	if err := admin(endpoint, http.MethodPatch, "resources/vpcs/vpc-legacy01", `{"tags":{"owner":"someone-else"}}`); err != nil {
		return err
	}
	if out, err := vela("workflow", "restart", "platform"); err != nil {
		return fmt.Errorf("vela workflow restart: %v\n%s", err, out)
	}
	if out, err = until("drifted:"); err != nil {
		return err
	}
	show(out)
	if _, err = until("finished: true"); err != nil {
		return err
	}

	step("4. a property change held by infra-approve: versioning: true on app-assets")
	raw, err := os.ReadFile(app)
	if err != nil {
		return err
	}
	changed := strings.Replace(string(raw), "        acl: private\n", "        acl: private\n        versioning: true\n", 1)
	changedFile := filepath.Join(root, ".demo", "platform-versioning.yaml")
	if err := os.WriteFile(changedFile, []byte(changed), 0o644); err != nil {
		return err
	}
	if out, err := vela("up", "-f", changedFile); err != nil {
		return fmt.Errorf("vela up: %v\n%s", err, out)
	}
	if _, err = until("versioning: false -> true"); err != nil {
		return err
	}
	if out, err = until("suspending"); err != nil {
		return err
	}
	show(out)
	fmt.Println("bucket updates so far:", writes(endpoint, "/v1/buckets/"))
	step("approving: vela workflow resume platform (applies exactly the plan shown)")
	if out, err := vela("workflow", "resume", "platform"); err != nil {
		return fmt.Errorf("vela workflow resume: %v\n%s", err, out)
	}
	if out, err = until("finished: true"); err != nil {
		return err
	}
	show(out)
	fmt.Println("bucket updates:", writes(endpoint, "/v1/buckets/"))

	step("done in %.0fs", time.Since(start).Seconds())
	if keep {
		fmt.Printf("\nEverything is still running. In another shell:\n  export KUBECONFIG=%s\n  bin/vela status platform\n  bin/kubectl get configurations,infraimports,infradrifts,infraapprovals\nmycloud: %s (admin token %s). make down stops it all.\n", c.Kubeconfig(), endpoint, adminToken)
	}
	return nil
}

// startCloud starts mycloud detached, with its pid in .demo/mycloud.pid, so
// that KEEP=1 can leave it running and make down can stop it.
func startCloud(addr string) error {
	state := filepath.Join(root, ".demo")
	_ = os.RemoveAll(state)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(state, "mycloud.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(root, "bin", "mycloud"), "-addr", addr, "-data-dir", filepath.Join(state, "mycloud"),
		"-access-key", accessKey, "-seed", filepath.Join(root, "e2e", "testdata", "mycloud-seed.yaml"), "-create-delay", "1s")
	cmd.Env = append(os.Environ(), "MYCLOUD_SECRET_KEY="+secretKey, "MYCLOUD_ADMIN_TOKEN="+adminToken)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(state, "mycloud.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("mycloud did not become healthy at %s in 10s (port in use? set MYCLOUD_ADDR); see .demo/mycloud.log", addr)
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

// writes lists the POST, PATCH and DELETE calls under prefix in mycloud's
// request log.
func writes(endpoint, prefix string) string {
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
	var w []string
	for _, r := range log.Items {
		if r.Method != http.MethodGet && strings.HasPrefix(r.Path, prefix) {
			w = append(w, r.Method+" "+r.Path)
		}
	}
	if len(w) == 0 {
		return "none"
	}
	return strings.Join(w, ", ")
}

// workflowPart keeps the Workflow section of vela status.
func workflowPart(status string) string {
	if i := strings.Index(status, "Workflow:"); i >= 0 {
		if j := strings.Index(status, "Services:"); j > i {
			return status[i:j]
		}
		return status[i:]
	}
	return status
}
