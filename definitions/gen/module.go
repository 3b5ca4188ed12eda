package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// module is what the generator reads from a Terraform module's main.tf.
type module struct {
	// Path is main.tf relative to the repository root, with slashes.
	Path string
	// HCL is main.tf exactly as it is on disk: the Configuration's spec.hcl.
	HCL       string
	Variables []variable
	Outputs   []output
}

type variable struct {
	Name        string
	Type        cty.Type
	Description string
	// Default is set when HasDefault; a variable without one is required.
	Default    cty.Value
	HasDefault bool
	Sensitive  bool
	// ErrorMessages are the error_message of the variable's validation
	// blocks, in order.
	ErrorMessages []string
}

type output struct {
	Name        string
	Description string
	Sensitive   bool
}

// readModule parses root/definitions/modules/<typ>/main.tf.
func readModule(root, typ string) (*module, error) {
	rel := filepath.ToSlash(filepath.Join("definitions", "modules", typ, "main.tf"))
	src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	f, diags := hclparse.NewParser().ParseHCL(src, rel)
	if diags.HasErrors() {
		return nil, fmt.Errorf("parse %s: %s", rel, diags.Error())
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil, fmt.Errorf("%s is not HCL native syntax", rel)
	}
	m := &module{Path: rel, HCL: string(src)}
	for _, b := range body.Blocks {
		switch b.Type {
		case "variable":
			v, err := readVariable(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", rel, err)
			}
			m.Variables = append(m.Variables, v)
		case "output":
			o := output{Name: b.Labels[0]}
			if err := stringAttr(b.Body, "description", &o.Description); err != nil {
				return nil, fmt.Errorf("%s: output %q: %w", rel, o.Name, err)
			}
			if err := boolAttr(b.Body, "sensitive", &o.Sensitive); err != nil {
				return nil, fmt.Errorf("%s: output %q: %w", rel, o.Name, err)
			}
			m.Outputs = append(m.Outputs, o)
		}
	}
	if len(m.Variables) == 0 {
		return nil, fmt.Errorf("%s declares no variables", rel)
	}
	return m, nil
}

func readVariable(b *hclsyntax.Block) (variable, error) {
	v := variable{Name: b.Labels[0]}
	attr, ok := b.Body.Attributes["type"]
	if !ok {
		return v, fmt.Errorf("variable %q has no type", v.Name)
	}
	ty, diags := typeexpr.TypeConstraint(attr.Expr)
	if diags.HasErrors() {
		return v, fmt.Errorf("variable %q: type: %s", v.Name, diags.Error())
	}
	v.Type = ty
	if err := stringAttr(b.Body, "description", &v.Description); err != nil {
		return v, fmt.Errorf("variable %q: %w", v.Name, err)
	}
	if v.Description == "" {
		return v, fmt.Errorf("variable %q has no description: the component documents its property with it", v.Name)
	}
	if err := boolAttr(b.Body, "sensitive", &v.Sensitive); err != nil {
		return v, fmt.Errorf("variable %q: %w", v.Name, err)
	}
	if attr, ok := b.Body.Attributes["default"]; ok {
		val, diags := attr.Expr.Value(nil)
		if diags.HasErrors() {
			return v, fmt.Errorf("variable %q: default: %s", v.Name, diags.Error())
		}
		v.Default, v.HasDefault = val, true
	}
	for _, vb := range b.Body.Blocks {
		if vb.Type != "validation" {
			continue
		}
		var msg string
		if err := stringAttr(vb.Body, "error_message", &msg); err != nil {
			return v, fmt.Errorf("variable %q: validation: %w", v.Name, err)
		}
		v.ErrorMessages = append(v.ErrorMessages, msg)
	}
	return v, nil
}

func stringAttr(body *hclsyntax.Body, name string, dst *string) error {
	attr, ok := body.Attributes[name]
	if !ok {
		return nil
	}
	val, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return fmt.Errorf("%s: %s", name, diags.Error())
	}
	if val.Type() != cty.String || !val.IsKnown() || val.IsNull() {
		return fmt.Errorf("%s must be a literal string", name)
	}
	*dst = val.AsString()
	return nil
}

func boolAttr(body *hclsyntax.Body, name string, dst *bool) error {
	attr, ok := body.Attributes[name]
	if !ok {
		return nil
	}
	val, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return fmt.Errorf("%s: %s", name, diags.Error())
	}
	if val.Type() != cty.Bool || !val.IsKnown() || val.IsNull() {
		return fmt.Errorf("%s must be a literal bool", name)
	}
	*dst = val.True()
	return nil
}
