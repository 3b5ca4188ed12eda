package plan

import (
	"encoding/json"
	"reflect"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// Suggest names, for the planned updates and replacements of the given
// resources (the ones being imported), the root-module variables that would
// make the plan leave them as the cloud has them: for each changed attribute
// set from exactly one variable (`name = var.name`), that variable with the
// attribute's current value. A component's properties are its module's
// variables, so this is what to set to adopt a resource unchanged.
// Attributes set otherwise (constants, expressions of several values) and
// sensitive ones are left out; nil when there is nothing to suggest.
func Suggest(p *tfjson.Plan, addresses []string) map[string]any {
	if p == nil || p.Config == nil || p.Config.RootModule == nil {
		return nil
	}
	want := map[string]bool{}
	for _, a := range addresses {
		want[a] = true
	}
	config := map[string]*tfjson.ConfigResource{}
	for _, r := range p.Config.RootModule.Resources {
		config[r.Address] = r
	}
	out := map[string]any{}
	for _, rc := range p.ResourceChanges {
		cr := config[rc.Address]
		if !want[rc.Address] || rc.Change == nil || cr == nil || !(rc.Change.Actions.Update() || rc.Change.Actions.Replace()) {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		after, _ := rc.Change.After.(map[string]any)
		sensitive, _ := rc.Change.BeforeSensitive.(map[string]any)
		for attr, now := range before {
			if reflect.DeepEqual(now, after[attr]) || anySensitive(sensitive[attr]) {
				continue
			}
			if v := singleVariable(cr.Expressions[attr]); v != "" {
				out[v] = now
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// anySensitive: a before_sensitive value marks something sensitive (true
// anywhere in it).
func anySensitive(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case map[string]any:
		for _, e := range v {
			if anySensitive(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if anySensitive(e) {
				return true
			}
		}
	}
	return false
}

// singleVariable is X when the expression is exactly `var.X`.
func singleVariable(e *tfjson.Expression) string {
	if e == nil || e.ExpressionData == nil || len(e.References) != 1 ||
		e.ConstantValue != nil && e.ConstantValue != tfjson.UnknownConstantValue {
		return ""
	}
	if v, ok := strings.CutPrefix(e.References[0], "var."); ok && !strings.ContainsAny(v, ".[") {
		return v
	}
	return ""
}

// SuggestionText renders suggestions as one line for a step message, or ""
// when there are none.
func SuggestionText(s map[string]any) string {
	if len(s) == 0 {
		return ""
	}
	b, err := json.Marshal(s) // keys sorted
	if err != nil {
		return ""
	}
	return "To adopt it as the cloud has it, set these component properties: " + string(b) + "."
}
