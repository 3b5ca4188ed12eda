package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vela-infra/vela-infra/internal/plan"
	"github.com/vela-infra/vela-infra/internal/planpolicy"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Keys of the Secret holding a saved plan.
const (
	planFileKey = "plan.tfplan"
	planIDKey   = "planID"
)

// ApprovalReconciler carries out InfraApproval objects.
type ApprovalReconciler struct {
	*Runtime
	MaxConcurrent int
	// PlanNamespace keeps the saved plans (empty: each InfraApproval's own
	// namespace, owned by it).
	PlanNamespace string
	// RequireRecordedApprover applies an approval only when the
	// step-runner's admission webhook recorded the person behind it (in the
	// saved plan's Secret): set when the webhooks are served. Without it
	// the approver is spec.approval.by, a name the client wrote.
	RequireRecordedApprover bool
}

// SetupWithManager registers the reconciler.
func (r *ApprovalReconciler) SetupWithManager(mgr ctrl.Manager) error {
	// Once the caches are synced (and this replica leads): the saved plans
	// of InfraApprovals deleted while no step-runner ran.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := r.sweepPlans(ctx); err != nil {
			log.FromContext(ctx).Error(err, "could not sweep the saved plans of deleted InfraApprovals")
		}
		return nil
	})); err != nil {
		return err
	}
	return r.register(mgr, &v1alpha1.InfraApproval{}, r.MaxConcurrent, r)
}

// Reconcile plans the target and, once the shown plan is approved, applies
// exactly that plan: a plan that changed since it was shown is not applied
// but shown again.
func (r *ApprovalReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &v1alpha1.InfraApproval{}
	return r.reconcileStep(ctx, req.NamespacedName, obj, step{
		due:  whenNotDone(obj),
		run:  func(ctx context.Context, p *pass) (outcome, error) { return r.run(ctx, obj, p) },
		gone: func(ctx context.Context) error { return r.forgetPlan(ctx, req.NamespacedName) },
	})
}

func (r *ApprovalReconciler) run(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass) (outcome, error) {
	// A rejected request stays rejected: its saved plan is gone, and no
	// approval patched on afterwards applies anything.
	if rej := obj.Status.Rejected; rej != nil && rej.Request == obj.Spec.Request {
		return rejected(obj, p.name()), nil
	}
	hash := p.res.Hash()
	approval := obj.Spec.Approval
	if approval != nil && approval.Request != obj.Spec.Request {
		approval = nil // given for an earlier request: not for this plan
	}
	if approval == nil || obj.Status.Plan == nil || obj.Status.TargetHash != hash {
		if err := r.plan(ctx, obj, p, hash); err != nil {
			return p.fail("planning", err)
		}
	}
	s := obj.Status.Plan
	level := policyLevel(policiesFor(obj.Status.Policies, s.ID))
	switch {
	case s.Add+s.Change+s.Destroy+s.Import == 0:
		msg := fmt.Sprintf("%s: %s has no changes to approve", p.name(), targetOf(obj, p))
		return succeeded(v1alpha1.ReasonNoChanges, msg,
			condition(v1alpha1.ConditionApproved, metav1.ConditionTrue, v1alpha1.ReasonNoChanges, msg)), nil
	case level == planpolicy.Mandatory:
		return policyDenied(obj, p, s), nil
	case approval == nil && level == planpolicy.Approve:
		return policyApproved(obj, p, s), nil
	case approval == nil:
		return awaitingApproval(obj, p, s, ""), nil
	case approval.PlanID != s.ID && len(obj.Status.ShownPlanIDs) > 0 && !slices.Contains(obj.Status.ShownPlanIDs, approval.PlanID):
		return awaitingApproval(obj, p, s, fmt.Sprintf("spec.approval.planID %q: plan id %s was never shown (the plan shown is %s); nothing was applied",
			approval.PlanID, approval.PlanID, s.ID)), nil
	case approval.PlanID != s.ID:
		return planChanged(obj, p, approval.PlanID), nil
	}
	secret, err := r.readPlanSecret(ctx, obj)
	if err != nil {
		return outcome{}, err
	}
	by, ok := r.approverOf(approval, secret, policiesFor(obj.Status.Policies, s.ID))
	if !ok {
		msg := fmt.Sprintf("%s: the approval of plan %s was not recorded by the step-runner's admission webhook (no `vela workflow resume` by a person allowed to approve, and no approval written by one, passed it): nothing was applied. Someone with the verb approve on infraapprovals in namespace %s approves with `vela workflow resume`",
			p.name(), approval.PlanID, obj.Namespace)
		return notReady(v1alpha1.ReasonApprovalUnverified, msg,
			condition(v1alpha1.ConditionApproved, metav1.ConditionFalse, v1alpha1.ReasonApprovalUnverified, msg)), nil
	}
	return r.apply(ctx, obj, p, approval, by, secret)
}

// awaitingApproval is the outcome of a plan that waits for a person; what
// advisory policies found is part of what they read. why, when set, says
// first why an approval given was not applied.
func awaitingApproval(obj *v1alpha1.InfraApproval, p *pass, s *v1alpha1.PlanSummary, why string) outcome {
	advice := ""
	if f := policyFindings(policiesFor(obj.Status.Policies, s.ID), planpolicy.Advisory); f != "" {
		advice = " " + f + "."
	}
	what := fmt.Sprintf("the change to %s awaits approval (plan %s)", targetOf(obj, p), s.ID)
	if why != "" {
		what = fmt.Sprintf("%s. Plan %s awaits approval", why, s.ID)
	}
	msg := fmt.Sprintf("%s: %s: resume the workflow to apply exactly this plan, or terminate it to reject.%s %s",
		p.name(), what, advice, withConsumers(s.Diff, obj.Status.Consumers))
	return notReady(v1alpha1.ReasonAwaitingApproval, msg,
		condition(v1alpha1.ConditionApproved, metav1.ConditionFalse, v1alpha1.ReasonAwaitingApproval, msg))
}

// approverOf is the person behind approval: the record the admission
// webhook kept in the saved plan's Secret for this plan and request; the
// InfraPolicies that approve the plan, when they do (results, for this
// plan) and no person was recorded; or, when the step-runner runs without
// its webhooks, the name the client wrote. ok is false when a record is
// required and there is none.
func (r *ApprovalReconciler) approverOf(approval *v1alpha1.Approval, secret *corev1.Secret, results []v1alpha1.PolicyResult) (by v1alpha1.Approver, ok bool) {
	if rec, found := approvalRecordOf(secret); found && rec.PlanID == approval.PlanID && rec.Request == approval.Request {
		return rec.Approver, true
	}
	if policyLevel(results) == planpolicy.Approve {
		return policyApprover(results), true
	}
	if r.RequireRecordedApprover {
		return v1alpha1.Approver{}, false
	}
	return v1alpha1.Approver{Username: orUnknown(approval.By), Via: "spec.approval.by, a name the client wrote (the step-runner runs without its admission webhooks)"}, true
}

// rejected is the outcome of a request whose plan was rejected.
func rejected(obj *v1alpha1.InfraApproval, name string) outcome {
	rej := obj.Status.Rejected
	msg := fmt.Sprintf("%s: plan %s was rejected by %s at %s (%s): its saved plan was deleted and nothing is applied for this run, whatever approval is written; `vela workflow restart` plans anew",
		name, orUnknown(rej.PlanID), orUnknown(rej.By.Username), rej.At.UTC().Format(time.RFC3339), rej.By.Via)
	return notReady(v1alpha1.ReasonRejected, msg,
		condition(v1alpha1.ConditionApproved, metav1.ConditionFalse, v1alpha1.ReasonRejected, msg))
}

// apply applies the approved plan, after checking it still holds.
func (r *ApprovalReconciler) apply(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass, approval *v1alpha1.Approval, by v1alpha1.Approver, secret *corev1.Secret) (outcome, error) {
	// Re-plan: a change in the cloud or the spec since the plan was shown
	// voids the approval, even where Terraform would accept the saved plan.
	fresh, err := p.ws.Plan(ctx, terraform.PlanOptions{Out: "recheck.tfplan"})
	if err != nil {
		return p.fail("re-checking the approved plan", err)
	}
	s := plan.Summarize(fresh.Plan)
	if s.ID == approval.PlanID {
		// The policies as they are now, on the plan as it is now.
		results, err := r.evaluatePolicies(ctx, obj, p, s, obj.Status.Consumers)
		if err != nil {
			return outcome{}, err
		}
		obj.Status.Policies = results
		switch level := policyLevel(results); {
		case level == planpolicy.Mandatory:
			return policyDenied(obj, p, obj.Status.Plan), nil
		case approvedByPolicy(by) && level != planpolicy.Approve:
			msg := fmt.Sprintf("%s: the approval of plan %s by %s no longer holds: the InfraPolicies, evaluated again, do not pass it without a person (%s); nothing was applied. `vela workflow restart` plans again, for a person to approve",
				p.name(), s.ID, by.Username, orNone(policyFindings(results, planpolicy.Advisory, planpolicy.Approve)))
			return notReady(v1alpha1.ReasonApprovalUnverified, msg,
				condition(v1alpha1.ConditionApproved, metav1.ConditionFalse, v1alpha1.ReasonApprovalUnverified, msg)), nil
		}
	}
	if s.ID != approval.PlanID {
		if s.Add+s.Change+s.Destroy+s.Import == 0 {
			return r.alreadyApplied(ctx, obj, p, approval, by), nil
		}
		if err := r.show(ctx, obj, p, fresh.Plan, s); err != nil {
			return outcome{}, err
		}
		if err := r.storePlan(ctx, obj, fresh.File, s.ID); err != nil {
			return outcome{}, err
		}
		return planChanged(obj, p, approval.PlanID), nil
	}
	file, err := r.loadPlan(obj, secret, p.ws.Dir())
	if err != nil {
		return outcome{}, err
	}
	if err := p.ws.Apply(ctx, file); err != nil {
		if terraform.ReasonOf(err) != terraform.ReasonStalePlan {
			return p.fail("applying the approved plan", err)
		}
		// The state changed between the re-check and the apply: nothing
		// was applied; show the plan of the state as it is now.
		if err := r.plan(ctx, obj, p, p.res.Hash()); err != nil {
			return p.fail("planning", err)
		}
		return planChanged(obj, p, approval.PlanID), nil
	}
	s = obj.Status.Plan
	msg := fmt.Sprintf("%s applied the approved plan %s to %s (approved by %s). %s", p.name(), s.ID, targetOf(obj, p), by.Username, footerOf(s))
	return r.applied(ctx, obj, p, approval, by, msg), nil
}

// alreadyApplied is an approved plan whose re-check finds nothing left to
// do: the target already is what the plan makes it. That is the apply of an
// earlier run that ended (a step-runner killed after Terraform wrote the
// state, before the status) or the same change made elsewhere; either way
// the approved change is in effect, and nothing is applied again.
func (r *ApprovalReconciler) alreadyApplied(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass, approval *v1alpha1.Approval, by v1alpha1.Approver) outcome {
	s := obj.Status.Plan
	msg := fmt.Sprintf("%s: the approved plan %s (approved by %s) is already in effect on %s: the re-check finds nothing left to apply (an earlier run applied it and ended before it could report, or the change was made elsewhere). %s",
		p.name(), s.ID, by.Username, targetOf(obj, p), footerOf(s))
	return r.applied(ctx, obj, p, approval, by, msg)
}

// applied records the approval of an applied plan, with an Event.
func (r *ApprovalReconciler) applied(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass, approval *v1alpha1.Approval, by v1alpha1.Approver, msg string) outcome {
	s := obj.Status.Plan
	obj.Status.ApprovedPlanID = approval.PlanID
	obj.Status.ApprovedBy = &by
	obj.Status.ApprovedAt = now()
	obj.Status.LastRunTime = obj.Status.ApprovedAt
	r.Recorder.Event(obj, corev1.EventTypeNormal, v1alpha1.ReasonApplied, msg+" Approver: "+describeApprover(by)+".")
	log.FromContext(ctx).Info("approved plan in effect", "configuration", p.res.Configuration.Name, "plan", s.ID, "by", by.Username, "groups", by.Groups, "via", by.Via)
	return succeeded(v1alpha1.ReasonApplied, msg,
		condition(v1alpha1.ConditionApproved, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, "plan "+s.ID+" approved by "+by.Username),
		condition(v1alpha1.ConditionApplied, metav1.ConditionTrue, v1alpha1.ReasonApplied, msg))
}

// planChanged voids an approval given for an earlier plan and shows the
// current one.
func planChanged(obj *v1alpha1.InfraApproval, p *pass, approvedID string) outcome {
	s := obj.Status.Plan
	msg := fmt.Sprintf("%s: the plan of %s changed since plan %s was approved (the cloud or the spec changed); nothing was applied. The new plan %s awaits approval. %s",
		p.name(), targetOf(obj, p), approvedID, s.ID, withConsumers(s.Diff, obj.Status.Consumers))
	return notReady(v1alpha1.ReasonPlanChanged, msg,
		condition(v1alpha1.ConditionApproved, metav1.ConditionFalse, v1alpha1.ReasonPlanChanged, msg))
}

// withConsumers adds who else uses what the plan changes to its diff.
func withConsumers(diff string, consumers []v1alpha1.Consumer) string {
	if m := consumersMessage(consumers); m != "" {
		return diff + "\n" + m
	}
	return diff
}

// targetOf names the approval's Configuration in messages.
func targetOf(obj *v1alpha1.InfraApproval, p *pass) string {
	return "Configuration " + obj.Namespace + "/" + p.res.Configuration.Name
}

// plan makes the plan to show and keeps its file.
func (r *ApprovalReconciler) plan(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass, hash string) error {
	planned, err := p.ws.Plan(ctx, terraform.PlanOptions{Out: "approval.tfplan"})
	if err != nil {
		return err
	}
	s := plan.Summarize(planned.Plan)
	if err := r.show(ctx, obj, p, planned.Plan, s); err != nil {
		return err
	}
	obj.Status.TargetHash = hash
	obj.Status.LastRunTime = now()
	if rej := obj.Status.Rejected; rej != nil && rej.Request != obj.Spec.Request {
		obj.Status.Rejected = nil // a new run: the rejection was of an earlier one
	}
	p.note(condition(v1alpha1.ConditionPlanned, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, footerOf(s)))
	return r.storePlan(ctx, obj, planned.File, s.ID)
}

// show puts the plan to show, and the Configurations that use what it
// changes, into the status.
func (r *ApprovalReconciler) show(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass, tf *tfjson.Plan, s *v1alpha1.PlanSummary) error {
	consumers, err := r.consumersOf(ctx, p.res.Configuration, changedResources(tf, s))
	if err != nil {
		return err
	}
	results, err := r.evaluatePolicies(ctx, obj, p, s, consumers)
	if err != nil {
		return err
	}
	obj.Status.Policies = results
	if obj.Status.Plan != nil {
		shown(obj, obj.Status.Plan.ID) // shown until now
	}
	obj.Status.Plan = s
	obj.Status.Consumers = consumers
	shown(obj, s.ID)
	return nil
}

// maxShownPlanIDs bounds status.shownPlanIDs.
const maxShownPlanIDs = 10

// shown adds id to the plan ids shown, the latest last.
func shown(obj *v1alpha1.InfraApproval, id string) {
	ids := slices.DeleteFunc(obj.Status.ShownPlanIDs, func(s string) bool { return s == id })
	ids = append(ids, id)
	if len(ids) > maxShownPlanIDs {
		ids = ids[len(ids)-maxShownPlanIDs:]
	}
	obj.Status.ShownPlanIDs = ids
}

// describeApprover says who approved, for Events and conditions.
func describeApprover(a v1alpha1.Approver) string {
	s := a.Username
	if len(a.Groups) > 0 {
		s += " (groups " + strings.Join(a.Groups, ", ") + ")"
	}
	if a.Via != "" {
		s += " via " + a.Via
	}
	return s
}

// storePlan keeps the plan file where saved plans live (plansecret.go).
func (r *ApprovalReconciler) storePlan(ctx context.Context, obj *v1alpha1.InfraApproval, file, id string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return r.savePlanSecret(ctx, obj, data, id)
}

// loadPlan writes the shown plan, from its Secret, into the workspace.
func (r *ApprovalReconciler) loadPlan(obj *v1alpha1.InfraApproval, secret *corev1.Secret, dir string) (string, error) {
	if secret == nil {
		return "", fmt.Errorf("the saved plan Secret %s is gone; delete the InfraApproval to plan again", obj.Status.PlanSecret)
	}
	if string(secret.Data[planIDKey]) != obj.Status.Plan.ID {
		return "", fmt.Errorf("the saved plan Secret %s holds plan %s, not the shown plan %s", obj.Status.PlanSecret, secret.Data[planIDKey], obj.Status.Plan.ID)
	}
	file := filepath.Join(dir, "approved.tfplan")
	return file, os.WriteFile(file, secret.Data[planFileKey], 0o600)
}

func orNone(s string) string {
	if s == "" {
		return "no policy approves it now"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed approver"
	}
	return s
}
