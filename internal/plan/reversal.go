package plan

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// NotReversalError says why a corrective plan is not exactly the reversal
// of a drift, naming the resource and, for an in-place update, the
// attribute; it never holds a value.
type NotReversalError struct {
	Address string
	Why     string
}

func (e *NotReversalError) Error() string { return e.Address + " " + e.Why }

// Reverts reports whether corrective (a normal plan) does exactly what
// undoes drift (the resource_drift of a refresh-only plan of the same
// state): only in-place updates of drifted resources, each attribute it
// changes going back from the value the cloud has now to the value the
// state held before the drift. Anything else (a create, a destroy, a
// replace, an import, a change of a resource that did not drift, or an
// attribute set to a value it did not have before the drift, such as a
// Configuration changed since it was applied) is a *NotReversalError. It
// compares raw values, sensitive ones included, and names no value.
func Reverts(drift, corrective *tfjson.Plan) error {
	drifted := map[string]*tfjson.ResourceChange{}
	if drift != nil {
		for _, rc := range drift.ResourceDrift {
			if rc != nil && rc.Change != nil && rc.Mode != tfjson.DataResourceMode {
				drifted[rc.Address] = rc
			}
		}
	}
	if corrective == nil {
		return nil
	}
	changes := append([]*tfjson.ResourceChange(nil), corrective.ResourceChanges...)
	sort.Slice(changes, func(i, j int) bool { return changes[i].Address < changes[j].Address })
	for _, rc := range changes {
		if rc == nil || rc.Change == nil || rc.Mode == tfjson.DataResourceMode {
			continue
		}
		a := rc.Change.Actions
		if (a.NoOp() && rc.Change.Importing == nil) || a.Read() || a.Forget() {
			continue
		}
		switch {
		case rc.Change.Importing != nil:
			return &NotReversalError{rc.Address, "would be imported"}
		case a.Replace():
			return &NotReversalError{rc.Address, "would be replaced" + forcedBy(rc)}
		case a.Create():
			return &NotReversalError{rc.Address, "would be created (it was deleted in the cloud, or the Configuration added it)"}
		case a.Delete():
			return &NotReversalError{rc.Address, "would be destroyed"}
		case !a.Update():
			return &NotReversalError{rc.Address, "would change (" + strings.Join(actionNames(a), ", ") + ")"}
		}
		d := drifted[rc.Address]
		if d == nil || d.Change.Actions.Delete() {
			return &NotReversalError{rc.Address, "would change although it did not drift (the Configuration changed since it was applied)"}
		}
		if err := reversesAttributes(rc, d); err != nil {
			return err
		}
	}
	return nil
}

// reversesAttributes checks that every attribute rc changes goes back to
// the value it had before drift d.
func reversesAttributes(rc, d *tfjson.ResourceChange) error {
	cBefore, cAfter, unknown := leaves(rc.Change.Before), leaves(rc.Change.After), leaves(rc.Change.AfterUnknown)
	dBefore, dAfter := leaves(d.Change.Before), leaves(d.Change.After)
	paths := map[string]bool{}
	for _, m := range []map[string]string{cBefore, cAfter} {
		for p := range m {
			paths[p] = true
		}
	}
	for p, v := range unknown {
		if v == "true" {
			paths[p] = true
		}
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	for _, p := range sorted {
		before, bok := cBefore[p]
		after, aok := cAfter[p]
		if q := unknownAt(unknown, p); q != "" {
			// A computed attribute the provider recomputes on update: fine
			// as long as the drift did not touch it.
			if driftedUnder(dBefore, dAfter, q) {
				return &NotReversalError{rc.Address, "attribute " + q + " would be known only after apply, not restored to its value before the drift"}
			}
			continue
		}
		if bok == aok && before == after {
			continue
		}
		db, dbok := dBefore[p]
		da, daok := dAfter[p]
		if aok != dbok || after != db {
			return &NotReversalError{rc.Address, "attribute " + p + " would be set to a value it did not have before the drift (the Configuration changed since it was applied)"}
		}
		if bok != daok || before != da {
			return &NotReversalError{rc.Address, "attribute " + p + " changed in the cloud again since the drift was found"}
		}
	}
	return nil
}

// unknownAt returns p or its ancestor that is unknown after apply, or "".
func unknownAt(unknown map[string]string, p string) string {
	for q, v := range unknown {
		if v == "true" && (q == p || strings.HasPrefix(p, q+".")) {
			return q
		}
	}
	return ""
}

// driftedUnder reports whether the drift changed q or anything under it.
func driftedUnder(before, after map[string]string, q string) bool {
	under := func(p string) bool { return p == q || strings.HasPrefix(p, q+".") }
	for _, m := range []map[string]string{before, after} {
		for p := range m {
			if under(p) && before[p] != after[p] {
				return true
			}
		}
	}
	return false
}

// leaves flattens a JSON value into its leaves, path → JSON text; an empty
// object or list is a leaf of its own.
func leaves(v any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			if len(t) == 0 && prefix != "" {
				out[prefix] = "{}"
			}
			for k, c := range t {
				walk(join(prefix, k), c)
			}
		case []any:
			if len(t) == 0 && prefix != "" {
				out[prefix] = "[]"
			}
			for i, c := range t {
				walk(join(prefix, strconv.Itoa(i)), c)
			}
		default:
			b, _ := json.Marshal(t)
			out[prefix] = string(b)
		}
	}
	walk("", v)
	return out
}

// forcedBy names the attributes that force a replace, when the plan says.
func forcedBy(rc *tfjson.ResourceChange) string {
	var paths []string
	for p := range replacePaths(rc.Change.ReplacePaths) {
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return ""
	}
	sort.Strings(paths)
	return fmt.Sprintf(" (%s cannot be changed in place)", strings.Join(paths, ", "))
}

func actionNames(a tfjson.Actions) []string {
	names := make([]string, 0, len(a))
	for _, x := range a {
		names = append(names, string(x))
	}
	return names
}
