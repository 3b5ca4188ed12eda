package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// peekHCL is the cross-tenant read reported against the step-runner: a
// module that reads another namespace's state through the kubernetes
// backend and prints it in a precondition's error message.
func peekHCL(victimNS string) string {
	return fmt.Sprintf(`terraform {
  required_providers {
    mycloud = { source = "vela-infra/mycloud" }
  }
}
data "terraform_remote_state" "victim" {
  backend = "kubernetes"
  config = {
    secret_suffix     = "network"
    namespace         = %q
    in_cluster_config = true
  }
}
resource "terraform_data" "peek" {
  lifecycle {
    precondition {
      condition     = false
      error_message = "LEAK ${jsonencode(data.terraform_remote_state.victim.outputs)}"
    }
  }
}
`, victimNS)
}

// TestATenantCannotReadAnotherTenantsState is the regression test of that
// report: tenant B's InfraDrift is refused before any Terraform command,
// with the block and line named, and nothing of tenant A's state reaches
// B's namespace. B cannot use A's Provider (A's credentials) either.
func TestATenantCannotReadAnotherTenantsState(t *testing.T) {
	t.Parallel()
	victim := newFixture(t)
	victim.adoptLegacyVPC() // A's state now holds vpc-legacy01
	attacker := newFixture(t)

	peek := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: attacker.ns, Name: "peek"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{
		ConfigurationName: "peek", Spec: raw(t, map[string]any{"hcl": peekHCL(victim.ns), "providerRef": map[string]string{"name": "mycloud", "namespace": attacker.ns}})}}}
	borrow := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: attacker.ns, Name: "borrow"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{
		ConfigurationName: "borrow", Spec: raw(t, map[string]any{"hcl": module(t, "vpc"), "providerRef": map[string]string{"name": "mycloud", "namespace": victim.ns}})}}}
	ownState := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: attacker.ns, Name: "backend"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{
		ConfigurationName: "network", Spec: raw(t, map[string]any{"hcl": module(t, "vpc"), "providerRef": map[string]string{"name": "mycloud", "namespace": attacker.ns},
			"backend": map[string]any{"backendType": "kubernetes", "kubernetes": map[string]any{"secret_suffix": "network", "namespace": victim.ns}}})}}}
	for _, tc := range []struct {
		obj    *v1alpha1.InfraDrift
		reason string
		want   string
	}{
		{peek, v1alpha1.ReasonInvalidConfiguration, `spec.target.spec.hcl is refused: line 6: data "terraform_remote_state" "victim": reading another Terraform state is not allowed`},
		{borrow, v1alpha1.ReasonInvalidSpec, "spec.target.spec.providerRef names Provider " + victim.ns + "/mycloud"},
		{ownState, v1alpha1.ReasonInvalidSpec, "spec.target.spec.backend is set"},
	} {
		attacker.create(tc.obj)
		got := await(attacker, tc.obj, tc.obj.Name+" refused", func(o *v1alpha1.InfraDrift) bool { return stalledWith(tc.reason)(o) })
		if msg := condition(&got.Status.RunStatus, v1alpha1.ConditionReady).Message; !strings.Contains(msg, tc.want) {
			t.Errorf("%s: message lacks %q: %s", tc.obj.Name, tc.want, msg)
		}
		if got.Status.OutputRef != nil {
			t.Errorf("%s: Terraform ran (output in %s)", tc.obj.Name, got.Status.OutputRef.ConfigMap)
		}
	}
	var cms corev1.ConfigMapList
	if err := attacker.c.List(context.Background(), &cms, client.InNamespace(attacker.ns)); err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		for _, v := range cm.Data {
			if strings.Contains(v, "vpc-legacy01") || strings.Contains(v, "LEAK") {
				t.Fatalf("ConfigMap %s/%s holds the other tenant's state: %s", cm.Namespace, cm.Name, tail(v, 300))
			}
		}
	}
	if n := attacker.cloud.CountRequests(http.MethodGet, "/v1/"); n != 0 {
		t.Fatalf("refused targets reached the cloud: %d requests", n)
	}
}
