// Package localcluster runs a real single-node Kubernetes on this machine:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
// kube-proxy built from their Go modules, Debian's containerd, runc and CNI
// plugins, and images built by hack/images imported into containerd. No
// systemd and no registry: every process is started here with a pid file and
// stopped by Down. State lives in one git-ignored folder (.cluster/).
//
// The files, by concern: up.go (Up and its phases), controlplane.go (etcd,
// kube-apiserver, controller manager, scheduler), node.go (containerd, the
// images, kubelet, kube-proxy), process.go (starting, finding and stopping
// the processes), down.go (Down: containers, mounts, iptables rules),
// pki.go and config.go (certificates, kubeconfigs, configuration files),
// wait.go (bounded waits), platform.go (vela-core and terraform-controller),
// webhook.go (vela-core's admission webhooks: certificate, CA bundle, a
// check that kube-apiserver reaches them) and addons.go (the vela and
// kubectl CLIs, the repository's addons).
package localcluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	nodeName      = "vela-infra"
	apiServerPort = 6443
	etcdPort      = 23790
	serviceCIDR   = "10.96.0.0/16"
	apiServiceIP  = "10.96.0.1"
	podCIDR       = "10.88.0.0/16"
	bridgeName    = "vinfra0"
)

// Components are the cluster's processes in start order.
var Components = []string{"etcd", "kube-apiserver", "containerd", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"}

// Cluster is the local cluster rooted at Dir.
type Cluster struct {
	// Dir holds all state (.cluster/ in the repository).
	Dir string
	// Bin holds the tools (bin/ in the repository) and Images the image
	// archives with their images.txt index.
	Bin, Images string
	// Out receives progress lines.
	Out io.Writer

	hostIP net.IP
	start  time.Time
}

// New returns the cluster of the repository at root.
func New(root string, out io.Writer) (*Cluster, error) {
	ip, err := HostIP()
	if err != nil {
		return nil, err
	}
	return &Cluster{
		Dir: filepath.Join(root, ".cluster"), Bin: filepath.Join(root, "bin"),
		Images: filepath.Join(root, "bin", "images"), Out: out, hostIP: ip, start: time.Now(),
	}, nil
}

// HostIP is the address pods reach this machine at: the source address of
// the default route.
func HostIP() (net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() && !n.IP.IsLoopback() &&
			!strings.HasPrefix(n.IP.String(), "10.88.") {
			return n.IP.To4(), nil
		}
	}
	return nil, errors.New("no global IPv4 address on this machine: pods would have no way to reach it")
}

// Kubeconfig is the admin kubeconfig (system:masters).
func (c *Cluster) Kubeconfig() string { return c.path("kubeconfig", "admin.kubeconfig") }

// HostIP is the address pods reach host processes at (mycloud).
func (c *Cluster) HostIP() net.IP { return c.hostIP }

// Clientset is an admin client of the cluster.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
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

// Status prints each process and whether it runs.
func (c *Cluster) Status(w io.Writer) error {
	running := 0
	for _, n := range Components {
		if pid := c.pid(n); pid > 0 {
			running++
			fmt.Fprintf(w, "%-24s running (pid %d)\n", n, pid)
		} else {
			fmt.Fprintf(w, "%-24s not running\n", n)
		}
	}
	if running > 0 {
		fmt.Fprintf(w, "KUBECONFIG=%s\n", c.Kubeconfig())
	}
	return nil
}

func (c *Cluster) path(p ...string) string { return filepath.Join(append([]string{c.Dir}, p...)...) }

// phase prints a progress line with the time since Up or Down began.
func (c *Cluster) phase(format string, args ...any) {
	fmt.Fprintf(c.Out, "==> [%5.1fs] %s\n", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}
