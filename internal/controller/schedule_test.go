package controller

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// fleet is n scheduled InfraDrifts created at created, with UIDs as an API
// server writes them (random version-4 UUIDs, from a fixed seed here).
func fleet(n int, interval time.Duration, created time.Time) []*v1alpha1.InfraDrift {
	rnd := rand.New(rand.NewSource(6))
	objs := make([]*v1alpha1.InfraDrift, n)
	for i := range objs {
		b := make([]byte, 16)
		rnd.Read(b)
		b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
		uid := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
		objs[i] = &v1alpha1.InfraDrift{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: fmt.Sprintf("c%d", i), UID: types.UID(uid), Generation: 1,
				CreationTimestamp: metav1.NewTime(created)},
			Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fmt.Sprintf("c%d", i)},
				Interval: &metav1.Duration{Duration: interval}},
		}
	}
	return objs
}

// checked marks obj as checked at last (Ready, its generation observed).
func checked(obj *v1alpha1.InfraDrift, last time.Time) {
	t := metav1.NewTime(last)
	obj.Status.LastRunTime = &t
	obj.Status.ObservedGeneration = obj.Generation
	obj.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonNoDrift,
		ObservedGeneration: obj.Generation, LastTransitionTime: t}}
}

// assertSpread checks that waits (from one instant) all fall within one
// interval and that no thirtieth of the interval holds more than twice
// its share.
func assertSpread(t *testing.T, waits []time.Duration, interval time.Duration) {
	t.Helper()
	const buckets = 30
	counts := make([]int, buckets)
	for _, w := range waits {
		if w < 0 || w >= interval {
			t.Fatalf("a check in %v, want within the interval %v", w, interval)
		}
		counts[int(w*buckets/interval)]++
	}
	mean := float64(len(waits)) / buckets
	most := 0
	for _, c := range counts {
		most = max(most, c)
	}
	if float64(most) > 2*mean {
		t.Errorf("%d checks in one %v window, mean %.1f (each window: %v)", most, interval/buckets, mean, counts)
	}
}

// TestFakeScheduleSpreadsFirstChecks: a thousand scheduled InfraDrifts
// created at the same instant have their first checks spread over the
// interval, each within one interval of its creation.
func TestFakeScheduleSpreadsFirstChecks(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 3, 400e6, time.UTC)
	for _, interval := range []time.Duration{30 * time.Second, 5 * time.Minute, 7*time.Minute + 13*time.Second, time.Hour} {
		t.Run(interval.String(), func(t *testing.T) {
			s := schedule{began: created.Add(-time.Hour)}
			var waits []time.Duration
			for _, obj := range fleet(1000, interval, created) {
				waits = append(waits, s.wait(obj, created))
			}
			assertSpread(t, waits, interval)
		})
	}
}

// TestFakeScheduleSpreadsMissedChecks: after a step-runner was down for
// longer than the interval, every check is overdue; they are spread over
// the interval after its start, not run at once. Checks not yet due keep
// their time.
func TestFakeScheduleSpreadsMissedChecks(t *testing.T) {
	const interval = 5 * time.Minute
	began := time.Date(2026, 12, 1, 10, 0, 3, 400e6, time.UTC)
	s := schedule{began: began}
	now := began.Add(2 * time.Second) // the first reconciles after the start
	for name, last := range map[string]func(i int) time.Time{
		"checked together before the downtime": func(int) time.Time { return began.Add(-time.Hour) },
		"checked spread before the downtime":   func(i int) time.Time { return began.Add(-time.Hour + time.Duration(i)*interval/1000) },
		"never checked, created before":        nil,
	} {
		t.Run(name, func(t *testing.T) {
			var waits []time.Duration
			for i, obj := range fleet(1000, interval, began.Add(-2*time.Hour)) {
				if last != nil {
					checked(obj, last(i))
				}
				// From the start: now is a little later.
				waits = append(waits, s.wait(obj, now)+now.Sub(began))
			}
			assertSpread(t, waits, interval)
		})
	}
	t.Run("not yet due", func(t *testing.T) {
		obj := fleet(1, interval, began.Add(-time.Hour))[0]
		checked(obj, began.Add(-time.Minute))
		if got, want := s.wait(obj, now), 4*time.Minute-2*time.Second; got != want {
			t.Errorf("next check in %v, want %v (one interval after the last)", got, want)
		}
	})
}

// TestFakeScheduleRules: what runs at once, what waits, what does nothing.
func TestFakeScheduleRules(t *testing.T) {
	const interval = time.Minute
	began := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := began.Add(time.Hour)
	s := schedule{began: began}
	for name, tc := range map[string]struct {
		prepare func(o *v1alpha1.InfraDrift)
		want    time.Duration // -2: within (0, interval)
	}{
		"on demand: at once":              {prepare: func(o *v1alpha1.InfraDrift) { o.Spec.Interval = nil }},
		"on demand, done: nothing":        {prepare: func(o *v1alpha1.InfraDrift) { o.Spec.Interval = nil; checked(o, now) }, want: -1},
		"first check: at its phase":       {prepare: func(o *v1alpha1.InfraDrift) { o.CreationTimestamp = metav1.NewTime(now) }, want: -2},
		"no creation time: at once":       {prepare: func(o *v1alpha1.InfraDrift) { o.CreationTimestamp = metav1.Time{} }},
		"a new generation: at once":       {prepare: func(o *v1alpha1.InfraDrift) { checked(o, now); o.Generation = 2 }},
		"a failed first check: retried":   {prepare: func(o *v1alpha1.InfraDrift) { checked(o, now); o.Status.LastRunTime = nil; o.Status.Conditions = nil }},
		"due while running: at once":      {prepare: func(o *v1alpha1.InfraDrift) { checked(o, now.Add(-interval-time.Second)) }},
		"not due: one interval after":     {prepare: func(o *v1alpha1.InfraDrift) { checked(o, now.Add(-10*time.Second)) }, want: 50 * time.Second},
		"interval under 30s: refused now": {prepare: func(o *v1alpha1.InfraDrift) { o.Spec.Interval.Duration = 10 * time.Second }},
		"zero interval: refused now":      {prepare: func(o *v1alpha1.InfraDrift) { o.Spec.Interval.Duration = 0 }},
		"refused: nothing more": {prepare: func(o *v1alpha1.InfraDrift) {
			o.Spec.Interval.Duration = 10 * time.Second
			o.Status.ObservedGeneration = 1
			o.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonInvalidSpec}}
		}, want: -1},
	} {
		t.Run(name, func(t *testing.T) {
			obj := fleet(1, interval, began.Add(-time.Minute))[0]
			tc.prepare(obj)
			got := s.wait(obj, now)
			if tc.want == -2 {
				if got <= 0 || got >= interval {
					t.Errorf("wait %v, want within (0, %v)", got, interval)
				}
				return
			}
			if got != tc.want {
				t.Errorf("wait %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFakeScheduledFirstCheckWaits: through Reconcile, a new scheduled
// InfraDrift runs no Terraform at once and is looked at again at its phase,
// within one interval.
func TestFakeScheduledFirstCheckWaits(t *testing.T) {
	obj := fleet(1, time.Minute, time.Now())[0]
	obj.Namespace, obj.Name, obj.Spec.Target.ConfigurationName = fakeNS, "check", fakeCfg
	e := newFakeEnv(t, obj)
	got := e.reconcile(&DriftReconciler{Runtime: e.rt, schedule: schedule{began: time.Now().Add(-time.Hour)}}, obj)
	if len(got.Calls) != 0 || got.Err != "" {
		t.Errorf("ran %v (error %q) at once, want nothing before its phase", got.Calls, got.Err)
	}
	if wait := got.Result.RequeueAfter; wait <= 0 || wait > time.Minute {
		t.Errorf("looked at again in %v, want within the interval", wait)
	}
}
