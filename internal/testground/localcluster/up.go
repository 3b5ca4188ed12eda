package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Up starts whatever is not running and waits until the node is Ready and
// the default ServiceAccount exists. Running it again is cheap.
func (c *Cluster) Up(ctx context.Context) error {
	c.start = time.Now()
	for _, step := range []func(context.Context) error{
		c.checkHost,         // root, the binaries, the Debian packages, IP forwarding
		c.writeState,        // .cluster/: folders, certificates, kubeconfigs, configuration files
		c.startControlPlane, // etcd, kube-apiserver
		c.startRuntime,      // containerd and the images of hack/images
		c.startControllers,  // kube-controller-manager, kube-scheduler
		c.startNode,         // kubelet, kube-proxy
		c.waitReady,         // node Ready, then the default ServiceAccount
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	c.phase("cluster ready: export KUBECONFIG=%s", c.Kubeconfig())
	return nil
}

// checkHost fails early, saying which make target helps, when this machine
// cannot run the cluster; it turns IP forwarding on.
func (c *Cluster) checkHost(context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("the local cluster runs containerd and a kubelet: run it as root")
	}
	for _, tool := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"} {
		if _, err := os.Stat(filepath.Join(c.Bin, tool)); err != nil {
			return fmt.Errorf("%s is not built: run make cluster-tools (%w)", tool, err)
		}
	}
	for _, cmd := range []string{"containerd", "runc", "iptables", "conntrack", "ctr"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return fmt.Errorf("%s is not installed: run make cluster-deps (apt-get install containerd runc containernetworking-plugins iptables conntrack)", cmd)
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling IP forwarding: %w", err)
	}
	return nil
}

// writeState creates the state folders and writes the certificates,
// kubeconfigs and configuration files (existing identities are kept).
func (c *Cluster) writeState(context.Context) error {
	for _, d := range []string{"logs", "run", "kubeconfig", "config", "etcd", "kubelet", "cni/net.d", "cni/ipam", "containerd/root", "containerd/state", "images"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return err
		}
	}
	c.phase("certificates and kubeconfigs in %s (node %s, host IP %s)", c.Dir, nodeName, c.hostIP)
	if err := c.writePKI(); err != nil {
		return err
	}
	return c.writeConfigs()
}

// waitReady waits for the node to be Ready and for the default
// ServiceAccount (pods can be created only after it exists).
func (c *Cluster) waitReady(ctx context.Context) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	c.phase("waiting for node %s to be Ready", nodeName)
	if err := waitNodeReady(ctx, cs, nodeName, 90*time.Second); err != nil {
		return err
	}
	c.phase("waiting for the default ServiceAccount (pods can be created after it)")
	return waitServiceAccount(ctx, cs, "default", "default", 60*time.Second)
}
