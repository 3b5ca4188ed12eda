package target

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

const hcl = `resource "mycloud_vpc" "this" {}`

func cluster(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, tfv1beta1.AddToScheme, tfv1beta2.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	base := []client.Object{
		&tfv1beta1.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "mycloud"}, Spec: tfv1beta1.ProviderSpec{
			Provider: "custom", Credentials: tfv1beta1.ProviderCredentials{Source: crossplane.CredentialsSourceSecret,
				SecretRef: &crossplane.SecretKeySelector{SecretReference: crossplane.SecretReference{Namespace: "team", Name: "creds"}, Key: "credentials"}},
		}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "creds"}, Data: map[string][]byte{
			"credentials": []byte("MYCLOUD_ENDPOINT: http://127.0.0.1:8480\nMYCLOUD_ACCESS_KEY: AKFAKE\nMYCLOUD_SECRET_KEY: the-secret-key\n"),
		}},
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(append(base, objs...)...).Build()
}

func configuration(vars string) *tfv1beta2.Configuration {
	return &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "network"}, Spec: tfv1beta2.ConfigurationSpec{
		HCL: hcl, Variable: &runtime.RawExtension{Raw: []byte(vars)}, ProviderReference: &crossplane.Reference{Namespace: "team", Name: "mycloud"},
	}}
}

// resolved is what a test compares of a Resolved.
type resolved struct {
	Exists        bool
	Key, ApplyJob string
	Env           map[string]string
	Variables     map[string]any
	BackendConfig []string
	Secrets       []string
	HCLHasBackend bool
}

func TestResolve(t *testing.T) {
	env := map[string]string{"MYCLOUD_ENDPOINT": "http://127.0.0.1:8480", "MYCLOUD_ACCESS_KEY": "AKFAKE", "MYCLOUD_SECRET_KEY": "the-secret-key"}
	cases := map[string]struct {
		objs     []client.Object
		resolver Resolver
		target   v1alpha1.Target
		want     resolved
	}{
		"a Configuration in the cluster": {
			objs:   []client.Object{configuration(`{"name": "legacy", "db_password": "hunter22"}`)},
			target: v1alpha1.Target{ConfigurationName: "network"},
			want: resolved{Exists: true, Key: "team/network", ApplyJob: "network-apply", Env: env, HCLHasBackend: true,
				Variables: map[string]any{"name": "legacy", "db_password": "hunter22"},
				// Credentials and secret-looking variables are never shown.
				Secrets: []string{"AKFAKE", "hunter22", "the-secret-key"}},
		},
		"the spec a step passes, before the Configuration exists": {
			resolver: Resolver{BackendKubeconfig: "/tmp/kubeconfig"},
			target: v1alpha1.Target{ConfigurationName: "network", Spec: &runtime.RawExtension{
				Raw: []byte(`{"hcl": "` + `resource \"mycloud_vpc\" \"this\" {}` + `", "providerRef": {"namespace": "team", "name": "mycloud"}}`)}},
			want: resolved{Key: "team/network", ApplyJob: "network-apply", Env: env, HCLHasBackend: true,
				BackendConfig: []string{"config_path=/tmp/kubeconfig", "in_cluster_config=false"}, Secrets: []string{"AKFAKE", "the-secret-key"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := tc.resolver
			r.Client = cluster(t, tc.objs...)
			res, err := r.Resolve(context.Background(), "team", tc.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := resolved{Exists: res.Exists, Key: res.Target.Key, ApplyJob: res.ApplyJob, Env: res.Target.Env, Variables: res.Target.Variables,
				BackendConfig: res.Target.BackendConfig, Secrets: res.Target.Secrets, HCLHasBackend: len(res.Target.HCL) > len(hcl)}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveFailures(t *testing.T) {
	cases := map[string]struct {
		objs     []client.Object
		resolver Resolver
		target   v1alpha1.Target
		reason   string
	}{
		"no Configuration and no spec": {target: v1alpha1.Target{ConfigurationName: "network"}, reason: v1alpha1.ReasonConfigurationNotFound},
		"no Configuration, state keyed by UID": {resolver: Resolver{ControllerNamespace: "terraform"}, reason: v1alpha1.ReasonConfigurationNotFound,
			target: v1alpha1.Target{ConfigurationName: "network", Spec: &runtime.RawExtension{Raw: []byte(`{"hcl": "x"}`)}}},
		"remote module": {reason: v1alpha1.ReasonInvalidConfiguration,
			target: v1alpha1.Target{ConfigurationName: "network", Spec: &runtime.RawExtension{Raw: []byte(`{"remote": "https://example.com/m.git"}`)}}},
		"variables not an object": {objs: []client.Object{configuration(`["a"]`)}, target: v1alpha1.Target{ConfigurationName: "network"}, reason: v1alpha1.ReasonInvalidSpec},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := tc.resolver
			r.Client = cluster(t, tc.objs...)
			_, err := r.Resolve(context.Background(), "team", tc.target, nil)
			var te *Error
			if !errors.As(err, &te) || te.Reason != tc.reason {
				t.Errorf("err %v, want a target.Error with reason %s", err, tc.reason)
			}
		})
	}
}

// TestHashFollowsTheInputs: a plan made for one hash does not hold for
// another; the same inputs give the same hash.
func TestHashFollowsTheInputs(t *testing.T) {
	resolve := func(vars string) string {
		r := Resolver{Client: cluster(t, configuration(vars))}
		res, err := r.Resolve(context.Background(), "team", v1alpha1.Target{ConfigurationName: "network"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Hash()
	}
	a, again, b := resolve(`{"cidr": "10.0.0.0/16"}`), resolve(`{"cidr": "10.0.0.0/16"}`), resolve(`{"cidr": "10.1.0.0/16"}`)
	if a != again || a == b {
		t.Errorf("hashes %s, %s (same inputs), %s (other cidr)", a, again, b)
	}
}

// TestResolveKeepsATenantInItsNamespace: nothing in a target may reach
// another tenant's state, credentials or the step-runner's files; each
// refusal names the field.
func TestResolveKeepsATenantInItsNamespace(t *testing.T) {
	spec := func(s string) v1alpha1.Target {
		return v1alpha1.Target{ConfigurationName: "network", Spec: &runtime.RawExtension{Raw: []byte(s)}}
	}
	const vpc = `resource \"mycloud_vpc\" \"this\" {}`
	withBackend := configuration(`{}`)
	withBackend.Spec.Backend = &tfv1beta2.Backend{SecretSuffix: "network", InClusterConfig: true}
	cases := map[string]struct {
		objs     []client.Object
		resolver Resolver
		target   v1alpha1.Target
		reason   string
		message  string
	}{
		"another state through the step's backend": {
			target: spec(`{"hcl": "` + vpc + `", "backend": {"backendType": "kubernetes", "kubernetes": {"secret_suffix": "network", "namespace": "vela-system"}}}`),
			reason: v1alpha1.ReasonInvalidSpec, message: "Configuration team/network: spec.target.spec.backend is set"},
		"another state through the Configuration's backend": {
			objs: []client.Object{withBackend}, target: v1alpha1.Target{ConfigurationName: "network"},
			reason: v1alpha1.ReasonInvalidSpec, message: "Configuration team/network: spec.backend is set"},
		"another tenant's Provider": {
			target: spec(`{"hcl": "` + vpc + `", "providerRef": {"namespace": "team-a", "name": "mycloud"}}`),
			reason: v1alpha1.ReasonInvalidSpec, message: "spec.target.spec.providerRef names Provider team-a/mycloud: a target may use a Provider of its own namespace or a shared one (namespaces default), not another tenant's"},
		"a shared Provider passes the check (and is then looked up)": {
			target: spec(`{"hcl": "` + vpc + `", "providerRef": {"namespace": "default", "name": "mycloud"}}`),
			reason: v1alpha1.ReasonProviderNotFound, message: "refers to Provider default/mycloud, which does not exist"},
		"another state through the module": {
			target: spec(`{"hcl": "\ndata \"terraform_remote_state\" \"victim\" {\n  backend = \"kubernetes\"\n}"}`),
			reason: v1alpha1.ReasonInvalidConfiguration, message: `spec.target.spec.hcl is refused: line 2: data "terraform_remote_state" "victim": reading another Terraform state is not allowed`},
		"a provider not on the list": {
			resolver: Resolver{Tenancy: Tenancy{AllowedProviders: []string{"aws"}}},
			target:   spec(`{"hcl": "` + vpc + `"}`),
			reason:   v1alpha1.ReasonInvalidConfiguration, message: `provider "mycloud" is not allowed here (allowed: terraform, aws)`},
		"HCL that does not parse names the line": {
			target: spec(`{"hcl": "resource \"mycloud_vpc\" \"v\" {\n  name = \n}"}`),
			reason: v1alpha1.ReasonInvalidConfiguration, message: "spec.target.spec.hcl is refused: line 2: syntax: Invalid expression"},
		"a name that is not a Configuration name": {
			target: v1alpha1.Target{ConfigurationName: "../vela-system/network"},
			reason: v1alpha1.ReasonInvalidSpec, message: `spec.target.configurationName "../vela-system/network" in namespace team is not a Configuration name`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := tc.resolver
			r.Client = cluster(t, tc.objs...)
			_, err := r.Resolve(context.Background(), "team", tc.target, nil)
			var te *Error
			if !errors.As(err, &te) || te.Reason != tc.reason || !strings.Contains(te.Message, tc.message) {
				t.Errorf("err %v, want reason %s and a message containing %q", err, tc.reason, tc.message)
			}
		})
	}
}

// TestSharedStateIsRefused: in a shared backend namespace, terraform-
// controller keys state by the Configuration's name alone, so a
// Configuration (or a step's target) named like another namespace's has
// that namespace's state: refused, naming both. Each namespace's own
// backend, or --controller-namespace (state keyed by UID), has no such
// collision.
func TestSharedStateIsRefused(t *testing.T) {
	other := configuration(`{}`)
	other.Namespace = "team-b"
	for name, tc := range map[string]struct {
		backendNS, controllerNS string
		wantShared              bool
	}{
		"a shared backend namespace":         {backendNS: "vela-system", wantShared: true},
		"each Configuration's own namespace": {},
		"state keyed by UID":                 {backendNS: "vela-system", controllerNS: "tf-jobs"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("TERRAFORM_BACKEND_NAMESPACE", tc.backendNS)
			r := Resolver{Client: cluster(t, configuration(`{}`), other), ControllerNamespace: tc.controllerNS}
			res, err := r.Resolve(context.Background(), "team", v1alpha1.Target{ConfigurationName: "network"}, nil)
			if err == nil {
				err = r.OwnState(context.Background(), res)
			}
			var te *Error
			shared := errors.As(err, &te) && te.Reason == v1alpha1.ReasonStateShared
			if shared != tc.wantShared {
				t.Fatalf("err %v, want a StateShared refusal: %v", err, tc.wantShared)
			}
			if shared && !strings.Contains(te.Message, "Configuration team/network has the same Terraform state as Configuration team-b/network (Secret vela-system/tfstate-default-network)") {
				t.Errorf("message: %s", te.Message)
			}
		})
	}
}

// TestTheEndpointIsNotRedacted: the Provider's keys are redacted from
// output, its endpoint is not (a message naming the host it could not reach
// is the useful one).
func TestTheEndpointIsNotRedacted(t *testing.T) {
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "creds"}, Data: map[string][]byte{
		"credentials": []byte("MYCLOUD_ENDPOINT: http://127.0.0.1:1\nMYCLOUD_ACCESS_KEY: AKFAKE\nMYCLOUD_SECRET_KEY: the-secret-key\n"),
	}}
	c := cluster(t, configuration(`{}`))
	if err := c.Update(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	r := Resolver{Client: c}
	res, err := r.Resolve(context.Background(), "team", v1alpha1.Target{ConfigurationName: "network"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"AKFAKE", "the-secret-key"}, res.Target.Secrets); diff != "" {
		t.Errorf("redacted values (-want +got):\n%s", diff)
	}
}

// TestCredentialsNameAMissingSetting: a Provider whose credentials lack a
// setting the mycloud modules leave to the environment is refused naming
// the setting and the Secret, before Terraform runs (whose own error,
// "requires explicit configuration", names neither).
func TestCredentialsNameAMissingSetting(t *testing.T) {
	provider := &tfv1beta1.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "noendpoint"}, Spec: tfv1beta1.ProviderSpec{
		Provider: "custom", Credentials: tfv1beta1.ProviderCredentials{Source: crossplane.CredentialsSourceSecret,
			SecretRef: &crossplane.SecretKeySelector{SecretReference: crossplane.SecretReference{Namespace: "team", Name: "noendpoint-creds"}, Key: "credentials"}},
	}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "noendpoint-creds"}, Data: map[string][]byte{
		"credentials": []byte("MYCLOUD_ENDPOINT: \"\"\nMYCLOUD_ACCESS_KEY: AKFAKE\nMYCLOUD_SECRET_KEY: the-secret-key\n"),
	}}
	spec := func(hcl string) v1alpha1.Target {
		raw, err := json.Marshal(map[string]any{"hcl": hcl, "providerRef": map[string]any{"namespace": "team", "name": "noendpoint"}})
		if err != nil {
			t.Fatal(err)
		}
		return v1alpha1.Target{ConfigurationName: "network", Spec: &runtime.RawExtension{Raw: raw}}
	}
	r := Resolver{Client: cluster(t, provider, secret)}
	_, err := r.Resolve(context.Background(), "team", spec(`resource "mycloud_vpc" "this" {}`), nil)
	var te *Error
	const want = "credentials of Provider team/noendpoint have no MYCLOUD_ENDPOINT: add MYCLOUD_ENDPOINT to its credentials Secret team/noendpoint-creds (key credentials)"
	if !errors.As(err, &te) || te.Reason != v1alpha1.ReasonCredentialsInvalid || te.Message != want {
		t.Errorf("err %v, want CredentialsInvalid: %s", err, want)
	}
}

// TestVariablesFromSecretWithInlineVariables: inline variables next to
// variablesFrom: Secret are refused naming both fields, not waited on.
func TestVariablesFromSecretWithInlineVariables(t *testing.T) {
	target := func(spec string) v1alpha1.Target {
		return v1alpha1.Target{ConfigurationName: "network", VariablesFrom: v1alpha1.VariablesFromSecret, Spec: &runtime.RawExtension{Raw: []byte(spec)}}
	}
	for name, tc := range map[string]struct {
		target v1alpha1.Target
		want   string // "": accepted
	}{
		"inline variables":            {target: target(`{"hcl": "x", "variable": {"name": "a"}}`), want: "spec.target.spec.variable must be empty when spec.target.variablesFrom is Secret"},
		"no spec":                     {target: v1alpha1.Target{ConfigurationName: "network", VariablesFrom: v1alpha1.VariablesFromSecret}, want: "spec.target.variablesFrom is Secret, which needs spec.target.spec"},
		"empty variable":              {target: target(`{"hcl": "x", "variable": {}}`)},
		"no variable":                 {target: target(`{"hcl": "x"}`)},
		"variables not from a Secret": {target: v1alpha1.Target{ConfigurationName: "network", Spec: &runtime.RawExtension{Raw: []byte(`{"variable": {"name": "a"}}`)}}},
	} {
		t.Run(name, func(t *testing.T) {
			err := CheckVariablesFrom(tc.target)
			var te *Error
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &te) || te.Reason != v1alpha1.ReasonInvalidSpec || !strings.Contains(te.Message, tc.want)):
				t.Errorf("err %v, want InvalidSpec with %q", err, tc.want)
			}
		})
	}
}
