// Package plan turns a Terraform JSON plan (terraform-json) into what people
// and workflow steps read: counts, per-resource attribute diffs and a short
// human diff, with every sensitive value redacted. Counts come from tfjson
// actions, never from Terraform's text output.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Redacted replaces every sensitive value.
const Redacted = "(sensitive)"

// Unknown stands for a value known only after apply.
const Unknown = "(known after apply)"

// MaxDiffBytes caps the human diff; the full plan is in the run's output.
const MaxDiffBytes = 4096

// Actions as status reports them.
const (
	ActionCreate  = "create"
	ActionUpdate  = "update"
	ActionDelete  = "delete"
	ActionReplace = "replace"
	ActionImport  = "import"
	ActionDrift   = "drift"
)

// Summarize describes the planned changes of p (resource_changes).
func Summarize(p *tfjson.Plan) *v1alpha1.PlanSummary {
	s := &v1alpha1.PlanSummary{}
	if p == nil {
		s.ID = planID(nil)
		return s
	}
	var changes []*tfjson.ResourceChange
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Mode == tfjson.DataResourceMode {
			continue
		}
		a := rc.Change.Actions
		importing := rc.Change.Importing != nil
		if a.NoOp() && !importing || a.Read() || a.Forget() {
			continue
		}
		changes = append(changes, rc)
		switch {
		case a.Replace():
			s.Replace++
			s.Add++
			s.Destroy++
		case a.Create():
			s.Add++
		case a.Update():
			s.Change++
		case a.Delete():
			s.Destroy++
		}
		if importing {
			s.Import++
		}
		s.Resources = append(s.Resources, resourceChange(rc, action(rc)))
	}
	s.ID = planID(changes)
	s.Diff = render(s.Resources, footer(s))
	return s
}

// SummarizeDrift describes what changed outside Terraform (resource_drift
// of a refresh-only or normal plan). Change counts the drifted resources;
// Destroy counts those deleted outside Terraform.
func SummarizeDrift(p *tfjson.Plan) *v1alpha1.PlanSummary {
	s := &v1alpha1.PlanSummary{}
	var drift []*tfjson.ResourceChange
	if p != nil {
		for _, rc := range p.ResourceDrift {
			if rc == nil || rc.Change == nil || rc.Mode == tfjson.DataResourceMode || rc.Change.Actions.NoOp() {
				continue
			}
			drift = append(drift, rc)
			act := ActionDrift
			if rc.Change.Actions.Delete() {
				act = ActionDelete
				s.Destroy++
			}
			s.Change++
			s.Resources = append(s.Resources, resourceChange(rc, act))
		}
	}
	s.ID = planID(drift)
	if len(s.Resources) > 0 {
		s.Diff = render(s.Resources, fmt.Sprintf("Drift: %d resource(s) changed outside Terraform.", s.Change))
	}
	return s
}

func action(rc *tfjson.ResourceChange) string {
	a := rc.Change.Actions
	switch {
	case a.Replace():
		return ActionReplace
	case a.Create():
		return ActionCreate
	case a.Update():
		return ActionUpdate
	case a.Delete():
		return ActionDelete
	default:
		return ActionImport
	}
}

func footer(s *v1alpha1.PlanSummary) string {
	f := fmt.Sprintf("Plan: %d to add, %d to change, %d to destroy", s.Add, s.Change, s.Destroy)
	var extra []string
	if s.Replace > 0 {
		extra = append(extra, fmt.Sprintf("%d to replace", s.Replace))
	}
	if s.Import > 0 {
		extra = append(extra, fmt.Sprintf("%d to import", s.Import))
	}
	if len(extra) > 0 {
		f += " (" + strings.Join(extra, ", ") + ")"
	}
	return f + "."
}

// resourceChange lists the attribute differences of rc.
func resourceChange(rc *tfjson.ResourceChange, act string) v1alpha1.ResourceChange {
	out := v1alpha1.ResourceChange{Address: rc.Address, Action: act}
	if act == ActionDelete {
		return out
	}
	before := flatten("", rc.Change.Before, rc.Change.BeforeSensitive, nil)
	after := flatten("", rc.Change.After, rc.Change.AfterSensitive, rc.Change.AfterUnknown)
	paths := map[string]bool{}
	for p := range before {
		paths[p] = true
	}
	for p := range after {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	forces := replacePaths(rc.Change.ReplacePaths)
	for _, p := range sorted {
		b, a := before[p], after[p]
		if b == a && !(a == Redacted && sensitiveChanged(rc, p)) {
			continue
		}
		if act == ActionCreate && (a == "null" || a == Unknown) {
			continue
		}
		if b == "" {
			b = "null"
		}
		if a == "" {
			a = "null"
		}
		if forces[p] {
			a += " (forces replacement)"
		}
		out.Attributes = append(out.Attributes, v1alpha1.AttributeChange{Path: p, Before: b, After: a})
	}
	return out
}

// sensitiveChanged reports whether a sensitive attribute's value differs;
// the diff shows only that it changed, never the values.
func sensitiveChanged(rc *tfjson.ResourceChange, path string) bool {
	b := flatten("", rc.Change.Before, nil, nil)
	a := flatten("", rc.Change.After, nil, rc.Change.AfterUnknown)
	return b[path] != a[path]
}

func replacePaths(paths []interface{}) map[string]bool {
	out := map[string]bool{}
	for _, p := range paths {
		steps, ok := p.([]interface{})
		if !ok {
			continue
		}
		parts := make([]string, 0, len(steps))
		for _, s := range steps {
			parts = append(parts, fmt.Sprint(s))
		}
		out[strings.Join(parts, ".")] = true
	}
	return out
}

// flatten turns a value into path → rendered value, redacting paths marked
// in sensitive and marking paths in unknown.
func flatten(prefix string, v, sensitive, unknown any) map[string]string {
	out := map[string]string{}
	if isTrue(sensitive) {
		out[prefix] = Redacted
		return out
	}
	if isTrue(unknown) {
		out[prefix] = Unknown
		return out
	}
	switch val := v.(type) {
	case map[string]any:
		keys := map[string]bool{}
		for k := range val {
			keys[k] = true
		}
		if m, ok := unknown.(map[string]any); ok {
			for k := range m {
				keys[k] = true
			}
		}
		for k := range keys {
			for p, s := range flatten(join(prefix, k), val[k], child(sensitive, k), child(unknown, k)) {
				out[p] = s
			}
		}
		if len(val) == 0 && prefix != "" && len(keys) == 0 {
			out[prefix] = "{}"
		}
	case []any:
		for i, e := range val {
			for p, s := range flatten(join(prefix, strconv.Itoa(i)), e, childIndex(sensitive, i), childIndex(unknown, i)) {
				out[p] = s
			}
		}
		if len(val) == 0 && prefix != "" {
			out[prefix] = "[]"
		}
	case nil:
		if prefix != "" {
			out[prefix] = "null"
		}
	default:
		b, _ := json.Marshal(val)
		out[prefix] = string(b)
	}
	return out
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func isTrue(v any) bool { b, ok := v.(bool); return ok && b }

func child(v any, k string) any {
	if m, ok := v.(map[string]any); ok {
		return m[k]
	}
	return nil
}

func childIndex(v any, i int) any {
	if l, ok := v.([]any); ok && i < len(l) {
		return l[i]
	}
	return nil
}

// render writes the human diff, capped at MaxDiffBytes.
func render(resources []v1alpha1.ResourceChange, last string) string {
	var b strings.Builder
	for i, r := range resources {
		var entry strings.Builder
		fmt.Fprintf(&entry, "%s %s (%s)\n", symbol(r.Action), r.Address, r.Action)
		for _, a := range r.Attributes {
			if r.Action == ActionCreate {
				fmt.Fprintf(&entry, "    %s = %s\n", a.Path, a.After)
			} else {
				fmt.Fprintf(&entry, "    %s: %s -> %s\n", a.Path, a.Before, a.After)
			}
		}
		// Keep room for the "... more" line and the footer.
		if b.Len()+entry.Len()+len(last)+100 > MaxDiffBytes {
			fmt.Fprintf(&b, "... and %d more resource(s); the full plan is in the run output.\n", len(resources)-i)
			break
		}
		b.WriteString(entry.String())
	}
	b.WriteString(last)
	return b.String()
}

func symbol(action string) string {
	switch action {
	case ActionCreate:
		return "+"
	case ActionDelete:
		return "-"
	case ActionReplace:
		return "-/+"
	case ActionImport:
		return "<="
	default:
		return "~"
	}
}

// planID hashes the changes (addresses, actions, before, after, unknowns,
// sensitivity): equal IDs mean the same change. Secret values go into the
// hash, never into anything readable.
func planID(changes []*tfjson.ResourceChange) string {
	type entry struct {
		Address   string         `json:"a"`
		Actions   tfjson.Actions `json:"x"`
		Import    bool           `json:"i"`
		Before    any            `json:"b"`
		After     any            `json:"f"`
		Unknown   any            `json:"u"`
		Sensitive any            `json:"s"`
	}
	entries := make([]entry, 0, len(changes))
	for _, rc := range changes {
		entries = append(entries, entry{rc.Address, rc.Change.Actions, rc.Change.Importing != nil,
			rc.Change.Before, rc.Change.After, rc.Change.AfterUnknown, rc.Change.AfterSensitive})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Address < entries[j].Address })
	data, _ := json.Marshal(entries)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}
