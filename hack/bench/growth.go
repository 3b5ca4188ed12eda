package main

import (
	"fmt"
	"time"
)

// growthSizes are the module sizes, in resources, of the targets grow-N:
// all of them for the single figure and the growth table, grow-1 alone for
// the Job-pod and workflow figures, which run on it.
func (b *bench) growthSizes() []int {
	switch {
	case !b.want("single") && !b.want("jobpod") && !b.want("workflow"):
		return nil
	case !b.want("single"):
		return []int{1}
	}
	return []int{1, 10, 50}
}

// growthFigures are figure 1 and 3 and the growth table: one target per
// module size, its drift check against the bare refresh-only plan. It
// returns the drift check of the 1-resource target, for the Job-pod figure.
func (b *bench) growthFigures() (ours1 time.Duration, err error) {
	for _, n := range b.growthSizes() {
		name := fmt.Sprintf("grow-%d", n)
		if err := b.provision(name, n); err != nil {
			return 0, err
		}
		bare := b.median(name+"/bare", b.runs, func() (time.Duration, error) { return b.bareRefreshOnly(name) })
		ours := b.median(name+"/ours", b.runs, func() (time.Duration, error) { return b.driftCheck(name) })
		if n == 1 {
			ours1 = ours
			figure("drift check, 1 target (object created -> Ready) vs bare refresh-only plan", bare, ours, "<= 1.15", ours.Seconds()/bare.Seconds() <= 1.15)
			same := b.median(name+"/bare-no-provider-tls", b.runs, func() (time.Duration, error) { return b.bareRefresh(name, false) })
			// What the step-runner itself adds to a check (issue 19's goal).
			figure("  vs the same plan by hand with TF_DISABLE_PLUGIN_TLS=1", same, ours, "<= 1.05", ours.Seconds()/same.Seconds() <= 1.05)
		}
		figure(fmt.Sprintf("  growth: module of %d resource(s)", n), bare, ours, "-", true)
	}
	return ours1, nil
}
