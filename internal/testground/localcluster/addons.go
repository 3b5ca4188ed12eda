package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// step-runner Deployment. terraform-mycloud depends on the terraform addon,
// which Install enabled.
func (c *Cluster) EnableAddons(ctx context.Context, root, endpoint, accessKey, secretKey string) error {
	if err := c.enableAddon(ctx, filepath.Join(root, "addons", "terraform-mycloud"),
		"endpoint="+endpoint, "accessKey="+accessKey, "secretKey="+secretKey); err != nil {
		return err
	}
	if err := c.enableAddon(ctx, filepath.Join(root, "addons", "vela-infra")); err != nil {
		return err
	}
	return c.WaitDeployment(ctx, "vela-system", "vela-infra-step-runner", 2*time.Minute)
}

// enableAddon runs `vela addon enable <dir> <key=value>...`, which waits
// until the addon's Application runs. Errors name the directory, never the
// parameters (they may hold keys).
func (c *Cluster) enableAddon(ctx context.Context, dir string, params ...string) error {
	if err := os.MkdirAll(c.path("home"), 0o755); err != nil {
		return err
	}
	t := time.Now()
	if out, err := c.Vela(ctx, append([]string{"addon", "enable", dir}, params...)...); err != nil {
		return fmt.Errorf("vela addon enable %s: %v\n%s", dir, err, out)
	}
	c.phase("vela addon enable ./addons/%s (%.1fs)", filepath.Base(dir), time.Since(t).Seconds())
	return nil
}
