package main

import (
	"fmt"
	"strings"
	"time"
)

// vela runs the vela CLI against the cluster.
func (d *demo) vela(args ...string) (string, error) { return d.c.Vela(d.ctx, args...) }

// velaDo runs vela with args and fails, as what, with its output.
func (d *demo) velaDo(what string, args ...string) error {
	if out, err := d.vela(args...); err != nil {
		return fmt.Errorf("%s: %v\n%s", what, err, out)
	}
	return nil
}

// velaUp runs vela up -f file, again when it lost a race with vela-core
// updating the same Application ("the object has been modified": vela up
// reads and updates without retrying), as a person would run it again.
func (d *demo) velaUp(file string) error {
	out, err := d.vela("up", "-f", file)
	for i := 0; i < 3 && err != nil && strings.Contains(out, "the object has been modified"); i++ {
		time.Sleep(time.Second)
		out, err = d.vela("up", "-f", file)
	}
	if err != nil {
		return fmt.Errorf("vela up -f %s: %v\n%s", file, err, out)
	}
	return nil
}

// until polls `vela status platform` until it shows want.
func (d *demo) until(want string) (string, error) { return d.statusUntil("platform", want) }

// statusUntil polls `vela status app` until it shows want, for up to six
// minutes, and returns its last output.
func (d *demo) statusUntil(app, want string) (string, error) {
	deadline := time.Now().Add(6 * time.Minute)
	for {
		out, _ := d.vela("status", app)
		if strings.Contains(out, want) {
			return out, nil
		}
		if time.Now().After(deadline) {
			logs, _ := d.c.Kubectl(d.ctx, "-n", "vela-system", "logs", "deploy/vela-infra-step-runner", "--tail=40")
			return out, fmt.Errorf("vela status %s never showed %q; last output:\n%s\nstep-runner log:\n%s", app, want, out, logs)
		}
		time.Sleep(2 * time.Second)
	}
}

// show prints the workflow part of a `vela status platform` output.
func show(out string) { showApp("platform", out) }

// showApp prints the workflow part of a `vela status app` output.
func showApp(app, out string) {
	fmt.Println("$ vela status " + app + "\n" + workflowPart(out))
}

// workflowPart keeps the Workflow section of vela status.
func workflowPart(status string) string {
	if i := strings.Index(status, "Workflow:"); i >= 0 {
		if j := strings.Index(status, "Services:"); j > i {
			return status[i:j]
		}
		return status[i:]
	}
	return status
}
