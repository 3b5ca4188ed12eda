// Package localcluster runs a real single-node Kubernetes on this machine:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
// kube-proxy built from their Go modules, Debian's containerd, runc and CNI
// plugins, and images built by hack/images imported into containerd. No
// systemd and no registry: every process is started here with a pid file and
// stopped by Down. State lives in one git-ignored folder (.cluster/).
package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func (c *Cluster) path(p ...string) string { return filepath.Join(append([]string{c.Dir}, p...)...) }

func (c *Cluster) phase(format string, args ...any) {
	fmt.Fprintf(c.Out, "==> [%5.1fs] %s\n", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

// Up starts whatever is not running and waits until the node is Ready and
// the default ServiceAccount exists. Running it again is cheap.
func (c *Cluster) Up(ctx context.Context) error {
	c.start = time.Now()
	if os.Geteuid() != 0 {
		return errors.New("the local cluster runs containerd and a kubelet: run it as root")
	}
	for _, d := range []string{"logs", "run", "kubeconfig", "config", "etcd", "kubelet", "cni/net.d", "cni/ipam", "containerd/root", "containerd/state", "images"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return err
		}
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
	c.phase("certificates and kubeconfigs in %s (node %s, host IP %s)", c.Dir, nodeName, c.hostIP)
	if err := c.writePKI(); err != nil {
		return err
	}
	if err := c.writeConfigs(); err != nil {
		return err
	}

	pki := func(f string) string { return c.path("pki", f) }
	kc := func(id string) string { return c.path("kubeconfig", id+".kubeconfig") }
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)

	if err := c.ensure(ctx, "etcd", []string{
		"--name=vela-infra", "--data-dir=" + c.path("etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", etcdPort+1),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", etcdPort+1),
		fmt.Sprintf("--initial-cluster=vela-infra=http://127.0.0.1:%d", etcdPort+1),
		"--unsafe-no-fsync", "--quota-backend-bytes=4294967296",
	}, c.httpReady(etcdURL+"/health", false)); err != nil {
		return err
	}
	if err := c.ensure(ctx, "kube-apiserver", []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=0.0.0.0", fmt.Sprintf("--secure-port=%d", apiServerPort), "--advertise-address=" + c.hostIP.String(),
		"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + pki("apiserver.key"),
		"--client-ca-file=" + pki("ca.crt"),
		"--kubelet-client-certificate=" + pki("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + pki("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP", "--kubelet-certificate-authority=" + pki("ca.crt"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki("sa.pub"), "--service-account-signing-key-file=" + pki("sa.key"),
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		"--enable-admission-plugins=NodeRestriction",
	}, c.httpReady(fmt.Sprintf("https://127.0.0.1:%d/readyz", apiServerPort), true)); err != nil {
		return err
	}
	if err := c.ensure(ctx, "containerd", []string{"--config=" + c.path("config", "containerd.toml")},
		c.cmdReady("ctr", "--address", c.sock(), "version")); err != nil {
		return err
	}
	if err := c.importImages(ctx); err != nil {
		return err
	}
	if err := c.ensure(ctx, "kube-controller-manager", []string{
		"--kubeconfig=" + kc("controller-manager"),
		"--authentication-kubeconfig=" + kc("controller-manager"), "--authorization-kubeconfig=" + kc("controller-manager"),
		"--bind-address=127.0.0.1", "--leader-elect=false",
		"--service-account-private-key-file=" + pki("sa.key"), "--root-ca-file=" + pki("ca.crt"),
		"--use-service-account-credentials=true", "--service-cluster-ip-range=" + serviceCIDR,
		"--cluster-signing-cert-file=" + pki("ca.crt"), "--cluster-signing-key-file=" + pki("ca.key"),
	}, c.httpReady("https://127.0.0.1:10257/healthz", false)); err != nil {
		return err
	}
	if err := c.ensure(ctx, "kube-scheduler", []string{
		"--kubeconfig=" + kc("scheduler"),
		"--authentication-kubeconfig=" + kc("scheduler"), "--authorization-kubeconfig=" + kc("scheduler"),
		"--bind-address=127.0.0.1", "--leader-elect=false",
	}, c.httpReady("https://127.0.0.1:10259/healthz", false)); err != nil {
		return err
	}
	if err := c.ensure(ctx, "kubelet", []string{
		"--config=" + c.path("config", "kubelet.yaml"), "--kubeconfig=" + kc("kubelet"),
		"--root-dir=" + c.path("kubelet"), "--hostname-override=" + nodeName, "--node-ip=" + c.hostIP.String(),
	}, c.httpReady("http://127.0.0.1:10248/healthz", false)); err != nil {
		return err
	}
	if err := c.ensure(ctx, "kube-proxy", []string{"--config=" + c.path("config", "kube-proxy.yaml")},
		c.httpReady("http://127.0.0.1:10256/healthz", false)); err != nil {
		return err
	}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	c.phase("waiting for node %s to be Ready", nodeName)
	if err := poll(ctx, 90*time.Second, "node "+nodeName+" Ready (see .cluster/logs/kubelet.log)", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	c.phase("waiting for the default ServiceAccount (pods can be created after it)")
	if err := poll(ctx, 60*time.Second, "ServiceAccount default/default (see .cluster/logs/kube-controller-manager.log)", func() (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}
	c.phase("cluster ready: export KUBECONFIG=%s", c.Kubeconfig())
	return nil
}

// Clientset is an admin client of the cluster.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func (c *Cluster) sock() string { return c.path("run", "containerd.sock") }

// ensure starts a process unless its pid file names a live one, then waits
// for it to be ready.
func (c *Cluster) ensure(ctx context.Context, name string, args []string, ready func() error) error {
	if pid := c.pid(name); pid > 0 {
		if err := ready(); err == nil {
			c.phase("%s already running (pid %d)", name, pid)
			return nil
		}
	} else {
		bin := name
		if p := filepath.Join(c.Bin, name); fileExists(p) {
			bin = p
		}
		logf, err := os.OpenFile(c.path("logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fmt.Errorf("starting %s: %w", name, err)
		}
		logf.Close()
		if err := os.WriteFile(c.path("run", name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			return err
		}
		go func() { _ = cmd.Wait() }() // reap it if it dies while we wait
		c.phase("%s started (pid %d, log .cluster/logs/%s.log)", name, cmd.Process.Pid, name)
	}
	return poll(ctx, 60*time.Second, name+" ready", func() (bool, error) {
		if c.pid(name) == 0 {
			return false, fmt.Errorf("%s exited; last lines of .cluster/logs/%s.log:\n%s", name, name, c.LogTail(name, 15))
		}
		return ready() == nil, nil
	})
}

// pid is the live pid of a process started by ensure, or 0.
func (c *Cluster) pid(name string) int {
	b, err := os.ReadFile(c.path("run", name+".pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// A zombie (state Z) is dead.
	if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] == "Z" {
		return 0
	}
	return pid
}

// LogTail is the end of a component's log.
func (c *Cluster) LogTail(name string, n int) string {
	b, _ := os.ReadFile(c.path("logs", name+".log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *Cluster) httpReady(url string, clientCert bool) func() error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // local health checks
	if clientCert {
		cert, err := tls.LoadX509KeyPair(c.path("pki", "admin.crt"), c.path("pki", "admin.key"))
		if err != nil {
			return func() error { return err }
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	return func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

func (c *Cluster) cmdReady(name string, args ...string) func() error {
	return func() error { return exec.Command(name, args...).Run() }
}

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

// Down stops every process of the cluster, the containers first, unmounts
// what they mounted, removes kube-proxy's iptables rules and the bridge, and
// deletes the state folder.
func (c *Cluster) Down() error {
	c.start = time.Now()
	stop := func(name string) {
		pid := c.pid(name)
		if pid == 0 {
			return
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 100 && c.pid(name) != 0; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if c.pid(name) != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		c.phase("%s stopped", name)
	}
	stop("kubelet")
	if c.pid("containerd") != 0 {
		c.killContainers()
	}
	stop("kube-proxy")
	if fileExists(filepath.Join(c.Bin, "kube-proxy")) {
		_ = exec.Command(filepath.Join(c.Bin, "kube-proxy"), "--cleanup").Run()
	}
	for _, n := range []string{"kube-scheduler", "kube-controller-manager", "containerd", "kube-apiserver", "etcd"} {
		stop(n)
	}
	c.killShims()
	killPodCgroups()
	c.unmountAll()
	_ = exec.Command("ip", "link", "delete", bridgeName).Run()
	removeKubeRules()
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("removing %s: %w (something still holds a mount under it; see /proc/mounts)", c.Dir, err)
	}
	c.phase("local cluster down, %s removed", c.Dir)
	return nil
}

// killContainers kills every container task in containerd's k8s.io namespace.
func (c *Cluster) killContainers() {
	ctr := func(args ...string) ([]byte, error) {
		return exec.Command("ctr", append([]string{"--address", c.sock(), "-n", "k8s.io"}, args...)...).Output()
	}
	out, err := ctr("tasks", "ls", "-q")
	if err != nil {
		return
	}
	ids := strings.Fields(string(out))
	for _, id := range ids {
		_, _ = ctr("tasks", "kill", "-a", "-s", "SIGKILL", id)
	}
	for _, id := range ids {
		for i := 0; i < 50; i++ {
			st, _ := ctr("tasks", "ls")
			if !strings.Contains(string(st), id+" ") || strings.Contains(lineOf(string(st), id), "STOPPED") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, _ = ctr("tasks", "delete", id)
	}
	if len(ids) > 0 {
		c.phase("%d containers killed", len(ids))
	}
}

// killShims kills containerd shims left by this cluster (they outlive
// containerd by design).
func (c *Cluster) killShims() {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, "containerd-shim") && strings.Contains(cmd, c.sock()) {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// killPodCgroups kills whatever still runs in the kubelet's pod cgroups (a
// container whose shim died with containerd) and removes the empty cgroups,
// deepest first.
func killPodCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods*")
	var dirs []string
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			dirs = append(dirs, p)
			procs, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(procs)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
	sort.Slice(dirs, func(a, b int) bool { return len(dirs[a]) > len(dirs[b]) })
	for i := 0; i < 20; i++ {
		left := 0
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !os.IsNotExist(err) {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unmountAll unmounts everything under the state folder and the CNI network
// namespaces, deepest first.
func (c *Cluster) unmountAll() {
	for i := 0; i < 3; i++ {
		b, err := os.ReadFile("/proc/mounts")
		if err != nil {
			return
		}
		var targets []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			t := strings.ReplaceAll(f[1], `\040`, " ")
			if strings.HasPrefix(t, c.Dir+"/") || strings.HasPrefix(t, "/run/netns/cni-") || strings.HasPrefix(t, "/var/run/netns/cni-") {
				targets = append(targets, t)
			}
		}
		if len(targets) == 0 {
			return
		}
		sort.Slice(targets, func(a, b int) bool { return len(targets[a]) > len(targets[b]) })
		for _, t := range targets {
			_ = syscall.Unmount(t, syscall.MNT_DETACH)
			if strings.Contains(t, "/netns/cni-") {
				_ = os.Remove(t)
			}
		}
	}
}

// removeKubeRules deletes the iptables chains and rules kubelet and
// kube-proxy add (KUBE-*) and the CNI bridge plugin's masquerade chains
// (CNI-*); other rules are restored unchanged.
func removeKubeRules() {
	for _, tool := range []string{"iptables", "ip6tables"} {
		saved, err := exec.Command(tool + "-save").Output()
		if err != nil || !(bytes.Contains(saved, []byte("KUBE-")) || bytes.Contains(saved, []byte("CNI-"))) {
			continue
		}
		var kept bytes.Buffer
		for _, line := range strings.SplitAfter(string(saved), "\n") {
			if !strings.Contains(line, "KUBE-") && !strings.Contains(line, "CNI-") {
				kept.WriteString(line)
			}
		}
		restore := exec.Command(tool + "-restore")
		restore.Stdin = &kept
		_ = restore.Run()
	}
}

func lineOf(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// poll calls f every 250ms until it is done, fails, or timeout passes; what
// names the thing waited for in the timeout error.
func poll(ctx context.Context, timeout time.Duration, what string, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Components are the cluster's processes in start order.
var Components = []string{"etcd", "kube-apiserver", "containerd", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"}

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
