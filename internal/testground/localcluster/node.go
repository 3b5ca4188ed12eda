package localcluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// startRuntime starts containerd and imports the images hack/images built.
func (c *Cluster) startRuntime(ctx context.Context) error {
	if err := c.ensure(ctx, "containerd", []string{"--config=" + c.path("config", "containerd.toml")},
		c.cmdReady("ctr", "--address", c.sock(), "version")); err != nil {
		return err
	}
	return c.importImages(ctx)
}

// startNode starts the kubelet (which registers the node) and kube-proxy
// (Service IPs, the kubernetes Service's among them).
func (c *Cluster) startNode(ctx context.Context) error {
	if err := c.ensure(ctx, "kubelet", []string{
		"--config=" + c.path("config", "kubelet.yaml"), "--kubeconfig=" + c.kubeconfigOf("kubelet"),
		"--root-dir=" + c.path("kubelet"), "--hostname-override=" + nodeName, "--node-ip=" + c.hostIP.String(),
	}, c.httpReady("http://127.0.0.1:10248/healthz", false)); err != nil {
		return err
	}
	return c.ensure(ctx, "kube-proxy", []string{"--config=" + c.path("config", "kube-proxy.yaml")},
		c.httpReady("http://127.0.0.1:10256/healthz", false))
}

// sock is containerd's socket.
func (c *Cluster) sock() string { return c.path("run", "containerd.sock") }

// importImages loads the archives hack/images wrote into containerd's k8s.io
// namespace, skipping those already imported with the same image ID.
func (c *Cluster) importImages(ctx context.Context) error {
	list, err := os.ReadFile(filepath.Join(c.Images, "images.txt"))
	if err != nil {
		return fmt.Errorf("no image archives (run make images): %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(list)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		ref, id, archive := f[0], f[1], f[2]
		marker := c.path("images", strings.NewReplacer("/", "_", ":", "_").Replace(ref))
		if old, err := os.ReadFile(marker); err == nil && string(old) == id {
			continue
		}
		t := time.Now()
		out, err := exec.CommandContext(ctx, "ctr", "--address", c.sock(), "-n", "k8s.io", "images", "import", "--all-platforms", archive).CombinedOutput()
		if err != nil {
			return fmt.Errorf("importing %s into containerd: %v\n%s", ref, err, out)
		}
		if err := os.WriteFile(marker, []byte(id), 0o644); err != nil {
			return err
		}
		c.phase("image %s imported in %.1fs", ref, time.Since(t).Seconds())
	}
	return sc.Err()
}
