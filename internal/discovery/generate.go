package discovery

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"gopkg.in/yaml.v3"
)

// KeepPassword is the property of a database component that adopts an
// instance with the password it has, which nobody tells Terraform (the
// cloud never returns one): set when the cloud does not manage the
// instance's password.
const KeepPassword = "keep_existing_password"

// bulkStep names the generated Application's infra-bulk-import step.
const bulkStep = "adopt"

// Adopted is a resource found, as the generated Application adopts it.
type Adopted struct {
	Resource
	// Component is its component's name.
	Component string
	// DependsOn is the parent's component, when the parent was found too.
	DependsOn string
}

// Plan names a component for every resource, none of them a name in
// reserved, and wires each to its parent, parents first (the order of
// found, which Parse returns so).
func Plan(found []Resource, reserved map[string]bool) []Adopted {
	// The import step's name: a component's apply step has the
	// component's.
	taken := map[string]bool{bulkStep: true}
	for name := range reserved {
		taken[name] = true
	}
	byID := map[string]int{}
	out := make([]Adopted, 0, len(found))
	for _, r := range found {
		a := Adopted{Resource: r, Component: componentName(r, taken)}
		if t, _ := typeOf(r.Type); t.Parent != "" {
			if pid, ok := r.Attributes[t.Parent].(string); ok {
				if i, ok := byID[t.ParentType+"/"+pid]; ok {
					a.DependsOn = out[i].Component
				}
			}
		}
		byID[r.Type+"/"+r.ID] = len(out)
		out = append(out, a)
	}
	return out
}

// componentName is the resource's name as a DNS label, or with its type
// appended when another component has it, or a number after that.
func componentName(r Resource, taken map[string]bool) string {
	base := strings.Trim(notLabelRun.ReplaceAllString(strings.ToLower(r.Name), "-"), "-")
	if base == "" {
		base = r.Type
	}
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	name := base
	for i := 1; taken[name] || !dnsLabelRE.MatchString(name); i++ {
		if i == 1 {
			name = base + "-" + r.Type
		} else {
			name = fmt.Sprintf("%s-%s-%d", base, r.Type, i)
		}
	}
	taken[name] = true
	return name
}

// Application is the Application (YAML) that adopts adopted, named name in
// namespace; header is its opening comment (without "# ").
func Application(name, namespace string, adopted []Adopted, header []string) ([]byte, error) {
	app := application{APIVersion: "core.oam.dev/v1beta1", Kind: "Application"}
	app.Metadata.Name = name
	app.Metadata.Namespace = namespace
	parents := map[string]bool{}
	for _, a := range adopted {
		if a.DependsOn != "" {
			parents[a.DependsOn] = true
		}
	}
	bulk := step{Name: bulkStep, Type: "infra-bulk-import", Properties: map[string]any{}}
	var imports []map[string]string
	for _, a := range adopted {
		t, ok := typeOf(a.Type)
		if !ok {
			return nil, fmt.Errorf("resource %s is of type %q, which discovery does not know", a.ID, a.Type)
		}
		c := component{Name: a.Component, Type: t.Component, Properties: properties(t, a)}
		if a.DependsOn != "" {
			c.DependsOn = []string{a.DependsOn}
			c.Inputs = []input{{From: idOutput(a.DependsOn), ParameterKey: t.Parent}}
		}
		if parents[a.Component] {
			c.Outputs = []output{{Name: idOutput(a.Component), ValueFrom: "output.status.apply.outputs.id.value"}}
		}
		app.Spec.Components = append(app.Spec.Components, c)
		imports = append(imports, map[string]string{"component": a.Component, "address": t.Address, "id": a.ID})
	}
	bulk.Properties["imports"] = imports
	app.Spec.Workflow.Steps = append(app.Spec.Workflow.Steps, bulk)
	// The workflow runs as a DAG: every component is applied once the
	// import is done and, for one with a parent, once the parent's apply
	// has given its id, so a level's components are applied at once (each
	// apply waits for one of terraform-controller's Jobs: one after the
	// other, eight resources would take eight Jobs' time). vela-core makes
	// a component's dependsOn a dependency on the step named after that
	// component, so each apply step is named after its component.
	app.Spec.Workflow.Mode = &mode{Steps: "DAG"}
	for _, a := range adopted {
		app.Spec.Workflow.Steps = append(app.Spec.Workflow.Steps, step{
			Name: a.Component, Type: "apply-component", DependsOn: []string{bulk.Name},
			Properties: map[string]any{"component": a.Component},
		})
	}
	var buf bytes.Buffer
	for _, line := range header {
		buf.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(app); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// idOutput names the workflow variable a parent component's id goes by.
func idOutput(component string) string { return component + "-id" }

// properties are the component's properties: what the cloud has for each
// of its module's variables, but the parent's id when an input brings it.
func properties(t Type, a Adopted) map[string]any {
	props := map[string]any{}
	for _, p := range t.Properties {
		v, ok := a.Attributes[p]
		if !ok || v == nil || (p == t.Parent && a.DependsOn != "") {
			continue
		}
		props[p] = plain(v)
	}
	if t.Managed != "" {
		if managed, _ := a.Attributes[t.Managed].(bool); !managed {
			props[KeepPassword] = true
		}
	}
	return props
}

// plain turns JSON's float64 of a whole number back into an integer, so
// the YAML says 50, not 50.0, and the component's int property takes it.
func plain(v any) any {
	if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return v
}

type application struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Components []component `yaml:"components"`
		Workflow   struct {
			Mode  *mode  `yaml:"mode,omitempty"`
			Steps []step `yaml:"steps"`
		} `yaml:"workflow"`
	} `yaml:"spec"`
}

type component struct {
	Name       string         `yaml:"name"`
	Type       string         `yaml:"type"`
	DependsOn  []string       `yaml:"dependsOn,omitempty"`
	Inputs     []input        `yaml:"inputs,omitempty"`
	Properties map[string]any `yaml:"properties"`
	Outputs    []output       `yaml:"outputs,omitempty"`
}

type input struct {
	From         string `yaml:"from"`
	ParameterKey string `yaml:"parameterKey"`
}

type output struct {
	Name      string `yaml:"name"`
	ValueFrom string `yaml:"valueFrom"`
}

type mode struct {
	Steps string `yaml:"steps"`
}

type step struct {
	Name       string         `yaml:"name"`
	Type       string         `yaml:"type"`
	DependsOn  []string       `yaml:"dependsOn,omitempty"`
	Properties map[string]any `yaml:"properties"`
}
