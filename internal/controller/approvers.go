package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Who approved a plan is what the API server authenticated: the step-runner's
// admission webhook (internal/webhook) sees the userInfo of `vela workflow
// resume` (a patch of the Application's status) and of an approval written
// directly on an InfraApproval, checks the verb approve, and records the
// person here, in the saved plan's Secret: in the plan namespace no tenant
// may write, next to the plan the approval is for. A new plan rewrites the
// Secret, and so forgets the record; the reconciler applies an approval only
// with the record of its plan id and request (RequireRecordedApprover).

// approverKey is the key of the approval record in the saved plan's Secret.
const approverKey = "approver"

// ApprovalRecord is the person who approved one plan of one request.
type ApprovalRecord struct {
	Approver v1alpha1.Approver `json:"approver"`
	PlanID   string            `json:"planID"`
	Request  string            `json:"request"`
	At       metav1.Time       `json:"at"`
}

// ErrNoSavedPlan is an approval of an InfraApproval whose saved plan is
// gone (rejected, or deleted by hand).
var ErrNoSavedPlan = errors.New("its saved plan is gone")

// approvalRecordOf reads the approval record of a saved plan's Secret.
func approvalRecordOf(secret *corev1.Secret) (ApprovalRecord, bool) {
	var rec ApprovalRecord
	if secret == nil || len(secret.Data[approverKey]) == 0 {
		return rec, false
	}
	if err := json.Unmarshal(secret.Data[approverKey], &rec); err != nil {
		return rec, false
	}
	return rec, rec.Approver.Username != ""
}

// Approvals records the decisions of people on InfraApprovals, for the
// admission webhook: the approver of a plan, and a rejection.
type Approvals struct {
	// Client writes Secrets and InfraApproval status; it should read live.
	Client client.Client
	// PlanNamespace is the step-runner's --plan-namespace.
	PlanNamespace string
	Recorder      record.EventRecorder
}

// RecordApprover keeps rec in the saved plan's Secret of obj, with an
// Event; ErrNoSavedPlan when there is none.
func (a *Approvals) RecordApprover(ctx context.Context, obj *v1alpha1.InfraApproval, rec ApprovalRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	key := PlanSecretKey(a.PlanNamespace, client.ObjectKeyFromObject(obj))
	patch, err := json.Marshal(map[string]any{"data": map[string][]byte{approverKey: data}})
	if err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := a.Client.Patch(ctx, secret, client.RawPatch(types.MergePatchType, patch)); apierrors.IsNotFound(err) {
		return ErrNoSavedPlan
	} else if err != nil {
		return fmt.Errorf("record the approver in the saved plan %s: %w", key, err)
	}
	a.Recorder.Eventf(obj, corev1.EventTypeNormal, "ApprovalRecorded", "plan %s approved by %s", rec.PlanID, describeApprover(rec.Approver))
	return nil
}

// Reject marks the plan of obj's current request rejected by by: the
// status says so (Ready False, Stalled, reason Rejected), the saved plan
// is deleted, and an Event names who rejected it.
func (a *Approvals) Reject(ctx context.Context, key types.NamespacedName, by v1alpha1.Approver) error {
	var obj v1alpha1.InfraApproval
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := a.Client.Get(ctx, key, &obj); err != nil {
			return err
		}
		before := obj.DeepCopy()
		planID := ""
		if obj.Status.Plan != nil {
			planID = obj.Status.Plan.ID
		}
		obj.Status.Rejected = &v1alpha1.Rejection{Request: obj.Spec.Request, PlanID: planID, By: by, At: *now()}
		setConditions(&obj, rejected(&obj, "InfraApproval "+key.String()), nil)
		return a.Client.Status().Patch(ctx, &obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		return fmt.Errorf("mark InfraApproval %s rejected: %w", key, err)
	}
	plan := PlanSecretKey(a.PlanNamespace, key)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: plan.Namespace, Name: plan.Name}}
	if err := a.Client.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the saved plan %s of the rejected InfraApproval %s: %w", plan, key, err)
	}
	a.Recorder.Eventf(&obj, corev1.EventTypeNormal, v1alpha1.ReasonRejected, "plan %s rejected by %s; its saved plan was deleted",
		orUnknown(obj.Status.Rejected.PlanID), describeApprover(by))
	return nil
}

// DriftApprovalKey is where the approver of an InfraDrift's corrective
// plan is recorded: a Secret of the plan namespace (an InfraDrift keeps no
// saved plan), deleted with the InfraDrift.
func DriftApprovalKey(planNamespace string, drift types.NamespacedName) types.NamespacedName {
	return types.NamespacedName{Namespace: planNamespace, Name: "drift-approval." + drift.Namespace + "." + drift.Name}
}

// RecordDriftApprover keeps rec as the approver of the corrective plan
// rec.PlanID of obj, with an Event.
func (a *Approvals) RecordDriftApprover(ctx context.Context, obj *v1alpha1.InfraDrift, rec ApprovalRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	key := DriftApprovalKey(a.PlanNamespace, client.ObjectKeyFromObject(obj))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
		"infra.vela-infra.io/drift-namespace": obj.Namespace, "infra.vela-infra.io/drift-name": truncateLabel(obj.Name),
	}}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{approverKey: data}}
	if err := UpsertSecretData(ctx, a.Client, secret); err != nil {
		return fmt.Errorf("record the approver of InfraDrift %s/%s in %s: %w", obj.Namespace, obj.Name, key, err)
	}
	a.Recorder.Eventf(obj, corev1.EventTypeNormal, "ApprovalRecorded", "corrective plan %s approved by %s", rec.PlanID, describeApprover(rec.Approver))
	return nil
}

// UpsertSecretData creates secret, or, when it exists, merges its data
// into the one there (its other keys and metadata kept).
func UpsertSecretData(ctx context.Context, c client.Client, secret *corev1.Secret) error {
	err := c.Create(ctx, secret)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	patch, err := json.Marshal(map[string]any{"data": secret.Data})
	if err != nil {
		return err
	}
	return c.Patch(ctx, secret, client.RawPatch(types.MergePatchType, patch))
}
