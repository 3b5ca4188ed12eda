package testenv_test

import (
	"context"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/oam-dev/kubevela/apis/core.oam.dev/common"
	corev1beta1 "github.com/oam-dev/kubevela/apis/core.oam.dev/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// TestAPIServerRoundTrip proves the test ground: a real API server with the
// CRDs we build on stores a terraform-controller Configuration and returns it.
func TestAPIServerRoundTrip(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	want := &tfv1beta2.Configuration{
		ObjectMeta: metav1.ObjectMeta{Name: "vpc", Namespace: "default"},
		Spec: tfv1beta2.ConfigurationSpec{
			HCL: `resource "mycloud_vpc" "this" {}`,
		},
	}
	if err := c.Create(ctx, want); err != nil {
		t.Fatalf("create Configuration: %v", err)
	}
	got := &tfv1beta2.Configuration{}
	if err := c.Get(ctx, types.NamespacedName{Name: "vpc", Namespace: "default"}, got); err != nil {
		t.Fatalf("read Configuration back: %v", err)
	}
	if got.Spec.HCL != want.Spec.HCL || got.UID == "" {
		t.Fatalf("read back %q (uid %q), want %q", got.Spec.HCL, got.UID, want.Spec.HCL)
	}

	// A KubeVela Application round-trips through the same server.
	app := &corev1beta1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: "default"},
		Spec:       corev1beta1.ApplicationSpec{Components: []common.ApplicationComponent{}},
	}
	if err := c.Create(ctx, app); err != nil {
		t.Fatalf("create Application: %v", err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "infra", Namespace: "default"}, &corev1beta1.Application{}); err != nil {
		t.Fatalf("read Application back: %v", err)
	}

	// Every CRD the project relies on is served.
	for _, name := range []string{
		"applications.core.oam.dev", "workflowstepdefinitions.core.oam.dev", "componentdefinitions.core.oam.dev",
		"workflowruns.core.oam.dev", "configurations.terraform.core.oam.dev", "providers.terraform.core.oam.dev",
	} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
			t.Errorf("CRD %s: %v", name, err)
		}
	}
}

func TestAppFileFillsEveryPlaceholder(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	got, err := testenv.AppFile(root, "cache-consumer.yaml", map[string]string{"APP": "checkout", "NAMESPACE": "team-a", "REDIS_ID": "redis-1"})
	if err != nil || !strings.Contains(got, "name: checkout-cache") || !strings.Contains(got, "id: redis-1") || strings.Contains(got, "${") {
		t.Errorf("AppFile: %v\n%s", err, got)
	}
	if _, err := testenv.AppFile(root, "cache-consumer.yaml", map[string]string{"APP": "checkout"}); err == nil {
		t.Error("a missing placeholder value is not an error")
	}
}
