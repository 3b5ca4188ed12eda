package planpolicy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// examples reads the shipped policies (examples/policies), by name.
func examples(t *testing.T) map[string]*Rule {
	t.Helper()
	files, err := filepath.Glob("../../examples/policies/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped policies: %v", err)
	}
	rules := map[string]*Rule{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var pol v1alpha1.InfraPolicy
		if err := yaml.UnmarshalStrict(data, &pol); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r, err := Compile(pol.Spec.Rule)
		if err != nil {
			t.Fatalf("%s: the shipped rule does not compile: %v", f, err)
		}
		rules[pol.Name] = r
	}
	return rules
}

func update(address string, attrs ...v1alpha1.AttributeChange) v1alpha1.ResourceChange {
	return v1alpha1.ResourceChange{Address: address, Action: "update", Attributes: attrs}
}

func attr(path, before, after string) v1alpha1.AttributeChange {
	return v1alpha1.AttributeChange{Path: path, Before: before, After: after}
}

func TestShippedPolicies(t *testing.T) {
	rules := examples(t)
	vpcReplace := &v1alpha1.PlanSummary{ID: "p1", Add: 1, Destroy: 1, Replace: 1, Resources: []v1alpha1.ResourceChange{
		{Address: "mycloud_vpc.this", Action: "replace", Attributes: []v1alpha1.AttributeChange{attr("cidr", "10.0.0.0/16", "10.1.0.0/16")}}}}
	consumer := Consumer{Namespace: "team-a", Configuration: "checkout-net", Application: "checkout", Component: "net", Breaks: true}
	cases := map[string]struct {
		policy      string
		plan        *v1alpha1.PlanSummary
		target      Target
		wantLevel   string
		wantMessage string
	}{
		"replace of a shared VPC is mandatory to stop, naming its user": {
			policy: "no-destroy-of-shared-or-adopted", plan: vpcReplace,
			target:    Target{Namespace: "platform", Configuration: "net", Shared: true, Consumers: []Consumer{consumer}},
			wantLevel: Mandatory, wantMessage: "it would destroy or replace mycloud_vpc.this, which team-a/checkout use",
		},
		"replace of an adopted VPC is mandatory to stop": {
			policy: "no-destroy-of-shared-or-adopted", plan: vpcReplace,
			target:    Target{Namespace: "platform", Configuration: "net", Adopted: []string{"mycloud_vpc.this"}},
			wantLevel: Mandatory, wantMessage: "mycloud_vpc.this, adopted by infra-import",
		},
		"replace of an unshared, unadopted VPC passes": {
			policy: "no-destroy-of-shared-or-adopted", plan: vpcReplace,
			target:    Target{Namespace: "platform", Configuration: "net"},
			wantLevel: Pass,
		},
		"an in-place change of a shared VPC passes": {
			policy:    "no-destroy-of-shared-or-adopted",
			plan:      &v1alpha1.PlanSummary{ID: "p2", Change: 1, Resources: []v1alpha1.ResourceChange{update("mycloud_vpc.this", attr("tags.team", "a", "b"))}},
			target:    Target{Namespace: "platform", Configuration: "net", Shared: true, Consumers: []Consumer{{Namespace: "team-a", Application: "checkout"}}},
			wantLevel: Pass,
		},
		"a database change needs a person": {
			policy:    "database-changes-need-a-person",
			plan:      &v1alpha1.PlanSummary{ID: "p3", Change: 1, Resources: []v1alpha1.ResourceChange{update("mycloud_mysql.this", attr("tags.env", "a", "b"))}},
			wantLevel: Advisory, wantMessage: "a change to a database (mycloud_mysql.this) needs a person's approval",
		},
		"a bucket change is no database change": {
			policy:    "database-changes-need-a-person",
			plan:      &v1alpha1.PlanSummary{ID: "p4", Change: 1, Resources: []v1alpha1.ResourceChange{update("mycloud_bucket.this", attr("acl", "private", "public-read"))}},
			wantLevel: Pass,
		},
		"tags only pass": {
			policy: "tag-only-changes-pass",
			plan: &v1alpha1.PlanSummary{ID: "p5", Change: 2, Resources: []v1alpha1.ResourceChange{
				update("mycloud_bucket.this", attr("tags.env", "dev", "prod")), update("mycloud_vpc.this", attr("tags", "{}", `{"a":"b"}`))}},
			wantLevel: Approve, wantMessage: "only tags change (mycloud_bucket.this, mycloud_vpc.this)",
		},
		"tags and the acl do not pass": {
			policy: "tag-only-changes-pass",
			plan: &v1alpha1.PlanSummary{ID: "p6", Change: 1, Resources: []v1alpha1.ResourceChange{
				update("mycloud_bucket.this", attr("tags.env", "dev", "prod"), attr("acl", "private", "public-read"))}},
			wantLevel: Pass,
		},
		"a tag of a new resource does not pass": {
			policy: "tag-only-changes-pass",
			plan: &v1alpha1.PlanSummary{ID: "p7", Add: 1, Resources: []v1alpha1.ResourceChange{
				{Address: "mycloud_bucket.this", Action: "create", Attributes: []v1alpha1.AttributeChange{attr("tags.env", "", "prod")}}}},
			wantLevel: Pass,
		},
		"a path that only starts like tags does not pass": {
			policy: "tag-only-changes-pass",
			plan: &v1alpha1.PlanSummary{ID: "p8", Change: 1, Resources: []v1alpha1.ResourceChange{
				update("mycloud_bucket.this", attr("tagsfree", "a", "b"))}},
			wantLevel: Pass,
		},
		"a tag change of a shared VPC needs a person": {
			policy: "shared-changes-need-a-person",
			plan:   &v1alpha1.PlanSummary{ID: "p10", Change: 1, Resources: []v1alpha1.ResourceChange{update("mycloud_vpc.this", attr("tags.team", "a", "b"))}},
			target: Target{Namespace: "platform", Configuration: "net", Shared: true,
				Consumers: []Consumer{{Namespace: "team-a", Application: "checkout"}, {Namespace: "team-b", Application: "search"}}},
			wantLevel: Advisory, wantMessage: "team-a/checkout, team-b/search use what this plan changes: a person approves it",
		},
		"a change of unshared infrastructure passes": {
			policy:    "shared-changes-need-a-person",
			plan:      &v1alpha1.PlanSummary{ID: "p11", Change: 1, Resources: []v1alpha1.ResourceChange{update("mycloud_vpc.this", attr("tags.team", "a", "b"))}},
			target:    Target{Namespace: "platform", Configuration: "net"},
			wantLevel: Pass,
		},
		"no changes pass every policy": {
			policy: "tag-only-changes-pass", plan: &v1alpha1.PlanSummary{ID: "p9"}, wantLevel: Pass,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := rules[tc.policy]
			if r == nil {
				t.Fatalf("no shipped policy %s", tc.policy)
			}
			got, err := r.Eval(NewInput(tc.plan, tc.target))
			if err != nil {
				t.Fatal(err)
			}
			if got.Level != tc.wantLevel || !strings.Contains(got.Message, tc.wantMessage) {
				t.Errorf("got %s %q, want %s with %q", got.Level, got.Message, tc.wantLevel, tc.wantMessage)
			}
		})
	}
}

func TestBadRules(t *testing.T) {
	cases := map[string]struct{ rule, want string }{
		"does not compile":   {rule: "result: \"mandatory\" &&", want: "rule.cue:1"},
		"result is no level": {rule: `result: "deny"`, want: `result "deny" (rule.cue:1:1) is not one of pass, advisory, mandatory, approve`},
		"result is no level on a change": {
			rule: `if input.plan.change > 0 { result: "block" }`, want: `result "block" (rule.cue:1:1) is not one of`,
		},
		"reads a field the input lacks": {rule: `if input.plan.cost > 10 { result: "advisory" }`, want: "undefined field: cost (rule.cue:1:15)"},
		"message is no string":          {rule: `message: 42`, want: "message 42 (rule.cue:1:1) is not a string"},
		"unknown import":                {rule: "import \"nosuch/pkg\"\nresult: \"pass\"", want: "nosuch/pkg"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(tc.rule)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile(%q) = %v, want an error with %q", tc.rule, err, tc.want)
			}
		})
	}
}

func TestStrongest(t *testing.T) {
	cases := []struct {
		levels []string
		want   string
	}{
		{nil, Pass},
		{[]string{Pass, Approve}, Approve},
		{[]string{Approve, Advisory}, Advisory},
		{[]string{Approve, Mandatory, Advisory}, Mandatory},
	}
	for _, tc := range cases {
		if got := Strongest(tc.levels); got != tc.want {
			t.Errorf("Strongest(%v) = %s, want %s", tc.levels, got, tc.want)
		}
	}
}
