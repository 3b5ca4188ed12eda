package discovery

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func TestSelectorValidation(t *testing.T) {
	good := []Selector{
		{Tags: map[string]string{"project": "shop"}},
		{NamePrefix: "shop-"},
		{Tags: map[string]string{"project": "shop", "env": "prod"}, NamePrefix: "shop", Types: []string{"bucket", "vpc"}},
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
	bad := map[string]Selector{
		"spec.selector must set tags or namePrefix":        {},
		"spec.selector.tags: key \"bad key\"":              {Tags: map[string]string{"bad key": "x"}},
		"spec.selector.tags.project: value \"${x}\"":       {Tags: map[string]string{"project": "${x}"}},
		"spec.selector.namePrefix \"Shop\"":                {NamePrefix: "Shop"},
		"spec.selector.namePrefix \"a\\\"b\"":              {NamePrefix: `a"b`},
		"spec.selector.types[1] \"ec2\" is not a type":     {NamePrefix: "a", Types: []string{"vpc", "ec2"}},
		"spec.selector.types[1] \"vpc\" is listed twice":   {NamePrefix: "a", Types: []string{"vpc", "vpc"}},
		"spec.selector.tags.project: value \"a\\nb\" is n": {Tags: map[string]string{"project": "a\nb"}},
	}
	for want, s := range bad {
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: got %v, want an error containing %q", s, err, want)
		}
	}
}

func TestModuleListsParentsFirstWithTheFilters(t *testing.T) {
	s := Selector{Tags: map[string]string{"project": "shop"}, NamePrefix: "shop-", Types: []string{"bucket", "vpc"}}
	got := Module(s)
	for _, want := range []string{
		`data "mycloud_resources" "vpc" {`, `type = "vpc"`, `name_prefix = "shop-"`, `"project" = "shop"`,
		`output "bucket" {`, `value = data.mycloud_resources.bucket.items`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("module lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, `"vpc"`) > strings.Index(got, `"bucket"`) {
		t.Errorf("vpc must come before bucket:\n%s", got)
	}
	if strings.Contains(got, "subnet") {
		t.Errorf("types not asked for are listed:\n%s", got)
	}
}

// found is a legacy project as the data sources return it (outputs of
// Module's plan).
func found(t *testing.T) []Resource {
	t.Helper()
	outputs := map[string]any{
		"vpc": []any{map[string]any{"id": "vpc-1", "name": "shop", "tags": map[string]any{"project": "shop"},
			"attributes_json": `{"id":"vpc-1","name":"shop","cidr":"10.1.0.0/16","status":"available"}`}},
		"subnet": []any{
			map[string]any{"id": "subnet-2", "name": "shop-db", "attributes_json": `{"vpc_id":"vpc-1","cidr":"10.1.2.0/24","zone":"zone-b"}`},
			map[string]any{"id": "subnet-1", "name": "shop-app", "attributes_json": `{"vpc_id":"vpc-other","cidr":"10.9.1.0/24","zone":"zone-a"}`},
		},
		"mysql": []any{
			map[string]any{"id": "mysql-1", "name": "orders", "attributes_json": `{"subnet_id":"subnet-2","engine_version":"8.0","instance_class":"db.medium","storage_gib":50,"manage_admin_password":false,"endpoint":"mysql-1.mysql.mycloud.internal","port":3306}`},
			map[string]any{"id": "mysql-2", "name": "shop", "attributes_json": `{"subnet_id":"subnet-2","engine_version":"8.0","instance_class":"db.small","storage_gib":20,"manage_admin_password":true,"admin_password_secret_id":"secret-9"}`},
		},
		"redis":  []any{},
		"bucket": []any{map[string]any{"id": "bucket-1", "name": "Shop Assets", "attributes_json": `{"acl":"private","versioning":true}`}},
	}
	s := Selector{Tags: map[string]string{"project": "shop"}}
	got, err := Parse(s, outputs)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestParseKeepsTypesAndOrder(t *testing.T) {
	got := found(t)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if want := []string{"vpc-1", "subnet-1", "subnet-2", "mysql-1", "mysql-2", "bucket-1"}; !slices.Equal(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
	if n := got[3].Attributes["storage_gib"]; n != float64(50) {
		t.Errorf("storage_gib %v (%T), want the number 50", n, n)
	}
	if _, err := Parse(Selector{NamePrefix: "x", Types: []string{"vpc"}}, map[string]any{}); err == nil {
		t.Error("a plan without the output parsed")
	}
	if _, err := Parse(Selector{NamePrefix: "x", Types: []string{"vpc"}}, map[string]any{"vpc": []any{map[string]any{"id": "v", "attributes_json": "{"}}}); err == nil || !strings.Contains(err.Error(), "attributes_json") {
		t.Errorf("bad attributes_json: %v", err)
	}
}

func TestApplicationWiresParentsAndKeepsPasswordsOut(t *testing.T) {
	adopted := Plan(found(t), nil)
	raw, err := Application("shop-legacy", "shop", adopted, []string{"Written by a test."})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "# Written by a test.\n") {
		t.Errorf("no header:\n%s", raw)
	}
	var app application
	if err := yaml.Unmarshal(raw, &app); err != nil {
		t.Fatal(err)
	}
	byName := map[string]component{}
	for _, c := range app.Spec.Components {
		byName[c.Name] = c
	}
	// Names: DNS labels, the second "shop" gets its type.
	wantNames := []string{"shop", "shop-app", "shop-db", "orders", "shop-mysql", "shop-assets"}
	var names []string
	for _, c := range app.Spec.Components {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("components %v, want %v", names, wantNames)
	}
	// The subnet in a VPC found too takes its id by input; the one in a
	// VPC not found keeps the id.
	db := byName["shop-db"]
	if diff := cmp.Diff([]input{{From: "shop-id", ParameterKey: "vpc_id"}}, db.Inputs); diff != "" {
		t.Errorf("shop-db inputs (-want +got):\n%s", diff)
	}
	if _, ok := db.Properties["vpc_id"]; ok {
		t.Errorf("shop-db has vpc_id pasted: %v", db.Properties)
	}
	if app := byName["shop-app"]; app.Properties["vpc_id"] != "vpc-other" || len(app.Inputs) > 0 {
		t.Errorf("shop-app: %+v", app)
	}
	if diff := cmp.Diff([]output{{Name: "shop-id", ValueFrom: "output.status.apply.outputs.id.value"}}, byName["shop"].Outputs); diff != "" {
		t.Errorf("shop outputs (-want +got):\n%s", diff)
	}
	// Databases: typed properties, the cloud's read-only attributes and
	// no password; one the cloud does not manage keeps its own.
	orders := byName["orders"]
	want := map[string]any{"name": "orders", "engine_version": "8.0", "instance_class": "db.medium", "storage_gib": 50,
		"manage_admin_password": false, KeepPassword: true}
	if diff := cmp.Diff(want, orders.Properties); diff != "" {
		t.Errorf("orders properties (-want +got):\n%s", diff)
	}
	if _, ok := byName["shop-mysql"].Properties[KeepPassword]; ok {
		t.Errorf("a managed password is kept: %v", byName["shop-mysql"].Properties)
	}
	if regexp.MustCompile(`(?m)^\s+(admin_)?password:`).Match(raw) || strings.Contains(string(raw), "secret-9") || strings.Contains(string(raw), "endpoint") {
		t.Errorf("the Application holds what is not a property:\n%s", raw)
	}
	// The workflow: a DAG of one bulk import of every resource, then each
	// component applied after it (and after its parent, by its input).
	steps := app.Spec.Workflow.Steps
	if app.Spec.Workflow.Mode == nil || app.Spec.Workflow.Mode.Steps != "DAG" {
		t.Errorf("workflow mode %+v, want steps: DAG", app.Spec.Workflow.Mode)
	}
	if len(steps) != 1+len(adopted) || steps[0].Type != "infra-bulk-import" {
		t.Fatalf("steps: %+v", steps)
	}
	imports, _ := steps[0].Properties["imports"].([]any)
	if len(imports) != len(adopted) {
		t.Errorf("imports: %v", imports)
	}
	if first, _ := imports[0].(map[string]any); first["component"] != "shop" || first["address"] != "mycloud_vpc.this" || first["id"] != "vpc-1" {
		t.Errorf("first import %v", first)
	}
	for i, a := range adopted {
		s := steps[i+1]
		if s.Name != a.Component || s.Type != "apply-component" || s.Properties["component"] != a.Component || !slices.Equal(s.DependsOn, []string{"adopt"}) {
			t.Errorf("step %d: %+v, want apply-component %s after adopt", i+1, s, a.Component)
		}
	}
}

// A resource named as the import step is gets its type appended: each
// apply step is named after its component.
func TestNoComponentIsNamedAsTheImportStep(t *testing.T) {
	if got := Plan([]Resource{{Type: "bucket", ID: "bucket-1", Name: "adopt"}}, nil)[0].Component; got != "adopt-bucket" {
		t.Errorf("component %q, want adopt-bucket", got)
	}
}

// A name reserved (another application's Configuration has it) is not
// taken.
func TestReservedNamesAreNotTaken(t *testing.T) {
	got := Plan([]Resource{{Type: "bucket", ID: "bucket-1", Name: "logs"}, {Type: "bucket", ID: "bucket-2", Name: "logs"}},
		map[string]bool{"logs": true, "logs-bucket": true})
	if got[0].Component != "logs-bucket-2" || got[1].Component != "logs-bucket-3" {
		t.Errorf("components %q and %q, want logs-bucket-2 and logs-bucket-3", got[0].Component, got[1].Component)
	}
}

// TestTypesAreTheModules holds the table to the modules the components
// wrap: every property is one of the module's variables, and the address
// its resource.
func TestTypesAreTheModules(t *testing.T) {
	varRE := regexp.MustCompile(`(?m)^variable "([a-z_]+)"`)
	for _, typ := range Types {
		src, err := os.ReadFile(filepath.Join("..", "..", "definitions", "modules", typ.Name, "main.tf"))
		if err != nil {
			t.Fatal(err)
		}
		var vars []string
		for _, m := range varRE.FindAllStringSubmatch(string(src), -1) {
			vars = append(vars, m[1])
		}
		props := slices.Clone(typ.Properties)
		if typ.Managed != "" {
			props = append(props, typ.Password, KeepPassword)
		}
		for _, p := range props {
			if !slices.Contains(vars, p) {
				t.Errorf("%s: property %s is not a variable of the module (%v)", typ.Name, p, vars)
			}
		}
		res := strings.Replace(typ.Address, ".", `" "`, 1)
		if !strings.Contains(string(src), `resource "`+res+`"`) {
			t.Errorf("%s: the module has no resource %s", typ.Name, typ.Address)
		}
	}
}
