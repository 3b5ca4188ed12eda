// Package hclguard decides whether a tenant's Terraform configuration may run
// in the step-runner, before any Terraform command sees it.
//
// The step-runner runs every tenant's HCL in one process with one service
// account, so the HCL must not reach outside its own state and provider:
// another state (terraform_remote_state), the step-runner's own files
// (file(), templatefile(), local modules outside the workspace), commands
// (provisioners), another backend, or a provider nobody installed for it.
// The check parses the configuration with hashicorp/hcl and walks its blocks
// and expressions; it never evaluates anything.
package hclguard

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Builtin is the provider Terraform ships in its own binary (terraform_data,
// terraform_remote_state). Its resources are allowed; its remote state data
// source is not.
const Builtin = "terraform"

// fileFunctions read files on the machine that runs Terraform: in the
// step-runner, another tenant's workspace or the service account token.
var fileFunctions = map[string]bool{
	"file": true, "filebase64": true, "fileexists": true, "fileset": true, "templatefile": true,
	"filemd5": true, "filesha1": true, "filesha256": true, "filesha512": true,
	"filebase64sha256": true, "filebase64sha512": true, "abspath": true, "pathexpand": true,
}

// Violation is one thing the configuration may not do.
type Violation struct {
	// Line is the 1-based line of the offending block or expression.
	Line int
	// Block names it as written, e.g. `data "terraform_remote_state" "x"`.
	Block string
	// Reason says what is refused and why.
	Reason string
}

func (v Violation) String() string {
	return fmt.Sprintf("line %d: %s: %s", v.Line, v.Block, v.Reason)
}

// Error lists every violation found, in line order.
type Error struct {
	Violations []Violation
}

func (e *Error) Error() string {
	const shown = 3
	parts := make([]string, 0, shown)
	for i, v := range e.Violations {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Violations)-shown))
			break
		}
		parts = append(parts, v.String())
	}
	return strings.Join(parts, "; ")
}

// Policy says which providers the configuration may use, by type name
// (the last part of a source address: "mycloud" for vela-infra/mycloud).
// The builtin terraform provider is always allowed.
type Policy struct {
	AllowedProviders []string
}

func (p Policy) allows(provider string) bool {
	if provider == Builtin {
		return true
	}
	for _, a := range p.AllowedProviders {
		if a == provider {
			return true
		}
	}
	return false
}

// Check parses src (HCL native syntax, as a Configuration's spec.hcl) and
// returns an *Error when it does something a tenant's configuration may not
// do, or does not parse.
func (p Policy) Check(filename string, src []byte) error {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return &Error{Violations: parseViolations(diags)}
	}
	c := &checker{policy: p}
	c.body(file.Body.(*hclsyntax.Body), nil)
	if len(c.found) == 0 {
		return nil
	}
	sort.SliceStable(c.found, func(i, j int) bool { return c.found[i].Line < c.found[j].Line })
	return &Error{Violations: c.found}
}

func parseViolations(diags hcl.Diagnostics) []Violation {
	var out []Violation
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		v := Violation{Block: "syntax", Reason: d.Summary}
		if d.Detail != "" {
			v.Reason += ": " + d.Detail
		}
		if d.Subject != nil {
			v.Line = d.Subject.Start.Line
		}
		out = append(out, v)
	}
	return out
}

type checker struct {
	policy Policy
	found  []Violation
}

func (c *checker) refuse(line int, block, format string, args ...any) {
	c.found = append(c.found, Violation{Line: line, Block: block, Reason: fmt.Sprintf(format, args...)})
}

// body checks the blocks and expressions of one body; parents are the
// types of the enclosing blocks, outermost first.
func (c *checker) body(b *hclsyntax.Body, parents []string) {
	for _, attr := range b.Attributes {
		c.expression(attr.Expr)
	}
	for _, blk := range b.Blocks {
		c.block(blk, parents)
		c.body(blk.Body, append(parents, blk.Type))
	}
}

func (c *checker) block(blk *hclsyntax.Block, parents []string) {
	line := blk.TypeRange.Start.Line
	name := describe(blk)
	parent := ""
	if len(parents) > 0 {
		parent = parents[len(parents)-1]
	}
	switch {
	case blk.Type == "provisioner":
		c.refuse(line, name, "provisioners run commands on the step-runner; use a provider resource instead")
	case parent == "terraform" && (blk.Type == "backend" || blk.Type == "cloud"):
		c.refuse(line, "terraform { "+blk.Type+" }", "the state backend is terraform-controller's; remove the %s block", blk.Type)
	case parent == "terraform" && blk.Type == "required_providers":
		c.requiredProviders(blk)
	case blk.Type == "data" && len(blk.Labels) > 0 && blk.Labels[0] == "terraform_remote_state":
		c.refuse(line, name, "reading another Terraform state is not allowed; take the value from the owner's outputs (a connection Secret or a component output)")
	case (blk.Type == "resource" || blk.Type == "data") && len(blk.Labels) > 0 && parent != "terraform":
		if p := impliedProvider(blk.Labels[0]); !c.policy.allows(p) {
			c.refuse(line, name, "provider %q is not allowed here (allowed: %s)", p, c.allowed())
		}
	case blk.Type == "provider" && len(blk.Labels) > 0 && len(parents) == 0:
		if !c.policy.allows(blk.Labels[0]) {
			c.refuse(line, name, "provider %q is not allowed here (allowed: %s)", blk.Labels[0], c.allowed())
		}
		c.providerSettings(blk)
	case blk.Type == "module" && len(parents) == 0:
		c.module(blk)
	}
}

// providerSettings refuses a provider block that configures the provider:
// its endpoint and credentials come from the Provider object, and a module
// that set them could send the shared credentials' signed requests to a
// host of its choosing. Only alias is allowed.
func (c *checker) providerSettings(blk *hclsyntax.Block) {
	for name, attr := range blk.Body.Attributes {
		if name != "alias" {
			c.refuse(attr.SrcRange.Start.Line, describe(blk), "argument %q is not allowed: a provider's endpoint and credentials come from its Provider object", name)
		}
	}
	for _, nested := range blk.Body.Blocks {
		c.refuse(nested.TypeRange.Start.Line, describe(blk), "block %q is not allowed: a provider's settings come from its Provider object", nested.Type)
	}
}

// requiredProviders checks each entry's type: the source's last part, or
// the local name when no source is given.
func (c *checker) requiredProviders(blk *hclsyntax.Block) {
	for local, attr := range blk.Body.Attributes {
		typ := local
		if obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr); ok {
			for _, item := range obj.Items {
				if key, ok := literal(item.KeyExpr); ok && key == "source" {
					if src, ok := literal(item.ValueExpr); ok {
						typ = path.Base(src)
					}
				}
			}
		}
		if !c.policy.allows(typ) {
			c.refuse(attr.SrcRange.Start.Line, "required_providers."+local, "provider %q is not allowed here (allowed: %s)", typ, c.allowed())
		}
	}
}

// module allows only a local module inside the workspace: a registry or
// git source would download code at run time, and a path out of the
// workspace reads the step-runner's disk.
func (c *checker) module(blk *hclsyntax.Block) {
	line := blk.TypeRange.Start.Line
	attr, ok := blk.Body.Attributes["source"]
	if !ok {
		return // Terraform itself reports the missing source
	}
	src, ok := literal(attr.Expr)
	switch {
	case !ok:
		c.refuse(line, describe(blk), "source must be a literal string")
	case !strings.HasPrefix(src, "./"):
		c.refuse(line, describe(blk), "source %q is not a local module: remote modules are not downloaded by the step-runner", src)
	case strings.Contains(path.Clean(src), ".."):
		c.refuse(line, describe(blk), "source %q leaves the workspace", src)
	}
}

// expression refuses calls to functions that read files.
func (c *checker) expression(expr hclsyntax.Expression) {
	hclsyntax.VisitAll(expr, func(n hclsyntax.Node) hcl.Diagnostics {
		if call, ok := n.(*hclsyntax.FunctionCallExpr); ok && fileFunctions[call.Name] {
			c.refuse(call.NameRange.Start.Line, call.Name+"()", "functions that read files on the step-runner are not allowed")
		}
		return nil
	})
}

func (c *checker) allowed() string {
	if len(c.policy.AllowedProviders) == 0 {
		return Builtin + " only"
	}
	return strings.Join(append([]string{Builtin}, c.policy.AllowedProviders...), ", ")
}

// impliedProvider is the provider a resource type belongs to, as Terraform
// derives it: the part before the first underscore.
func impliedProvider(resourceType string) string {
	p, _, _ := strings.Cut(resourceType, "_")
	return p
}

func describe(blk *hclsyntax.Block) string {
	parts := []string{blk.Type}
	for _, l := range blk.Labels {
		parts = append(parts, fmt.Sprintf("%q", l))
	}
	return strings.Join(parts, " ")
}

// literal returns the value of a string literal or a one-part template
// (Terraform writes "x" as a template), or of a bare keyword (source = x in
// an object key).
func literal(expr hclsyntax.Expression) (string, bool) {
	switch e := expr.(type) {
	case *hclsyntax.TemplateExpr:
		if len(e.Parts) == 1 {
			return literal(e.Parts[0])
		}
	case *hclsyntax.LiteralValueExpr:
		if e.Val.Type().FriendlyName() == "string" && e.Val.IsKnown() && !e.Val.IsNull() {
			return e.Val.AsString(), true
		}
	case *hclsyntax.ObjectConsKeyExpr:
		if name := hcl.ExprAsKeyword(e.Wrapped); name != "" {
			return name, true
		}
		return literal(e.Wrapped)
	case *hclsyntax.ScopeTraversalExpr:
		if name := hcl.ExprAsKeyword(e); name != "" {
			return name, true
		}
	}
	return "", false
}
