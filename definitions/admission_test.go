package definitions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kubevela/pkg/cue/cuex"
	"sigs.k8s.io/yaml"
)

// admit does with one component what vela-core's validating webhook for
// Applications does at vela up (pkg/webhook/core.oam.dev/v1beta1/application
// ValidateComponents → appfile ValidateCUESchematicAppfile → the workload
// engine's Complete, pkg/cue/definition/template.go): it compiles the
// definition's template with the component's properties alone (inputs are
// not filled in yet) and the context, and validates the result without
// requiring it to be concrete. It returns the refusal, or "" when the
// webhook admits the component. (vela-core's own packages cannot be
// imported here: they need modules this module does not require.)
func admit(t *testing.T, typ string, props map[string]any) string {
	t.Helper()
	params := "{}"
	if props != nil {
		b, err := json.Marshal(props)
		if err != nil {
			t.Fatal(err)
		}
		params = string(b)
	}
	src := strings.Join([]string{
		definitionTemplate(t, componentsDir+"/"+typ+".cue"),
		"context: _\nparameter: _",
		"parameter: " + params,
		`context: {name: "res", namespace: "shop-ns", appName: "shop"}`,
	}, "\n")
	// vela-core's cuex.DefaultCompiler, without the vela/* packages, which
	// component definitions do not import (and which would look for a
	// cluster).
	v, err := cuex.NewCompilerWithInternalPackages().CompileString(context.Background(), src)
	if err == nil {
		err = v.Validate()
	}
	if err != nil {
		return fmt.Sprintf("invalid cue template of workload %s after merge parameter and context: %v", typ, err)
	}
	return ""
}

// TestAdmissionWebhook holds the definitions to what vela-core's admission
// webhook (on in a default install) does with them: a required property
// that inputs fill in at run time is absent when it renders the component,
// and must be admitted; a property given with a bad value is refused,
// named. TestRenderBadPropertyNamesIt has what the workflow's render says
// when a required property is still absent then.
func TestAdmissionWebhook(t *testing.T) {
	t.Parallel()
	// Every component of the applications that wire properties through
	// inputs is admitted.
	for _, rel := range []string{"e2e/testdata/platform.yaml", "addons/terraform-mycloud/examples/app.yaml"} {
		raw, err := os.ReadFile(repoPath(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		var a struct {
			Spec struct {
				Components []struct {
					Name       string         `json:"name"`
					Type       string         `json:"type"`
					Properties map[string]any `json:"properties"`
					Inputs     []struct {
						ParameterKey string `json:"parameterKey"`
					} `json:"inputs"`
				} `json:"components"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(raw, &a); err != nil {
			t.Fatal(err)
		}
		inputs := 0
		for _, c := range a.Spec.Components {
			inputs += len(c.Inputs)
			if got := admit(t, c.Type, c.Properties); got != "" {
				t.Errorf("%s: component %s (inputs %v): vela-core's webhook refuses it:\n%s", rel, c.Name, c.Inputs, got)
			}
		}
		if inputs == 0 {
			t.Errorf("%s: no component takes a property through inputs: the test proves nothing", rel)
		}
	}

	for name, tc := range map[string]struct {
		typ   string
		props map[string]any
		// want is in the refusal; empty: admitted.
		want []string
	}{
		"every required property absent, as if inputs filled them in": {typ: "mycloud-subnet", props: map[string]any{}},
		"subnet_id absent, a bad name": {typ: "mycloud-mysql", props: map[string]any{"name": "Orders", "manage_admin_password": true},
			want: []string{"check.name", "The name must be 2-63 lower-case letters"}},
		"a bad subnet_id": {typ: "mycloud-mysql", props: map[string]any{"name": "orders", "subnet_id": "vpc-1a2b", "manage_admin_password": true},
			want: []string{"check.subnet_id", "The subnet_id must be a subnet id such as subnet-1a2b3c4d."}},
		"a public cidr, the name absent": {typ: "mycloud-vpc", props: map[string]any{"cidr": "8.8.0.0/16"},
			want: []string{"check.cidr", "is not a private IPv4 block"}},
		"a bad name, the cidr absent": {typ: "mycloud-vpc", props: map[string]any{"name": "n"},
			want: []string{"check.name", "The name must be 2-63 lower-case letters"}},
		"a bad id": {typ: "mycloud-vpc-ref", props: map[string]any{"id": "subnet-1a2b"},
			want: []string{"check.id", "The id must be a VPC id"}},
		"a string for a number": {typ: "mycloud-redis", props: map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "manage_password": true, "memory_mib": "lots"},
			want: []string{"output.spec.variable.memory_mib", `conflicting values number and "lots"`}},
		"no password, manage flag or keep_existing_password": {typ: "mycloud-redis", props: map[string]any{"name": "cache", "subnet_id": "subnet-1a2b"},
			want: []string{"check.password", "none is set"}},
		"an adopted instance keeping its password": {typ: "mycloud-mysql", props: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "keep_existing_password": true}},
		"keep_existing_password and a password": {typ: "mycloud-mysql", props: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "keep_existing_password": true, "admin_password": "Orders-Passw0rd"},
			want: []string{"check.keep_existing_password", "both are set: admin_password and keep_existing_password: true"}},
		"a misspelt property": {typ: "mycloud-vpc", props: map[string]any{"name": "main", "cidr": "10.0.0.0/16", "cidr_block": "10.0.0.0/16"},
			want: []string{"parameter.cidr_block", "field not allowed"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := admit(t, tc.typ, tc.props)
			if len(tc.want) == 0 && got != "" {
				t.Fatalf("vela-core's webhook refuses it:\n%s", got)
			}
			if len(tc.want) > 0 && got == "" {
				t.Fatalf("vela-core's webhook admits it, want a refusal naming %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the refusal lacks %q:\n%s", w, got)
				}
			}
		})
	}
}
