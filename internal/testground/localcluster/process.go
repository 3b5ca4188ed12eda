package localcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ensure starts a process unless its pid file names a live one, then waits
// for it to be ready.
func (c *Cluster) ensure(ctx context.Context, name string, args []string, ready func() error) error {
	if pid := c.pid(name); pid > 0 {
		if err := ready(); err == nil {
			c.phase("%s already running (pid %d)", name, pid)
			return nil
		}
	} else if err := c.startProcess(name, args); err != nil {
		return err
	}
	return poll(ctx, 60*time.Second, name+" ready", func() (bool, error) {
		if c.pid(name) == 0 {
			return false, fmt.Errorf("%s exited; last lines of .cluster/logs/%s.log:\n%s", name, name, c.LogTail(name, 15))
		}
		return ready() == nil, nil
	})
}

// startProcess starts bin/<name> (or <name> from PATH) in its own session,
// logging to .cluster/logs/<name>.log, and writes its pid file.
func (c *Cluster) startProcess(name string, args []string) error {
	bin := name
	if p := filepath.Join(c.Bin, name); fileExists(p) {
		bin = p
	}
	logf, err := os.OpenFile(c.path("logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	keepInheritedFDs()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	if err := os.WriteFile(c.path("run", name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reap it if it dies while we wait
	c.phase("%s started (pid %d, log .cluster/logs/%s.log)", name, cmd.Process.Pid, name)
	return nil
}

// stopProcess sends SIGTERM to a process started by ensure, and SIGKILL if
// it still runs 10 s later.
func (c *Cluster) stopProcess(name string) {
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

// httpReady checks that url answers 200, with the admin client certificate
// when clientCert is set.
func (c *Cluster) httpReady(url string, clientCert bool) func() error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // local health checks
	if clientCert {
		cert, err := tls.LoadX509KeyPair(c.pki("admin.crt"), c.pki("admin.key"))
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

// cmdReady checks that a command succeeds.
func (c *Cluster) cmdReady(name string, args ...string) func() error {
	return func() error { return exec.Command(name, args...).Run() }
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

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// keepInheritedFDs marks the descriptors this process inherited (such as
// the lock of a `flock file make up`) close-on-exec, so the cluster's
// daemons, which outlive it, do not hold them: a lock held by etcd would
// block every later `flock` until `make down`.
func keepInheritedFDs() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
