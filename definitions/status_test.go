package definitions_test

import (
	"encoding/json"
	"os"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
)

// statusTemplates reads attributes.status.{healthPolicy,customStatus} of a
// definition file.
func statusTemplates(t *testing.T, rel string) (health, custom string) {
	t.Helper()
	src, err := os.ReadFile(repoPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(rel, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var header *ast.Field
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.Field); ok {
			if name, _, _ := ast.LabelName(fd.Label); name != "template" {
				header = fd
			}
		}
	}
	str := func(path ...string) string {
		t.Helper()
		cur := header
		for _, p := range path {
			st, ok := cur.Value.(*ast.StructLit)
			if !ok {
				t.Fatalf("%s: %s is not a struct", rel, p)
			}
			if cur = field(st.Elts, p); cur == nil {
				t.Fatalf("%s: no %v in the definition's header", rel, path)
			}
		}
		lit, ok := cur.Value.(*ast.BasicLit)
		if !ok {
			t.Fatalf("%s: %v is not a string literal", rel, path)
		}
		s, err := literal.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return str("attributes", "status", "healthPolicy"), str("attributes", "status", "customStatus")
}

// evalStatus evaluates a status template the way KubeVela does
// (pkg/cue/definition/health: the template, then context and parameter as
// JSON, compiled together) with the live Configuration as context.output.
func evalStatus(t *testing.T, tmpl string, output map[string]any, path string) cue.Value {
	t.Helper()
	ctx, err := json.Marshal(map[string]any{"output": output, "name": "res", "namespace": "shop-ns"})
	if err != nil {
		t.Fatal(err)
	}
	v := cuecontext.New().CompileString(tmpl + "\ncontext: " + string(ctx) + "\nparameter: {}\n")
	if v.Err() != nil {
		t.Fatalf("the status template does not compile: %v", v.Err())
	}
	return v.LookupPath(cue.ParsePath(path))
}

func TestHealthAndStatusMessage(t *testing.T) {
	t.Parallel()
	live := func(generation int, status map[string]any) map[string]any {
		obj := map[string]any{
			"apiVersion": "terraform.core.oam.dev/v1beta2", "kind": "Configuration",
			"metadata": map[string]any{"name": "res", "namespace": "shop-ns", "generation": generation},
			"spec":     map[string]any{"hcl": "# module"},
		}
		if status != nil {
			obj["status"] = status
		}
		return obj
	}
	apply := func(observed int, state, message string) map[string]any {
		a := map[string]any{"state": state}
		if message != "" {
			a["message"] = message
		}
		s := map[string]any{"apply": a}
		if observed > 0 {
			s["observedGeneration"] = observed
		}
		return s
	}
	// retained is what the step-runner's retain reconciler writes.
	retained := func(obj map[string]any, why string) map[string]any {
		obj["metadata"].(map[string]any)["annotations"] = map[string]any{"infra.vela-infra.io/retained": why}
		return obj
	}
	// failing is what the step-runner's Job-log keeper writes.
	failing := func(obj map[string]any, why string) map[string]any {
		obj["metadata"].(map[string]any)["annotations"] = map[string]any{"infra.vela-infra.io/apply-error": why}
		return obj
	}
	const waiting = "Waiting for terraform-controller to apply the Configuration"
	cases := map[string]struct {
		output      map[string]any
		wantHealthy bool
		wantMessage string
	}{
		"just created, no status":     {live(1, nil), false, waiting},
		"status without apply":        {live(1, map[string]any{}), false, waiting},
		"provisioning":                {live(1, apply(1, "ProvisioningAndChecking", "Cloud resources are being provisioned and provisioning status is checking...")), false, "ProvisioningAndChecking: Cloud resources are being provisioned and provisioning status is checking..."},
		"provider missing":            {live(1, apply(1, "ProviderNotFound", "provider not found")), false, "ProviderNotFound: provider not found"},
		"apply failed":                {live(2, apply(2, "ApplyFailed", "Error: mycloud: 400 storage_gib")), false, "ApplyFailed: Error: mycloud: 400 storage_gib"},
		"available":                   {live(3, apply(3, "Available", "Cloud resources are deployed and ready to use")), true, "Available: Cloud resources are deployed and ready to use"},
		"available without a message": {live(1, apply(1, "Available", "")), true, "Available"},
		"available, generation not yet observed (older controller)": {live(4, apply(0, "Available", "Cloud resources are deployed and ready to use")), true, "Available: Cloud resources are deployed and ready to use"},
		"available for an older generation":                         {live(5, apply(4, "Available", "Cloud resources are deployed and ready to use")), false, waiting},
		"available and kept by the step-runner": {retained(live(3, apply(3, "Available", "Cloud resources are deployed and ready to use")),
			"other Configurations use its resources: team-a/checkout (component subnet)"), true,
			"Available: Cloud resources are deployed and ready to use; kept in the cloud when deleted: other Configurations use its resources: team-a/checkout (component subnet)"},
		"an apply failing": {failing(live(2, apply(2, "ProvisioningAndChecking", `container "terraform-init" in pod "x" is waiting to start: PodInitializing`)),
			"Error: mycloud: 404 vpc vpc-doesnotexist not found (full output: ConfigMap x-terraform-log)"), false,
			"ProvisioningAndChecking: the last terraform apply failed: Error: mycloud: 404 vpc vpc-doesnotexist not found (full output: ConfigMap x-terraform-log)"},
		"an apply failed, then one succeeded (the note is stale)": {failing(live(3, apply(3, "Available", "Cloud resources are deployed and ready to use")), "old"), true,
			"Available: Cloud resources are deployed and ready to use"},
		"waiting and kept": {retained(live(1, nil), "it holds resources adopted by infra-import (mycloud_vpc.this=vpc-legacy01)"), false,
			waiting + "; kept in the cloud when deleted: it holds resources adopted by infra-import (mycloud_vpc.this=vpc-legacy01)"},
	}
	for _, typ := range types {
		rel := componentsDir + "/mycloud-" + typ + ".cue"
		health, custom := statusTemplates(t, rel)
		for name, tc := range cases {
			healthy, err := evalStatus(t, health, tc.output, "isHealth").Bool()
			if err != nil {
				t.Errorf("%s, %s: isHealth: %v", rel, name, err)
			} else if healthy != tc.wantHealthy {
				t.Errorf("%s, %s: isHealth = %v, want %v", rel, name, healthy, tc.wantHealthy)
			}
			msg, err := evalStatus(t, custom, tc.output, "message").String()
			if err != nil {
				t.Errorf("%s, %s: message: %v", rel, name, err)
			} else if msg != tc.wantMessage {
				t.Errorf("%s, %s: message = %q, want %q", rel, name, msg, tc.wantMessage)
			}
		}
	}
}
