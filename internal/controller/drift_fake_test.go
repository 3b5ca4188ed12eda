package controller

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tfjson "github.com/hashicorp/terraform-json"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/plan"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

func TestFakeDrift(t *testing.T) {
	const (
		cfg     = "Configuration team/network"
		refresh = "plan drift.tfplan -refresh-only"
	)
	var (
		drifted    = &tfjson.Plan{ResourceDrift: []*tfjson.ResourceChange{vpc(update, "10.40.0.0/16", "10.50.0.0/16")}}
		corrective = planOf(vpc(update, "10.50.0.0/16", "10.40.0.0/16"))
		clean      = cfg + " has no drift: the cloud matches the Terraform state"
	)
	found := cfg + " drifted: 1 resource(s) changed in the cloud since the last apply; an apply would make 1 change(s) back. Remedy report: nothing applied. " + plan.SummarizeDrift(drifted).Diff
	cases := map[string]struct {
		wasDrifted bool
		interval   time.Duration
		plans      []planReply
		want       observed
		wantGauge  float64
	}{
		"no drift": {plans: []planReply{{}}, want: observed{
			Calls: []string{refresh}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonNoDrift, clean, v1alpha1.ConditionDrifted, "False NoDrift: "+clean),
		}},
		"drift found": {plans: []planReply{{plan: drifted, changes: true}, {plan: corrective, changes: true}}, wantGauge: 1, want: observed{
			Calls: []string{refresh, "plan corrective.tfplan"}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonDriftFound, found, v1alpha1.ConditionDrifted, "True DriftFound: "+found),
			Events:     []string{"Warning DriftFound " + cfg + " drifted: 1 resource(s) changed in the cloud"},
		}},
		"still drifted: no second event": {wasDrifted: true, plans: []planReply{{plan: drifted, changes: true}, {plan: corrective, changes: true}}, wantGauge: 1, want: observed{
			Calls: []string{refresh, "plan corrective.tfplan"}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonDriftFound, found, v1alpha1.ConditionDrifted, "True DriftFound: "+found),
		}},
		"drift gone": {wasDrifted: true, plans: []planReply{{}}, want: observed{
			Calls: []string{refresh}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonNoDrift, clean, v1alpha1.ConditionDrifted, "False NoDrift: "+clean),
			Events:     []string{"Normal NoDrift " + cfg + " no longer drifts"},
		}},
		"the check fails": {plans: []planReply{{plan: drifted, changes: true}, {err: tfErr(terraform.ReasonProviderCrashed, "plugin exited")}}, want: observed{
			Calls: []string{refresh, "plan corrective.tfplan"}, Result: after(4 * time.Second),
			Conditions: stalledWith(v1alpha1.ReasonProviderCrashed,
				"InfraDrift team/check: drift check of Configuration network failed: the provider crashed (plugin exited); the full Terraform output is in ConfigMap infradrift-check-output; the step-runner runs it again in 4s, or at once after `vela workflow restart`"),
		}},
		"an interval schedules the next check": {interval: time.Minute, plans: []planReply{{}}, want: observed{
			Calls: []string{refresh}, Done: true, Result: after(time.Minute),
			Conditions: readyWith(v1alpha1.ReasonNoDrift, clean, v1alpha1.ConditionDrifted, "False NoDrift: "+clean),
		}},
		"a failed scheduled check is retried by the failure policy": {interval: time.Minute, plans: []planReply{{err: tfErr(terraform.ReasonLockHeld, "lock")}}, want: observed{
			Calls: []string{refresh}, Result: after(time.Second),
			Conditions: waitingWith(v1alpha1.ReasonLockHeld, "InfraDrift team/check: drift check of Configuration network waits for the state lock, held by another run; retrying"),
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
				Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}, Status: v1alpha1.InfraDriftStatus{Drifted: tc.wasDrifted}}
			if tc.interval > 0 {
				obj.Spec.Interval = &metav1.Duration{Duration: tc.interval}
			}
			e := newFakeEnv(t, obj)
			e.ws.plans = tc.plans
			DriftResources.Reset()
			got := e.reconcile(&DriftReconciler{Runtime: e.rt}, obj)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if g := testutil.ToFloat64(DriftResources.WithLabelValues(fakeNS, "check", fakeCfg)); g != tc.wantGauge {
				t.Errorf("drift gauge %v, want %v", g, tc.wantGauge)
			}
		})
	}
}

// TestFakeDriftSchedule: a finished check runs again once its interval has
// passed, and not before.
func TestFakeDriftSchedule(t *testing.T) {
	for name, tc := range map[string]struct {
		interval, ago time.Duration
		wantRun       bool
	}{
		"one-shot, done":       {ago: time.Hour},
		"scheduled, not due":   {interval: time.Minute, ago: 10 * time.Second},
		"scheduled, due":       {interval: time.Minute, ago: 2 * time.Minute, wantRun: true},
		"scheduled, long over": {interval: time.Minute, ago: time.Hour, wantRun: true},
	} {
		t.Run(name, func(t *testing.T) {
			last := metav1.NewTime(time.Now().Add(-tc.ago))
			obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
				Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
			obj.Status.LastRunTime = &last
			obj.Status.ObservedGeneration = 1
			obj.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonNoDrift,
				Message: "earlier", ObservedGeneration: 1, LastTransitionTime: last}}
			if tc.interval > 0 {
				obj.Spec.Interval = &metav1.Duration{Duration: tc.interval}
			}
			e := newFakeEnv(t, obj)
			if tc.wantRun {
				e.ws.plans = []planReply{{}}
			}
			got := e.reconcile(&DriftReconciler{Runtime: e.rt}, obj)
			if ran := len(got.Calls) > 0; ran != tc.wantRun {
				t.Errorf("ran %v, want %v (calls %v)", ran, tc.wantRun, got.Calls)
			}
			if wait := got.Result.RequeueAfter; tc.interval > 0 && (wait <= 0 || wait > tc.interval) {
				t.Errorf("next check in %v, want within the interval %v", wait, tc.interval)
			}
		})
	}
}

// TestFakeProgressIsWrittenAndCleared: a run that takes a while shows
// Progressing on the API server meanwhile, and its end leaves no
// Reconciling behind, although a scheduled re-check ends with the
// conditions it started from.
func TestFakeProgressIsWrittenAndCleared(t *testing.T) {
	clean := "Configuration team/network has no drift: the cloud matches the Terraform state"
	obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}, Interval: &metav1.Duration{Duration: time.Minute}}}
	e := newFakeEnv(t, obj)
	e.rt.ProgressAfter = -1 // at once
	r := &DriftReconciler{Runtime: e.rt}
	var midRun []string
	e.ws.during = func() {
		var live v1alpha1.InfraDrift
		if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(obj), &live); err != nil {
			t.Fatal(err)
		}
		for _, c := range live.Status.Conditions {
			midRun = append(midRun, c.Type+"="+string(c.Status)+" "+c.Reason)
		}
	}
	want := observed{Calls: []string{"plan drift.tfplan -refresh-only"}, Done: true, Result: ctrl.Result{RequeueAfter: time.Minute},
		Conditions: readyWith(v1alpha1.ReasonNoDrift, clean, v1alpha1.ConditionDrifted, "False NoDrift: "+clean)}
	for _, run := range []struct {
		name   string
		midRun []string
	}{
		{"first check", []string{"Reconciling=True Progressing", "Ready=Unknown Progressing"}},
		{"re-check", []string{"Drifted=False NoDrift", "Ready=True NoDrift", "Reconciling=True Progressing"}},
	} {
		midRun = nil
		e.ws.plans = []planReply{{}}
		if run.name == "re-check" {
			// Due again: the interval has passed.
			past := metav1.NewTime(time.Now().Add(-2 * time.Minute))
			obj.Status.LastRunTime = &past
			if err := e.c.Status().Update(context.Background(), obj); err != nil {
				t.Fatal(err)
			}
		}
		got := e.reconcile(r, obj)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", run.name, diff)
		}
		if diff := cmp.Diff(run.midRun, midRun); diff != "" {
			t.Errorf("%s: conditions mid-run (-want +got):\n%s", run.name, diff)
		}
	}
}
