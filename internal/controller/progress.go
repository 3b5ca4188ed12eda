package controller

import (
	"context"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// progress writes the Progressing condition of a run that is taking a
// while, from a timer, on a copy of the object taken when the run started
// (the run goroutine keeps changing its own).
type progress struct {
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	// written is the object as the Progressing patch left it on the API
	// server, nil when none was written.
	written client.Object
}

// start arms the timer: after delay, obj (as it is now) gets the
// Progressing condition with msg.
func (p *progress) start(ctx context.Context, c client.Client, obj stepObject, msg string, delay time.Duration) {
	snapshot := obj.DeepCopyObject().(stepObject)
	write := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.stopped {
			return
		}
		base := snapshot.DeepCopyObject().(client.Object)
		setProgressing(snapshot, msg)
		if err := c.Status().Patch(ctx, snapshot, client.MergeFrom(base)); err != nil {
			// Only the progress report is lost; the final status follows.
			log.FromContext(ctx).Info("could not write the Progressing condition", "error", err.Error())
			return
		}
		p.written = snapshot
	}
	if delay <= 0 {
		write()
		return
	}
	p.timer = time.AfterFunc(delay, write)
}

// stop disarms the timer, waits for a write in flight, and returns the
// object as written, or nil.
func (p *progress) stop() client.Object {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
	}
	return p.written
}
