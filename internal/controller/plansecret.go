package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// A saved plan holds the values of sensitive variables, so it is a Secret;
// it lives where the step-runner keeps Secrets (PlanNamespace: the backend
// namespace, vela-system by default), not in the tenant's namespace, whose
// Secrets the step-runner may not read. A Secret cannot be owned across
// namespaces: a finalizer on the InfraApproval deletes it instead.
const (
	planFinalizer = "infra.vela-infra.io/saved-plan"

	labelApprovalNamespace = "infra.vela-infra.io/approval-namespace"
	labelApprovalName      = "infra.vela-infra.io/approval-name"
)

// planKey is where obj's saved plan is kept.
func (r *ApprovalReconciler) planKey(obj *v1alpha1.InfraApproval) types.NamespacedName {
	if r.PlanNamespace == "" || r.PlanNamespace == obj.Namespace {
		return types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name + "-plan"}
	}
	name := fmt.Sprintf("tfplan-%s.%s", obj.Namespace, obj.Name)
	if len(name) > 253 {
		sum := sha256.Sum256([]byte(obj.Namespace + "/" + obj.Name))
		name = name[:200] + "-" + hex.EncodeToString(sum[:8])
	}
	return types.NamespacedName{Namespace: r.PlanNamespace, Name: name}
}

// crossNamespace says whether obj's plan lives outside its namespace.
func (r *ApprovalReconciler) crossNamespace(obj *v1alpha1.InfraApproval) bool {
	return r.planKey(obj).Namespace != obj.Namespace
}

// savePlanSecret writes the plan file and its id. Outside obj's namespace
// the finalizer is added first, so no Secret is ever left without one.
func (r *ApprovalReconciler) savePlanSecret(ctx context.Context, obj *v1alpha1.InfraApproval, data []byte, id string) error {
	key := r.planKey(obj)
	if r.crossNamespace(obj) && !controllerutil.ContainsFinalizer(obj, planFinalizer) {
		// Patched on a copy: the response would reset obj's status, which
		// this run has changed and writes at its end.
		patched := obj.DeepCopy()
		controllerutil.AddFinalizer(patched, planFinalizer)
		if err := r.Client.Patch(ctx, patched, client.MergeFrom(obj)); err != nil {
			return fmt.Errorf("add the saved-plan finalizer: %w", err)
		}
		obj.SetFinalizers(patched.GetFinalizers())
		obj.SetResourceVersion(patched.GetResourceVersion())
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, secret, func() error {
		secret.Labels = map[string]string{"app.kubernetes.io/managed-by": fieldOwner,
			labelApprovalNamespace: obj.Namespace, labelApprovalName: truncateLabel(obj.Name)}
		secret.Type = corev1.SecretTypeOpaque
		secret.Data = map[string][]byte{planFileKey: data, planIDKey: []byte(id)}
		if r.crossNamespace(obj) {
			return nil
		}
		return controllerutil.SetControllerReference(obj, secret, r.Client.Scheme())
	})
	if err != nil {
		return fmt.Errorf("store plan: %w", err)
	}
	obj.Status.PlanSecret = key.Namespace + "/" + key.Name
	return nil
}

// readPlanSecret reads obj's saved plan; nil when it is gone.
func (r *ApprovalReconciler) readPlanSecret(ctx context.Context, obj *v1alpha1.InfraApproval) (*corev1.Secret, error) {
	var secret corev1.Secret
	err := r.Client.Get(ctx, r.planKey(obj), &secret)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return &secret, err
}

// finalize deletes a deleted InfraApproval's saved plan from the plan
// namespace, then lets the object go.
func (r *ApprovalReconciler) finalize(ctx context.Context, obj *v1alpha1.InfraApproval) error {
	if !controllerutil.ContainsFinalizer(obj, planFinalizer) {
		return nil
	}
	key := r.planKey(obj)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := r.Client.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the saved plan %s: %w", key, err)
	}
	before := obj.DeepCopy()
	controllerutil.RemoveFinalizer(obj, planFinalizer)
	return client.IgnoreNotFound(r.Client.Patch(ctx, obj, client.MergeFrom(before)))
}

// truncateLabel keeps a name within a label value's 63 characters.
func truncateLabel(s string) string {
	if len(s) > 63 {
		return s[:63]
	}
	return s
}
