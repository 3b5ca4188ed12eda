package localcluster

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// KillContainer sends SIGKILL to the main process of a running container, as
// the kernel's OOM killer or a crash would end it: no signal handler runs,
// nothing is released. The kubelet then restarts the container in the same
// pod (with its crash back-off). It returns the container ID it killed.
func (c *Cluster) KillContainer(ctx context.Context, namespace, pod, container string) (string, error) {
	out, err := c.Kubectl(ctx, "-n", namespace, "get", "pod", pod, "-o",
		fmt.Sprintf(`jsonpath={.status.containerStatuses[?(@.name=="%s")].containerID}`, container))
	if err != nil {
		return "", fmt.Errorf("container %s of pod %s/%s: %v: %s", container, namespace, pod, err, out)
	}
	id, ok := strings.CutPrefix(strings.TrimSpace(out), "containerd://")
	if !ok || id == "" {
		return "", fmt.Errorf("container %s of pod %s/%s has no containerd ID (%q): is it running?", container, namespace, pod, out)
	}
	kill := exec.CommandContext(ctx, "ctr", "--address", c.sock(), "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", id)
	if b, err := kill.CombinedOutput(); err != nil {
		return "", fmt.Errorf("ctr tasks kill %s: %v: %s", id, err, b)
	}
	return id, nil
}
