package controller

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// FuzzValidateImport: whatever an InfraImport lists, validateImport either
// refuses it as a bad spec naming the field (spec.resources[i].address or
// .id) or accepts an address that Terraform reads as a resource address
// (an absolute HCL traversal in an import block's `to`, as the step-runner
// writes it) and an id of printable characters without spaces or quotes.
func FuzzValidateImport(f *testing.F) {
	for _, seed := range [][2]string{
		{"mycloud_vpc.this", "vpc-legacy01"},
		{"module.net.mycloud_vpc.this", "vpc-1"},
		{`mycloud_bucket.b["x"]`, "bucket-legacy01"},
		{"mycloud_bucket.b[0]", "bucket-1"},
		{`module.a["k"].mycloud_vpc.this`, "vpc-1"},
		{"not an address", "vpc-1"},
		{"mycloud_vpc.this", "vpc legacy"},
		{"mycloud_vpc", "vpc-1"},
		{"mycloud_vpc.this.extra", "vpc-1"},
		{`module.a[" ].b.c`, "x"},
		{"mycloud_vpc.this", `${var.admin_password}`},
		{"mycloud_vpc.this", "\u00a0"},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, address, id string) {
		obj := &v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "adopt"},
			Spec: v1alpha1.InfraImportSpec{Resources: []v1alpha1.ImportResource{{Address: address, ID: id}}}}
		err := validateImport(obj)
		if err != nil {
			var se *specError
			if !errors.As(err, &se) {
				t.Fatalf("refused with %T, not a bad-spec error: %v", err, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "InfraImport team/adopt: spec.resources[0].address") && !strings.Contains(msg, "InfraImport team/adopt: spec.resources[0].id") {
				t.Fatalf("the refusal names neither spec.resources[0].address nor .id: %s", msg)
			}
			return
		}
		if !utf8.ValidString(id) || id == "" || strings.ContainsAny(id, " \t\r\n\"'\\") || strings.IndexFunc(id, unicode.IsControl) >= 0 {
			t.Fatalf("accepted the id %q", id)
		}
		src := "import {\n  to = " + address + "\n  id = \"x\"\n}\n"
		file, diags := hclsyntax.ParseConfig([]byte(src), "imports.tf", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("accepted the address %q, which breaks the import block: %s", address, diags.Error())
		}
		blocks := file.Body.(*hclsyntax.Body).Blocks
		if len(blocks) != 1 || len(blocks[0].Body.Attributes) != 2 {
			t.Fatalf("accepted the address %q, which changes the import block:\n%s", address, src)
		}
		traversal, diags := hcl.AbsTraversalForExpr(blocks[0].Body.Attributes["to"].Expr)
		if diags.HasErrors() {
			t.Fatalf("accepted the address %q, which is not a traversal: %s", address, diags.Error())
		}
		if n := len(traversal); n < 2 {
			t.Fatalf("accepted the address %q of %d parts, want a type and a name", address, n)
		}
	})
}
