package terraform

import (
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"golang.org/x/text/unicode/norm"
)

// FuzzImportBlockID: whatever the id, the import block parses and its id
// is that string, never a template Terraform would evaluate
// ("${var.admin_password}" stays those characters). HCL reads string
// literals in Unicode normal form C, so that is the string to compare with.
func FuzzImportBlockID(f *testing.F) {
	for _, id := range []string{"vpc-legacy01", `${var.admin_password}`, `%{ if true }x%{ endif }`, "$${x}", `a"b\c`, "line\nbreak", "\x01\x7f", "é—🙂", "$$${", "%%{"} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !utf8.ValidString(id) {
			t.Skip("ids are UTF-8: validated before they get here")
		}
		src := importBlocks(map[string]string{"mycloud_vpc.this": id})
		file, diags := hclsyntax.ParseConfig([]byte(src), "imports.tf", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("import block for %q does not parse: %s\n%s", id, diags.Error(), src)
		}
		blocks := file.Body.(*hclsyntax.Body).Blocks
		if len(blocks) != 1 {
			t.Fatalf("%d blocks for one import:\n%s", len(blocks), src)
		}
		v, diags := blocks[0].Body.Attributes["id"].Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("id %q is evaluated as an expression: %s\n%s", id, diags.Error(), src)
		}
		if got := v.AsString(); got != norm.NFC.String(id) {
			t.Fatalf("id %q reads back as %q:\n%s", id, got, src)
		}
	})
}
