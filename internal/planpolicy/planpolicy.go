// Package planpolicy evaluates InfraPolicy rules: CUE over a plan and its
// target. A rule sees `input` (the plan summary, and the target with the
// application it belongs to, what it adopted and who consumes it) and sets
// `result`, one of the levels, and `message`. The package knows CUE and the
// plan summary, and nothing of Kubernetes.
package planpolicy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Levels a rule's result may take, weakest first; Pass is no finding.
const (
	Pass      = "pass"
	Approve   = "approve"
	Advisory  = "advisory"
	Mandatory = "mandatory"
)

// Levels lists the results a rule may set.
var Levels = []string{Pass, Advisory, Mandatory, Approve}

// schema is what a rule is evaluated against: input is filled in, result
// and message are the rule's to set.
const schema = `
#Attribute: {path: string, before: string, after: string}
#Resource: {
	address: string
	type:    string
	name:    string
	action:  "create" | "update" | "delete" | "replace" | "import" | "drift"
	attributes: [...#Attribute]
}
#Consumer: {
	namespace:     string
	configuration: string
	application:   string
	component:     string
	breaks:        bool
	impacts: [...string]
}
#Input: {
	plan: {
		id:        string
		add:       int
		change:    int
		destroy:   int
		replace:   int
		"import":  int
		resources: [...#Resource]
	}
	target: {
		namespace:     string
		configuration: string
		application:   string
		component:     string
		adopted: [...string]
		shared: bool
		consumers: [...#Consumer]
	}
}
input:   #Input
result:  *"pass" | "advisory" | "mandatory" | "approve"
message: *"" | string
`

// Target is what a plan changes, as a rule sees it.
type Target struct {
	Namespace     string `json:"namespace"`
	Configuration string `json:"configuration"`
	Application   string `json:"application"`
	Component     string `json:"component"`
	// Adopted are the addresses adopted by infra-import.
	Adopted []string `json:"adopted"`
	// Shared is true when other Configurations use a resource the plan
	// changes (Consumers).
	Shared    bool       `json:"shared"`
	Consumers []Consumer `json:"consumers"`
}

// Consumer is a Configuration using what the plan changes.
type Consumer struct {
	Namespace     string   `json:"namespace"`
	Configuration string   `json:"configuration"`
	Application   string   `json:"application"`
	Component     string   `json:"component"`
	Breaks        bool     `json:"breaks"`
	Impacts       []string `json:"impacts"`
}

// Input is what a rule evaluates.
type Input struct {
	Plan   Plan   `json:"plan"`
	Target Target `json:"target"`
}

// Plan is the plan summary as a rule sees it.
type Plan struct {
	ID        string     `json:"id"`
	Add       int        `json:"add"`
	Change    int        `json:"change"`
	Destroy   int        `json:"destroy"`
	Replace   int        `json:"replace"`
	Import    int        `json:"import"`
	Resources []Resource `json:"resources"`
}

// Resource is one changed resource; Type and Name come from its address.
type Resource struct {
	Address    string      `json:"address"`
	Type       string      `json:"type"`
	Name       string      `json:"name"`
	Action     string      `json:"action"`
	Attributes []Attribute `json:"attributes"`
}

// Attribute is one attribute's before and after ("(sensitive)" when so).
type Attribute struct {
	Path   string `json:"path"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// NewInput makes the input of a rule from a plan summary and its target.
func NewInput(s *v1alpha1.PlanSummary, t Target) Input {
	in := Input{Target: t}
	if in.Target.Adopted == nil {
		in.Target.Adopted = []string{}
	}
	if in.Target.Consumers == nil {
		in.Target.Consumers = []Consumer{}
	}
	for i := range in.Target.Consumers {
		if in.Target.Consumers[i].Impacts == nil {
			in.Target.Consumers[i].Impacts = []string{}
		}
	}
	if s == nil {
		in.Plan.Resources = []Resource{}
		return in
	}
	in.Plan = Plan{ID: s.ID, Add: s.Add, Change: s.Change, Destroy: s.Destroy, Replace: s.Replace, Import: s.Import, Resources: []Resource{}}
	for _, r := range s.Resources {
		typ, name := typeAndName(r.Address)
		res := Resource{Address: r.Address, Type: typ, Name: name, Action: r.Action, Attributes: []Attribute{}}
		for _, a := range r.Attributes {
			res.Attributes = append(res.Attributes, Attribute(a))
		}
		in.Plan.Resources = append(in.Plan.Resources, res)
	}
	return in
}

// typeAndName splits a resource address ("module.net.mycloud_vpc.this[0]")
// into its type and name.
func typeAndName(address string) (string, string) {
	if i := strings.IndexByte(address, '['); i >= 0 {
		address = address[:i]
	}
	parts := strings.Split(address, ".")
	if len(parts) < 2 {
		return "", address
	}
	return parts[len(parts)-2], parts[len(parts)-1]
}

// Rule is a compiled policy rule.
type Rule struct {
	ctx    *cue.Context
	source string
	schema cue.Value
}

// Compile checks a rule: it must compile, and evaluate to a result that is
// one of the levels for an empty plan (a rule that reads a field the input
// does not have, or sets a result that is no level, fails here). The error
// is CUE's, with the rule's line and column.
func Compile(source string) (*Rule, error) {
	ctx := cuecontext.New()
	schemaValue := ctx.CompileString(schema, cue.Filename("schema.cue"))
	if err := schemaValue.Err(); err != nil {
		return nil, fmt.Errorf("policy schema: %w", err)
	}
	r := &Rule{ctx: ctx, source: source, schema: schemaValue}
	for _, in := range samples() {
		if _, err := r.Eval(in); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// samples are the inputs a rule is checked against when it is compiled:
// no change, and one change of each kind.
func samples() []Input {
	empty := NewInput(&v1alpha1.PlanSummary{ID: "sample"}, Target{Namespace: "default", Configuration: "sample"})
	one := NewInput(&v1alpha1.PlanSummary{ID: "sample", Change: 1, Resources: []v1alpha1.ResourceChange{{
		Address: "mycloud_bucket.this", Action: "update",
		Attributes: []v1alpha1.AttributeChange{{Path: "tags.env", Before: "dev", After: "prod"}},
	}}}, Target{Namespace: "default", Configuration: "sample", Shared: true,
		Consumers: []Consumer{{Namespace: "team-a", Configuration: "other", Breaks: true, Impacts: []string{"sample"}}}})
	return []Input{empty, one}
}

// Result is one rule's verdict on one input.
type Result struct {
	Level   string
	Message string
}

// Eval evaluates the rule on in.
func (r *Rule) Eval(in Input) (Result, error) {
	scope := r.schema.FillPath(cue.ParsePath("input"), in)
	if err := scope.Err(); err != nil {
		return Result{}, fmt.Errorf("the input does not fit the policy schema: %w", err)
	}
	v := r.ctx.CompileString(r.source, cue.Filename(ruleFile), cue.Scope(scope))
	if err := v.Err(); err != nil {
		return Result{}, cueError(err)
	}
	// A result that is no level, said plainly (unified with the schema,
	// CUE lists every level it conflicts with).
	if res := v.LookupPath(cue.ParsePath("result")); res.Exists() && res.IsConcrete() {
		if level, err := res.String(); err != nil || !slices.Contains(Levels, level) {
			return Result{}, fmt.Errorf("result %v%s is not one of %s", res, at(res.Pos()), strings.Join(Levels, ", "))
		}
	}
	if msg := v.LookupPath(cue.ParsePath("message")); msg.Exists() && msg.IsConcrete() && msg.Kind() != cue.StringKind {
		return Result{}, fmt.Errorf("message %v%s is not a string", msg, at(msg.Pos()))
	}
	v = v.Unify(r.schema.FillPath(cue.ParsePath("input"), in))
	if err := v.Validate(cue.Concrete(true)); err != nil {
		return Result{}, cueError(err)
	}
	level, err := v.LookupPath(cue.ParsePath("result")).String()
	if err != nil {
		return Result{}, cueError(err)
	}
	msg, err := v.LookupPath(cue.ParsePath("message")).String()
	if err != nil {
		return Result{}, cueError(err)
	}
	return Result{Level: level, Message: msg}, nil
}

// cueError flattens CUE's error list into one line, each error with its
// positions in the rule (not in the schema).
func cueError(err error) error {
	var lines []string
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		line := fmt.Sprintf(format, args...)
		if path := strings.Join(e.Path(), "."); path != "" {
			line = path + ": " + line
		}
		var where []string
		for _, pos := range cueerrors.Positions(e) {
			if pos.Filename() == ruleFile {
				where = append(where, fmt.Sprintf("%s:%d:%d", ruleFile, pos.Line(), pos.Column()))
			}
		}
		if len(where) > 0 {
			line += " (" + strings.Join(slices.Compact(where), ", ") + ")"
		}
		lines = append(lines, line)
	}
	return errors.New(strings.Join(slices.Compact(lines), "; "))
}

// ruleFile names the rule in CUE's positions.
const ruleFile = "rule.cue"

// at is " (rule.cue:line:column)" for a position in the rule.
func at(pos token.Pos) string {
	if pos.Filename() != ruleFile {
		return ""
	}
	return fmt.Sprintf(" (%s:%d:%d)", ruleFile, pos.Line(), pos.Column())
}

// Strongest is the level that decides among results: any mandatory denies;
// any advisory needs a person (who reads it); otherwise any approve passes
// the change without one.
func Strongest(levels []string) string {
	rank := map[string]int{Pass: 0, Approve: 1, Advisory: 2, Mandatory: 3}
	best := Pass
	for _, l := range levels {
		if rank[l] > rank[best] {
			best = l
		}
	}
	return best
}
