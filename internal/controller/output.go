package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// fieldOwner is the step-runner's field manager name.
const fieldOwner = "vela-infra-step-runner"

// outputName names the ConfigMap that keeps the object's run output.
func (p *pass) outputName() string {
	return fmt.Sprintf("%s-%s-output", strings.ToLower(p.gvk.Kind), p.obj.GetName())
}

// saveOutput keeps a run's output (redacted and capped by
// internal/terraform) in a ConfigMap owned by the object, so kubectl can
// read it after the run is gone. One request per run.
func (rt *Runtime) saveOutput(ctx context.Context, p *pass, output string) error {
	if output == "" {
		return nil
	}
	obj := p.obj
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       obj.GetNamespace(),
			Name:            p.outputName(),
			Labels:          map[string]string{"app.kubernetes.io/managed-by": "vela-infra-step-runner"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(obj, p.gvk)},
		},
		Data: map[string]string{"output.txt": output},
	}
	// A new object's first run creates the ConfigMap (cheaper than an
	// apply); later runs, or a create that finds one, apply.
	created := false
	if obj.GetRunStatus().OutputRef == nil {
		err := rt.Client.Create(ctx, cm.DeepCopy(), client.FieldOwner(fieldOwner))
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("save output: %w", err)
		}
		created = err == nil
	}
	if !created {
		if err := rt.Client.Patch(ctx, cm, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("save output: %w", err)
		}
	}
	obj.GetRunStatus().OutputRef = &v1alpha1.OutputRef{ConfigMap: cm.Name, Key: "output.txt"}
	return nil
}
