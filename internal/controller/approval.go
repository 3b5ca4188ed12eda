package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	tfjson "github.com/hashicorp/terraform-json"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vela-infra/vela-infra/internal/plan"
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
	switch {
	case s.Add+s.Change+s.Destroy+s.Import == 0:
		msg := fmt.Sprintf("%s: %s has no changes to approve", p.name(), targetOf(obj, p))
		return succeeded(v1alpha1.ReasonNoChanges, msg,
			condition(v1alpha1.ConditionApproved, metav1.ConditionTrue, v1alpha1.ReasonNoChanges, msg)), nil
	case approval == nil:
		msg := fmt.Sprintf("%s: the change to %s awaits approval (plan %s): resume the workflow to apply exactly this plan, or terminate it to reject. %s",
			p.name(), targetOf(obj, p), s.ID, withConsumers(s.Diff, obj.Status.Consumers))
		return notReady(v1alpha1.ReasonAwaitingApproval, msg,
			condition(v1alpha1.ConditionApproved, metav1.ConditionFalse, v1alpha1.ReasonAwaitingApproval, msg)), nil
	case approval.PlanID != s.ID:
		return planChanged(obj, p, approval.PlanID), nil
	}
	return r.apply(ctx, obj, p, approval)
}

// apply applies the approved plan, after checking it still holds.
func (r *ApprovalReconciler) apply(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass, approval *v1alpha1.Approval) (outcome, error) {
	// Re-plan: a change in the cloud or the spec since the plan was shown
	// voids the approval, even where Terraform would accept the saved plan.
	fresh, err := p.ws.Plan(ctx, terraform.PlanOptions{Out: "recheck.tfplan"})
	if err != nil {
		return p.fail("re-checking the approved plan", err)
	}
	if s := plan.Summarize(fresh.Plan); s.ID != approval.PlanID {
		if s.Add+s.Change+s.Destroy+s.Import == 0 {
			return r.alreadyApplied(ctx, obj, p, approval), nil
		}
		if err := r.show(ctx, obj, p, fresh.Plan, s); err != nil {
			return outcome{}, err
		}
		if err := r.storePlan(ctx, obj, fresh.File, s.ID); err != nil {
			return outcome{}, err
		}
		return planChanged(obj, p, approval.PlanID), nil
	}
	file, err := r.loadPlan(ctx, obj, p.ws.Dir())
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
	s := obj.Status.Plan
	msg := fmt.Sprintf("%s applied the approved plan %s to %s (approved by %s). %s", p.name(), s.ID, targetOf(obj, p), orUnknown(approval.By), footerOf(s))
	return r.applied(ctx, obj, p, approval, msg), nil
}

// alreadyApplied is an approved plan whose re-check finds nothing left to
// do: the target already is what the plan makes it. That is the apply of an
// earlier run that ended (a step-runner killed after Terraform wrote the
// state, before the status) or the same change made elsewhere; either way
// the approved change is in effect, and nothing is applied again.
func (r *ApprovalReconciler) alreadyApplied(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass, approval *v1alpha1.Approval) outcome {
	s := obj.Status.Plan
	msg := fmt.Sprintf("%s: the approved plan %s (approved by %s) is already in effect on %s: the re-check finds nothing left to apply (an earlier run applied it and ended before it could report, or the change was made elsewhere). %s",
		p.name(), s.ID, orUnknown(approval.By), targetOf(obj, p), footerOf(s))
	return r.applied(ctx, obj, p, approval, msg)
}

// applied records the approval of an applied plan, with an Event.
func (r *ApprovalReconciler) applied(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass, approval *v1alpha1.Approval, msg string) outcome {
	s := obj.Status.Plan
	obj.Status.ApprovedPlanID = approval.PlanID
	obj.Status.ApprovedBy = approval.By
	obj.Status.ApprovedAt = now()
	obj.Status.LastRunTime = obj.Status.ApprovedAt
	r.Recorder.Event(obj, corev1.EventTypeNormal, v1alpha1.ReasonApplied, msg)
	log.FromContext(ctx).Info("approved plan in effect", "configuration", p.res.Configuration.Name, "plan", s.ID, "by", approval.By)
	return succeeded(v1alpha1.ReasonApplied, msg,
		condition(v1alpha1.ConditionApproved, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, "plan "+s.ID+" approved by "+orUnknown(approval.By)),
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
	obj.Status.Plan = s
	obj.Status.Consumers = consumers
	return nil
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
func (r *ApprovalReconciler) loadPlan(ctx context.Context, obj *v1alpha1.InfraApproval, dir string) (string, error) {
	secret, err := r.readPlanSecret(ctx, obj)
	if err != nil {
		return "", err
	}
	if secret == nil {
		return "", fmt.Errorf("the saved plan Secret %s is gone; delete the InfraApproval to plan again", obj.Status.PlanSecret)
	}
	if string(secret.Data[planIDKey]) != obj.Status.Plan.ID {
		return "", fmt.Errorf("the saved plan Secret %s holds plan %s, not the shown plan %s", obj.Status.PlanSecret, secret.Data[planIDKey], obj.Status.Plan.ID)
	}
	file := filepath.Join(dir, "approved.tfplan")
	return file, os.WriteFile(file, secret.Data[planFileKey], 0o600)
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed approver"
	}
	return s
}
