package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"

	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// TestAddonsEnableAndDisableOffline enables the three addons from their
// local directories with the real vela CLI on a fresh API server running the
// real vela-core (no network): terraform first, since terraform-mycloud
// declares it as a dependency and KubeVela never installs the dependencies of
// a local addon. Then it disables them again.
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
	vela := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := s.Vela(bin(t, "vela"), args...)
		if err != nil {
			t.Fatalf("vela %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	t.Run("the terraform addon renders terraform-controller's chart", func(t *testing.T) {
		testTerraformAddonRendersTheChart(t, s)
	})
	t.Run("the vela-infra addon renders the vela-infra chart", func(t *testing.T) {
		testVelaInfraAddonRendersTheChart(t, s)
	})

	// The API server already has terraform-controller's CRDs (testenv
	// installs them): the addon adopts them, as it would after helm.
	kubevela, err := testenv.ModuleDir("github.com/oam-dev/kubevela")
	if err != nil {
		t.Fatal(err)
	}
	vela(t, "def", "apply", filepath.Join(kubevela, "vela-templates", "definitions", "internal", "component", "k8s-objects.cue"))
	vela(t, "addon", "enable", filepath.Join(root, "addons", "terraform"))
	if err := s.EnableAddons(root, bin(t, "vela"), "http://10.0.0.5:8480", "AKEXAMPLE", "sentinel-Secret-9"); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env2.Config, client.Options{Scheme: env2.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"terraform", "terraform-mycloud", "vela-infra"} {
		if out := vela(t, "addon", "status", name); !strings.Contains(out, "enabled") {
			t.Errorf("vela addon status %s:\n%s", name, out)
		}
	}
	defs := vela(t, "def", "list")
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
	exists := func(key types.NamespacedName, obj client.Object) func() bool {
		return func() bool { return c.Get(ctx, key, obj) == nil }
	}
	gone := func(key types.NamespacedName, obj client.Object) func() bool {
		return func() bool { return apierrors.IsNotFound(c.Get(ctx, key, obj)) }
	}
	controller := types.NamespacedName{Namespace: "vela-system", Name: "terraform-controller"}
	eventually("the terraform-controller Deployment", exists(controller, &appsv1.Deployment{}))
	eventually("the mycloud Provider", exists(types.NamespacedName{Namespace: "default", Name: "mycloud"}, &tfv1beta1.Provider{}))
	stepRunner := types.NamespacedName{Namespace: "vela-system", Name: "vela-infra-step-runner"}
	eventually("the step-runner Deployment", exists(stepRunner, &appsv1.Deployment{}))
	eventually("the InfraApproval CRD", exists(types.NamespacedName{Name: "infraapprovals.infra.vela-infra.io"}, &apiextensionsv1.CustomResourceDefinition{}))

	vela(t, "addon", "disable", "vela-infra")
	eventually("the step-runner Deployment to go", gone(stepRunner, &appsv1.Deployment{}))

	// Disabling terraform removes the controller and, as helm uninstall
	// would, keeps the CRDs: the Configurations stay.
	vela(t, "addon", "disable", "terraform-mycloud")
	vela(t, "addon", "disable", "terraform")
	eventually("the terraform-controller Deployment to go", gone(controller, &appsv1.Deployment{}))
	for _, crd := range []string{"configurations.terraform.core.oam.dev", "providers.terraform.core.oam.dev"} {
		if err := c.Get(ctx, types.NamespacedName{Name: crd}, &apiextensionsv1.CustomResourceDefinition{}); err != nil {
			t.Errorf("vela addon disable terraform removed the CRD %s: %v", crd, err)
		}
	}
}

// testTerraformAddonRendersTheChart: `vela addon enable ./addons/terraform
// --dry-run` renders the objects `helm template` renders from
// terraform-controller's chart (chart/ in its Go module) with the same
// settings: once with the addon's defaults (the images make images built),
// once with every parameter set.
func testTerraformAddonRendersTheChart(t *testing.T, s *testenv.Stack) {
	tfc, err := testenv.ModuleDir("github.com/oam-dev/terraform-controller")
	if err != nil {
		t.Fatal(err)
	}
	// The images make images built, as it tagged them.
	built := func(t *testing.T, tool string) string {
		b, err := os.ReadFile(filepath.Join(root, "bin", "."+tool+".version"))
		if err != nil {
			t.Fatalf("%s is not built (make images): %v", tool, err)
		}
		return strings.TrimSpace(string(b))
	}
	for _, tc := range []struct {
		name       string
		params     []string
		helmValues func(t *testing.T) []string
	}{{
		name: "defaults",
		helmValues: func(t *testing.T) []string {
			return []string{
				"image.repository=vela-infra/terraform-controller", "image.tag=" + built(t, "terraform-controller"), "image.pullPolicy=IfNotPresent",
				"terraformImage=vela-infra/terraform:" + strings.TrimPrefix(built(t, "terraform"), "v"),
				"busyboxImage=vela-infra/busybox:1.35", "gitImage=vela-infra/busybox:1.35", "backend.namespace=vela-system",
			}
		},
	}, {
		name: "every parameter",
		params: []string{
			"imageRepository=registry.example/tfc", "imageTag=t1", "imagePullPolicy=Always",
			"terraformImage=registry.example/tf:1", "busyboxImage=registry.example/bb:1", "gitImage=registry.example/git:1",
			"backendNamespace=tfstate", "controllerNamespace=tfjobs", "githubBlocked=true",
			"allowDeleteProvisioningResource=false", "replicas=2", "jobResources.limits.cpu=750m", "jobResources.requests.memory=100Mi",
		},
		helmValues: func(*testing.T) []string {
			return []string{
				"image.repository=registry.example/tfc", "image.tag=t1", "image.pullPolicy=Always",
				"terraformImage=registry.example/tf:1", "busyboxImage=registry.example/bb:1", "gitImage=registry.example/git:1",
				"backend.namespace=tfstate", "controllerNamespace=tfjobs", "githubBlocked='true'",
				"featureGates.AllowDeleteProvisioningResource=false", "replicaCount=2", "resources.limits.cpu=750m", "resources.requests.memory=100Mi",
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := addonDryRun(t, s, "terraform", tc.params...)
			if err != nil {
				t.Fatal(err)
			}
			addon := addonObjects(t, out)

			args := []string{"terraform-controller", filepath.Join(tfc, "chart")}
			for _, v := range tc.helmValues(t) {
				args = append(args, "--set", v)
			}
			out, err = helmTemplate(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			chart := chartObjects(t, out)
			for _, obj := range chart {
				// The only label that differs: the addon's objects are not
				// managed by helm.
				if tmpl, ok := nested(obj, "spec", "template", "metadata", "labels"); ok {
					delete(tmpl, "app.kubernetes.io/managed-by")
				}
			}
			for _, objs := range []map[string]map[string]any{chart, addon} {
				verbSets(objs["ClusterRole/tf-controller-clusterrole"])
			}
			if diff := cmp.Diff(chart, addon); diff != "" {
				t.Errorf("the addon's objects (+) differ from the chart's (-):\n%s", diff)
			}
		})
	}
}

// testVelaInfraAddonRendersTheChart: `vela addon enable ./addons/vela-infra
// --dry-run` renders the objects, CRDs included, that `helm template
// charts/vela-infra` renders with the same values: the parameters are the
// chart's values, by the same names. With the defaults (and then no
// ClusterRole grants anything on Secrets or ConfigMaps), with every
// parameter set, with every namespace served (namespaces={}, the chart's
// empty list), with controller sharding (the master and two shards' own
// Deployments), and, refused by both, with every namespace served and the
// state in each Configuration's namespace, with master listed as a shard
// and with a shard id too long.
func testVelaInfraAddonRendersTheChart(t *testing.T, s *testenv.Stack) {
	every := []string{
		"namespaces={shop,infra,shop}", "credentialNamespaces={creds}", "terraformBackendNamespace=", "webhook.enabled=false", "leaderElection=false",
		"image.repository=registry.example/step-runner", "image.tag=t1", "image.pullPolicy=Always", "replicas=2", "logLevel=debug",
		"allowedProviders={mycloud,aws}", "providerNamespaces={default,shared}", "terraformControllerNamespace=tfjobs",
		"terraform.bin=/opt/terraform", "terraform.cliConfig=/opt/terraformrc", "terraform.lockTimeout=2m", "terraform.gracePeriod=45s",
		"terraform.maxConcurrent=8", "terraform.providerTLS=true", "terraform.workspaceSize=5Gi", "metrics.port=9090",
		"resources.limits.cpu=2", "resources.limits.memory=1Gi", "resources.requests.cpu=250m", "resources.requests.memory=128Mi",
	}
	var everyValue []string
	for _, p := range every {
		everyValue = append(everyValue, "--set", p)
	}
	for _, tc := range []struct {
		name   string
		params []string
		// helm: the values of `helm template`, the same settings.
		helm []string
		// refused: what both say when they refuse the settings.
		refused string
		// noClusterWideSecrets: no ClusterRole rule on Secrets or
		// ConfigMaps (the default install).
		noClusterWideSecrets bool
	}{{
		name:                 "defaults",
		noClusterWideSecrets: true,
	}, {
		name:   "every parameter",
		params: every,
		helm:   everyValue,
	}, {
		name:   "every namespace",
		params: []string{"namespaces={}"},
		helm:   []string{"--set-json", "namespaces=[]"},
	}, {
		name:    "every namespace, state in each Configuration's",
		params:  []string{"namespaces={}", "terraformBackendNamespace=", "webhook.enabled=false"},
		helm:    []string{"--set-json", "namespaces=[]", "--set", "terraformBackendNamespace=", "--set", "webhook.enabled=false"},
		refused: "terraformBackendNamespace is empty (state in each Configuration's namespace) and namespaces is empty: list the served namespaces, which then hold the state",
	}, {
		name:    "webhooks, saved plans in each tenant's namespace",
		params:  []string{"terraformBackendNamespace="},
		helm:    []string{"--set", "terraformBackendNamespace="},
		refused: "webhook.enabled needs terraformBackendNamespace: who approved a plan is recorded in its saved plan's Secret",
	}, {
		name:   "sharding, two shards",
		params: []string{"sharding.enabled=true", "sharding.shards={shard-1,shard-2}"},
		helm:   []string{"--set", "sharding.enabled=true", "--set-json", `sharding.shards=["shard-1","shard-2"]`},
	}, {
		name:    "sharding, master listed as a shard",
		params:  []string{"sharding.enabled=true", "sharding.shards={shard-1,master}"},
		helm:    []string{"--set", "sharding.enabled=true", "--set-json", `sharding.shards=["shard-1","master"]`},
		refused: "sharding.shards: 'master' is the shard of the Deployment vela-infra-step-runner",
	}, {
		name:    "sharding, an id too long for its pods' names",
		params:  []string{"sharding.enabled=true", "sharding.shards={shard-1,shard-abcdefghijklmnopqr}"},
		helm:    []string{"--set", "sharding.enabled=true", "--set-json", `sharding.shards=["shard-1","shard-abcdefghijklmnopqr"]`},
		refused: "sharding.shards: the id 'shard-abcdefghijklmnopqr' is too long: its Deployment vela-infra-step-runner-shard-abcdefghijklmnopqr must be at most 46 characters",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			addonOut, addonErr := addonDryRun(t, s, "vela-infra", tc.params...)
			chartOut, chartErr := helmTemplate(t, append([]string{"vela-infra", filepath.Join(root, "charts", "vela-infra")}, tc.helm...)...)
			if tc.refused != "" {
				for what, err := range map[string]error{"vela addon enable": addonErr, "helm template": chartErr} {
					if err == nil || !strings.Contains(err.Error(), tc.refused) {
						t.Errorf("%s: error %v, want %q", what, err, tc.refused)
					}
				}
				return
			}
			for _, err := range []error{addonErr, chartErr} {
				if err != nil {
					t.Fatal(err)
				}
			}
			addon, chart := addonObjects(t, addonOut), chartObjects(t, chartOut)
			for _, obj := range chart {
				// The only label that differs: the addon's objects are not
				// managed by helm.
				if labels, ok := nested(obj, "metadata", "labels"); ok {
					delete(labels, "app.kubernetes.io/managed-by")
				}
			}
			if diff := cmp.Diff(chart, addon); diff != "" {
				t.Errorf("the addon's objects (+) differ from the chart's (-):\n%s", diff)
			}
			if tc.noClusterWideSecrets {
				noClusterWideSecrets(t, addon)
			}
		})
	}
}

// noClusterWideSecrets fails the test when a ClusterRole of objs grants
// anything on Secrets or ConfigMaps (or every resource) of the core group:
// the step-runner reads and writes them only in the namespaces it serves
// and where state and shared credentials live. (hack/addongen's
// TestDefaultInstallGrantsNoClusterWideSecrets checks the chart.)
func noClusterWideSecrets(t *testing.T, objs map[string]map[string]any) {
	t.Helper()
	clusterRoles := 0
	for _, obj := range objs {
		if obj["kind"] != "ClusterRole" {
			continue
		}
		clusterRoles++
		raw, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		var role rbacv1.ClusterRole
		if err := yaml.Unmarshal(raw, &role); err != nil {
			t.Fatal(err)
		}
		for _, rule := range role.Rules {
			if !slices.Contains(rule.APIGroups, "") && !slices.Contains(rule.APIGroups, "*") {
				continue
			}
			for _, res := range rule.Resources {
				if res == "secrets" || res == "configmaps" || res == "*" {
					t.Errorf("ClusterRole %s grants %v on %s in every namespace", role.Name, rule.Verbs, res)
				}
			}
		}
	}
	if clusterRoles == 0 {
		t.Error("the addon renders no ClusterRole at all: the test reads the wrong objects")
	}
}

// addonDryRun runs `vela addon enable ./addons/<addon> --dry-run <params>`
// and returns what it prints; an error holds its output.
func addonDryRun(t *testing.T, s *testenv.Stack, addon string, params ...string) (string, error) {
	t.Helper()
	dry := exec.Command(bin(t, "vela"), append([]string{"addon", "enable", filepath.Join(root, "addons", addon), "--dry-run"}, params...)...)
	dry.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig, "HOME="+t.TempDir())
	out, err := dry.Output()
	if err != nil {
		return "", fmt.Errorf("vela addon enable ./addons/%s --dry-run %s: %v\n%s%s", addon, strings.Join(params, " "), err, out, stderr(err))
	}
	return string(out), nil
}

// helmTemplate runs `helm template <args> --namespace vela-system
// --include-crds` and returns what it prints; an error holds its output.
func helmTemplate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	helm := exec.Command(bin(t, "helm"), append(append([]string{"template"}, args...), "--namespace", "vela-system", "--include-crds")...)
	helm.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := helm.Output()
	if err != nil {
		return "", fmt.Errorf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr(err))
	}
	return string(out), nil
}

// chartObjects are the objects of `helm template` output, by key.
func chartObjects(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	objs := map[string]map[string]any{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("helm template output: %v\n%s", err, doc)
		}
		if obj == nil {
			continue
		}
		objs[key(obj)] = obj
	}
	return objs
}

// addonObjects are the objects of the k8s-objects components of the addon
// Application a `vela addon enable --dry-run` prints, by key.
func addonObjects(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	objs := map[string]map[string]any{}
	for _, doc := range strings.Split(out, "\n---\n") {
		// The first document follows a line of progress.
		if i := strings.Index(doc, "apiVersion:"); i > 0 {
			doc = doc[i:]
		}
		var app struct {
			Kind string
			Spec struct {
				Components []struct {
					Type       string
					Properties struct{ Objects []map[string]any }
				}
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &app); err != nil || app.Kind != "Application" {
			continue
		}
		for _, c := range app.Spec.Components {
			if c.Type != "k8s-objects" {
				t.Errorf("component of type %s, want k8s-objects only", c.Type)
			}
			for _, o := range c.Properties.Objects {
				objs[key(o)] = o
			}
		}
	}
	if len(objs) == 0 {
		t.Fatalf("no addon Application in the output:\n%s", out)
	}
	return objs
}

// verbSets sorts the verbs of a ClusterRole's rules and drops duplicates
// (the chart's lists repeat some): RBAC reads them as sets.
func verbSets(role map[string]any) {
	rules, _ := role["rules"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		verbs, _ := rule["verbs"].([]any)
		set := map[string]bool{}
		for _, v := range verbs {
			set[v.(string)] = true
		}
		sorted := make([]any, 0, len(set))
		for _, v := range slices.Sorted(maps.Keys(set)) {
			sorted = append(sorted, v)
		}
		rule["verbs"] = sorted
	}
}

// key is an object's kind, namespace if it has one, and name:
// Role/shop/vela-infra-step-runner, ClusterRole/vela-infra-step-runner.
func key(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	kind, _ := obj["kind"].(string)
	if ns, _ := md["namespace"].(string); ns != "" {
		return kind + "/" + ns + "/" + name
	}
	return kind + "/" + name
}

func nested(obj map[string]any, path ...string) (map[string]any, bool) {
	for _, p := range path {
		next, ok := obj[p].(map[string]any)
		if !ok {
			return nil, false
		}
		obj = next
	}
	return obj, true
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
