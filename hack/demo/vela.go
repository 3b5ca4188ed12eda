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

// until polls `vela status platform` until it shows want, for up to six
// minutes, and returns its last output.
func (d *demo) until(want string) (string, error) {
	deadline := time.Now().Add(6 * time.Minute)
	for {
		out, _ := d.vela("status", "platform")
		if strings.Contains(out, want) {
			return out, nil
		}
		if time.Now().After(deadline) {
			logs, _ := d.c.Kubectl(d.ctx, "-n", "vela-system", "logs", "deploy/vela-infra-step-runner", "--tail=40")
			return out, fmt.Errorf("vela status platform never showed %q; last output:\n%s\nstep-runner log:\n%s", want, out, logs)
		}
		time.Sleep(2 * time.Second)
	}
}

// show prints the workflow part of a `vela status platform` output.
func show(out string) {
	fmt.Println("$ vela status platform\n" + workflowPart(out))
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
