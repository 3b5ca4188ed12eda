package main

import (
	"fmt"
	"sync"
	"time"
)

// fleetFigure drift-checks many targets through the step-runner (4 at
// once, its default) against a bare loop at the same concurrency.
func (b *bench) fleetFigure() error {
	names := make([]string, b.fleet)
	for i := range names {
		names[i] = fmt.Sprintf("fleet-%d", i)
		if err := b.configuration(names[i], bucketsHCL(names[i], 1)); err != nil {
			return err
		}
	}
	driftCheck := func(n string) error { _, err := b.driftCheck(n); return err }
	// First pass initialises every workspace (not timed).
	if err := parallel(names, 4, driftCheck); err != nil {
		return err
	}
	cpu0 := b.cpuTimes()
	bare, err := timed(names, func(n string) error { _, err := b.bareRefreshOnly(n); return err })
	if err != nil {
		return err
	}
	cpu1 := b.cpuTimes()
	ours, err := timed(names, driftCheck)
	if err != nil {
		return err
	}
	cpu2 := b.cpuTimes()
	same, err := timed(names, func(n string) error { _, err := b.bareRefresh(n, false); return err })
	if err != nil {
		return err
	}
	cpu3 := b.cpuTimes()
	b.raw.record("fleet/bare-no-provider-tls", []float64{same.Seconds()})
	b.raw.record("fleet/bare", []float64{bare.Seconds()})
	b.raw.record("fleet/ours", []float64{ours.Seconds()})
	ratio := bare.Seconds() / ours.Seconds() // throughput ratio: ours / bare
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", fmt.Sprintf("fleet: %d targets, 4 at once (throughput ours/bare)", b.fleet), sec(bare.Seconds()), sec(ours.Seconds()), ratio, ">= 0.9", pass(ratio >= 0.9))
	fmt.Println(cpuLine("fleet", cpuDelta(cpu0, cpu1), cpuDelta(cpu1, cpu2)))
	// What the step-runner itself costs a busy fleet (issue 19's goal).
	same1 := same.Seconds() / ours.Seconds()
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", "  vs the same loop with TF_DISABLE_PLUGIN_TLS=1", sec(same.Seconds()), sec(ours.Seconds()), same1, ">= 0.95", pass(same1 >= 0.95))
	fmt.Println(cpuLine("fleet, same settings,", cpuDelta(cpu2, cpu3), cpuDelta(cpu1, cpu2)))
	return nil
}

// timed runs fn on every item, 4 at once, and returns how long all took.
func timed(items []string, fn func(string) error) (time.Duration, error) {
	start := time.Now()
	if err := parallel(items, 4, fn); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func parallel(items []string, n int, fn func(string) error) error {
	sem := make(chan struct{}, n)
	errs := make(chan error, len(items))
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func(it string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(it); err != nil {
				errs <- err
			}
		}(it)
	}
	wg.Wait()
	close(errs)
	return <-errs
}
