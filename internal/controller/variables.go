package controller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vela-infra/vela-infra/internal/target"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// The variables of a step-run object with spec.target.variablesFrom Secret
// are in a Secret the workflow step writes where the step-runner keeps
// Secrets (VariablesNamespace: the backend namespace, vela-system by
// default), never in the object: a password in a step-run object could be
// read by everyone who may read those, in the tenant's namespace. The
// step-runner names the Secret in status.variablesSecret (the step cannot
// know where the step-runner keeps Secrets), the step then writes it,
// labelled with the object it is for and annotated with the object's
// spec.request; a Secret written for another request is not used. It is
// deleted with its object, as saved plans are (plansecret.go).
const (
	labelVariablesKind      = "infra.vela-infra.io/variables-kind"
	labelVariablesNamespace = "infra.vela-infra.io/variables-namespace"
	labelVariablesName      = "infra.vela-infra.io/variables-name"
	annotationRequest       = "infra.vela-infra.io/request"
	variablesDataKey        = "variables"
)

// variablesKey is where the variables of the kind's object key are kept.
func (rt *Runtime) variablesKey(kind string, key types.NamespacedName) types.NamespacedName {
	ns := rt.VariablesNamespace
	if ns == "" {
		ns = key.Namespace
	}
	name := fmt.Sprintf("tfvars-%s.%s.%s", strings.ToLower(kind), key.Namespace, key.Name)
	if len(name) > 253 {
		sum := sha256.Sum256([]byte(kind + "/" + key.String()))
		name = name[:200] + "-" + hex.EncodeToString(sum[:8])
	}
	return types.NamespacedName{Namespace: ns, Name: name}
}

// variables reads the variables of p's object from its Secret, when its
// spec says they are there: nil with no outcome when they are not, an
// outcome (waiting) while the step has not written them for this request.
func (rt *Runtime) variables(ctx context.Context, p *pass) (map[string]any, *outcome, error) {
	t := p.obj.GetTarget()
	st := p.obj.GetRunStatus()
	if t.VariablesFrom != v1alpha1.VariablesFromSecret {
		st.VariablesSecret = ""
		return nil, nil, nil
	}
	key := rt.variablesKey(p.gvk.Kind, client.ObjectKeyFromObject(p.obj))
	st.VariablesSecret = key.String()
	// A spec that can never be run is refused before it waits.
	if err := target.CheckVariablesFrom(t); err != nil {
		return nil, nil, err
	}
	var secret corev1.Secret
	err := rt.Client.Get(ctx, key, &secret)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("read the variables Secret %s: %w", key, err)
	}
	if apierrors.IsNotFound(err) || secret.Annotations[annotationRequest] != p.obj.GetRequest() ||
		secret.Labels[labelVariablesKind] != p.gvk.Kind || secret.Labels[labelVariablesNamespace] != p.obj.GetNamespace() {
		o := notReady(v1alpha1.ReasonAwaitingVariables, fmt.Sprintf(
			"%s waits for its variables in the Secret %s (status.variablesSecret), which its workflow step writes for request %q",
			p.name(), key, p.obj.GetRequest()))
		return nil, &o, nil
	}
	data, ok := secret.Data[variablesDataKey]
	if !ok {
		return nil, nil, invalidSpec("%s: the variables Secret %s has no key %q", p.name(), key, variablesDataKey)
	}
	var vars map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&vars); err != nil || vars == nil {
		return nil, nil, invalidSpec("%s: the key %q of the variables Secret %s is not a JSON object", p.name(), variablesDataKey, key)
	}
	return vars, nil, nil
}

// forgetVariables deletes the variables Secret of the kind's object key,
// which is gone.
func (rt *Runtime) forgetVariables(ctx context.Context, kind string, key types.NamespacedName) error {
	v := rt.variablesKey(kind, key)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: v.Namespace, Name: v.Name}}
	if err := rt.Client.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the variables Secret %s of the deleted %s %s: %w", v, kind, key, err)
	}
	return nil
}

// sweepVariables deletes the variables Secrets whose object no longer
// exists: those deleted while no step-runner ran. newObj makes an empty
// object of kind.
func (rt *Runtime) sweepVariables(ctx context.Context, kind string, newObj func() client.Object) error {
	if rt.VariablesNamespace == "" {
		return nil
	}
	var secrets corev1.SecretList
	if err := rt.Client.List(ctx, &secrets, client.InNamespace(rt.VariablesNamespace), client.MatchingLabels{labelVariablesKind: kind}); err != nil {
		return fmt.Errorf("list the variables Secrets in %s: %w", rt.VariablesNamespace, err)
	}
	for _, s := range secrets.Items {
		owner := types.NamespacedName{Namespace: s.Labels[labelVariablesNamespace], Name: s.Labels[labelVariablesName]}
		if rt.variablesKey(kind, owner).Name != s.Name {
			continue // a name too long for the label: left to its owner's deletion
		}
		err := rt.liveReader().Get(ctx, owner, newObj())
		switch {
		case apierrors.IsNotFound(err):
			if err := rt.forgetVariables(ctx, kind, owner); err != nil {
				return err
			}
		case err != nil:
			return err
		}
	}
	return nil
}

// variablesSecretSelector selects the variables Secrets: the only Secrets
// the step-runner watches (cached by that label, in VariablesNamespace).
func variablesSecretSelector() labels.Selector {
	req, err := labels.NewRequirement(labelVariablesKind, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*req)
}

// variablesWritten maps a variables Secret written by a workflow step to
// the object of kind it is for.
func variablesWritten(kind string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		l := o.GetLabels()
		if l[labelVariablesKind] != kind || l[labelVariablesNamespace] == "" || l[labelVariablesName] == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: l[labelVariablesNamespace], Name: l[labelVariablesName]}}}
	})
}
