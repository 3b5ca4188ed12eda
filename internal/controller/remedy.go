package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/plan"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Drift remedies (spec.remedy): what the step-runner does about drift a
// check finds.
//
//   - report: nothing beyond the check's Event and metrics.
//   - revert: the corrective plan (the check's normal plan) is applied at
//     once, in the same workspace and under the state lock Terraform takes
//     for the apply, but only when it is exactly the reversal of the drift
//     (plan.Reverts: in-place updates restoring what the state held before
//     the drift). A create, destroy or replace, or a plan that also changes
//     what the Configuration declares since its last apply, is held for a
//     person as under approve, with the reason.
//   - approve: the corrective plan is held: status.plan shows it,
//     status.remedy.planID names it. A person approves it by setting
//     spec.approval.planID (a spec change, so the object runs at once). The
//     run checks again and applies its fresh corrective plan only when its
//     id is the approved one: the id hashes every planned change (address,
//     actions, before and after values, sensitive ones included), so the
//     plan applied is exactly the plan shown; a plan that changed is held
//     again, nothing applied. An approval is applied once: one equal to
//     the approval recorded in status.remedy.approval is not used again.
//
// Unlike InfraApproval, no plan file is kept between the two runs: the
// plan applied is the fresh one of the approving run, checked by id, and
// Terraform refuses it if the state changed in between (a stale plan).
// Who approved is what the admission webhook recorded for that plan id in
// a Secret of the plan namespace (DriftApprovalKey): a person with the verb
// approve on infradrifts, or the workflow engine applying the
// application's approvePlan (as strong as the right to change the
// application, which can change the infrastructure anyway).
//
// terraform-controller does not apply a Configuration whose spec did not
// change, so nothing else puts drift back: revert and approve are the
// step-runner's own applies, the only ones it makes without an
// InfraApproval.

// remedyResult is what the remedy did.
type remedyResult struct {
	result string
	// fixed: a corrective plan was applied; the drift is gone.
	fixed bool
	// message is the remedy's sentence for the check's message.
	message string
	// doing is what the remedy was doing when it failed, for its message.
	doing string
}

func remedyOf(obj *v1alpha1.InfraDrift) string {
	if obj.Spec.Remedy == "" {
		return v1alpha1.RemedyReport
	}
	return obj.Spec.Remedy
}

// remedy carries out the remedy of a check that found drift; refreshed is
// the refresh-only plan, corrective the normal one.
func (r *DriftReconciler) remedy(ctx context.Context, obj *v1alpha1.InfraDrift, p *pass, name string, refreshed, corrective *terraform.PlanResult) (remedyResult, error) {
	remedy := remedyOf(obj)
	s := obj.Status.Plan
	if s == nil || s.Add+s.Change+s.Destroy+s.Import == 0 {
		// Drift only in what the module does not set: nothing to put back.
		msg := fmt.Sprintf("Remedy %s: nothing to apply, the corrective plan has no changes (the drift is in attributes the Configuration does not set).", remedy)
		return r.record(obj, remedyResult{result: v1alpha1.RemedyReported, message: msg}, remedy, "", "", nil), nil
	}
	if remedy == v1alpha1.RemedyReport {
		msg := "Remedy report: nothing applied."
		return r.record(obj, remedyResult{result: v1alpha1.RemedyReported, message: msg}, remedy, s.ID, "", nil), nil
	}
	if a := r.approval(obj); a != nil {
		if a.PlanID != s.ID {
			msg := fmt.Sprintf("Remedy %s: the corrective plan changed since plan %s was approved (the cloud or the Configuration changed); nothing was applied. The corrective plan %s waits for approval: set spec.approval.planID to %s to apply it.",
				remedy, a.PlanID, s.ID, s.ID)
			return r.record(obj, remedyResult{result: v1alpha1.RemedyHeld, message: msg}, remedy, s.ID, "plan changed since it was approved", nil), nil
		}
		by, ok, err := r.approverOf(ctx, obj, a)
		if err != nil {
			return remedyResult{doing: "reading who approved the corrective plan"}, err
		}
		if !ok {
			msg := fmt.Sprintf("Remedy %s: the approval of corrective plan %s was not recorded by the step-runner's admission webhook (only an approval written by someone with the verb approve on infradrifts in namespace %s, or the application's approvePlan, is); nothing was applied. The corrective plan %s waits for approval.",
				remedy, a.PlanID, obj.Namespace, s.ID)
			return r.record(obj, remedyResult{result: v1alpha1.RemedyHeld, message: msg}, remedy, s.ID, "approval not recorded", nil), nil
		}
		if err := p.ws.Apply(ctx, corrective.File); err != nil {
			return remedyResult{doing: "applying the approved corrective plan"}, err
		}
		msg := fmt.Sprintf("Remedy %s: applied the approved corrective plan %s (approved by %s): %s is back to its declared values.", remedy, s.ID, by, name)
		rem := r.record(obj, remedyResult{result: v1alpha1.RemedyApplied, fixed: true, message: msg}, remedy, s.ID, "", a)
		obj.Status.Remedy.ApprovedBy = by
		return rem, nil
	}
	var why string
	if remedy == v1alpha1.RemedyRevert {
		err := plan.Reverts(refreshed.Plan, corrective.Plan)
		var nr *plan.NotReversalError
		switch {
		case err == nil:
			if err := p.ws.Apply(ctx, corrective.File); err != nil {
				return remedyResult{doing: "reverting the drift"}, err
			}
			msg := fmt.Sprintf("Remedy revert: applied the corrective plan %s, exactly the reversal of the drift (%d in-place update(s)): %s is back to its declared values.", s.ID, s.Change, name)
			return r.record(obj, remedyResult{result: v1alpha1.RemedyReverted, fixed: true, message: msg}, remedy, s.ID, "", nil), nil
		case errors.As(err, &nr):
			why = err.Error()
		default:
			return remedyResult{doing: "comparing the corrective plan with the drift"}, err
		}
	}
	msg := fmt.Sprintf("Remedy %s: the corrective plan %s waits for a person; approve it with spec.approval.planID %s.", remedy, s.ID, s.ID)
	if why != "" {
		msg = fmt.Sprintf("Remedy revert: not reverted automatically, because %s; the corrective plan %s waits for a person: approve it with spec.approval.planID %s.", why, s.ID, s.ID)
	}
	return r.record(obj, remedyResult{result: v1alpha1.RemedyHeld, message: msg}, remedy, s.ID, why, nil), nil
}

// approverOf is who approved the corrective plan of a: the person the
// admission webhook recorded for that plan (or the workflow engine applying
// the application's approvePlan, which it records so); without the webhooks,
// the name the client wrote. ok is false when a record is required and
// there is none for this plan.
func (r *DriftReconciler) approverOf(ctx context.Context, obj *v1alpha1.InfraDrift, a *v1alpha1.Approval) (string, bool, error) {
	if r.PlanNamespace != "" {
		var secret corev1.Secret
		err := r.Client.Get(ctx, DriftApprovalKey(r.PlanNamespace, client.ObjectKeyFromObject(obj)), &secret)
		if err != nil && !apierrors.IsNotFound(err) {
			return "", false, err
		}
		if rec, found := approvalRecordOf(&secret); err == nil && found && rec.PlanID == a.PlanID {
			return describeApprover(rec.Approver), true, nil
		}
	}
	if r.RequireRecordedApprover {
		return "", false, nil
	}
	return orUnknown(a.By) + " (spec.approval.by, a name the client wrote: the step-runner runs without its admission webhooks)", true, nil
}

// forgetApprover deletes the approver record of the InfraDrift key.
func (r *DriftReconciler) forgetApprover(ctx context.Context, key types.NamespacedName) error {
	if r.PlanNamespace == "" {
		return nil
	}
	k := DriftApprovalKey(r.PlanNamespace, key)
	err := r.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// approval returns the spec's approval when it is one not yet applied.
func (r *DriftReconciler) approval(obj *v1alpha1.InfraDrift) *v1alpha1.Approval {
	a := obj.Spec.Approval
	if a == nil {
		return nil
	}
	if prev := obj.Status.Remedy; prev != nil && prev.Approval != nil && *prev.Approval == *a {
		return nil
	}
	return a
}

// record writes what the remedy did into status.remedy, with an Event and
// the remedies metric when it is news: a new result or a new plan. A held
// plan keeps the time it began waiting.
func (r *DriftReconciler) record(obj *v1alpha1.InfraDrift, rem remedyResult, remedy, planID, why string, approved *v1alpha1.Approval) remedyResult {
	prev := obj.Status.Remedy
	same := prev != nil && prev.Remedy == remedy && prev.Result == rem.result && prev.PlanID == planID && !rem.fixed
	next := &v1alpha1.RemedyStatus{Remedy: remedy, Result: rem.result, PlanID: planID, Reason: why, Message: rem.message, Time: *now()}
	if same {
		next.Time = prev.Time
	}
	if approved != nil {
		a := *approved
		next.Approval = &a
		next.ApprovedBy = a.By
	} else if prev != nil {
		// The approval applied last stays recorded, so it is not applied
		// to a later plan with the same id.
		next.Approval, next.ApprovedBy = prev.Approval, prev.ApprovedBy
	}
	obj.Status.Remedy = next
	if same {
		return rem
	}
	DriftRemedies.WithLabelValues(remedy, rem.result).Inc()
	eventType, reason := corev1.EventTypeNormal, v1alpha1.ReasonDriftFound
	switch rem.result {
	case v1alpha1.RemedyReverted:
		reason = v1alpha1.ReasonDriftReverted
	case v1alpha1.RemedyApplied:
		reason = v1alpha1.ReasonCorrectionApplied
	case v1alpha1.RemedyHeld:
		eventType, reason = corev1.EventTypeWarning, v1alpha1.ReasonCorrectionHeld
		if why != "" && remedy == v1alpha1.RemedyRevert {
			reason = v1alpha1.ReasonRevertHeld
		}
	case v1alpha1.RemedyReported:
		// The DriftFound Event of the check says it.
		return rem
	}
	r.Recorder.Event(obj, eventType, reason, fmt.Sprintf("InfraDrift %s/%s: %s", obj.Namespace, obj.Name, rem.message))
	return rem
}

// fixed is the outcome of a check whose remedy applied the corrective
// plan: the drift that was found (status.drift) is gone, and status.plan is
// what was applied.
func fixed(obj *v1alpha1.InfraDrift, name string, rem remedyResult) outcome {
	msg := fmt.Sprintf("%s had drifted (%d resource(s)); %s %s", name, obj.Status.Drift.Change, rem.message, obj.Status.Drift.Diff)
	reason := v1alpha1.ReasonDriftReverted
	if rem.result == v1alpha1.RemedyApplied {
		reason = v1alpha1.ReasonCorrectionApplied
	}
	return succeeded(reason, msg, condition(v1alpha1.ConditionDrifted, metav1.ConditionFalse, reason, msg))
}
