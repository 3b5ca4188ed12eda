package plan

import (
	"encoding/json"
	"reflect"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

// A plan of the shape `terraform show -json` writes after importing a VPC
// whose cloud values differ from the module's variables.
const importPlan = `{
  "format_version": "1.2",
  "resource_changes": [{
    "address": "mycloud_vpc.this", "mode": "managed", "type": "mycloud_vpc", "name": "this",
    "change": {
      "actions": ["delete", "create"],
      "before": {"id": "vpc-legacy01", "name": "legacy-network", "cidr": "10.40.0.0/16", "tags": {"owner": "ops"}, "token": "s3cret"},
      "after": {"name": "legacy-network", "cidr": "10.41.0.0/16", "tags": {}, "token": "other"},
      "before_sensitive": {"tags": {}, "token": true},
      "importing": {"id": "vpc-legacy01"}
    }
  }, {
    "address": "mycloud_bucket.other", "mode": "managed", "type": "mycloud_bucket", "name": "other",
    "change": {"actions": ["update"], "before": {"name": "a"}, "after": {"name": "b"}}
  }],
  "configuration": {"root_module": {"resources": [{
    "address": "mycloud_vpc.this", "mode": "managed", "type": "mycloud_vpc", "name": "this",
    "expressions": {
      "name": {"references": ["var.name"]},
      "cidr": {"references": ["var.cidr"]},
      "tags": {"references": ["var.tags"]},
      "token": {"references": ["var.token"]}
    }
  }, {
    "address": "mycloud_bucket.other", "mode": "managed", "type": "mycloud_bucket", "name": "other",
    "expressions": {"name": {"references": ["var.name"]}}
  }]}}
}`

func TestSuggestNamesTheVariablesOfChangedAttributes(t *testing.T) {
	var p tfjson.Plan
	if err := json.Unmarshal([]byte(importPlan), &p); err != nil {
		t.Fatal(err)
	}
	got := Suggest(&p, []string{"mycloud_vpc.this"})
	want := map[string]any{"cidr": "10.40.0.0/16", "tags": map[string]any{"owner": "ops"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Suggest = %v, want %v (unchanged name, sensitive token and resources not imported left out)", got, want)
	}
	if txt := SuggestionText(got); txt != `To adopt it as the cloud has it, set these component properties: {"cidr":"10.40.0.0/16","tags":{"owner":"ops"}}.` {
		t.Errorf("SuggestionText = %q", txt)
	}
	if s := Suggest(&p, nil); s != nil || SuggestionText(s) != "" {
		t.Errorf("nothing imported, yet suggestions %v", s)
	}
}

func TestSuggestSkipsAttributesNotSetFromOneVariable(t *testing.T) {
	for name, expr := range map[string]string{
		"constant":       `{"constant_value": "10.41.0.0/16"}`,
		"two references": `{"references": ["var.prefix", "var.cidr"]}`,
		"local":          `{"references": ["local.cidr"]}`,
		"variable field": `{"references": ["var.net.cidr"]}`,
	} {
		var e tfjson.Expression
		if err := json.Unmarshal([]byte(expr), &e); err != nil {
			t.Fatal(err)
		}
		if v := singleVariable(&e); v != "" {
			t.Errorf("%s: singleVariable = %q, want none", name, v)
		}
	}
}
