package controller

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFakeVariablesFromSecret: an object whose variables the workflow step
// passes in a Secret names that Secret in its status and waits for it;
// only the Secret written for its request is used, its variables reach
// Terraform, and bad ones stall the object naming the Secret.
func TestFakeVariablesFromSecret(t *testing.T) {
	const (
		secretNS = "vela-system"
		request  = "session-2"
		password = "Sentinel-VarPassw0rd"
	)
	secretKey := types.NamespacedName{Namespace: secretNS, Name: "tfvars-infradrift.team.check"}
	waiting := "InfraDrift team/check waits for its variables in the Secret vela-system/tfvars-infradrift.team.check (status.variablesSecret), which its workflow step writes for request \"session-2\""
	written := func(req, data string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: secretNS, Name: secretKey.Name,
				Labels:      map[string]string{labelVariablesKind: "InfraDrift", labelVariablesNamespace: fakeNS, labelVariablesName: "check"},
				Annotations: map[string]string{annotationRequest: req}},
			Data: map[string][]byte{variablesDataKey: []byte(data)},
		}
	}
	clean := "Configuration team/network has no drift: the cloud matches the Terraform state"
	const bothVars = "spec.target.spec.variable must be empty when spec.target.variablesFrom is Secret: the variables come from the Secret status.variablesSecret names; remove one of the two"
	cases := map[string]struct {
		secret   *corev1.Secret
		specVars string
		want     observed
		wantVars map[string]any
	}{
		"not written yet": {want: observed{
			Result: after(time.Second), Conditions: waitingWith(v1alpha1.ReasonAwaitingVariables, waiting),
		}},
		"written for an earlier request": {secret: written("session-1", `{"name":"old"}`), want: observed{
			Result: after(time.Second), Conditions: waitingWith(v1alpha1.ReasonAwaitingVariables, waiting),
		}},
		"written for this request": {secret: written(request, `{"name":"shop","admin_password":"`+password+`","storage_gib":20}`),
			wantVars: map[string]any{"name": "shop", "admin_password": password, "storage_gib": float64(20)},
			want: observed{Calls: []string{"plan drift.tfplan -refresh-only"}, Done: true,
				Conditions: readyWith(v1alpha1.ReasonNoDrift, clean, v1alpha1.ConditionDrifted, "False NoDrift: "+clean)}},
		"not a JSON object": {secret: written(request, `["name"]`), want: observed{Done: true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, `InfraDrift team/check: the key "variables" of the variables Secret vela-system/tfvars-infradrift.team.check is not a JSON object`),
		}},
		"variables in the spec too": {secret: written(request, `{"name":"shop"}`), specVars: `{"name":"other"}`, want: observed{Done: true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, bothVars),
		}},
		// Refused at once, not waited on (AwaitingVariables) for a Secret
		// that no workflow step writes.
		"variables in the spec, no Secret": {specVars: `{"name":"other"}`, want: observed{Done: true,
			Conditions: stalledWith(v1alpha1.ReasonInvalidSpec, bothVars),
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := `{"hcl":"resource \"mycloud_vpc\" \"this\" {}","providerRef":{"namespace":"team","name":"mycloud"}`
			if tc.specVars != "" {
				spec += `,"variable":` + tc.specVars
			}
			obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
				Spec: v1alpha1.InfraDriftSpec{Request: request, Target: v1alpha1.Target{ConfigurationName: fakeCfg,
					Spec: &runtime.RawExtension{Raw: []byte(spec + "}")}, VariablesFrom: v1alpha1.VariablesFromSecret}}}
			objs := []client.Object{obj}
			if tc.secret != nil {
				objs = append(objs, tc.secret)
			}
			e := newFakeEnv(t, objs...)
			e.rt.VariablesNamespace = secretNS
			e.ws.plans = []planReply{{}}
			got := e.reconcile(&DriftReconciler{Runtime: e.rt}, obj)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("reconcile (-want +got):\n%s", diff)
			}
			if obj.Status.VariablesSecret != secretKey.String() {
				t.Errorf("status.variablesSecret = %q, want %q", obj.Status.VariablesSecret, secretKey)
			}
			if tc.wantVars != nil {
				if diff := cmp.Diff(tc.wantVars, e.opener.target.Variables); diff != "" {
					t.Errorf("Terraform's variables (-want +got):\n%s", diff)
				}
				// Redacted from output like any password variable.
				if !strings.Contains(strings.Join(e.opener.target.Secrets, " "), password) {
					t.Errorf("the password is not among the values redacted from output: %q", e.opener.target.Secrets)
				}
			}
			raw, _ := json.Marshal(obj)
			if strings.Contains(string(raw), password) {
				t.Errorf("the password is in the object: %s", raw)
			}
		})
	}
}

// TestFakeVariablesSecretGoesWithItsObject: the variables Secret of a
// deleted object is deleted when the step-runner sees it gone, and at
// start for those deleted while it was not running; another's stays.
func TestFakeVariablesSecretGoesWithItsObject(t *testing.T) {
	ctx := context.Background()
	secret := func(name, owner string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "vela-system", Name: name,
			Labels: map[string]string{labelVariablesKind: "InfraDrift", labelVariablesNamespace: fakeNS, labelVariablesName: owner}}}
	}
	live := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "live"}}
	e := newFakeEnv(t, live, secret("tfvars-infradrift.team.live", "live"), secret("tfvars-infradrift.team.gone", "gone"),
		secret("tfvars-infradrift.team.deleted", "deleted"))
	e.rt.VariablesNamespace = "vela-system"
	r := &DriftReconciler{Runtime: e.rt}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: fakeNS, Name: "gone"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.sweepVariables(ctx, "InfraDrift", func() client.Object { return &v1alpha1.InfraDrift{} }); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"tfvars-infradrift.team.live": true, "tfvars-infradrift.team.gone": false, "tfvars-infradrift.team.deleted": false} {
		err := e.c.Get(ctx, types.NamespacedName{Namespace: "vela-system", Name: name}, &corev1.Secret{})
		if got := !apierrors.IsNotFound(err); got != want {
			t.Errorf("Secret %s exists: %v, want %v (%v)", name, got, want, err)
		}
	}
}

// TestFakeSweepsKeepAnotherShardsSecrets: a sharded replica's cache holds
// only its shard's objects, so the sweeps at start ask the API server
// whether an object exists: the variables Secret and saved plan of
// another shard's objects stay, those of deleted objects go.
func TestFakeSweepsKeepAnotherShardsSecrets(t *testing.T) {
	ctx := context.Background()
	other := types.NamespacedName{Namespace: fakeNS, Name: "other-shard"}
	gone := types.NamespacedName{Namespace: fakeNS, Name: "gone"}
	probe := &ApprovalReconciler{Runtime: &Runtime{VariablesNamespace: "vela-system"}, PlanNamespace: "vela-system"}
	plan := func(owner types.NamespacedName) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "vela-system", Name: probe.planKey(owner).Name,
			Labels: map[string]string{labelApprovalNamespace: owner.Namespace, labelApprovalName: owner.Name}}}
	}
	variables := func(owner types.NamespacedName) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "vela-system", Name: probe.variablesKey("InfraDrift", owner).Name,
			Labels: map[string]string{labelVariablesKind: "InfraDrift", labelVariablesNamespace: owner.Namespace, labelVariablesName: owner.Name}}}
	}
	// The cache (the env's client) holds neither object: both are another
	// shard's; the API server holds them.
	e := newFakeEnv(t, plan(other), plan(gone), variables(other), variables(gone))
	scheme, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	e.rt.Live = fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: other.Namespace, Name: other.Name}},
		&v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: other.Namespace, Name: other.Name}},
	).Build()
	e.rt.VariablesNamespace = "vela-system"
	r := &ApprovalReconciler{Runtime: e.rt, PlanNamespace: "vela-system"}
	if err := r.sweepPlans(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.sweepVariables(ctx, "InfraDrift", func() client.Object { return &v1alpha1.InfraDrift{} }); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		secret *corev1.Secret
		want   bool
	}{{plan(other), true}, {variables(other), true}, {plan(gone), false}, {variables(gone), false}} {
		err := e.c.Get(ctx, client.ObjectKeyFromObject(s.secret), &corev1.Secret{})
		if got := !apierrors.IsNotFound(err); got != s.want {
			t.Errorf("Secret %s exists: %v, want %v (%v)", s.secret.Name, got, s.want, err)
		}
	}
}
