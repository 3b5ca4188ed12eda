package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"text/template"

	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/literal"
	"github.com/zclconf/go-cty/cty"
)

// definition is everything the templates below need for one component.
type definition struct {
	Name        string
	Description string
	Module      *module
	Properties  []property
	// ManagedPassword, when set, is the render-time check that exactly one
	// of the password, its manage flag and its keep flag is given.
	ManagedPassword *managedPasswordCheck
	// IPv4Block: a check reads a CIDR block with the #IPv4Block helper,
	// which needs the strings and strconv packages.
	IPv4Block bool
}

// property is one module variable as a component property.
type property struct {
	Name    string
	CUEType string
	Default string // CUE literal; empty when required or when the default is null
	// Required properties are those whose variable has no default. They
	// are declared with their plain type ("subnet_id: string"), never
	// checked for presence: a property that inputs fill in from another
	// component's output is absent when vela-core's admission webhook
	// renders the component, and must be admitted then. Still absent when
	// the workflow renders it, CUE reports the incomplete value at
	// output.spec.variable.<property>.
	Required bool
	// Optional properties are declared "name?:" and get their default,
	// if any, in the output: every variable with a default (as a CUE
	// default in the parameter, *1024 | number, a value of the wrong type
	// would fail as "2 errors in empty disjunction" instead of naming the
	// type, and a default of {} would accept any struct), and variables
	// whose default is null, left out of the output when not given so that
	// the module's null applies.
	Optional  bool
	Usage     string
	TypeDoc   string
	Sensitive bool
	Checks    []check
}

// managedPasswordCheck is a rendered managedPassword rule. Rendering fails
// at check.<Password> with None when none of the password, Flag: true and
// Keep: true is given; at check.<Flag> with PasswordAndFlag when the
// password and Flag: true are; at check.<Keep> with PasswordAndKeep when
// the password and Keep: true are, or with FlagAndKeep when the two flags
// are (and no password).
type managedPasswordCheck struct {
	Password, Flag, Keep                                string
	None, PasswordAndFlag, PasswordAndKeep, FlagAndKeep string
}

// check is one render-time check: when Valid does not hold, rendering fails
// at check.<property> with Message, or with MessageCUE, a CUE string
// expression that may quote the value (never set for a sensitive one).
type check struct {
	Valid      string
	Message    string
	MessageCUE string
}

func newDefinition(c component, m *module) (*definition, error) {
	d := &definition{Name: "mycloud-" + c.Type, Description: c.Description, Module: m}
	seen := map[string]bool{}
	for _, v := range m.Variables {
		seen[v.Name] = true
		p := property{Name: v.Name, Usage: v.Description, Sensitive: v.Sensitive}
		if strings.ContainsAny(v.Description, "\n\r") {
			return nil, fmt.Errorf("%s: variable %q: the description must be one line (it becomes a +usage comment)", m.Path, v.Name)
		}
		var err error
		if p.CUEType, p.TypeDoc, err = cueType(v.Type); err != nil {
			return nil, fmt.Errorf("%s: variable %q: %w", m.Path, v.Name, err)
		}
		switch {
		case !v.HasDefault:
			p.Required = true
		case v.Default.IsNull():
			p.Optional = true
		default:
			if p.Default, err = cueLiteral(v.Default); err != nil {
				return nil, fmt.Errorf("%s: variable %q: default: %w", m.Path, v.Name, err)
			}
			if v.Type.IsMapType() && p.Default != "{}" {
				return nil, fmt.Errorf("%s: variable %q: definitions/gen supports only {} as the default of a map", m.Path, v.Name)
			}
			p.Optional = true
		}
		r, ok := c.Rules[v.Name]
		switch {
		case !ok && len(v.ErrorMessages) > 0:
			return nil, fmt.Errorf("%s: variable %q has a validation block but definitions/gen has no rule for it", m.Path, v.Name)
		case !ok && v.Sensitive:
			return nil, fmt.Errorf("%s: sensitive variable %q needs a rule in definitions/gen (the module cannot validate it)", m.Path, v.Name)
		case ok && len(r.Valid) == 0 && len(r.Cloud) == 0:
			return nil, fmt.Errorf("definitions/gen: the rule for %s.%s has no condition", c.Type, v.Name)
		case ok && len(r.Valid) == 0 && len(v.ErrorMessages) > 0:
			return nil, fmt.Errorf("definitions/gen: the rule for %s.%s has only cloud checks, but the module validates it: mirror its validation in Valid", c.Type, v.Name)
		}
		if ok && len(r.Valid) > 0 {
			msg := strings.Join(v.ErrorMessages, " ")
			switch {
			case r.Message != "" && msg != "":
				return nil, fmt.Errorf("definitions/gen: the rule for %s.%s sets a message, but the module's validation already has one: %q", c.Type, v.Name, msg)
			case r.Message != "":
				msg = fmt.Sprintf("The %s %s.", v.Name, r.Message)
			case msg == "":
				return nil, fmt.Errorf("definitions/gen: the rule for %s.%s needs a message (the module has no validation for it)", c.Type, v.Name)
			}
			for _, cond := range r.Valid {
				p.Checks = append(p.Checks, check{Valid: strings.ReplaceAll(cond, "{v}", "parameter."+v.Name), Message: msg})
			}
		}
		if ok {
			for _, cc := range r.Cloud {
				if cc.Valid == "" || (cc.Message == "") == (cc.MessageCUE == "") {
					return nil, fmt.Errorf("definitions/gen: a cloud check of %s.%s needs a condition and one message", c.Type, v.Name)
				}
				if cc.MessageCUE != "" && v.Sensitive {
					return nil, fmt.Errorf("definitions/gen: a cloud check of %s.%s quotes the value, which is sensitive", c.Type, v.Name)
				}
				p.Checks = append(p.Checks, check{Valid: strings.ReplaceAll(cc.Valid, "{v}", "parameter."+v.Name),
					Message: cc.Message, MessageCUE: strings.ReplaceAll(cc.MessageCUE, "{v}", "parameter."+v.Name)})
			}
			d.IPv4Block = d.IPv4Block || r.IPv4Block
		}
		d.Properties = append(d.Properties, p)
	}
	for name := range c.Rules {
		if !seen[name] {
			return nil, fmt.Errorf("definitions/gen: rule for %s.%s, but %s has no such variable", c.Type, name, m.Path)
		}
	}
	if c.ManagedPassword != nil {
		mp, err := newManagedPasswordCheck(c, m)
		if err != nil {
			return nil, err
		}
		d.ManagedPassword = mp
	}
	for _, name := range []string{"writeConnectionSecretToRef", "providerRef", "deleteResource"} {
		if seen[name] {
			return nil, fmt.Errorf("%s: variable %q clashes with a property the definition adds", m.Path, name)
		}
	}
	return d, nil
}

// newManagedPasswordCheck renders c.ManagedPassword after checking that the
// module declares what the check assumes: the password a sensitive string
// variable whose default is null, the flags bool variables whose default is
// false.
func newManagedPasswordCheck(c component, m *module) (*managedPasswordCheck, error) {
	mp := c.ManagedPassword
	vars := map[string]variable{}
	for _, v := range m.Variables {
		vars[v.Name] = v
	}
	pw, ok := vars[mp.Password]
	switch {
	case !ok:
		return nil, fmt.Errorf("definitions/gen: managed password of %s: %s has no variable %q", c.Type, m.Path, mp.Password)
	case pw.Type != cty.String || !pw.Sensitive || !pw.HasDefault || !pw.Default.IsNull():
		return nil, fmt.Errorf("definitions/gen: managed password of %s: variable %q must be a sensitive string whose default is null", c.Type, mp.Password)
	}
	for _, name := range []string{mp.Flag, mp.Keep} {
		flag, ok := vars[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("definitions/gen: managed password of %s: %s has no variable %q", c.Type, m.Path, name)
		case flag.Type != cty.Bool || !flag.HasDefault || flag.Default.IsNull() || flag.Default.True():
			return nil, fmt.Errorf("definitions/gen: managed password of %s: variable %q must be a bool whose default is false", c.Type, name)
		}
	}
	oneOf := fmt.Sprintf("Set exactly one of %s, %s: true and %s: true", mp.Password, mp.Flag, mp.Keep)
	return &managedPasswordCheck{
		Password: mp.Password, Flag: mp.Flag, Keep: mp.Keep,
		None: fmt.Sprintf("%s; none is set. With %s: true mycloud generates the password and keeps it as a secret, whose id the module outputs; %s: true is for an instance that exists (adopted with infra-import or infra-bulk-import), which keeps the password it has.",
			oneOf, mp.Flag, mp.Keep),
		PasswordAndFlag: fmt.Sprintf("%s; both are set: %s and %s: true. With %s: true mycloud generates the password: leave %s out.",
			oneOf, mp.Password, mp.Flag, mp.Flag, mp.Password),
		PasswordAndKeep: fmt.Sprintf("%s; both are set: %s and %s: true. With %s: true the instance keeps the password it has: leave %s out (given, it becomes the instance's new password).",
			oneOf, mp.Password, mp.Keep, mp.Keep, mp.Password),
		FlagAndKeep: fmt.Sprintf("%s; both are set: %s: true and %s: true. An instance whose password mycloud manages takes %s: true alone, adopted or not; %s: true is for one whose password its owners set.",
			oneOf, mp.Flag, mp.Keep, mp.Flag, mp.Keep),
	}, nil
}

// cueType maps a Terraform type constraint to a CUE type and to the type
// shown in the README.
func cueType(t cty.Type) (cue, doc string, err error) {
	switch {
	case t == cty.String:
		return "string", "string", nil
	case t == cty.Number:
		return "number", "number", nil
	case t == cty.Bool:
		return "bool", "bool", nil
	case t.IsMapType() && t.ElementType() == cty.String:
		return "{[string]: string}", "map of strings", nil
	}
	return "", "", fmt.Errorf("type %s has no CUE mapping in definitions/gen", t.FriendlyName())
}

// cueLiteral renders a default value as a CUE literal.
func cueLiteral(v cty.Value) (string, error) {
	if v.IsNull() || !v.IsKnown() {
		return "", fmt.Errorf("null or unknown default")
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return literal.String.Quote(v.AsString()), nil
	case t == cty.Number:
		f := v.AsBigFloat()
		if f.IsInt() {
			i, _ := f.Int(nil)
			return i.String(), nil
		}
		return f.Text('g', -1), nil
	case t == cty.Bool:
		if v.True() {
			return "true", nil
		}
		return "false", nil
	case t.IsObjectType() || t.IsMapType():
		if v.LengthInt() == 0 {
			return "{}", nil
		}
		var keys []string
		m := v.AsValueMap()
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			s, err := cueLiteral(m[k])
			if err != nil {
				return "", err
			}
			parts = append(parts, literal.Label.Quote(k)+": "+s)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("default of type %s has no CUE rendering in definitions/gen", t.FriendlyName())
}

// statusFields reads what both the health policy and the status message
// need from the Configuration: its generation, terraform-controller's
// observed generation and the apply state.
const statusFields = `
_generation: *0 | int
if context.output.metadata.generation != _|_ {
	_generation: context.output.metadata.generation
}
_observed: *0 | int
if context.output.status.observedGeneration != _|_ {
	_observed: context.output.status.observedGeneration
}
_state: *"" | string
if context.output.status.apply.state != _|_ {
	_state: context.output.status.apply.state
}
`

// healthPolicy mirrors how KubeVela judges its own terraform components
// (pkg/controller/core.oam.dev/v1beta1/application/apply.go, setStatus):
// healthy when terraform-controller has observed the current generation and
// the apply state is Available.
const healthPolicy = statusFields + `isHealth: _state == "Available" && (_observed == 0 || _observed >= _generation)
`

// customStatus carries terraform-controller's own words, "<state>: <message>",
// or, while an apply is failing, Terraform's error, which vela-infra's
// step-runner notes on the Configuration from the failed Job's log
// (terraform-controller's own message then says little more than that a
// container is waiting); and, when the step-runner keeps the Configuration's
// resources from being destroyed with it (adopted or shared), why.
const customStatus = statusFields + `_message: *"" | string
if context.output.status.apply.message != _|_ {
	_message: context.output.status.apply.message
}
_annotations: *{} | {...}
if context.output.metadata.annotations != _|_ {
	_annotations: context.output.metadata.annotations
}
_failed: *"" | string
if _annotations["infra.vela-infra.io/apply-error"] != _|_ if _state != "Available" {
	_failed: "the last terraform apply failed: \(_annotations["infra.vela-infra.io/apply-error"])"
}
_kept: *"" | string
if _annotations["infra.vela-infra.io/retained"] != _|_ {
	_kept: "; kept in the cloud when deleted: \(_annotations["infra.vela-infra.io/retained"])"
}
if _state == "" || (_observed != 0 && _observed < _generation) {
	if _failed == "" {
		message: "Waiting for terraform-controller to apply the Configuration\(_kept)"
	}
	if _failed != "" {
		message: "Waiting for terraform-controller to apply the Configuration; \(_failed)\(_kept)"
	}
}
if _state != "" && (_observed == 0 || _observed >= _generation) {
	if _failed != "" {
		message: "\(_state): \(_failed)\(_kept)"
	}
	if _failed == "" && _message == "" {
		message: "\(_state)\(_kept)"
	}
	if _failed == "" && _message != "" {
		message: "\(_state): \(_message)\(_kept)"
	}
}
`

const definitionTemplate = `// Code generated by definitions/gen from {{.Module.Path}}; DO NOT EDIT.
// Change the module or definitions/gen, then run: make generate
{{- if .IPv4Block}}

import (
	"strconv"
	"strings"
)
{{- end}}

{{quote .Name}}: {
	type:        "component"
	description: {{quote .Description}}
	// Not the annotation type: "terraform": KubeVela would then render the
	// component through its terraform schematic, which checks no property.
	annotations: {
		"category": "Terraform"
	}
	labels: {}
	attributes: {
		// Not workload.definition Configuration: vela show <file>.cue would
		// then need a cluster to map the kind.
		workload: type: "autodetects.core.oam.dev"
		status: {
			healthPolicy: {{multiline 3 healthPolicy}}
			customStatus: {{multiline 3 customStatus}}
		}
	}
}

template: {
	// A terraform-controller Configuration named after the component: the
	// module's HCL, the properties as its variables, the mycloud Provider's
	// credentials, and the module's outputs written to a Secret.
	output: {
		apiVersion: "terraform.core.oam.dev/v1beta2"
		kind:       "Configuration"
		metadata: {
			name: context.name
			// An explicit deleteResource: vela-infra's step-runner does not
			// override it (it keeps adopted and shared resources otherwise).
			if parameter.deleteResource != _|_ {
				annotations: "infra.vela-infra.io/delete-resource": "\(parameter.deleteResource)"
			}
		}
		spec: {
			hcl: _module
			variable: {
{{- range .Properties}}
{{- $g := sensitiveGuard $ .}}
{{- if $g}}
				// Only with every required property given: vela-core logs the
				// whole object when a value is incomplete.
				{{$g}}{
{{- end}}
{{- if and .Optional .Default}}
				if parameter.{{.Name}} == _|_ {
					{{.Name}}: {{.Default}}
				}
				if parameter.{{.Name}} != _|_ {
					{{.Name}}: parameter.{{.Name}}
				}
{{- else if .Optional}}
				if parameter.{{.Name}} != _|_ {
					{{.Name}}: parameter.{{.Name}}
				}
{{- else}}
				{{.Name}}: parameter.{{.Name}}
{{- end}}
{{- if $g}}
				}
{{- end}}
{{- end}}
			}
			providerRef: {
				name:      *"mycloud" | string
				namespace: *"default" | string
				if parameter.providerRef != _|_ {
					name: parameter.providerRef.name
					if parameter.providerRef.namespace != _|_ {
						namespace: parameter.providerRef.namespace
					}
				}
			}
			writeConnectionSecretToRef: {
				name:      *"\(context.name)-conn" | string
				namespace: *context.namespace | string
				if parameter.writeConnectionSecretToRef != _|_ {
					name: parameter.writeConnectionSecretToRef.name
					if parameter.writeConnectionSecretToRef.namespace != _|_ {
						namespace: parameter.writeConnectionSecretToRef.namespace
					}
				}
			}
			// Unset: terraform-controller's default (true), which the
			// step-runner sets false for adopted and shared resources.
			if parameter.deleteResource != _|_ {
				deleteResource: parameter.deleteResource
			}
		}
	}

	// Render-time checks. A property that breaks a rule of the module's
	// variable validation (or a rule of the cloud the module does not hold:
	// the password policy, the zones) fails rendering here, at
	// check.<property>, with the module's message (or the cloud's), before
	// terraform-controller runs anything. A password is never echoed.
	// Each property's checks run only when it is given (parameter.<p> !=
	// _|_ is false for a required one that is absent, of plain type
	// string). A required property that is absent is no error here: inputs
	// may fill it in from another component's output, which vela-core's
	// admission webhook does not do. Still absent when the workflow renders
	// the component, it fails at output.spec.variable.<property> as an
	// incomplete value.
	check: {
{{- range .Properties}}
{{- $p := .}}
{{- if .Checks}}
		if parameter.{{.Name}} != _|_ {
{{- end}}
{{- range $i, $c := .Checks}}
		{{guard $p $i}}if !({{$c.Valid}}) {
			{{$p.Name}}: {{message $c}} & false
		}{{unguard $p $i}}
{{- end}}
{{- if .Checks}}
		}
{{- end}}
{{- end}}
{{- with .ManagedPassword}}
		// Exactly one of the password and the two flags: the module says it
		// in a precondition, at terraform plan; this says it before anything
		// runs. Whether an instance to keep exists only the provider knows:
		// it refuses to create one with neither the password nor the manage
		// flag.
		if !_passwordSet.password && !_passwordSet.managed && !_passwordSet.kept {
			{{.Password}}: {{quote .None}} & false
		}
		if _passwordSet.password && _passwordSet.managed {
			{{.Flag}}: {{quote .PasswordAndFlag}} & false
		}
		if _passwordSet.password && _passwordSet.kept {
			{{.Keep}}: {{quote .PasswordAndKeep}} & false
		}
		if !_passwordSet.password && _passwordSet.managed && _passwordSet.kept {
			{{.Keep}}: {{quote .FlagAndKeep}} & false
		}
{{- end}}
		if parameter.writeConnectionSecretToRef != _|_ {
			if !(parameter.writeConnectionSecretToRef.name =~ "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" && len(parameter.writeConnectionSecretToRef.name) <= 253) {
				writeConnectionSecretToRef: name: "The writeConnectionSecretToRef.name must be a Secret name: lower-case letters, digits, '-' and '.', at most 253 characters." & false
			}
		}
	}

{{- with .ManagedPassword}}

	// Which of the password and its two flags the properties set: a flag
	// counts when true; one of the wrong type, which fails at
	// output.spec.variable.<property>, counts as not set.
	_passwordSet: {
		password: parameter.{{.Password}} != _|_
		managed:  *false | bool
		if parameter.{{.Flag}} != _|_ {
			managed: parameter.{{.Flag}}
		}
		kept: *false | bool
		if parameter.{{.Keep}} != _|_ {
			kept: parameter.{{.Keep}}
		}
	}
{{- end}}

	parameter: close({
{{- range .Properties}}
{{- if .Optional}}
		// +usage={{.Usage}}{{if .Default}} Default: {{.Default}}.{{end}}
		{{.Name}}?: {{.CUEType}}
{{- else}}
		// +usage={{.Usage}}
		{{.Name}}: {{if .Default}}*{{.Default}} | {{end}}{{.CUEType}}
{{- end}}
{{- end}}
		// +usage=Secret that receives the module's outputs ({{outputs .Module}}); default: <component name>-conn in the application's namespace
		writeConnectionSecretToRef?: close({
			// +usage=Name of the Secret
			name: string
			// +usage=Namespace of the Secret; default: the application's namespace
			namespace?: string
		})
		// +usage=terraform-controller Provider with the mycloud credentials; default: mycloud in namespace default, which the addon terraform-mycloud installs
		providerRef?: close({
			// +usage=Name of the Provider
			name: string
			// +usage=Namespace of the Provider; default: default
			namespace?: string
		})
		// +usage=Destroy the cloud resources when the component is deleted; false leaves them in the cloud. Not set: destroy, except what infra-import adopted and what other Configurations use, which vela-infra keeps (vela status says why)
		deleteResource?: bool
	})

{{- if .IPv4Block}}

	{{ipv4Block}}
{{- end}}

	// {{.Module.Path}}, verbatim.
	_module: {{multiline 2 .Module.HCL}}
}
`

var funcs = template.FuncMap{
	"quote": literal.String.Quote,
	"message": func(c check) string {
		if c.MessageCUE != "" {
			return c.MessageCUE
		}
		return literal.String.Quote(c.Message)
	},
	"ipv4Block":    ipv4BlockHelper,
	"multiline":    rawMultiline,
	"healthPolicy": func() string { return strings.Trim(healthPolicy, "\n") },
	"customStatus": func() string { return strings.Trim(customStatus, "\n") },
	"outputs": func(m *module) string {
		var names []string
		for _, o := range m.Outputs {
			names = append(names, o.Name)
		}
		return strings.Join(names, ", ")
	},
	// A check after the first of a property runs only when the ones before
	// it hold: guard opens the nested ifs, unguard closes them.
	"guard": func(p property, i int) string {
		var b strings.Builder
		for _, c := range p.Checks[:i] {
			b.WriteString("if " + c.Valid + " {\n")
		}
		return b.String()
	},
	"unguard":        func(_ property, i int) string { return strings.Repeat("\n}", i) },
	"sensitiveGuard": sensitiveGuard,
}

// sensitiveGuard opens the ifs that keep a sensitive property out of the
// output while a required property (another one) is absent. Absent when
// the workflow renders the component, a required property leaves the
// output incomplete, and vela-core (kubevela/workflow's
// model.Instance.Unstructured) then logs the whole output object along
// with the error: the password must not be in it. It returns "" for a
// property that is not sensitive, or when there is no other required one.
func sensitiveGuard(d *definition, p property) string {
	if !p.Sensitive {
		return ""
	}
	var b strings.Builder
	for _, r := range d.Properties {
		if r.Required && r.Name != p.Name {
			b.WriteString("if parameter." + r.Name + " != _|_ ")
		}
	}
	return b.String()
}

// rawMultiline renders s as a raw multi-line CUE string (#"""...."""#), its
// lines indented by tabs, so CUE snippets and HCL read as they are written.
// The value is s exactly, trailing newline included.
func rawMultiline(tabs int, s string) (string, error) {
	if strings.Contains(s, `"""#`) || strings.Contains(s, `\#`) {
		return "", fmt.Errorf("text contains \"\"\"# or \\#, which a #\"\"\"...\"\"\"# string cannot hold")
	}
	indent := strings.Repeat("\t", tabs)
	var b strings.Builder
	b.WriteString("#\"\"\"\n")
	for _, line := range strings.Split(s, "\n") {
		if line != "" {
			b.WriteString(indent + line)
		}
		b.WriteString("\n")
	}
	b.WriteString(indent + `"""#`)
	return b.String(), nil
}

var defTmpl = template.Must(template.New("definition").Funcs(funcs).Parse(definitionTemplate))

// renderDefinition returns the definition's .cue file, formatted as cue fmt
// would.
func renderDefinition(d *definition) ([]byte, error) {
	var buf bytes.Buffer
	if err := defTmpl.Execute(&buf, d); err != nil {
		return nil, err
	}
	out, err := format.Source(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format %s: %w\n%s", d.Name, err, buf.Bytes())
	}
	return out, nil
}
