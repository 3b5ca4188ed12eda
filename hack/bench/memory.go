package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// idleRSS is the step-runner's RSS once it has settled after its start.
func (b *bench) idleRSS() float64 {
	time.Sleep(2 * time.Second)
	return rssMiB(b.stack.Pid("step-runner"))
}

// memoryFigure is the step-runner's RSS idle and with 1,000 step-run
// objects.
func (b *bench) memoryFigure(idle float64) error {
	loaded, err := b.memoryWithObjects(1000)
	if err != nil {
		return err
	}
	fmt.Printf("%-58s %12s %12s %8s %10s %s\n", "step-runner RSS idle / with 1,000 step-run objects", "-",
		fmt.Sprintf("%.0f/%.0f MiB", idle, loaded), "-", "<= 60/200", pass(idle <= 60 && loaded <= 200))
	return nil
}

// memoryWithObjects creates n InfraDrift objects (of a missing
// Configuration, so they settle fast) and returns the step-runner's RSS.
func (b *bench) memoryWithObjects(n int) (float64, error) {
	wait, err := b.expectDrift(fmt.Sprintf("mem-%d", n-1), func(d *v1alpha1.InfraDrift) bool {
		return reason(&d.Status.RunStatus) == v1alpha1.ReasonConfigurationNotFound
	})
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("mem-%d", i)},
			Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: "missing"}}}
		if err := b.c.Create(context.Background(), d); err != nil {
			return 0, err
		}
	}
	if err := wait(5 * time.Minute); err != nil {
		return 0, err
	}
	time.Sleep(3 * time.Second)
	return rssMiB(b.stack.Pid("step-runner")), nil
}

func rssMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}
