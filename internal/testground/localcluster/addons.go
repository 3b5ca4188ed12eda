package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Vela runs the vela CLI (bin/vela) against the cluster.
func (c *Cluster) Vela(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Bin, "vela"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig(), "HOME="+c.path("home"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Kubectl runs bin/kubectl against the cluster.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Bin, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// EnableAddons enables the repository's two addons from their directories,
// the way a user does, with the mycloud endpoint and keys, and waits for the
// step-runner Deployment.
func (c *Cluster) EnableAddons(ctx context.Context, root, endpoint, accessKey, secretKey string) error {
	if err := os.MkdirAll(c.path("home"), 0o755); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"addon", "enable", filepath.Join(root, "addons", "terraform-mycloud"), "endpoint=" + endpoint, "accessKey=" + accessKey, "secretKey=" + secretKey},
		{"addon", "enable", filepath.Join(root, "addons", "vela-infra")},
	} {
		t := time.Now()
		if out, err := c.Vela(ctx, args...); err != nil {
			return fmt.Errorf("vela %s: %v\n%s", strings.Join(args[:3], " "), err, out)
		}
		c.phase("vela addon enable ./addons/%s (%.1fs)", filepath.Base(args[2]), time.Since(t).Seconds())
	}
	return c.WaitDeployment(ctx, "vela-system", "vela-infra-step-runner", 2*time.Minute)
}

// Running reports whether any process of the cluster runs.
func (c *Cluster) Running() bool {
	for _, n := range Components {
		if c.pid(n) > 0 {
			return true
		}
	}
	return false
}

// StopPidFile sends SIGTERM to the process a pid file names (the demo's
// mycloud) and removes the file.
func StopPidFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	_ = os.Remove(path)
}
