package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"
	tfcfg "github.com/oam-dev/terraform-controller/controllers/configuration"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Shared infrastructure is a resource whose id other Configurations hold:
// a subnet's vpc_id, a database's subnet_id, a reference component's id.
// KubeVela and terraform-controller record no such link, so the step-runner
// finds it where it is written: in the variables (and HCL) of the other
// Configurations, read from its cache.

// changedResource is a resource a plan changes that existed before it.
type changedResource struct {
	address string
	id      string
	// breaks: replaced or destroyed, so the id goes away.
	breaks bool
	// what the plan does, for messages: "is replaced", "is destroyed",
	// "changes in place (tags.owner, size)".
	what string
}

// changedResources lists the existing resources p changes, with their ids.
func changedResources(p *tfjson.Plan, s *v1alpha1.PlanSummary) []changedResource {
	if p == nil {
		return nil
	}
	attrs := map[string][]string{}
	if s != nil {
		for _, r := range s.Resources {
			for _, a := range r.Attributes {
				attrs[r.Address] = append(attrs[r.Address], a.Path)
			}
		}
	}
	var out []changedResource
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Mode == tfjson.DataResourceMode {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		id, _ := before["id"].(string)
		a := rc.Change.Actions
		if id == "" || a.NoOp() || a.Read() || a.Create() || a.Forget() {
			continue
		}
		c := changedResource{address: rc.Address, id: id}
		switch {
		case a.Replace():
			c.breaks, c.what = true, "is replaced: its id changes"
		case a.Delete():
			c.breaks, c.what = true, "is destroyed"
		default:
			c.what = "changes in place"
			if paths := attrs[rc.Address]; len(paths) > 0 {
				c.what += " (" + strings.Join(paths, ", ") + ")"
			}
		}
		out = append(out, c)
	}
	return out
}

// consumersOf finds the Configurations other than self that hold the id
// of a resource in changed.
func (rt *Runtime) consumersOf(ctx context.Context, self *tfv1beta2.Configuration, changed []changedResource) ([]v1alpha1.Consumer, error) {
	if len(changed) == 0 {
		return nil, nil
	}
	var cfgs tfv1beta2.ConfigurationList
	if err := rt.Client.List(ctx, &cfgs); err != nil {
		return nil, fmt.Errorf("list Configurations for the consumers of %s/%s: %w", self.Namespace, self.Name, err)
	}
	var consumers []v1alpha1.Consumer
	for i := range cfgs.Items {
		c := &cfgs.Items[i]
		if c.Namespace == self.Namespace && c.Name == self.Name || c.DeletionTimestamp != nil {
			continue
		}
		vars, _ := tfcfg.RawExtension2Map(c.Spec.Variable)
		var impacts []string
		breaks := false
		for _, r := range changed {
			where := referencesTo(vars, "", r.id)
			if strings.Contains(c.Spec.HCL, `"`+r.id+`"`) {
				where = append(where, "its HCL")
			}
			if len(where) == 0 {
				continue
			}
			breaks = breaks || r.breaks
			impacts = append(impacts, fmt.Sprintf("%s (%s) %s; used by %s", r.address, r.id, r.what, strings.Join(where, ", ")))
		}
		if len(impacts) == 0 {
			continue
		}
		consumers = append(consumers, v1alpha1.Consumer{
			Namespace: c.Namespace, Configuration: c.Name,
			Application: c.Labels["app.oam.dev/name"], Component: c.Labels["app.oam.dev/component"],
			Breaks: breaks, Impacts: impacts,
		})
	}
	sort.Slice(consumers, func(i, j int) bool {
		if consumers[i].Namespace != consumers[j].Namespace {
			return consumers[i].Namespace < consumers[j].Namespace
		}
		return consumers[i].Configuration < consumers[j].Configuration
	})
	return consumers, nil
}

// referencesTo lists the variables (as paths, "variable vpc_id") whose
// value, or a string inside it, is id.
func referencesTo(v any, path, id string) []string {
	switch val := v.(type) {
	case string:
		if val == id {
			return []string{"variable " + path}
		}
	case map[string]any:
		keys := make([]string, 0, len(val))
		for k := range val {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			out = append(out, referencesTo(val[k], join(path, k), id)...)
		}
		return out
	case []any:
		var out []string
		for i, e := range val {
			out = append(out, referencesTo(e, fmt.Sprintf("%s[%d]", path, i), id)...)
		}
		return out
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// maxConsumersShown caps the consumers a step message names; status lists
// them all.
const maxConsumersShown = 5

// consumersMessage says who uses what the plan changes, for the step
// message: empty when nobody does.
func consumersMessage(consumers []v1alpha1.Consumer) string {
	if len(consumers) == 0 {
		return ""
	}
	breaking := 0
	for _, c := range consumers {
		if c.Breaks {
			breaking++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Shared: %d other Configuration(s) use what this plan changes", len(consumers))
	if breaking > 0 {
		fmt.Fprintf(&b, ", %d of them lose a resource they refer to", breaking)
	}
	b.WriteString(":")
	for i, c := range consumers {
		if i == maxConsumersShown {
			fmt.Fprintf(&b, "\n  … and %d more (status.consumers)", len(consumers)-i)
			break
		}
		fmt.Fprintf(&b, "\n  - %s: %s", consumerName(c), strings.Join(c.Impacts, "; "))
	}
	return b.String()
}

// consumerName names a consumer as a person knows it: namespace/application
// (component), else its Configuration.
func consumerName(c v1alpha1.Consumer) string {
	if c.Application != "" {
		name := c.Namespace + "/" + c.Application
		if c.Component != "" {
			name += " (component " + c.Component + ")"
		}
		return name
	}
	return "Configuration " + c.Namespace + "/" + c.Configuration
}

// AnnotationDeleteResource marks a Configuration whose application set
// deleteResource itself (the components write it): that application
// decides what its deletion does, and nothing overrides it.
const AnnotationDeleteResource = annotationDeleteResource

// ConsumersOf lists the Configurations of all, other than cfg and those
// being deleted, that hold the id of cfg's own resource (its output id, as
// the retain reconciler reads it): who would be left using an unmanaged or
// destroyed resource if cfg went. Impacts say which id and where it is held
// ("redis-1a2b3c4d in variable id").
func ConsumersOf(cfg *tfv1beta2.Configuration, all []tfv1beta2.Configuration) []v1alpha1.Consumer {
	ids := outputIDs(cfg)
	if len(ids) == 0 {
		return nil
	}
	var consumers []v1alpha1.Consumer
	for i := range all {
		c := &all[i]
		if c.Namespace == cfg.Namespace && c.Name == cfg.Name || c.DeletionTimestamp != nil {
			continue
		}
		vars, _ := tfcfg.RawExtension2Map(c.Spec.Variable)
		var impacts []string
		for _, id := range uses(c, ids) {
			where := referencesTo(vars, "", id)
			if strings.Contains(c.Spec.HCL, `"`+id+`"`) {
				where = append(where, "its HCL")
			}
			impacts = append(impacts, id+" in "+strings.Join(where, ", "))
		}
		if len(impacts) == 0 {
			continue
		}
		consumers = append(consumers, v1alpha1.Consumer{
			Namespace: c.Namespace, Configuration: c.Name,
			Application: c.Labels["app.oam.dev/name"], Component: c.Labels["app.oam.dev/component"],
			Impacts: impacts,
		})
	}
	sort.Slice(consumers, func(i, j int) bool {
		if consumers[i].Namespace != consumers[j].Namespace {
			return consumers[i].Namespace < consumers[j].Namespace
		}
		return consumers[i].Configuration < consumers[j].Configuration
	})
	return consumers
}

// ConsumerName names a consumer as a person knows it: namespace/application
// (component), else its Configuration.
func ConsumerName(c v1alpha1.Consumer) string { return consumerName(c) }
