package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vela-infra/vela-infra/internal/plan"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// DriftReconciler carries out InfraDrift objects.
type DriftReconciler struct {
	*Runtime
	MaxConcurrent int
	// PlanNamespace keeps the records of who approved a corrective plan
	// (remedy.go); empty: none are kept.
	PlanNamespace string
	// RequireRecordedApprover applies an approved corrective plan only
	// with its approver recorded by the admission webhook.
	RequireRecordedApprover bool
	// schedule spreads scheduled checks over their interval (schedule.go).
	schedule schedule
}

// SetupWithManager registers the reconciler. Scheduled checks that fell due
// before now are spread over the interval after it.
func (r *DriftReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.schedule.began = time.Now()
	return r.register(mgr, &v1alpha1.InfraDrift{}, r.MaxConcurrent, r)
}

// Reconcile runs one drift check, and schedules the next when the object
// has an interval.
func (r *DriftReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &v1alpha1.InfraDrift{}
	result, err := r.reconcileStep(ctx, req.NamespacedName, obj, step{
		due: func() time.Duration { return r.due(obj) },
		validate: func() error {
			if obj.Spec.Interval != nil && obj.Spec.Interval.Duration < minInterval {
				return invalidSpec("InfraDrift %s/%s: spec.interval %s is shorter than the minimum %s",
					obj.Namespace, obj.Name, obj.Spec.Interval.Duration, minInterval)
			}
			return nil
		},
		run:  func(ctx context.Context, p *pass) (outcome, error) { return r.check(ctx, obj, p) },
		gone: func(ctx context.Context) error { return r.forgetApprover(ctx, req.NamespacedName) },
	})
	if obj.Spec.Interval != nil && err == nil && result.RequeueAfter == 0 && obj.Status.LastRunTime != nil {
		result.RequeueAfter = obj.Spec.Interval.Duration
	}
	return result, err
}

// due returns 0 when a check should run now, a positive wait for a
// scheduled check not yet due, or -1 when there is nothing to do.
func (r *DriftReconciler) due(obj *v1alpha1.InfraDrift) time.Duration {
	return r.schedule.wait(obj, time.Now())
}

// check compares the cloud with the state, and carries out the remedy
// (remedy.go) when there is drift.
func (r *DriftReconciler) check(ctx context.Context, obj *v1alpha1.InfraDrift, p *pass) (outcome, error) {
	// A refresh-only plan finds drift; only when there is some does a
	// second, normal plan say what an apply would change back. The common
	// no-drift case costs one plan, as a hand-run refresh-only plan does.
	refreshed, err := p.ws.Plan(ctx, terraform.PlanOptions{RefreshOnly: true, SkipShowWhenEmpty: true, Out: "drift.tfplan"})
	var corrective *terraform.PlanResult
	if err == nil && refreshed.Changes {
		corrective, err = p.ws.Plan(ctx, terraform.PlanOptions{Out: "corrective.tfplan"})
	}
	if err != nil {
		return p.fail("drift check", err)
	}
	wasDrifted := obj.Status.Drifted
	drift := plan.SummarizeDrift(refreshed.Plan)
	obj.Status.Drift = drift
	obj.Status.Plan = nil
	if corrective != nil {
		obj.Status.Plan = plan.Summarize(corrective.Plan)
	}
	obj.Status.Drifted = drift.Change > 0
	obj.Status.LastRunTime = now()
	cfg := p.res.Configuration.Name
	name := "Configuration " + obj.Namespace + "/" + cfg
	switch {
	case obj.Status.Drifted && (!wasDrifted || obj.Status.DriftedSince == nil):
		obj.Status.DriftedSince = obj.Status.LastRunTime
	case !obj.Status.Drifted:
		obj.Status.DriftedSince = nil
	}
	var rem remedyResult
	if obj.Status.Drifted {
		if rem, err = r.remedy(ctx, obj, p, name, refreshed, corrective); err != nil {
			return p.fail(rem.doing, err)
		}
		if rem.fixed {
			// A corrective plan applied: the drift found is gone.
			obj.Status.Drifted, obj.Status.DriftedSince = false, nil
		}
	}
	r.observeCheck(obj, cfg)
	log.FromContext(ctx).Info("drift checked", "configuration", cfg, "drifted", obj.Status.Drifted, "resources", drift.Change,
		"remedy", remedyOf(obj), "result", rem.result)
	if rem.fixed {
		return fixed(obj, name, rem), nil
	}
	return r.report(obj, wasDrifted, name, rem), nil
}

// observeCheck sets the drift metrics of a check that succeeded.
func (r *DriftReconciler) observeCheck(obj *v1alpha1.InfraDrift, cfg string) {
	resources := 0
	if obj.Status.Drifted && obj.Status.Drift != nil {
		resources = obj.Status.Drift.Change
	}
	DriftResources.WithLabelValues(obj.Namespace, obj.Name, cfg).Set(float64(resources))
	LastSuccessfulCheck.WithLabelValues(obj.Namespace, obj.Name, cfg).Set(float64(obj.Status.LastRunTime.Unix()))
	if obj.Status.DriftedSince != nil {
		DriftedSince.WithLabelValues(obj.Namespace, obj.Name, cfg).Set(float64(obj.Status.DriftedSince.Unix()))
	} else {
		DriftedSince.DeleteLabelValues(obj.Namespace, obj.Name, cfg)
	}
}

// report says what the check found, with an Event when the target starts
// or stops drifting, and what the remedy did.
func (r *DriftReconciler) report(obj *v1alpha1.InfraDrift, wasDrifted bool, name string, rem remedyResult) outcome {
	drift := obj.Status.Drift
	if !obj.Status.Drifted {
		msg := fmt.Sprintf("%s has no drift: the cloud matches the Terraform state", name)
		if wasDrifted {
			r.Recorder.Event(obj, corev1.EventTypeNormal, v1alpha1.ReasonNoDrift, name+" no longer drifts")
		}
		return succeeded(v1alpha1.ReasonNoDrift, msg, condition(v1alpha1.ConditionDrifted, metav1.ConditionFalse, v1alpha1.ReasonNoDrift, msg))
	}
	undo := 0
	if p := obj.Status.Plan; p != nil {
		undo = p.Add + p.Change + p.Destroy
	}
	msg := fmt.Sprintf("%s drifted: %d resource(s) changed in the cloud since the last apply; an apply would make %d change(s) back. ",
		name, drift.Change, undo)
	if rem.message != "" {
		msg += rem.message + " "
	}
	msg += drift.Diff
	if !wasDrifted {
		r.Recorder.Event(obj, corev1.EventTypeWarning, v1alpha1.ReasonDriftFound, fmt.Sprintf("%s drifted: %d resource(s) changed in the cloud", name, drift.Change))
	}
	return succeeded(v1alpha1.ReasonDriftFound, msg, condition(v1alpha1.ConditionDrifted, metav1.ConditionTrue, v1alpha1.ReasonDriftFound, msg))
}
