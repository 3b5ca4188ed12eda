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
// namespaces, and a finalizer would leave InfraApprovals (and their CRD)
// stuck once the step-runner is uninstalled: the saved plan is deleted when
// the step-runner sees its InfraApproval gone, and at start-up for those
// that went while it was not running (sweepPlans).
const (
	labelApprovalNamespace = "infra.vela-infra.io/approval-namespace"
	labelApprovalName      = "infra.vela-infra.io/approval-name"
)

// planKey is where the saved plan of the InfraApproval key is kept.
func (r *ApprovalReconciler) planKey(key types.NamespacedName) types.NamespacedName {
	return PlanSecretKey(r.PlanNamespace, key)
}

// PlanSecretKey is where the saved plan of the InfraApproval key is kept
// with the plan namespace planNamespace (--plan-namespace).
func PlanSecretKey(planNamespace string, key types.NamespacedName) types.NamespacedName {
	if planNamespace == "" || planNamespace == key.Namespace {
		return types.NamespacedName{Namespace: key.Namespace, Name: key.Name + "-plan"}
	}
	name := fmt.Sprintf("tfplan-%s.%s", key.Namespace, key.Name)
	if len(name) > 253 {
		sum := sha256.Sum256([]byte(key.String()))
		name = name[:200] + "-" + hex.EncodeToString(sum[:8])
	}
	return types.NamespacedName{Namespace: planNamespace, Name: name}
}

// savePlanSecret writes the plan file and its id; in obj's own namespace
// the Secret is owned by obj.
func (r *ApprovalReconciler) savePlanSecret(ctx context.Context, obj *v1alpha1.InfraApproval, data []byte, id string) error {
	key := r.planKey(client.ObjectKeyFromObject(obj))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, secret, func() error {
		secret.Labels = map[string]string{"app.kubernetes.io/managed-by": fieldOwner,
			labelApprovalNamespace: obj.Namespace, labelApprovalName: truncateLabel(obj.Name)}
		secret.Type = corev1.SecretTypeOpaque
		secret.Data = map[string][]byte{planFileKey: data, planIDKey: []byte(id)}
		if key.Namespace != obj.Namespace {
			return nil
		}
		return controllerutil.SetControllerReference(obj, secret, r.Client.Scheme())
	})
	if err != nil {
		return fmt.Errorf("store plan: %w", err)
	}
	obj.Status.PlanSecret = key.String()
	return nil
}

// readPlanSecret reads obj's saved plan; nil when it is gone.
func (r *ApprovalReconciler) readPlanSecret(ctx context.Context, obj *v1alpha1.InfraApproval) (*corev1.Secret, error) {
	var secret corev1.Secret
	err := r.Client.Get(ctx, r.planKey(client.ObjectKeyFromObject(obj)), &secret)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return &secret, err
}

// forgetPlan deletes the saved plan of the InfraApproval key, which is
// gone (in its own namespace, garbage collection does it).
func (r *ApprovalReconciler) forgetPlan(ctx context.Context, key types.NamespacedName) error {
	plan := r.planKey(key)
	if plan.Namespace == key.Namespace {
		return nil
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: plan.Namespace, Name: plan.Name}}
	if err := r.Client.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the saved plan %s of the deleted InfraApproval %s: %w", plan, key, err)
	}
	return nil
}

// sweepPlans deletes the saved plans in the plan namespace whose
// InfraApproval no longer exists: those deleted while no step-runner ran.
// The plans of every shard share the namespace, so whether their
// InfraApproval exists is read live, not from this shard's cache.
func (r *ApprovalReconciler) sweepPlans(ctx context.Context) error {
	if r.PlanNamespace == "" {
		return nil
	}
	var secrets corev1.SecretList
	if err := r.Client.List(ctx, &secrets, client.InNamespace(r.PlanNamespace), client.HasLabels{labelApprovalNamespace}); err != nil {
		return fmt.Errorf("list the saved plans in %s: %w", r.PlanNamespace, err)
	}
	for _, s := range secrets.Items {
		owner := types.NamespacedName{Namespace: s.Labels[labelApprovalNamespace], Name: s.Labels[labelApprovalName]}
		if r.planKey(owner).Name != s.Name {
			continue // a name too long for the label: left to its owner's deletion
		}
		err := r.liveReader().Get(ctx, owner, &v1alpha1.InfraApproval{})
		switch {
		case apierrors.IsNotFound(err):
			if err := r.forgetPlan(ctx, owner); err != nil {
				return err
			}
		case err != nil:
			return err
		}
	}
	return nil
}

// truncateLabel keeps a name within a label value's 63 characters.
func truncateLabel(s string) string {
	if len(s) > 63 {
		return s[:63]
	}
	return s
}
