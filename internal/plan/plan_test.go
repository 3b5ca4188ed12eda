package plan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// The fixtures are real plans (testdata/generate.sh); their passwords are
// sentinels that must never reach a summary.
const sentinel = "Fixture-Passw0rd"

func load(t testing.TB, name string) *tfjson.Plan {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var p tfjson.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

type counts struct{ Add, Change, Destroy, Replace, Import int }

func countsOf(s *v1alpha1.PlanSummary) counts {
	return counts{s.Add, s.Change, s.Destroy, s.Replace, s.Import}
}

func TestSummarize(t *testing.T) {
	cases := map[string]struct {
		counts   counts
		actions  map[string]string
		diffHas  []string
		attrDiff map[string]v1alpha1.AttributeChange // address+path -> change
	}{
		"create": {
			counts:  counts{Add: 3},
			actions: map[string]string{"mycloud_vpc.main": "create", "mycloud_mysql.db": "create"},
			diffHas: []string{"+ mycloud_mysql.db (create)", `admin_password = (sensitive)`, `storage_gib = 20`, "Plan: 3 to add, 0 to change, 0 to destroy."},
		},
		"no-changes": {counts: counts{}, diffHas: []string{"Plan: 0 to add, 0 to change, 0 to destroy."}},
		"update-with-sensitive": {
			counts:  counts{Change: 2},
			actions: map[string]string{"mycloud_vpc.main": "update", "mycloud_mysql.db": "update"},
			attrDiff: map[string]v1alpha1.AttributeChange{
				"mycloud_vpc.main tags.env":       {Path: "tags.env", Before: `"prod"`, After: `"staging"`},
				"mycloud_mysql.db storage_gib":    {Path: "storage_gib", Before: "20", After: "40"},
				"mycloud_mysql.db admin_password": {Path: "admin_password", Before: Redacted, After: Redacted},
			},
		},
		"replace": {
			counts:  counts{Add: 3, Destroy: 3, Replace: 3},
			actions: map[string]string{"mycloud_vpc.main": "replace"},
			attrDiff: map[string]v1alpha1.AttributeChange{
				"mycloud_vpc.main cidr": {Path: "cidr", Before: `"10.0.0.0/16"`, After: `"10.1.0.0/16" (forces replacement)`},
			},
			diffHas: []string{"-/+ mycloud_vpc.main (replace)", "(3 to replace)"},
		},
		"drift-normal": {
			counts:  counts{Change: 1},
			actions: map[string]string{"mycloud_vpc.main": "update"},
			attrDiff: map[string]v1alpha1.AttributeChange{
				"mycloud_vpc.main tags.env":   {Path: "tags.env", Before: `"console"`, After: `"prod"`},
				"mycloud_vpc.main tags.extra": {Path: "tags.extra", Before: `"x"`, After: "null"},
			},
		},
		"destroy-all": {counts: counts{Destroy: 3}, actions: map[string]string{"mycloud_subnet.app": "delete"}},
		"import-with-update": {
			counts:   counts{Change: 1, Import: 1},
			actions:  map[string]string{"mycloud_bucket.old": "update"},
			attrDiff: map[string]v1alpha1.AttributeChange{"mycloud_bucket.old acl": {Path: "acl", Before: `"private"`, After: `"public-read"`}},
			diffHas:  []string{"(1 to import)"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := Summarize(load(t, name))
			if diff := cmp.Diff(tc.counts, countsOf(s)); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			got := map[string]string{}
			attrs := map[string]v1alpha1.AttributeChange{}
			for _, r := range s.Resources {
				got[r.Address] = r.Action
				for _, a := range r.Attributes {
					attrs[r.Address+" "+a.Path] = a
				}
			}
			for addr, want := range tc.actions {
				if got[addr] != want {
					t.Errorf("%s: action %q, want %q", addr, got[addr], want)
				}
			}
			for key, want := range tc.attrDiff {
				if diff := cmp.Diff(want, attrs[key]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", key, diff)
				}
			}
			for _, want := range tc.diffHas {
				if !strings.Contains(s.Diff, want) {
					t.Errorf("diff lacks %q:\n%s", want, s.Diff)
				}
			}
			assertNoSecret(t, s)
		})
	}
}

func TestSummarizeDrift(t *testing.T) {
	s := SummarizeDrift(load(t, "drift-refresh-only"))
	if s.Change != 1 || len(s.Resources) != 1 || s.Resources[0].Address != "mycloud_vpc.main" || s.Resources[0].Action != ActionDrift {
		t.Fatalf("drift summary %+v", s)
	}
	want := []v1alpha1.AttributeChange{
		{Path: "tags.env", Before: `"prod"`, After: `"console"`},
		{Path: "tags.extra", Before: "null", After: `"x"`},
	}
	if diff := cmp.Diff(want, s.Resources[0].Attributes); diff != "" {
		t.Errorf("drift attributes (-want +got):\n%s", diff)
	}
	if !strings.Contains(s.Diff, `~ mycloud_vpc.main (drift)`) || !strings.Contains(s.Diff, `tags.env: "prod" -> "console"`) {
		t.Errorf("drift diff:\n%s", s.Diff)
	}
	assertNoSecret(t, s)
	if none := SummarizeDrift(load(t, "no-changes")); none.Change != 0 || none.Diff != "" {
		t.Errorf("no drift: %+v", none)
	}
}

func TestPlanIDIdentifiesTheChange(t *testing.T) {
	a, b := Summarize(load(t, "update-with-sensitive")), Summarize(load(t, "update-with-sensitive"))
	if a.ID != b.ID || a.ID == "" {
		t.Fatalf("same plan, different ids %q %q", a.ID, b.ID)
	}
	p := load(t, "update-with-sensitive")
	for _, rc := range p.ResourceChanges {
		if rc.Address == "mycloud_mysql.db" {
			rc.Change.After.(map[string]any)["admin_password"] = "Another-Passw0rd-3"
		}
	}
	if Summarize(p).ID == a.ID {
		t.Fatal("a changed password (sensitive) did not change the plan id")
	}
	if Summarize(load(t, "no-changes")).ID == a.ID {
		t.Fatal("different plans share an id")
	}
}

func TestDiffIsCapped(t *testing.T) {
	p := load(t, "create")
	base := p.ResourceChanges[0]
	for i := 0; i < 200; i++ {
		rc := *base
		rc.Address = base.Address + strings.Repeat("x", i%7) + "_" + strings.Repeat("y", i)
		p.ResourceChanges = append(p.ResourceChanges, &rc)
	}
	s := Summarize(p)
	if len(s.Diff) > MaxDiffBytes || !strings.Contains(s.Diff, "more resource(s)") || !strings.HasSuffix(s.Diff, "to destroy.") {
		t.Fatalf("diff of %d bytes:\n%s", len(s.Diff), s.Diff[len(s.Diff)-200:])
	}
}

func assertNoSecret(t testing.TB, s *v1alpha1.PlanSummary) {
	t.Helper()
	data, _ := json.Marshal(s)
	if strings.Contains(string(data), sentinel) {
		t.Fatalf("a sensitive value reached the summary: %s", data)
	}
}

// FuzzSummarize feeds arbitrary plan JSON: no panic, and a value marked
// sensitive never shows.
func FuzzSummarize(f *testing.F) {
	for _, name := range []string{"create", "replace", "drift-normal", "import-with-update"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p tfjson.Plan
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		s := Summarize(&p)
		d := SummarizeDrift(&p)
		for _, rc := range append(p.ResourceChanges, p.ResourceDrift...) {
			if rc == nil || rc.Change == nil {
				continue
			}
			for _, secret := range sensitiveStrings(rc.Change.After, rc.Change.AfterSensitive) {
				for _, sum := range []*v1alpha1.PlanSummary{s, d} {
					out, _ := json.Marshal(sum)
					if len(secret) > 3 && strings.Contains(string(out), secret) && !strings.Contains(rc.Address, secret) {
						t.Fatalf("sensitive %q shown", secret)
					}
				}
			}
		}
	})
}

// sensitiveStrings collects string values marked sensitive.
func sensitiveStrings(v, sensitive any) []string {
	if isTrue(sensitive) {
		if s, ok := v.(string); ok {
			return []string{s}
		}
		return nil
	}
	var out []string
	if m, ok := v.(map[string]any); ok {
		for k, e := range m {
			out = append(out, sensitiveStrings(e, child(sensitive, k))...)
		}
	}
	return out
}
