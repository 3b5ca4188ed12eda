package controller

import (
	"hash/fnv"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// minInterval is the shortest spec.interval an InfraDrift may have.
const minInterval = 30 * time.Second

// schedule says when a scheduled InfraDrift (one with spec.interval) is
// checked, so that a fleet of them is spread over the interval instead of
// all falling due at once: a thousand created together (a trait added to
// every component), or a restart after downtime longer than the interval.
//
// Each object has a phase: a fixed offset within the interval, from a hash
// of its UID. Its first check runs at the first instant after its creation
// whose offset on the interval's grid (multiples of the interval since the
// Unix epoch) is its phase, so always within one interval of its creation.
// After a check, the next is one interval after it (status.lastRunTime).
// A check that fell due before this step-runner began (it was down, or not
// yet started, when the check fell due) runs at its phase within the
// interval after the start, rather than at once with every other missed
// one. Phases come from UIDs, so they do not move across restarts and
// replicas, and a fleet's UIDs spread them evenly.
//
// Everything else runs at once: an InfraDrift without an interval (the
// infra-drift workflow step's), a changed spec (a new generation, such as
// an approved corrective plan), and a failed check, which the failure
// policy retries.
type schedule struct {
	// began is when this step-runner began; zero: no check counts as
	// missed.
	began time.Time
}

// wait returns 0 when obj's check should run at now, a positive wait for a
// check not yet due, or -1 when there is nothing to do.
func (s schedule) wait(obj *v1alpha1.InfraDrift, now time.Time) time.Duration {
	interval := time.Duration(0)
	if obj.Spec.Interval != nil {
		interval = obj.Spec.Interval.Duration
	}
	switch {
	case interval < minInterval:
		// On demand, or an interval the spec check refuses.
		if done(obj) {
			return -1
		}
		return 0
	case firstCheck(obj):
		return until(now, s.missed(slot(obj.CreationTimestamp.Time, phase(obj.UID, interval), interval), obj, interval))
	case !done(obj):
		return 0
	case obj.Status.LastRunTime == nil:
		// Stalled for good before any check ran (a bad spec).
		return -1
	}
	return until(now, s.missed(obj.Status.LastRunTime.Add(interval), obj, interval))
}

// missed moves a check due before the step-runner began to obj's phase
// within the interval after the start.
func (s schedule) missed(due time.Time, obj *v1alpha1.InfraDrift, interval time.Duration) time.Time {
	if s.began.IsZero() || !due.Before(s.began) {
		return due
	}
	return slot(s.began, phase(obj.UID, interval), interval)
}

// firstCheck says whether obj has never been checked nor tried: its status
// was never written. An object that did not come from an API server (no
// creation time) is checked at once.
func firstCheck(obj *v1alpha1.InfraDrift) bool {
	return obj.Status.LastRunTime == nil && obj.Status.ObservedGeneration == 0 && !obj.CreationTimestamp.IsZero()
}

// phase is where within each interval an object's checks fall: FNV-1a of
// its UID modulo the interval.
func phase(uid types.UID, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	return time.Duration(h.Sum64() % uint64(interval))
}

// slot is the first instant at or after t whose offset on the interval's
// grid (multiples of interval since the Unix epoch) is p.
func slot(t time.Time, p, interval time.Duration) time.Time {
	into := time.Duration(t.UnixNano() % int64(interval))
	return t.Add((p - into + interval) % interval)
}

// until is the wait from now until t; 0 when t has come.
func until(now, t time.Time) time.Duration {
	if wait := t.Sub(now); wait > 0 {
		return wait
	}
	return 0
}
