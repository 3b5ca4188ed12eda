package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"

	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// TestAddonsEnableAndDisableOffline enables both addons from their local
// directories with the real vela CLI on a fresh API server running the real
// vela-core (no network), and disables the step-runner's addon again.
func TestAddonsEnableAndDisableOffline(t *testing.T) {
	setup(t)
	env2, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env2.Stop() }()
	s, err := testenv.StartStack(env2, root, testenv.StackOptions{
		VelaCore: bin(t, "vela-core"), Vela: bin(t, "vela"), StepRunner: stepRunnerBin, Terraform: bin(t, "terraform"), Bare: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	vela := func(args ...string) string {
		t.Helper()
		out, err := s.Vela(bin(t, "vela"), args...)
		if err != nil {
			t.Fatalf("vela %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if err := s.EnableAddons(root, bin(t, "vela"), "http://10.0.0.5:8480", "AKEXAMPLE", "sentinel-Secret-9"); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env2.Config, client.Options{Scheme: env2.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"terraform-mycloud", "vela-infra"} {
		if out := vela("addon", "status", name); !strings.Contains(out, "enabled") {
			t.Errorf("vela addon status %s:\n%s", name, out)
		}
	}
	defs := vela("def", "list")
	for _, d := range []string{"mycloud-vpc", "mycloud-mysql", "infra-import", "infra-drift", "infra-plan", "infra-approve"} {
		if !strings.Contains(defs, d) {
			t.Errorf("definition %s not registered:\n%s", d, defs)
		}
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; vela-core log:\n%s", what, s.LogTail("vela-core", 2000))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	eventually("the mycloud Provider", func() bool {
		return c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "mycloud"}, &tfv1beta1.Provider{}) == nil
	})
	deployment := types.NamespacedName{Namespace: "vela-system", Name: "vela-infra-step-runner"}
	eventually("the step-runner Deployment", func() bool { return c.Get(ctx, deployment, &appsv1.Deployment{}) == nil })
	eventually("the InfraApproval CRD", func() bool {
		return c.Get(ctx, types.NamespacedName{Name: "infraapprovals.infra.vela-infra.io"}, &apiextensionsv1.CustomResourceDefinition{}) == nil
	})

	vela("addon", "disable", "vela-infra")
	eventually("the step-runner Deployment to go", func() bool {
		return apierrors.IsNotFound(c.Get(ctx, deployment, &appsv1.Deployment{}))
	})
}
