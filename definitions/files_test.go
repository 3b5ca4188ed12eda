package definitions_test

import (
	"fmt"
	"os"
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"github.com/google/go-cmp/cmp"
)

// TestEmbeddedHCLIsTheModule reads template._module, the HCL a definition
// puts into the Configuration, from each definition file and compares it
// byte for byte with the module.
func TestEmbeddedHCLIsTheModule(t *testing.T) {
	t.Parallel()
	for _, typ := range types {
		rel := componentsDir + "/mycloud-" + typ + ".cue"
		t.Run(rel, func(t *testing.T) {
			src, err := os.ReadFile(repoPath(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			hcl, err := embeddedHCL(rel, src)
			if err != nil {
				t.Fatal(err)
			}
			if want := module(t, typ); hcl != want {
				t.Errorf("%s embeds HCL that differs from definitions/modules/%s/main.tf: run make generate\n%s", rel, typ, cmp.Diff(want, hcl))
			}
		})
	}
}

func embeddedHCL(name string, src []byte) (string, error) {
	f, err := parser.ParseFile(name, src, parser.ParseComments)
	if err != nil {
		return "", err
	}
	tmpl := field(f.Decls, "template")
	if tmpl == nil {
		return "", fmt.Errorf("%s has no template", name)
	}
	st, ok := tmpl.Value.(*ast.StructLit)
	if !ok {
		return "", fmt.Errorf("%s: template is not a struct", name)
	}
	mod := field(st.Elts, "_module")
	if mod == nil {
		return "", fmt.Errorf("%s: template has no _module", name)
	}
	lit, ok := mod.Value.(*ast.BasicLit)
	if !ok {
		return "", fmt.Errorf("%s: template._module is not a string literal", name)
	}
	return literal.Unquote(lit.Value)
}

func field(decls []ast.Decl, label string) *ast.Field {
	for _, d := range decls {
		if f, ok := d.(*ast.Field); ok {
			if name, _, _ := ast.LabelName(f.Label); name == label {
				return f
			}
		}
	}
	return nil
}
