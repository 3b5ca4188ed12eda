package controller

import (
	"context"
	"strings"
	"testing"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/plan"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

func infraPolicy(name, rule string, namespaces ...string) *v1alpha1.InfraPolicy {
	return &v1alpha1.InfraPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.InfraPolicySpec{Rule: rule, Namespaces: namespaces}}
}

// TestFakeApprovalPolicies: the InfraPolicies that select the namespace
// judge the plan shown, and again the plan re-checked before an apply.
// The step-runner runs as with its webhooks (an approval applies only with
// a person recorded, or the policies passing it).
func TestFakeApprovalPolicies(t *testing.T) {
	const (
		newVPCs  = `if input.plan.add > 0 { result: "mandatory", message: "no new VPCs here" }`
		pass     = `if input.plan.add > 0 { result: "approve", message: "VPCs pass" }`
		advisory = `if input.plan.add > 0 { result: "advisory", message: "look at the cidr" }`
	)
	show := planReply{plan: planOf(vpc(create, "", "10.40.0.0/16")), changes: true}
	shown := plan.Summarize(show.plan)
	type run struct {
		approve bool // approve the shown plan (as the workflow engine writes it) before this run
		plans   []planReply
		// deletePolicies removes every policy before this run; addPolicy
		// writes one.
		deletePolicies bool
		addPolicy      *v1alpha1.InfraPolicy
		// person is recorded as the approver, as the webhook does at a
		// resume.
		person  string
		reason  string
		message []string // substrings of the Ready message
		calls   []string
	}
	cases := map[string]struct {
		policies []client.Object
		runs     []run
		results  []string // status.policies as "policy result"
		by       string   // status.approvedBy.username at the end
	}{
		"mandatory: the plan cannot be approved, not even after an approval": {
			policies: []client.Object{infraPolicy("no-new-vpcs", newVPCs)},
			runs: []run{
				{plans: []planReply{show}, reason: v1alpha1.ReasonPolicyDenied, calls: []string{"plan approval.tfplan"},
					message: []string{"plan " + shown.ID + " of Configuration team/network cannot be approved: InfraPolicy no-new-vpcs (mandatory): no new VPCs here. Nothing was applied"}},
				{approve: true, person: "alice", reason: v1alpha1.ReasonPolicyDenied, calls: []string{},
					message: []string{"cannot be approved: InfraPolicy no-new-vpcs (mandatory)"}},
			},
			results: []string{"no-new-vpcs mandatory"},
		},
		"approve: passes without a person, applied as the policy's approval": {
			policies: []client.Object{infraPolicy("vpcs-pass", pass)},
			runs: []run{
				{plans: []planReply{show}, reason: v1alpha1.ReasonPolicyApproved, calls: []string{"plan approval.tfplan"},
					message: []string{"passes without a person's approval: InfraPolicy vpcs-pass (approve): VPCs pass; the infra-approve step applies exactly this plan"}},
				{approve: true, plans: []planReply{show}, reason: v1alpha1.ReasonApplied,
					calls:   []string{"plan recheck.tfplan", "apply approved.tfplan (plan 1 of approval.tfplan)"},
					message: []string{"approved by InfraPolicy/vpcs-pass"}},
			},
			results: []string{"vpcs-pass approve"}, by: "InfraPolicy/vpcs-pass",
		},
		"approve and advisory: a person decides, and reads the advice": {
			policies: []client.Object{infraPolicy("vpcs-pass", pass), infraPolicy("cidr-advice", advisory)},
			runs: []run{
				{plans: []planReply{show}, reason: v1alpha1.ReasonAwaitingApproval, calls: []string{"plan approval.tfplan"},
					message: []string{"awaits approval (plan " + shown.ID + ")", "InfraPolicy cidr-advice (advisory): look at the cidr."}},
				// The workflow engine's approval without a person recorded.
				{approve: true, plans: []planReply{show}, reason: v1alpha1.ReasonApprovalUnverified,
					message: []string{"was not recorded by the step-runner's admission webhook"}},
			},
			results: []string{"cidr-advice advisory", "vpcs-pass approve"},
		},
		"a mandatory policy of another namespace does not count": {
			policies: []client.Object{infraPolicy("elsewhere", newVPCs, "other-team")},
			runs: []run{{plans: []planReply{show}, reason: v1alpha1.ReasonAwaitingApproval, calls: []string{"plan approval.tfplan"},
				message: []string{"awaits approval"}}},
		},
		"a rule that cannot be evaluated stops the plan": {
			policies: []client.Object{infraPolicy("broken", `result: "mandatory" &&`)},
			runs: []run{{plans: []planReply{show}, reason: v1alpha1.ReasonPolicyDenied, calls: []string{"plan approval.tfplan"},
				message: []string{"InfraPolicy broken (error): spec.rule could not be evaluated: expected operand, found 'EOF' (rule.cue:1:23)"}}},
			results: []string{"broken error"},
		},
		"a policy written after the plan was shown holds at the re-check": {
			runs: []run{
				{plans: []planReply{show}, reason: v1alpha1.ReasonAwaitingApproval, calls: []string{"plan approval.tfplan"}},
				{approve: true, person: "alice", addPolicy: infraPolicy("no-new-vpcs", newVPCs), plans: []planReply{show},
					reason: v1alpha1.ReasonPolicyDenied, calls: []string{"plan recheck.tfplan"},
					message: []string{"cannot be approved: InfraPolicy no-new-vpcs (mandatory): no new VPCs here"}},
			},
			results: []string{"no-new-vpcs mandatory"},
		},
		"a person's approval applies": {
			runs: []run{
				{plans: []planReply{show}, reason: v1alpha1.ReasonAwaitingApproval, calls: []string{"plan approval.tfplan"}},
				{approve: true, person: "alice", plans: []planReply{show}, reason: v1alpha1.ReasonApplied,
					calls: []string{"plan recheck.tfplan", "apply approved.tfplan (plan 1 of approval.tfplan)"}},
			},
			by: "alice",
		},
		"the policy's approval withdrawn before the apply: nothing applied": {
			policies: []client.Object{infraPolicy("vpcs-pass", pass)},
			runs: []run{
				{plans: []planReply{show}, reason: v1alpha1.ReasonPolicyApproved, calls: []string{"plan approval.tfplan"}},
				{approve: true, deletePolicies: true, plans: []planReply{show}, reason: v1alpha1.ReasonApprovalUnverified,
					calls:   []string{"plan recheck.tfplan"},
					message: []string{"the approval of plan " + shown.ID + " by InfraPolicy/vpcs-pass no longer holds", "(no policy approves it now); nothing was applied"}},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "approve", Generation: 1},
				Spec: v1alpha1.InfraApprovalSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
			e := newFakeEnv(t, append([]client.Object{obj}, tc.policies...)...)
			r := &ApprovalReconciler{Runtime: e.rt, RequireRecordedApprover: true}
			for i, step := range tc.runs {
				if step.deletePolicies {
					for _, p := range tc.policies {
						if err := e.c.Delete(context.Background(), p); err != nil {
							t.Fatal(err)
						}
					}
				}
				if step.addPolicy != nil {
					if err := e.c.Create(context.Background(), step.addPolicy); err != nil {
						t.Fatal(err)
					}
				}
				if step.approve {
					e.approve(obj, obj.Status.Plan.ID, false)
				}
				if step.person != "" {
					rec := ApprovalRecord{Approver: v1alpha1.Approver{Username: step.person}, PlanID: obj.Status.Plan.ID, Request: obj.Spec.Request}
					if err := (&Approvals{Client: e.c, Recorder: e.recorder}).RecordApprover(context.Background(), obj, rec); err != nil {
						t.Fatal(err)
					}
				}
				e.ws.plans = step.plans
				got := e.reconcile(r, obj)
				ready := apimeta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady)
				if ready == nil || ready.Reason != step.reason {
					t.Fatalf("run %d: Ready %+v, want reason %s (%+v)", i, ready, step.reason, got)
				}
				for _, m := range step.message {
					if !strings.Contains(ready.Message, m) {
						t.Errorf("run %d: Ready message %q lacks %q", i, ready.Message, m)
					}
				}
				if step.calls != nil && strings.Join(got.Calls, "; ") != strings.Join(step.calls, "; ") {
					t.Errorf("run %d: Terraform calls %q, want %q", i, got.Calls, step.calls)
				}
			}
			var results []string
			for _, res := range obj.Status.Policies {
				results = append(results, res.Policy+" "+res.Result)
				if res.PlanID != shown.ID {
					t.Errorf("policy result %s for plan %s, want %s", res.Policy, res.PlanID, shown.ID)
				}
			}
			if strings.Join(results, ", ") != strings.Join(tc.results, ", ") {
				t.Errorf("status.policies %q, want %q", results, tc.results)
			}
			by := ""
			if obj.Status.ApprovedBy != nil {
				by = obj.Status.ApprovedBy.Username
			}
			if by != tc.by {
				t.Errorf("approved by %q, want %q", by, tc.by)
			}
		})
	}
}
