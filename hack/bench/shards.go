package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// shardsFigure runs a fleet of SHARD_TARGETS (default 1,000) one-off
// InfraDrifts, one per Configuration, all created at once, first on one
// step-runner, then on two shards of it on the same machine (the stack's
// step-runner restarted as master, and a second process serving shard-1;
// every other object labeled controller.core.oam.dev/scheduled-shard-id:
// shard-1): the throughput of two shards over one. Two shards run twice
// the Terraform runs at once (4 each), so a third pass runs one shard with
// --max-concurrent 8: two shards over that is what the split itself gives
// or costs. Each pass follows an untimed one over the same objects, so
// that every replica's workspaces are initialised. Both processes run
// Terraform on the same 2 cores: the figure shows what the split costs,
// not what more nodes would give (docs/scaling.md has that model).
func (b *bench) shardsFigure() error {
	n := envInt("SHARD_TARGETS", 1000)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("shard-%d", i)
		if err := b.configuration(names[i], bucketsHCL(names[i], 1)); err != nil {
			return err
		}
	}
	unsharded := func(int) string { return "" }
	if _, err := b.shardPass("one-warm", names, unsharded); err != nil {
		return err
	}
	cpu0 := b.cpuTimes()
	one, err := b.shardPass("one", names, unsharded)
	if err != nil {
		return err
	}
	cpu1 := b.cpuTimes()

	// One shard, as many Terraform runs at once as two shards of 4.
	b.stack.StopProcess("step-runner")
	if err := b.stack.StartStepRunner("step-runner", "--max-concurrent=8"); err != nil {
		return err
	}
	if _, err := b.shardPass("eight-warm", names, unsharded); err != nil {
		return err
	}
	eight, err := b.shardPass("eight", names, unsharded)
	if err != nil {
		return err
	}

	// Two shards: the stack's step-runner becomes the master (its
	// workspaces stay), a second process serves shard-1.
	const shard = "shard-1"
	b.stack.StopProcess("step-runner")
	if err := b.stack.StartStepRunner("step-runner", "--enable-sharding", "--shard-id=master", "--schedulable-shards="+shard); err != nil {
		return err
	}
	if err := b.stack.StartStepRunner("step-runner-"+shard, "--enable-sharding", "--shard-id="+shard, "--schedulable-shards="+shard); err != nil {
		return err
	}
	halves := func(i int) string {
		if i%2 == 1 {
			return shard
		}
		return ""
	}
	if _, err := b.shardPass("two-warm", names, halves); err != nil {
		return err
	}
	cpu2 := b.cpuTimes()
	two, err := b.shardPass("two", names, halves)
	if err != nil {
		return err
	}
	cpu3 := b.cpuTimes()
	b.raw.record("shards/one", []float64{one.Seconds()})
	b.raw.record("shards/two", []float64{two.Seconds()})
	b.raw.record("shards/one-max-concurrent-8", []float64{eight.Seconds()})

	ratio := one.Seconds() / two.Seconds() // throughput: two shards / one
	fmt.Printf("%-58s %12s %12s %8.2f %10s\n", fmt.Sprintf("shards: %d InfraDrifts at once, 1 shard vs 2 (throughput 2/1)", n), sec(one.Seconds()), sec(two.Seconds()), ratio, "~1.0 on 2 cores")
	fmt.Printf("    checks/s: 1 shard %.1f, 2 shards %.1f, each replica --max-concurrent 4\n", float64(n)/one.Seconds(), float64(n)/two.Seconds())
	fmt.Printf("%-58s %12s %12s %8.2f %10s\n", "  same runs at once: 1 shard --max-concurrent 8 vs 2 shards of 4", sec(eight.Seconds()), sec(two.Seconds()), eight.Seconds()/two.Seconds(), "-")
	fmt.Println(cpuLine("shards, 1 vs 2,", cpuDelta(cpu0, cpu1), cpuDelta(cpu2, cpu3)))
	return nil
}

// shardPass creates one InfraDrift per target, named <run>-<target> and
// labeled with the shard shardOf gives its index (none for ""), all at
// once, and returns how long from the first create until every one was
// checked.
func (b *bench) shardPass(run string, targets []string, shardOf func(int) string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	sel := client.MatchingLabels{"bench": "shards-" + run}
	pending := map[string]bool{}
	for _, t := range targets {
		pending[run+"-"+t] = true
	}
	checked := func(d *v1alpha1.InfraDrift) bool {
		r := reason(&d.Status.RunStatus)
		return d.Status.ObservedGeneration == d.Generation && (r == v1alpha1.ReasonNoDrift || r == v1alpha1.ReasonDriftFound)
	}
	w, err := b.c.Watch(ctx, &v1alpha1.InfraDriftList{}, client.InNamespace("default"), sel)
	if err != nil {
		return 0, err
	}
	defer func() { w.Stop() }()
	start := time.Now()
	for i, t := range targets {
		labels := map[string]string{"bench": "shards-" + run}
		if s := shardOf(i); s != "" {
			labels[controller.LabelScheduledShard] = s
		}
		d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: run + "-" + t, Labels: labels},
			Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: t}}}
		if err := b.c.Create(ctx, d); err != nil {
			return 0, err
		}
	}
	for len(pending) > 0 {
		ev, ok := <-w.ResultChan()
		if !ok {
			// The API server ended the watch: list what is left, watch again.
			if ctx.Err() != nil {
				return 0, fmt.Errorf("shards %s: %d InfraDrifts not checked in 30m\nstep-runner log:\n%s", run, len(pending), b.stack.LogTail("step-runner", 2000))
			}
			list := &v1alpha1.InfraDriftList{}
			if err := b.c.List(ctx, list, client.InNamespace("default"), sel); err != nil {
				return 0, err
			}
			for i := range list.Items {
				if checked(&list.Items[i]) {
					delete(pending, list.Items[i].Name)
				}
			}
			from := &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}}
			if w, err = b.c.Watch(ctx, &v1alpha1.InfraDriftList{}, client.InNamespace("default"), sel, from); err != nil {
				return 0, err
			}
			continue
		}
		if d, ok := ev.Object.(*v1alpha1.InfraDrift); ok && checked(d) {
			delete(pending, d.Name)
		}
	}
	took := time.Since(start)
	// Gone before the next pass, which then has the caches of this one.
	if err := b.c.DeleteAllOf(context.Background(), &v1alpha1.InfraDrift{}, client.InNamespace("default"), sel); err != nil {
		return 0, err
	}
	time.Sleep(5 * time.Second)
	return took, nil
}
