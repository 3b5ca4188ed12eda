package main

import (
	"bytes"
	"encoding/json"
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

// startCloud starts mycloud on the host, at MYCLOUD_ADDR or port 8480 of
// the address the pods reach the host at.
func (d *demo) startCloud() error {
	addr := os.Getenv("MYCLOUD_ADDR")
	if addr == "" {
		addr = d.c.HostIP().String() + ":8480"
	}
	d.endpoint = "http://" + addr
	d.step("mycloud on %s (pods reach the host there), seeded with e2e/testdata/mycloud-seed.yaml: VPC vpc-legacy01 and a bucket exist before the platform manages them", addr)
	return d.runCloud(addr)
}

// runCloud starts mycloud detached, with its pid in .demo/mycloud.pid, so
// that KEEP=1 can leave it running and make down can stop it.
func (d *demo) runCloud(addr string) error {
	state := filepath.Join(d.root, ".demo")
	_ = os.RemoveAll(state)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(state, "mycloud.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(d.root, "bin", "mycloud"), "-addr", addr, "-data-dir", filepath.Join(state, "mycloud"),
		"-access-key", accessKey, "-seed", filepath.Join(d.root, "e2e", "testdata", "mycloud-seed.yaml"), "-create-delay", "1s")
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
	return waitHealthy(addr)
}

// waitHealthy waits up to 10s for mycloud's /healthz at addr.
func waitHealthy(addr string) error {
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

// admin calls mycloud's admin API, as someone editing in the console.
func (d *demo) admin(method, path, body string) error {
	req, err := http.NewRequest(method, d.endpoint+"/admin/v1/"+path, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
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
func (d *demo) writes(prefix string) string {
	req, _ := http.NewRequest(http.MethodGet, d.endpoint+"/admin/v1/requests", nil)
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
