package controller

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	tfjson "github.com/hashicorp/terraform-json"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vela-infra/vela-infra/internal/plan"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFakeDriftRemedies: each remedy's branch, from the Terraform commands
// it runs to the status, Event and metrics it leaves.
func TestFakeDriftRemedies(t *testing.T) {
	const (
		cfg        = "Configuration team/network"
		refresh    = "plan drift.tfplan -refresh-only"
		correct    = "plan corrective.tfplan"
		applyFresh = "apply corrective.tfplan (plan 2 of corrective.tfplan)"
	)
	drifted := planReply{plan: &tfjson.Plan{ResourceDrift: []*tfjson.ResourceChange{vpc(update, "10.40.0.0/16", "10.50.0.0/16")}}, changes: true}
	reversal := planOf(vpc(update, "10.50.0.0/16", "10.40.0.0/16"))
	replaced := func() *tfjson.Plan {
		rc := vpc(replace, "10.50.0.0/16", "10.40.0.0/16")
		rc.Change.ReplacePaths = []any{[]any{"cidr"}}
		return planOf(rc)
	}()
	notDeclared := planOf(vpc(update, "10.50.0.0/16", "10.60.0.0/16"))
	revID, repID := plan.Summarize(reversal).ID, plan.Summarize(replaced).ID
	diff := plan.SummarizeDrift(drifted.plan).Diff
	driftMsg := func(remedy string) string {
		return cfg + " drifted: 1 resource(s) changed in the cloud since the last apply; an apply would make " + remedy + " " + diff
	}
	reverted := "Remedy revert: applied the corrective plan " + revID + ", exactly the reversal of the drift (1 in-place update(s)): " + cfg + " is back to its declared values."
	revertedMsg := cfg + " had drifted (1 resource(s)); " + reverted + " " + diff
	heldReplace := "Remedy revert: not reverted automatically, because mycloud_vpc.this would be replaced (cidr cannot be changed in place); the corrective plan " + repID + " waits for a person: approve it with spec.approval.planID " + repID + "."
	heldNotDeclared := "Remedy revert: not reverted automatically, because mycloud_vpc.this attribute cidr would be set to a value it did not have before the drift (the Configuration changed since it was applied); the corrective plan " +
		plan.Summarize(notDeclared).ID + " waits for a person: approve it with spec.approval.planID " + plan.Summarize(notDeclared).ID + "."
	heldApprove := "Remedy approve: the corrective plan " + revID + " waits for a person; approve it with spec.approval.planID " + revID + "."
	applied := "Remedy approve: applied the approved corrective plan " + revID + " (approved by alice (spec.approval.by, a name the client wrote: the step-runner runs without its admission webhooks)): " + cfg + " is back to its declared values."
	appliedMsg := cfg + " had drifted (1 resource(s)); " + applied + " " + diff
	// With the webhooks: the person recorded for the plan.
	appliedRecorded := "Remedy approve: applied the approved corrective plan " + revID + " (approved by bob (groups approvers) via an approval written on InfraDrift team/check): " + cfg + " is back to its declared values."
	appliedRecordedMsg := cfg + " had drifted (1 resource(s)); " + appliedRecorded + " " + diff
	unrecorded := "Remedy approve: the approval of corrective plan " + revID + " was not recorded by the step-runner's admission webhook (only an approval written by someone with the verb approve on infradrifts in namespace team, or the application's approvePlan, is); nothing was applied. The corrective plan " + revID + " waits for approval."
	changedApproval := "Remedy approve: the corrective plan changed since plan 0123456789abcdef was approved (the cloud or the Configuration changed); nothing was applied. The corrective plan " + revID + " waits for approval: set spec.approval.planID to " + revID + " to apply it."

	type want struct {
		observed
		remedy  string // status.remedy.result
		drifted bool
		gauge   float64
		pending bool
	}
	cases := map[string]struct {
		remedy   string
		approval *v1alpha1.Approval
		// applied is an approval applied before (status.remedy.approval).
		applied *v1alpha1.Approval
		// webhooks runs the reconciler as with its webhooks; record is the
		// approver they recorded for that plan id.
		webhooks bool
		record   string
		plans    []planReply
		applyErr error
		want     want
	}{
		"report: nothing applied": {remedy: v1alpha1.RemedyReport, plans: []planReply{drifted, {plan: reversal, changes: true}}, want: want{
			observed: observed{Calls: []string{refresh, correct}, Done: true,
				Conditions: readyWith(v1alpha1.ReasonDriftFound, driftMsg("1 change(s) back. Remedy report: nothing applied."),
					v1alpha1.ConditionDrifted, "True DriftFound: "+driftMsg("1 change(s) back. Remedy report: nothing applied.")),
				Events: []string{"Warning DriftFound " + cfg + " drifted: 1 resource(s) changed in the cloud"}},
			remedy: v1alpha1.RemedyReported, drifted: true, gauge: 1,
		}},
		"revert: the exact reversal is applied": {remedy: v1alpha1.RemedyRevert, plans: []planReply{drifted, {plan: reversal, changes: true}}, want: want{
			observed: observed{Calls: []string{refresh, correct, applyFresh}, Done: true,
				Conditions: readyWith(v1alpha1.ReasonDriftReverted, revertedMsg, v1alpha1.ConditionDrifted, "False DriftReverted: "+revertedMsg),
				Events:     []string{"Normal DriftReverted InfraDrift team/check: " + reverted}},
			remedy: v1alpha1.RemedyReverted,
		}},
		"revert: a replace is held for a person": {remedy: v1alpha1.RemedyRevert, plans: []planReply{drifted, {plan: replaced, changes: true}}, want: want{
			observed: observed{Calls: []string{refresh, correct}, Done: true,
				Conditions: readyWith(v1alpha1.ReasonDriftFound, driftMsg("2 change(s) back. "+heldReplace),
					v1alpha1.ConditionDrifted, "True DriftFound: "+driftMsg("2 change(s) back. "+heldReplace)),
				Events: []string{"Warning RevertHeld InfraDrift team/check: " + heldReplace, "Warning DriftFound " + cfg + " drifted: 1 resource(s) changed in the cloud"}},
			remedy: v1alpha1.RemedyHeld, drifted: true, gauge: 1, pending: true,
		}},
		"revert: more than the reversal is held": {remedy: v1alpha1.RemedyRevert, plans: []planReply{drifted, {plan: notDeclared, changes: true}}, want: want{
			observed: observed{Calls: []string{refresh, correct}, Done: true,
				Conditions: readyWith(v1alpha1.ReasonDriftFound, driftMsg("1 change(s) back. "+heldNotDeclared),
					v1alpha1.ConditionDrifted, "True DriftFound: "+driftMsg("1 change(s) back. "+heldNotDeclared)),
				Events: []string{"Warning RevertHeld InfraDrift team/check: " + heldNotDeclared, "Warning DriftFound " + cfg + " drifted: 1 resource(s) changed in the cloud"}},
			remedy: v1alpha1.RemedyHeld, drifted: true, gauge: 1, pending: true,
		}},
		"revert: a state changed before the apply fails the run, nothing reported as reverted": {remedy: v1alpha1.RemedyRevert,
			plans: []planReply{drifted, {plan: reversal, changes: true}}, applyErr: tfErr(terraform.ReasonStalePlan, "Saved plan is stale"), want: want{
				observed: observed{Calls: []string{refresh, correct, applyFresh},
					Conditions: waitingWith(v1alpha1.ReasonPlanChanged, "InfraDrift team/check: reverting the drift of Configuration network failed: Saved plan is stale; a new plan must be shown and approved; the full Terraform output is in ConfigMap infradrift-check-output")},
				drifted: true,
			}},
		"approve: the corrective plan is held": {remedy: v1alpha1.RemedyApprove, plans: []planReply{drifted, {plan: reversal, changes: true}}, want: want{
			observed: observed{Calls: []string{refresh, correct}, Done: true,
				Conditions: readyWith(v1alpha1.ReasonDriftFound, driftMsg("1 change(s) back. "+heldApprove),
					v1alpha1.ConditionDrifted, "True DriftFound: "+driftMsg("1 change(s) back. "+heldApprove)),
				Events: []string{"Warning CorrectionHeld InfraDrift team/check: " + heldApprove, "Warning DriftFound " + cfg + " drifted: 1 resource(s) changed in the cloud"}},
			remedy: v1alpha1.RemedyHeld, drifted: true, gauge: 1, pending: true,
		}},
		"approve: the approved plan is applied": {remedy: v1alpha1.RemedyApprove, approval: &v1alpha1.Approval{PlanID: revID, By: "alice"},
			plans: []planReply{drifted, {plan: reversal, changes: true}}, want: want{
				observed: observed{Calls: []string{refresh, correct, applyFresh}, Done: true,
					Conditions: readyWith(v1alpha1.ReasonCorrectionApplied, appliedMsg, v1alpha1.ConditionDrifted, "False CorrectionApplied: "+appliedMsg),
					Events:     []string{"Normal CorrectionApplied InfraDrift team/check: " + applied}},
				remedy: v1alpha1.RemedyApplied,
			}},
		"approve, with the webhooks: the recorded person's approval is applied": {remedy: v1alpha1.RemedyApprove, approval: &v1alpha1.Approval{PlanID: revID, By: "alice"},
			webhooks: true, record: revID, plans: []planReply{drifted, {plan: reversal, changes: true}}, want: want{
				observed: observed{Calls: []string{refresh, correct, applyFresh}, Done: true,
					Conditions: readyWith(v1alpha1.ReasonCorrectionApplied, appliedRecordedMsg, v1alpha1.ConditionDrifted, "False CorrectionApplied: "+appliedRecordedMsg),
					Events:     []string{"Normal CorrectionApplied InfraDrift team/check: " + appliedRecorded}},
				remedy: v1alpha1.RemedyApplied,
			}},
		"approve, with the webhooks: an approval nobody was recorded for applies nothing": {remedy: v1alpha1.RemedyApprove, approval: &v1alpha1.Approval{PlanID: revID, By: "alice"},
			webhooks: true, record: "0123456789abcdef", plans: []planReply{drifted, {plan: reversal, changes: true}}, want: want{
				observed: observed{Calls: []string{refresh, correct}, Done: true,
					Conditions: readyWith(v1alpha1.ReasonDriftFound, driftMsg("1 change(s) back. "+unrecorded),
						v1alpha1.ConditionDrifted, "True DriftFound: "+driftMsg("1 change(s) back. "+unrecorded)),
					Events: []string{"Warning CorrectionHeld InfraDrift team/check: " + unrecorded, "Warning DriftFound " + cfg + " drifted: 1 resource(s) changed in the cloud"}},
				remedy: v1alpha1.RemedyHeld, drifted: true, gauge: 1, pending: true,
			}},
		"approve: an approval of another plan applies nothing": {remedy: v1alpha1.RemedyApprove, approval: &v1alpha1.Approval{PlanID: "0123456789abcdef", By: "alice"},
			plans: []planReply{drifted, {plan: reversal, changes: true}}, want: want{
				observed: observed{Calls: []string{refresh, correct}, Done: true,
					Conditions: readyWith(v1alpha1.ReasonDriftFound, driftMsg("1 change(s) back. "+changedApproval),
						v1alpha1.ConditionDrifted, "True DriftFound: "+driftMsg("1 change(s) back. "+changedApproval)),
					Events: []string{"Warning CorrectionHeld InfraDrift team/check: " + changedApproval, "Warning DriftFound " + cfg + " drifted: 1 resource(s) changed in the cloud"}},
				remedy: v1alpha1.RemedyHeld, drifted: true, gauge: 1, pending: true,
			}},
		"approve: an approval already applied is not applied again": {remedy: v1alpha1.RemedyApprove,
			approval: &v1alpha1.Approval{PlanID: revID, By: "alice"}, applied: &v1alpha1.Approval{PlanID: revID, By: "alice"},
			plans: []planReply{drifted, {plan: reversal, changes: true}}, want: want{
				observed: observed{Calls: []string{refresh, correct}, Done: true,
					Conditions: readyWith(v1alpha1.ReasonDriftFound, driftMsg("1 change(s) back. "+heldApprove),
						v1alpha1.ConditionDrifted, "True DriftFound: "+driftMsg("1 change(s) back. "+heldApprove)),
					Events: []string{"Warning CorrectionHeld InfraDrift team/check: " + heldApprove, "Warning DriftFound " + cfg + " drifted: 1 resource(s) changed in the cloud"}},
				remedy: v1alpha1.RemedyHeld, drifted: true, gauge: 1, pending: true,
			}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
				Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}, Remedy: tc.remedy, Approval: tc.approval}}
			if tc.applied != nil {
				obj.Status.Remedy = &v1alpha1.RemedyStatus{Remedy: tc.remedy, Result: v1alpha1.RemedyApplied, PlanID: tc.applied.PlanID, Approval: tc.applied, Time: metav1.Now()}
			}
			e := newFakeEnv(t, obj)
			e.ws.plans = tc.plans
			e.ws.applyErr = tc.applyErr
			for _, v := range Metrics() {
				if r, ok := v.(interface{ Reset() }); ok {
					r.Reset()
				}
			}
			r := &DriftReconciler{Runtime: e.rt}
			if tc.webhooks {
				r.PlanNamespace, r.RequireRecordedApprover = "vela-system", true
				rec := ApprovalRecord{Approver: v1alpha1.Approver{Username: "bob", Groups: []string{"approvers"}, Via: "an approval written on InfraDrift team/check"}, PlanID: tc.record}
				approvals := &Approvals{Client: e.c, PlanNamespace: "vela-system", Recorder: record.NewFakeRecorder(4)}
				if err := approvals.RecordDriftApprover(context.Background(), obj, rec); err != nil {
					t.Fatal(err)
				}
			}
			got := e.reconcile(r, obj)
			if diff := cmp.Diff(tc.want.observed, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if obj.Status.Drifted != tc.want.drifted {
				t.Errorf("status.drifted %v, want %v", obj.Status.Drifted, tc.want.drifted)
			}
			if (obj.Status.DriftedSince != nil) != tc.want.drifted {
				t.Errorf("status.driftedSince %v with drifted %v", obj.Status.DriftedSince, tc.want.drifted)
			}
			result := ""
			if obj.Status.Remedy != nil {
				result = obj.Status.Remedy.Result
				if !strings.Contains(got.Conditions[v1alpha1.ConditionReady], obj.Status.Remedy.Message) {
					t.Errorf("status.remedy.message %q is not in the Ready message", obj.Status.Remedy.Message)
				}
			}
			if result != tc.want.remedy {
				t.Errorf("status.remedy.result %q, want %q", result, tc.want.remedy)
			}
			if tc.want.remedy == v1alpha1.RemedyApplied && (obj.Status.Remedy.Approval == nil || *obj.Status.Remedy.Approval != *tc.approval) {
				t.Errorf("status.remedy.approval %+v, want the applied approval %+v", obj.Status.Remedy.Approval, tc.approval)
			}
			if tc.want.remedy != "" {
				if c := testutil.ToFloat64(DriftRemedies.WithLabelValues(remedyOf(obj), tc.want.remedy)); c != 1 {
					t.Errorf("remedies counter %v, want 1", c)
				}
			}
			if tc.applyErr == nil {
				if g := testutil.ToFloat64(DriftResources.WithLabelValues(fakeNS, "check", fakeCfg)); g != tc.want.gauge {
					t.Errorf("drift gauge %v, want %v", g, tc.want.gauge)
				}
				if n := testutil.CollectAndCount(DriftedSince); n != int(tc.want.gauge) {
					t.Errorf("%d drifted-since series, want %v", n, tc.want.gauge)
				}
			}
			if n := testutil.CollectAndCount(ApprovalPendingSince); (n == 1) != tc.want.pending {
				t.Errorf("%d pending-approval series, want pending %v", n, tc.want.pending)
			}
		})
	}
}

// TestFakeHeldPlanKeepsItsTime: a plan held on one check and still held on
// the next keeps the time it began waiting, with no second Event.
func TestFakeHeldPlanKeepsItsTime(t *testing.T) {
	drifted := planReply{plan: &tfjson.Plan{ResourceDrift: []*tfjson.ResourceChange{vpc(update, "10.40.0.0/16", "10.50.0.0/16")}}, changes: true}
	reversal := planReply{plan: planOf(vpc(update, "10.50.0.0/16", "10.40.0.0/16")), changes: true}
	obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}, Remedy: v1alpha1.RemedyApprove}}
	e := newFakeEnv(t, obj)
	r := &DriftReconciler{Runtime: e.rt}
	e.ws.plans = []planReply{drifted, reversal}
	first := e.reconcile(r, obj)
	held := obj.Status.Remedy.Time
	since := obj.Status.DriftedSince
	// Run again as the schedule would (a new generation stands in for the
	// interval passing).
	obj.Generation = 2
	obj.Status.Remedy.Time = metav1.NewTime(held.Add(-60e9))
	held = obj.Status.Remedy.Time
	if err := e.c.Status().Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	e.ws.plans = []planReply{drifted, reversal}
	second := e.reconcile(r, obj)
	if len(first.Events) != 2 || len(second.Events) != 0 {
		t.Errorf("events %v then %v, want two then none", first.Events, second.Events)
	}
	if !obj.Status.Remedy.Time.Equal(&held) {
		t.Errorf("held since %v, want %v kept", obj.Status.Remedy.Time, held)
	}
	if !obj.Status.DriftedSince.Equal(since) {
		t.Errorf("drifted since %v, want %v kept", obj.Status.DriftedSince, since)
	}
}

// TestFakeDriftSeriesPerObject: two InfraDrifts of one Configuration keep
// their own series, and a deleted one's series go with it.
func TestFakeDriftSeriesPerObject(t *testing.T) {
	drifted := planReply{plan: &tfjson.Plan{ResourceDrift: []*tfjson.ResourceChange{vpc(update, "10.40.0.0/16", "10.50.0.0/16")}}, changes: true}
	reversal := planReply{plan: planOf(vpc(update, "10.50.0.0/16", "10.40.0.0/16")), changes: true}
	a := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "a", Generation: 1},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}, Remedy: v1alpha1.RemedyApprove}}
	b := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "b", Generation: 1},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
	e := newFakeEnv(t, a, b)
	for _, v := range Metrics() {
		if r, ok := v.(interface{ Reset() }); ok {
			r.Reset()
		}
	}
	r := &DriftReconciler{Runtime: e.rt}
	e.ws.plans = []planReply{drifted, reversal}
	e.reconcile(r, a)
	e.ws.plans = []planReply{{}}
	e.reconcile(r, b)
	if ga, gb := testutil.ToFloat64(DriftResources.WithLabelValues(fakeNS, "a", fakeCfg)), testutil.ToFloat64(DriftResources.WithLabelValues(fakeNS, "b", fakeCfg)); ga != 1 || gb != 0 {
		t.Errorf("drift gauges a=%v b=%v, want 1 and 0", ga, gb)
	}
	for _, m := range []string{"vela_infra_drift_last_success_timestamp_seconds", "vela_infra_drift_resources"} {
		if n := testutil.CollectAndCount(LastSuccessfulCheck, m) + testutil.CollectAndCount(DriftResources, m); n != 2 {
			t.Errorf("%d series of %s, want one per InfraDrift", n, m)
		}
	}
	if err := e.c.Delete(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: fakeNS, Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]int{
		"vela_infra_drift_resources":                          testutil.CollectAndCount(DriftResources),
		"vela_infra_drift_last_success_timestamp_seconds":     testutil.CollectAndCount(LastSuccessfulCheck),
		"vela_infra_drifted_since_timestamp_seconds":          testutil.CollectAndCount(DriftedSince),
		"vela_infra_approval_pending_since_timestamp_seconds": testutil.CollectAndCount(ApprovalPendingSince),
	} {
		want := 1
		if name == "vela_infra_drifted_since_timestamp_seconds" || name == "vela_infra_approval_pending_since_timestamp_seconds" {
			want = 0 // only a had drift and a held plan
		}
		if c != want {
			t.Errorf("%s: %d series after a was deleted, want %d", name, c, want)
		}
	}
}
