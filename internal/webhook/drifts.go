package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// InfraDrifts checks approvals of a corrective plan written into an
// InfraDrift's spec.approval (its remedy approve, or a revert held for a
// person): a person needs the verb approve on infradrifts, and may approve
// only the plan held (status.remedy.planID); the approver is recorded for
// the step-runner, which applies an approval only with that record. The
// workflow engine's write passes, recorded as such: it is the application's
// approvePlan (the drift-detection trait), which whoever may change the
// application may set, and which can only put back what the application
// declares.
type InfraDrifts struct{ *Deps }

// Handle implements admission.Handler.
func (h *InfraDrifts) Handle(ctx context.Context, req admission.Request) admission.Response {
	var obj, old v1alpha1.InfraDrift
	if err := decodeUpdate(req, &obj, &old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	a := obj.Spec.Approval
	if !approvalWritten(a, old.Spec.Approval) {
		return admission.Allowed("")
	}
	key := types.NamespacedName{Namespace: req.Namespace, Name: req.Name}
	via := "an approval written on InfraDrift " + key.String()
	if slices.Contains(h.WorkflowEngines, req.UserInfo.Username) {
		via = "the application's drift-detection approvePlan, applied by the workflow engine"
	} else {
		if denied, err := h.authorizeOn(ctx, req.UserInfo, "infradrifts", "InfraDrift", key); err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		} else if denied != nil {
			return *denied
		}
		held := ""
		if r := old.Status.Remedy; r != nil && r.Result == v1alpha1.RemedyHeld {
			held = r.PlanID
		}
		if a.PlanID != held {
			shown := "no corrective plan is held"
			if held != "" {
				shown = "the corrective plan held is " + held
			}
			return admission.Denied(fmt.Sprintf("InfraDrift %s: spec.approval.planID: corrective plan %s is not held for approval (%s); nothing was applied", key, a.PlanID, shown))
		}
	}
	if dryRun(req) {
		return admission.Allowed("")
	}
	rec := controller.ApprovalRecord{Approver: approverOf(req.UserInfo, via), PlanID: a.PlanID, Request: a.Request, At: metav1.Now()}
	obj.Namespace, obj.Name = req.Namespace, req.Name
	if err := h.Approvals.RecordDriftApprover(ctx, &obj, rec); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.Allowed("")
}
