package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// driftWatch follows every InfraDrift of the bench through one watch, as a
// client with many step-run objects (vela-core) does: a watch per check
// would load the API server the step-runner shares, and count against it.
type driftWatch struct {
	sync.Mutex
	waiters map[string]func(*v1alpha1.InfraDrift) bool
	started bool
	// done is closed when the bench ends: the watch ends with it.
	done chan struct{}
	// seq numbers the drift checks, for their InfraDrifts' names.
	seq atomic.Int64
}

func newDriftWatch() driftWatch {
	return driftWatch{waiters: map[string]func(*v1alpha1.InfraDrift) bool{}, done: make(chan struct{})}
}

// met hands d to its waiter, and forgets the waiter once its wait is over.
// The caller holds the lock.
func (dw *driftWatch) met(d *v1alpha1.InfraDrift) {
	if done := dw.waiters[d.Name]; done != nil && done(d) {
		delete(dw.waiters, d.Name)
	}
}

func (b *bench) followDrifts() error {
	b.drifts.Lock()
	defer b.drifts.Unlock()
	if b.drifts.started {
		return nil
	}
	w, err := b.c.Watch(context.Background(), &v1alpha1.InfraDriftList{}, client.InNamespace("default"))
	if err != nil {
		return err
	}
	b.drifts.started = true
	go b.driftEvents(w)
	return nil
}

// driftEvents hands each event of w to its waiter until w ends, then
// follows again unless the bench is over.
func (b *bench) driftEvents(w watch.Interface) {
	for ev := range w.ResultChan() {
		d, ok := ev.Object.(*v1alpha1.InfraDrift)
		if !ok {
			continue
		}
		b.drifts.Lock()
		b.drifts.met(d)
		b.drifts.Unlock()
	}
	select {
	case <-b.drifts.done:
		return
	default:
	}
	b.refollowDrifts()
}

// refollowDrifts follows again after the API server ended the watch,
// re-reading what the waiters wait for.
func (b *bench) refollowDrifts() {
	b.drifts.Lock()
	b.drifts.started = false
	names := make([]string, 0, len(b.drifts.waiters))
	for n := range b.drifts.waiters {
		names = append(names, n)
	}
	b.drifts.Unlock()
	if err := b.followDrifts(); err != nil {
		b.fatal("watch InfraDrifts: %v", err)
	}
	for _, n := range names {
		d := &v1alpha1.InfraDrift{}
		if b.c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: n}, d) == nil {
			b.drifts.Lock()
			b.drifts.met(d)
			b.drifts.Unlock()
		}
	}
}

// expectDrift registers, before the InfraDrift name is created or changed,
// a wait for cond on it; the returned func waits.
func (b *bench) expectDrift(name string, cond func(*v1alpha1.InfraDrift) bool) (func(time.Duration) error, error) {
	if err := b.followDrifts(); err != nil {
		return nil, err
	}
	met := make(chan struct{})
	b.drifts.Lock()
	b.drifts.waiters[name] = func(got *v1alpha1.InfraDrift) bool {
		if cond(got) {
			close(met)
			return true
		}
		return false
	}
	b.drifts.Unlock()
	return func(timeout time.Duration) error {
		select {
		case <-met:
			return nil
		case <-time.After(timeout):
			b.drifts.Lock()
			delete(b.drifts.waiters, name)
			b.drifts.Unlock()
			d := &v1alpha1.InfraDrift{}
			_ = b.c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, d)
			data, _ := json.Marshal(d)
			return fmt.Errorf("timed out: %s\nstep-runner log:\n%s", data, b.stack.LogTail("step-runner", 2000))
		}
	}, nil
}

// driftCheck times an InfraDrift from creation to Ready.
func (b *bench) driftCheck(target string) (time.Duration, error) {
	name := fmt.Sprintf("d%d-%s", b.drifts.seq.Add(1), target)
	wait, err := b.expectDrift(name, func(got *v1alpha1.InfraDrift) bool {
		r := reason(&got.Status.RunStatus)
		return got.Status.ObservedGeneration == got.Generation && (r == v1alpha1.ReasonNoDrift || r == v1alpha1.ReasonDriftFound)
	})
	if err != nil {
		return 0, err
	}
	d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: target}}}
	start := time.Now()
	if err := b.c.Create(context.Background(), d); err != nil {
		return 0, err
	}
	if err := wait(5 * time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
