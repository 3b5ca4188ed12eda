// Command bench measures what the step-runner costs beyond Terraform itself:
// each figure side by side with its baseline, in the same run, on the same
// module, state and mycloud, as the median of repeated runs. It prints one
// line per figure and keeps the raw timings in bin/bench/. It exits non-zero
// only when it cannot run. `make bench` runs it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// bench is one run of the bench: its settings, what it started and what it
// measured. Every phase and figure is a method of it.
type bench struct {
	config
	root  string // the repository
	out   string // bin/bench: the raw timings, mycloud's data and log
	cloud string // mycloud's URL from this host
	mcPid int
	c     client.WithWatch
	stack *testenv.Stack
	raw   results
	// drifts follows every InfraDrift of the bench (drift.go).
	drifts driftWatch
	// exits stop what the bench started, last first.
	exits exits
}

func newBench() *bench {
	return &bench{
		config: configFromEnv(),
		raw:    results{vals: map[string][]float64{}},
		drifts: newDriftWatch(),
	}
}

func main() {
	b := newBench()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "bench: %v: stopping what it started\n", s)
		b.exits.run()
		os.Exit(130)
	}()
	err := b.run()
	if err != nil {
		b.fatal("%v", err)
	}
	b.exits.run()
}

// run starts mycloud and the stack, prints every figure asked for and keeps
// the raw timings.
func (b *bench) run() error {
	var err error
	if b.root, err = testenv.RepoRoot(); err != nil {
		return err
	}
	b.out = filepath.Join(b.root, "bin", "bench")
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return err
	}
	if err := b.startCloud(); err != nil {
		return err
	}
	if err := b.startStack(); err != nil {
		return err
	}
	idle := b.idleRSS()
	b.printHeader()
	if err := b.figures(idle); err != nil {
		return err
	}
	return b.writeRaw()
}

// figures runs each figure ONLY asks for, in the order of the table.
func (b *bench) figures(idle float64) error {
	ours1, err := b.growthFigures()
	if err != nil {
		return err
	}
	if b.want("jobpod") {
		b.jobPodFigure("grow-1", ours1)
	}
	if b.want("second") {
		if err := b.secondFigure(); err != nil {
			return err
		}
	}
	if b.want("fleet") {
		if err := b.fleetFigure(); err != nil {
			return err
		}
	}
	if b.want("shards") {
		if err := b.shardsFigure(); err != nil {
			return err
		}
	}
	if b.want("workflow") {
		if err := b.workflowFigure(); err != nil {
			return err
		}
	}
	if b.want("onboard") {
		if err := b.onboardFigure(); err != nil {
			return err
		}
	}
	if b.want("memory") {
		if err := b.memoryFigure(idle); err != nil {
			return err
		}
	}
	if b.want("schedule") {
		return b.scheduleFigure()
	}
	return nil
}

func (b *bench) bin(name string) string { return filepath.Join(b.root, "bin", name) }

// exits stop what the bench started (mycloud, the API server, the stack),
// last first; fatal and a signal run them too, so an aborted bench leaves
// no process behind to hold mycloud's port.
type exits struct {
	mu  sync.Mutex
	fns []func()
}

func (e *exits) add(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fns = append(e.fns, f)
}

func (e *exits) run() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.fns) - 1; i >= 0; i-- {
		e.fns[i]()
	}
	e.fns = nil
}

func (b *bench) fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	b.exits.run()
	os.Exit(1)
}
