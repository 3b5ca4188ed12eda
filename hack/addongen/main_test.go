package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// The tests run from hack/addongen; the chart and bin/ are two levels up.
const root = "../.."

func helmPath(t *testing.T) string {
	t.Helper()
	p := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("helm not found at %s: run make tools", p)
	}
	return p
}

// generatedRules reads charts/vela-infra/rbac/role.yaml, controller-gen's
// rules from the markers of internal/controller/rbac.go, by scope: "" (the
// ClusterRole) and the placeholder namespaces of the Roles.
func generatedRules(t *testing.T) map[string][]rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, chartDir, "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string][]rbacv1.PolicyRule{}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var role rbacv1.Role // a ClusterRole decodes the same
		if err := dec.Decode(&role); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if role.Kind == "" {
			continue
		}
		rules[role.Namespace] = role.Rules
	}
	for _, scope := range []string{"", "served", "state", "release", "webhook"} {
		if len(rules[scope]) == 0 {
			t.Fatalf("role.yaml has no rules for the scope %q (see internal/controller/rbac.go)", scope)
		}
	}
	return rules
}

// TestChartRBACIsGenerated renders the chart with the values that change
// its RBAC and holds every Role and ClusterRole to the rules controller-gen
// generated for its scope: the chart grants what the markers say, no more,
// no less, in the places the chart's values choose.
func TestChartRBACIsGenerated(t *testing.T) {
	helm := helmPath(t)
	want := generatedRules(t)
	const (
		name    = "vela-infra-step-runner"
		leader  = name + "-leader-election"
		webhook = name + "-webhook"
	)
	type object struct{ Kind, Namespace, Name string }
	cases := map[string]struct {
		args []string
		// scopes: the rendered Roles and ClusterRoles, by the scope whose
		// rules they must hold.
		scopes map[object]string
	}{
		"the default": {
			scopes: map[object]string{
				{"ClusterRole", "", name}:                "",
				{"Role", "default", name}:                "served",
				{"Role", "vela-system", name + "-state"}: "state",
				{"Role", "vela-system", webhook}:         "webhook",
				{"Role", "vela-system", leader}:          "release",
			},
		},
		"every namespace, chosen explicitly": {
			args: []string{"--set-json", "namespaces=[]"},
			scopes: map[object]string{
				{"ClusterRole", "", name}:                 "",
				{"ClusterRole", "", name + "-namespaced"}: "served",
				{"Role", "vela-system", name + "-state"}:  "state",
				{"Role", "vela-system", webhook}:          "webhook",
				{"Role", "vela-system", leader}:           "release",
			},
		},
		"listed namespaces, credentials elsewhere": {
			args: []string{"--set", "namespaces={shop,infra}", "--set", "credentialNamespaces={creds}"},
			scopes: map[object]string{
				{"ClusterRole", "", name}:                "",
				{"Role", "shop", name}:                   "served",
				{"Role", "infra", name}:                  "served",
				{"Role", "creds", name + "-state"}:       "state",
				{"Role", "vela-system", name + "-state"}: "state",
				{"Role", "vela-system", webhook}:         "webhook",
				{"Role", "vela-system", leader}:          "release",
			},
		},
		"listed namespaces, state in each Configuration's": {
			// Without the webhooks: they need a backend namespace for the
			// saved plans that hold the approval records.
			args: []string{"--set", "namespaces={shop}", "--set", "terraformBackendNamespace=", "--set", "webhook.enabled=false"},
			scopes: map[object]string{
				{"ClusterRole", "", name}:                "",
				{"Role", "shop", name}:                   "served",
				{"Role", "shop", name + "-state"}:        "state",
				{"Role", "vela-system", name + "-state"}: "state",
				{"Role", "vela-system", leader}:          "release",
			},
		},
		"no webhooks": {
			args: []string{"--set", "webhook.enabled=false"},
			scopes: map[object]string{
				{"ClusterRole", "", name}:                "",
				{"Role", "default", name}:                "served",
				{"Role", "vela-system", name + "-state"}: "state",
				{"Role", "vela-system", leader}:          "release",
			},
		},
		"no leader election": {
			args: []string{"--set", "leaderElection=false"},
			scopes: map[object]string{
				{"ClusterRole", "", name}:                "",
				{"Role", "default", name}:                "served",
				{"Role", "vela-system", name + "-state"}: "state",
				{"Role", "vela-system", webhook}:         "webhook",
			},
		},
	}
	for caseName, tc := range cases {
		t.Run(caseName, func(t *testing.T) {
			objs, err := renderChart(helm, filepath.Join(root, chartDir), append([]string{"--namespace", "vela-system"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[object]bool{}
			for _, obj := range objs {
				if obj["kind"] != "Role" && obj["kind"] != "ClusterRole" {
					continue
				}
				raw, err := sigsyaml.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				var role rbacv1.Role
				if err := sigsyaml.UnmarshalStrict(raw, &role); err != nil {
					t.Fatalf("rendered %s is not RBAC: %v", obj["kind"], err)
				}
				o := object{role.Kind, role.Namespace, role.Name}
				seen[o] = true
				scope, ok := tc.scopes[o]
				if !ok {
					t.Errorf("the chart renders %v, which the test does not expect", o)
					continue
				}
				if diff := cmp.Diff(want[scope], role.Rules); diff != "" {
					t.Errorf("%v: rules differ from role.yaml's %q rules (-generated +rendered):\n%s", o, scope, diff)
				}
			}
			for o := range tc.scopes {
				if !seen[o] {
					t.Errorf("the chart does not render %v", o)
				}
			}
		})
	}
}

// TestDefaultInstallGrantsNoClusterWideSecrets: the chart with its default
// values gives the step-runner no cluster-wide rule on Secrets or
// ConfigMaps: it reads and writes them only in the namespaces it serves and
// where state and shared credentials live. (e2e/addons_test.go checks the
// addon's default render the same way, and that it is the chart's.)
func TestDefaultInstallGrantsNoClusterWideSecrets(t *testing.T) {
	objs, err := renderChart(helmPath(t), filepath.Join(root, chartDir), "--namespace", "vela-system")
	if err != nil {
		t.Fatal(err)
	}
	clusterRoles := 0
	for _, obj := range objs {
		if obj["kind"] != "ClusterRole" {
			continue
		}
		clusterRoles++
		raw, err := sigsyaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		var role rbacv1.ClusterRole
		if err := sigsyaml.Unmarshal(raw, &role); err != nil {
			t.Fatal(err)
		}
		for _, rule := range role.Rules {
			if !grantsCore(rule) {
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
		t.Error("the chart's default render has no ClusterRole at all: the test reads the wrong objects")
	}
}

// TestChartCUEHoldsTheGeneratedRules: the _rules of the CUE addongen writes
// for the addon are role.yaml's, scope by scope, once CUE reads them.
func TestChartCUEHoldsTheGeneratedRules(t *testing.T) {
	rules, err := readRules(filepath.Join(root, chartDir, "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := chartCUE(rules, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	// Regular fields that show the hidden ones.
	v := cuecontext.New().CompileString(string(src) + "\nrules: _rules\nappVersion: _appVersion\n")
	if v.Err() != nil {
		t.Fatalf("chart.cue does not compile: %v\n%s", v.Err(), src)
	}
	var got map[string][]rbacv1.PolicyRule
	if err := v.LookupPath(cue.ParsePath("rules")).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := generatedRules(t)
	for ns, scope := range scopes {
		if diff := cmp.Diff(want[ns], got[scope]); diff != "" {
			t.Errorf("_rules.%s differs from role.yaml's %q rules (-role.yaml +chart.cue):\n%s", scope, ns, diff)
		}
	}
	if len(got) != len(scopes) {
		t.Errorf("_rules has the scopes %v, want %d", got, len(scopes))
	}
	var version string
	if err := v.LookupPath(cue.ParsePath("appVersion")).Decode(&version); err != nil || version != "1.2.3" {
		t.Errorf("_appVersion: %q, %v; want 1.2.3", version, err)
	}
}

// TestChartShardIDs: shard ids YAML would read as a number or a boolean
// still label the pods with strings (the API server refuses anything
// else), and an id that would cut the pods' generated names short of
// their ReplicaSet hash and suffix is refused, naming the field.
func TestChartShardIDs(t *testing.T) {
	helm := helmPath(t)
	chart := filepath.Join(root, chartDir)
	objs, err := renderChart(helm, chart, "--namespace", "vela-system", "--set", "sharding.enabled=true", "--set-json", `sharding.shards=["7","on"]`)
	if err != nil {
		t.Fatal(err)
	}
	shards := map[string]string{}
	for _, obj := range objs {
		if obj["kind"] != "Deployment" {
			continue
		}
		raw, err := sigsyaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Metadata struct{ Name string }
			Spec     struct {
				Template struct {
					Metadata struct{ Labels map[string]string }
				}
			}
		}
		if err := sigsyaml.Unmarshal(raw, &d); err != nil {
			t.Fatalf("Deployment %v: its pod labels are not all strings: %v", obj["metadata"], err)
		}
		shards[d.Metadata.Name] = d.Spec.Template.Metadata.Labels["controller.core.oam.dev/shard-id"]
	}
	want := map[string]string{"vela-infra-step-runner": "master", "vela-infra-step-runner-7": "7", "vela-infra-step-runner-on": "on"}
	if diff := cmp.Diff(want, shards); diff != "" {
		t.Errorf("shard-id label by Deployment (-want +got):\n%s", diff)
	}

	longest := strings.Repeat("a", 23) // vela-infra-step-runner-<23>: 46 characters
	if _, err := renderChart(helm, chart, "--set", "sharding.enabled=true", "--set-json", `sharding.shards=["`+longest+`"]`); err != nil {
		t.Errorf("a 23-character id: %v", err)
	}
	_, err = renderChart(helm, chart, "--set", "sharding.enabled=true", "--set-json", `sharding.shards=["`+longest+`b"]`)
	if wantErr := "sharding.shards: the id '" + longest + "b' is too long"; err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("a 24-character id: error %v, want %q", err, wantErr)
	}
}

// renderChart runs `helm template` on the chart with args and returns the
// objects, in helm's order.
func renderChart(helm, chart string, args ...string) ([]map[string]any, error) {
	cmd := exec.Command(helm, append([]string{"template", "vela-infra", chart}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var objs []map[string]any
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode helm output: %w", err)
		}
		if len(obj) > 0 {
			objs = append(objs, obj)
		}
	}
}

func grantsCore(rule rbacv1.PolicyRule) bool {
	for _, g := range rule.APIGroups {
		if g == "" || g == "*" {
			return true
		}
	}
	return false
}
