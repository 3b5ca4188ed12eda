package plan

import (
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

func TestReverts(t *testing.T) {
	vpc := func(actions tfjson.Actions, before, after map[string]any) *tfjson.ResourceChange {
		var b, a any
		if before != nil {
			b = before
		}
		if after != nil {
			a = after
		}
		return &tfjson.ResourceChange{Address: "mycloud_vpc.this", Mode: tfjson.ManagedResourceMode, Type: "mycloud_vpc", Name: "this",
			Change: &tfjson.Change{Actions: actions, Before: b, After: a}}
	}
	up, del, cr := tfjson.Actions{tfjson.ActionUpdate}, tfjson.Actions{tfjson.ActionDelete}, tfjson.Actions{tfjson.ActionCreate}
	applied := map[string]any{"id": "vpc-1", "cidr": "10.40.0.0/16", "tags": map[string]any{"team": "a"}, "password": "s3cret"}
	edited := map[string]any{"id": "vpc-1", "cidr": "10.40.0.0/16", "tags": map[string]any{"team": "b"}, "password": "s3cret"}
	other := map[string]any{"id": "vpc-1", "cidr": "10.40.0.0/16", "tags": map[string]any{"team": "c"}, "password": "s3cret"}
	pwChanged := map[string]any{"id": "vpc-1", "cidr": "10.40.0.0/16", "tags": map[string]any{"team": "b"}, "password": "other"}
	drift := &tfjson.Plan{ResourceDrift: []*tfjson.ResourceChange{vpc(up, applied, edited)}}
	for name, tc := range map[string]struct {
		drift, corrective *tfjson.Plan
		want              string
	}{
		"exact reversal":      {drift: drift, corrective: planOf(vpc(up, edited, applied))},
		"nothing to put back": {drift: drift, corrective: &tfjson.Plan{}},
		"a computed attribute recomputed": {drift: drift, corrective: planOf(func() *tfjson.ResourceChange {
			rc := vpc(up, edited, applied)
			rc.Change.AfterUnknown = map[string]any{"updated_at": true}
			return rc
		}())},
		"replace": {drift: drift, corrective: planOf(func() *tfjson.ResourceChange {
			rc := vpc(tfjson.Actions{tfjson.ActionDelete, tfjson.ActionCreate}, edited, applied)
			rc.Change.ReplacePaths = []any{[]any{"cidr"}}
			return rc
		}()), want: "mycloud_vpc.this would be replaced (cidr cannot be changed in place)"},
		"create after a delete in the cloud": {drift: &tfjson.Plan{ResourceDrift: []*tfjson.ResourceChange{vpc(del, applied, nil)}},
			corrective: planOf(vpc(cr, nil, applied)), want: "mycloud_vpc.this would be created (it was deleted in the cloud, or the Configuration added it)"},
		"destroy":     {drift: drift, corrective: planOf(vpc(del, edited, nil)), want: "mycloud_vpc.this would be destroyed"},
		"not drifted": {drift: &tfjson.Plan{}, corrective: planOf(vpc(up, edited, applied)), want: "mycloud_vpc.this would change although it did not drift (the Configuration changed since it was applied)"},
		"the Configuration changed too": {drift: drift, corrective: planOf(vpc(up, edited, other)),
			want: "mycloud_vpc.this attribute tags.team would be set to a value it did not have before the drift (the Configuration changed since it was applied)"},
		"a sensitive value changed, named not shown": {drift: drift, corrective: planOf(vpc(up, edited, pwChanged)),
			want: "mycloud_vpc.this attribute password would be set to a value it did not have before the drift (the Configuration changed since it was applied)"},
		"unknown where the drift was": {drift: drift, corrective: planOf(func() *tfjson.ResourceChange {
			rc := vpc(up, edited, map[string]any{"id": "vpc-1", "cidr": "10.40.0.0/16", "password": "s3cret"})
			rc.Change.AfterUnknown = map[string]any{"tags": true}
			return rc
		}()), want: "mycloud_vpc.this attribute tags would be known only after apply, not restored to its value before the drift"},
	} {
		t.Run(name, func(t *testing.T) {
			got := ""
			if err := Reverts(tc.drift, tc.corrective); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func planOf(rcs ...*tfjson.ResourceChange) *tfjson.Plan { return &tfjson.Plan{ResourceChanges: rcs} }
