// Package mycloudtest runs the real parts that Terraform tests need: a mycloud
// process (the cmd/mycloud binary, built from this checkout), the real
// provider binary in a Terraform filesystem mirror with a CLI config, and the
// Terraform CLI that `make tools` built.
package mycloudtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// Credentials every test cloud uses. They are sentinels: a test that finds
// them in a log or a status has found a leak.
const (
	AccessKey  = "AKMYCLOUDTEST"
	SecretKey  = "sentinel-secret-5ec7e7"
	AdminToken = "sentinel-admin-ad3109"
)

// ProviderVersion is the version the mirror serves the provider as.
const ProviderVersion = "0.1.0"

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds cmd/mycloud and the provider once per test process.
func binaries() (string, error) {
	buildOnce.Do(func() {
		root, err := testenv.RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "mycloudtest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		mirror := filepath.Join(buildDir, "mirror", "registry.terraform.io", "vela-infra", "mycloud", ProviderVersion, "linux_amd64")
		for pkg, out := range map[string]string{
			"./cmd/mycloud":                    filepath.Join(buildDir, "mycloud"),
			"./cmd/terraform-provider-mycloud": filepath.Join(mirror, "terraform-provider-mycloud_v"+ProviderVersion),
		} {
			cmd := exec.Command("go", "build", "-o", out, pkg)
			cmd.Dir = root
			if msg, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
				return
			}
		}
		cfg := fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/vela-infra/*"]
  }
  direct {
    exclude = ["registry.terraform.io/vela-infra/*"]
  }
}
`, filepath.Join(buildDir, "mirror"))
		buildErr = os.WriteFile(filepath.Join(buildDir, "terraformrc"), []byte(cfg), 0o644)
	})
	return buildDir, buildErr
}

// CLIConfig returns a Terraform CLI config file that installs the provider
// built from this checkout from a filesystem mirror, with no network.
func CLIConfig(t testing.TB) string {
	t.Helper()
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "terraformrc")
}

// TerraformPath returns the Terraform CLI: TF_ACC_TERRAFORM_PATH or bin/terraform.
func TerraformPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TF_ACC_TERRAFORM_PATH"); p != "" {
		return p
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "bin", "terraform")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("terraform not found at %s: run `make tools`", p)
	}
	return p
}

// Cloud is a running mycloud process.
type Cloud struct {
	URL     string
	DataDir string
	Log     *bytes.Buffer
	cmd     *exec.Cmd
	exited  chan struct{}
	addr    string
	args    []string
	t       testing.TB
}

// Options tunes a cloud.
type Options struct {
	CreateDelay time.Duration
	Seed        string // path of a seed file
	// Host is the address to listen on (default 127.0.0.1); the local
	// cluster's pods reach the host at its IP.
	Host string
}

// Start starts mycloud on a free port with a fresh data dir; it is killed
// when the test ends.
func Start(t testing.TB, opts Options) *Cloud {
	t.Helper()
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &Cloud{URL: "http://" + addr, DataDir: t.TempDir(), Log: &bytes.Buffer{}, addr: addr, t: t}
	c.args = []string{filepath.Join(dir, "mycloud"), "-addr", addr, "-data-dir", c.DataDir,
		"-access-key", AccessKey, "-create-delay", opts.CreateDelay.String()}
	if opts.Seed != "" {
		c.args = append(c.args, "-seed", opts.Seed)
	}
	c.start()
	t.Cleanup(func() { c.Kill() })
	return c
}

func (c *Cloud) start() {
	c.t.Helper()
	c.cmd = exec.Command(c.args[0], c.args[1:]...)
	c.cmd.Env = append(os.Environ(), "MYCLOUD_SECRET_KEY="+SecretKey, "MYCLOUD_ADMIN_TOKEN="+AdminToken)
	c.cmd.Stdout, c.cmd.Stderr = c.Log, c.Log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan struct{})
	c.exited = exited
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(exited) }(c.cmd)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			c.cmd = nil
			c.t.Fatalf("mycloud exited at start-up; its log:\n%s", c.Log)
		default:
		}
		resp, err := http.Get(c.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("mycloud did not become healthy at %s within 15s; its log:\n%s", c.URL, c.Log)
}

// Kill stops the process with SIGKILL, as a crash would.
func (c *Cloud) Kill() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		<-c.exited
		c.cmd = nil
	}
}

// Terminate stops the process with SIGTERM and returns its exit error.
func (c *Cloud) Terminate() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	<-c.exited
	state := c.cmd.ProcessState
	c.cmd = nil
	if !state.Success() {
		return fmt.Errorf("mycloud exited with %s", state)
	}
	return nil
}

// Restart starts the process again on the same address and data dir.
func (c *Cloud) Restart() { c.start() }

// Env returns the provider's environment variables for this cloud.
func (c *Cloud) Env() []string {
	return []string{"MYCLOUD_ENDPOINT=" + c.URL, "MYCLOUD_ACCESS_KEY=" + AccessKey, "MYCLOUD_SECRET_KEY=" + SecretKey}
}

// ProviderBlock returns HCL configuring the provider for this cloud.
func (c *Cloud) ProviderBlock() string {
	return fmt.Sprintf("provider \"mycloud\" {\n  endpoint   = %q\n  access_key = %q\n  secret_key = %q\n}\n", c.URL, AccessKey, SecretKey)
}

// Admin calls the admin API and decodes the JSON answer into out (if not nil).
func (c *Cloud) Admin(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.URL+"/admin/v1/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("admin %s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// MustAdmin is Admin that fails the test on error.
func (c *Cloud) MustAdmin(method, path string, body any, out any) {
	c.t.Helper()
	if err := c.Admin(method, path, body, out); err != nil {
		c.t.Fatal(err)
	}
}

// Request is one entry of the request log.
type Request struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	// Replayed is a create answered from its idempotency key: nothing was
	// created.
	Replayed bool `json:"replayed,omitempty"`
}

// Requests returns the request log.
func (c *Cloud) Requests() []Request {
	c.t.Helper()
	var out struct {
		Items []Request `json:"items"`
	}
	c.MustAdmin(http.MethodGet, "requests", nil, &out)
	return out.Items
}

// CountRequests counts logged calls with the method whose path starts with prefix.
func (c *Cloud) CountRequests(method, prefix string) int {
	n := 0
	for _, r := range c.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// Workspace is a directory of Terraform configuration run with the real CLI
// and the mirrored provider against a cloud.
type Workspace struct {
	Dir   string
	cloud *Cloud
	t     testing.TB
}

// NewWorkspace writes files (name → content) into a fresh directory.
func NewWorkspace(t testing.TB, c *Cloud, files map[string]string) *Workspace {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &Workspace{Dir: dir, cloud: c, t: t}
}

// Command returns the terraform command for args, not yet started.
func (w *Workspace) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, TerraformPath(w.t), args...)
	cmd.Dir = w.Dir
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+CLIConfig(w.t), "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
	cmd.Env = append(cmd.Env, w.cloud.Env()...)
	return cmd
}

// Run runs terraform with args and returns its combined output.
func (w *Workspace) Run(args ...string) (string, error) {
	out, err := w.Command(context.Background(), args...).CombinedOutput()
	return string(out), err
}

// MustRun runs terraform and fails the test on error.
func (w *Workspace) MustRun(args ...string) string {
	w.t.Helper()
	out, err := w.Run(args...)
	if err != nil {
		w.t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}
