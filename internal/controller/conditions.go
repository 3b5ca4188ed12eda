package controller

import (
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// outcome is how a run of a step ended; setConditions computes the
// object's conditions from it. The zero outcome reports nothing: the run
// did not end (an API error or an interrupt, which controller-runtime
// retries), and the summary conditions stay as they were.
type outcome struct {
	// ready is a step that did what it was asked (Ready=True). Otherwise
	// the failure policy of reason says whether the object is Stalled or
	// waiting (Reconciling), and when it is looked at again.
	ready   bool
	reason  string
	message string
	// conditions are the kind's own (Approved, Applied, Imported,
	// Drifted), written before the summary ones.
	conditions []metav1.Condition
	// lockedOut, of a run that found the state lock held, is the step and
	// what it was doing, for the message that names the holder (lockHeld).
	lockedOut string
	// retryNow is a run whose blocker is gone (a stale state lock
	// released): looked at again at once, not after its policy's wait.
	retryNow bool
}

// succeeded is a run that did what it was asked.
func succeeded(reason, msg string, conds ...metav1.Condition) outcome {
	return outcome{ready: true, reason: reason, message: msg, conditions: conds}
}

// notReady is a run that could not do it (yet), for reason.
func notReady(reason, msg string, conds ...metav1.Condition) outcome {
	return outcome{reason: reason, message: msg, conditions: conds}
}

// reported says whether the run ended with something to report.
func (o outcome) reported() bool { return o.reason != "" }

// condition is a condition of a kind's own type, for an outcome.
func condition(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
}

// setConditions is the one place a run's conditions are written: first the
// ones noted on the way (kept whatever the outcome, such as Planned), then
// the outcome's own, then the kstatus summary (Ready, with Stalled or
// Reconciling) and observedGeneration.
func setConditions(obj stepObject, o outcome, noted []metav1.Condition) {
	for _, c := range noted {
		setCondition(obj, c)
	}
	if !o.reported() {
		return
	}
	for _, c := range o.conditions {
		setCondition(obj, c)
	}
	conds := &obj.GetRunStatus().Conditions
	switch {
	case o.ready:
		setCondition(obj, condition(v1alpha1.ConditionReady, metav1.ConditionTrue, o.reason, o.message))
		apimeta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		apimeta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	case policyOf(o.reason).stall:
		setCondition(obj, condition(v1alpha1.ConditionStalled, metav1.ConditionTrue, o.reason, o.message))
		setCondition(obj, condition(v1alpha1.ConditionReady, metav1.ConditionFalse, o.reason, o.message))
		apimeta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
	default:
		setCondition(obj, condition(v1alpha1.ConditionReconciling, metav1.ConditionTrue, o.reason, o.message))
		setCondition(obj, condition(v1alpha1.ConditionReady, metav1.ConditionFalse, o.reason, o.message))
		apimeta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	}
	obj.GetRunStatus().ObservedGeneration = obj.GetGeneration()
}

// setProgressing marks a run that is under way: Reconciling, and Ready
// unknown unless it is Ready from an earlier run (a scheduled re-check).
// observedGeneration is left alone: nothing about the generation is known
// yet.
func setProgressing(obj stepObject, msg string) {
	setCondition(obj, condition(v1alpha1.ConditionReconciling, metav1.ConditionTrue, v1alpha1.ReasonProgressing, msg))
	if !apimeta.IsStatusConditionTrue(obj.GetRunStatus().Conditions, v1alpha1.ConditionReady) {
		setCondition(obj, condition(v1alpha1.ConditionReady, metav1.ConditionUnknown, v1alpha1.ReasonProgressing, msg))
	}
	apimeta.RemoveStatusCondition(&obj.GetRunStatus().Conditions, v1alpha1.ConditionStalled)
}

func setCondition(obj stepObject, c metav1.Condition) {
	c.ObservedGeneration = obj.GetGeneration()
	apimeta.SetStatusCondition(&obj.GetRunStatus().Conditions, c)
}

// done reports whether obj's current generation was already carried out to
// a final state: Ready, or Stalled for a reason the failure policy does not
// retry (bad input, which only a spec change fixes).
func done(obj stepObject) bool {
	rs := obj.GetRunStatus()
	if rs.ObservedGeneration != obj.GetGeneration() {
		return false
	}
	if apimeta.IsStatusConditionTrue(rs.Conditions, v1alpha1.ConditionReady) {
		return true
	}
	stalled := apimeta.FindStatusCondition(rs.Conditions, v1alpha1.ConditionStalled)
	return stalled != nil && stalled.Status == metav1.ConditionTrue && policyOf(stalled.Reason).retry == 0
}
