package localcluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Down stops every process of the cluster, the containers first, unmounts
// what they mounted, removes kube-proxy's iptables rules and the bridge, and
// deletes the state folder.
func (c *Cluster) Down() error {
	c.start = time.Now()
	c.stopProcess("kubelet")
	if c.pid("containerd") != 0 {
		c.killContainers()
	}
	c.stopProcess("kube-proxy")
	if fileExists(filepath.Join(c.Bin, "kube-proxy")) {
		_ = exec.Command(filepath.Join(c.Bin, "kube-proxy"), "--cleanup").Run()
	}
	// kube-apiserver before etcd.
	for _, n := range []string{"kube-scheduler", "kube-controller-manager", "containerd", "kube-apiserver", "etcd"} {
		c.stopProcess(n)
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

// lineOf is the first line of s that starts with prefix.
func lineOf(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
