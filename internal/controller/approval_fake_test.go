package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/plan"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFakeApproval runs an InfraApproval once (the plan is shown) and, when
// the case approves a plan, once more with the approval in its spec.
func TestFakeApproval(t *testing.T) {
	const (
		name   = "InfraApproval team/approve"
		target = "Configuration team/network"
		by     = "workflow my-app/approve"
		// Without the webhooks the approver is the name the client wrote,
		// and the Event says so.
		unverified = " Approver: " + by + " via spec.approval.by, a name the client wrote (the step-runner runs without its admission webhooks)."
		footer     = "Plan: 1 to add, 0 to change, 0 to destroy."
	)
	var (
		shown   = plan.Summarize(planOf(vpc(create, "", "10.40.0.0/16")))
		newer   = plan.Summarize(planOf(vpc(create, "", "10.41.0.0/16")))
		show    = planReply{plan: planOf(vpc(create, "", "10.40.0.0/16")), changes: true}
		changed = planReply{plan: planOf(vpc(create, "", "10.41.0.0/16")), changes: true}
		applied = "apply approved.tfplan (plan 1 of approval.tfplan)"
		planned = "True Succeeded: " + footer
	)
	awaiting := name + ": the change to " + target + " awaits approval (plan " + shown.ID + "): resume the workflow to apply exactly this plan, or terminate it to reject. " + shown.Diff
	planChanged := func(approved string, now *v1alpha1.PlanSummary) string {
		return name + ": the plan of " + target + " changed since plan " + approved + " was approved (the cloud or the spec changed); nothing was applied. The new plan " +
			now.ID + " awaits approval. " + now.Diff
	}
	neverShown := name + `: spec.approval.planID "0123abcd": plan id 0123abcd was never shown (the plan shown is ` + shown.ID + "); nothing was applied. Plan " +
		shown.ID + " awaits approval: resume the workflow to apply exactly this plan, or terminate it to reject. " + shown.Diff
	appliedMsg := name + " applied the approved plan " + shown.ID + " to " + target + " (approved by " + by + "). " + footer
	inEffect := name + ": the approved plan " + shown.ID + " (approved by " + by + ") is already in effect on " + target +
		": the re-check finds nothing left to apply (an earlier run applied it and ended before it could report, or the change was made elsewhere). " + footer
	cases := map[string]struct {
		shown []planReply
		// approve is the plan id approved after the first run ("" runs
		// once); earlier gives the approval for an earlier request.
		approve      string
		earlier      bool
		deleteSecret bool
		second       []planReply
		applyErr     error
		want         observed
	}{
		"no changes": {shown: []planReply{{plan: planOf()}}, want: observed{
			Calls: []string{"plan approval.tfplan"}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonNoChanges, name+": "+target+" has no changes to approve",
				v1alpha1.ConditionApproved, "True NoChanges: "+name+": "+target+" has no changes to approve",
				v1alpha1.ConditionPlanned, "True Succeeded: Plan: 0 to add, 0 to change, 0 to destroy."),
		}},
		"awaiting approval": {shown: []planReply{show}, want: observed{
			Calls: []string{"plan approval.tfplan"},
			Conditions: waitingWith(v1alpha1.ReasonAwaitingApproval, awaiting,
				v1alpha1.ConditionApproved, "False AwaitingApproval: "+awaiting, v1alpha1.ConditionPlanned, planned),
		}},
		"planning fails": {shown: []planReply{{err: tfErr(terraform.ReasonThrottled, "HTTP 429")}}, want: observed{
			Calls: []string{"plan approval.tfplan"}, Result: after(time.Second),
			Conditions: waitingWith(v1alpha1.ReasonThrottled, name+": planning of Configuration network was throttled by the cloud; retrying"),
		}},
		"applied": {shown: []planReply{show}, approve: shown.ID, second: []planReply{show}, want: observed{
			Calls: []string{"plan recheck.tfplan", applied}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonApplied, appliedMsg,
				v1alpha1.ConditionApproved, "True Succeeded: plan "+shown.ID+" approved by "+by,
				v1alpha1.ConditionApplied, "True Applied: "+appliedMsg, v1alpha1.ConditionPlanned, planned),
			Events: []string{"Normal Applied " + appliedMsg + unverified},
		}},
		"approval for an earlier request: shown again": {shown: []planReply{show}, approve: shown.ID, earlier: true, second: []planReply{show}, want: observed{
			Calls: []string{"plan approval.tfplan"},
			Conditions: waitingWith(v1alpha1.ReasonAwaitingApproval, awaiting,
				v1alpha1.ConditionApproved, "False AwaitingApproval: "+awaiting, v1alpha1.ConditionPlanned, planned),
		}},
		// Issue 17: a hand-patched plan id says it was never shown, not that
		// the cloud or the spec changed; the shown plan still awaits.
		"a plan id never shown approved": {shown: []planReply{show}, approve: "0123abcd", want: observed{
			Conditions: waitingWith(v1alpha1.ReasonAwaitingApproval, neverShown,
				v1alpha1.ConditionApproved, "False AwaitingApproval: "+neverShown, v1alpha1.ConditionPlanned, planned),
		}},
		"already in effect at the re-check: nothing applied, done": {shown: []planReply{show}, approve: shown.ID, second: []planReply{{plan: planOf(vpc(noop, "10.40.0.0/16", "10.40.0.0/16"))}}, want: observed{
			Calls: []string{"plan recheck.tfplan"}, Done: true,
			Conditions: readyWith(v1alpha1.ReasonApplied, inEffect,
				v1alpha1.ConditionApproved, "True Succeeded: plan "+shown.ID+" approved by "+by,
				v1alpha1.ConditionApplied, "True Applied: "+inEffect, v1alpha1.ConditionPlanned, planned),
			Events: []string{"Normal Applied " + inEffect + unverified},
		}},
		"plan changed at the re-check: nothing applied": {shown: []planReply{show}, approve: shown.ID, second: []planReply{changed}, want: observed{
			Calls: []string{"plan recheck.tfplan"},
			Conditions: waitingWith(v1alpha1.ReasonPlanChanged, planChanged(shown.ID, newer),
				v1alpha1.ConditionApproved, "False PlanChanged: "+planChanged(shown.ID, newer), v1alpha1.ConditionPlanned, planned),
		}},
		"saved plan stale at the apply: planned again": {shown: []planReply{show}, approve: shown.ID, second: []planReply{show, changed},
			applyErr: &terraform.Error{Op: "apply", Reason: terraform.ReasonStalePlan, Summary: "Saved plan is stale"}, want: observed{
				Calls: []string{"plan recheck.tfplan", applied, "plan approval.tfplan"},
				Conditions: waitingWith(v1alpha1.ReasonPlanChanged, planChanged(shown.ID, newer),
					v1alpha1.ConditionApproved, "False PlanChanged: "+planChanged(shown.ID, newer), v1alpha1.ConditionPlanned, planned),
			}},
		"apply fails": {shown: []planReply{show}, approve: shown.ID, second: []planReply{show}, applyErr: tfErr(terraform.ReasonFailed, "boom"), want: observed{
			Calls: []string{"plan recheck.tfplan", applied}, Result: after(4 * time.Second),
			Conditions: stalledWith(v1alpha1.ReasonTerraformFailed,
				name+": applying the approved plan of Configuration network failed: boom; the full Terraform output is in ConfigMap infraapproval-approve-output; the step-runner runs it again in 4s, or at once after `vela workflow restart`",
				v1alpha1.ConditionApproved, "False AwaitingApproval: "+awaiting, v1alpha1.ConditionPlanned, planned),
		}},
		"re-check fails": {shown: []planReply{show}, approve: shown.ID, second: []planReply{{err: tfErr(terraform.ReasonLockHeld, "lock")}}, want: observed{
			Calls: []string{"plan recheck.tfplan"}, Result: after(time.Second),
			Conditions: waitingWith(v1alpha1.ReasonLockHeld, name+": re-checking the approved plan of Configuration network waits for the state lock, held by another run; retrying",
				v1alpha1.ConditionApproved, "False AwaitingApproval: "+awaiting, v1alpha1.ConditionPlanned, planned),
		}},
		"plan Secret gone: an error, the shown plan stays": {shown: []planReply{show}, approve: shown.ID, deleteSecret: true, second: []planReply{show}, want: observed{
			Calls: []string{"plan recheck.tfplan"},
			Err:   "the saved plan Secret " + fakeNS + "/approve-plan is gone; delete the InfraApproval to plan again",
			Conditions: waitingWith(v1alpha1.ReasonAwaitingApproval, awaiting,
				v1alpha1.ConditionApproved, "False AwaitingApproval: "+awaiting, v1alpha1.ConditionPlanned, planned),
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "approve", Generation: 1},
				Spec: v1alpha1.InfraApprovalSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
			e := newFakeEnv(t, obj)
			r := &ApprovalReconciler{Runtime: e.rt}
			e.ws.plans, e.ws.applyErr = tc.shown, tc.applyErr
			got := e.reconcile(r, obj)
			if tc.approve != "" {
				e.approve(obj, tc.approve, tc.earlier)
				if tc.deleteSecret {
					e.deletePlanSecret(obj)
				}
				e.ws.plans = tc.second
				got = e.reconcile(r, obj)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(e.ws.plans) > 0 {
				t.Errorf("%d scripted plan(s) not run", len(e.ws.plans))
			}
			if !tc.deleteSecret {
				e.assertPlanSecretHoldsTheShownPlan(obj)
			}
		})
	}
}

// approve gives the approval of plan id, as the workflow step does, for the
// object's request or an earlier one.
func (e *fakeEnv) approve(obj *v1alpha1.InfraApproval, id string, earlier bool) {
	e.t.Helper()
	obj.Spec.Approval = &v1alpha1.Approval{PlanID: id, By: "workflow my-app/approve"}
	if earlier {
		obj.Spec.Request, obj.Spec.Approval.Request = "2", "1"
	}
	obj.Generation++
	if err := e.c.Update(context.Background(), obj); err != nil {
		e.t.Fatal(err)
	}
}

func (e *fakeEnv) deletePlanSecret(obj *v1alpha1.InfraApproval) {
	e.t.Helper()
	ns, name, _ := strings.Cut(obj.Status.PlanSecret, "/")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := e.c.Delete(context.Background(), secret); err != nil {
		e.t.Fatal(err)
	}
}

// assertPlanSecretHoldsTheShownPlan: the plan a person approves is the one
// kept, whatever happened since it was shown.
func (e *fakeEnv) assertPlanSecretHoldsTheShownPlan(obj *v1alpha1.InfraApproval) {
	e.t.Helper()
	if obj.Status.Plan == nil {
		return
	}
	var secret corev1.Secret
	if err := e.c.Get(context.Background(), planSecretKey(obj), &secret); err != nil {
		e.t.Fatalf("plan Secret: %v", err)
	}
	if got := string(secret.Data[planIDKey]); got != obj.Status.Plan.ID {
		e.t.Errorf("the plan Secret holds plan %s, the status shows %s", got, obj.Status.Plan.ID)
	}
}

// planSecretKey is where status.planSecret (namespace/name) says the plan is.
func planSecretKey(obj *v1alpha1.InfraApproval) types.NamespacedName {
	ns, name, _ := strings.Cut(obj.Status.PlanSecret, "/")
	return types.NamespacedName{Namespace: ns, Name: name}
}

// TestFakeSavedPlanOutsideTheTenant: with a plan namespace, the saved plan
// (it holds sensitive values) is kept there, not in the tenant's namespace,
// and is deleted when its InfraApproval goes: when the step-runner sees it
// go, or at the next start for one that went while none ran.
func TestFakeSavedPlanOutsideTheTenant(t *testing.T) {
	obj := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "approve", Generation: 1},
		Spec: v1alpha1.InfraApprovalSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
	e := newFakeEnv(t, obj)
	r := &ApprovalReconciler{Runtime: e.rt, PlanNamespace: "vela-system"}
	e.ws.plans = []planReply{{plan: planOf(vpc(create, "", "10.40.0.0/16")), changes: true}}
	got := e.reconcile(r, obj)
	if got.Err != "" || !strings.HasPrefix(got.Conditions[v1alpha1.ConditionReady], "False AwaitingApproval") {
		t.Fatalf("not awaiting approval: %+v", got)
	}
	want := types.NamespacedName{Namespace: "vela-system", Name: "tfplan-" + fakeNS + ".approve"}
	if diff := cmp.Diff(want, planSecretKey(obj)); diff != "" {
		t.Fatalf("status.planSecret (-want +got):\n%s", diff)
	}
	e.assertPlanSecretHoldsTheShownPlan(obj)
	var inTenant corev1.SecretList
	if err := e.c.List(context.Background(), &inTenant, client.InNamespace(fakeNS)); err != nil {
		t.Fatal(err)
	}
	for _, s := range inTenant.Items {
		if _, ok := s.Data[planFileKey]; ok {
			t.Errorf("a saved plan in the tenant's namespace: %s", s.Name)
		}
	}

	// Another InfraApproval's plan, whose owner went while no step-runner
	// ran, and one whose owner still exists.
	orphan := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "vela-system", Name: "tfplan-" + fakeNS + ".gone",
		Labels: map[string]string{labelApprovalNamespace: fakeNS, labelApprovalName: "gone"}}}
	if err := e.c.Create(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	if err := r.sweepPlans(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(orphan), &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the sweep kept the plan of a deleted InfraApproval: %v", err)
	}
	if err := e.c.Get(context.Background(), want, &corev1.Secret{}); err != nil {
		t.Errorf("the sweep deleted the plan of a live InfraApproval: %v", err)
	}

	if err := e.c.Delete(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Get(context.Background(), want, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the saved plan outlived its InfraApproval: %v", err)
	}
}
