package hclguard

import (
	"errors"
	"strings"
	"testing"
)

var mycloud = Policy{AllowedProviders: []string{"mycloud"}}

// module is what the mycloud components render: a provider block, variables,
// a resource and outputs.
const module = `
terraform {
  required_version = ">= 1.5"
  required_providers {
    mycloud = { source = "vela-infra/mycloud" }
  }
}
provider "mycloud" {}
variable "name" { type = string }
resource "mycloud_vpc" "this" {
  name = var.name
  tags = merge({ managed = "true" }, {})
  lifecycle {
    precondition {
      condition     = length(var.name) > 0
      error_message = "name must not be empty"
    }
  }
}
resource "terraform_data" "marker" { input = var.name }
module "local" { source = "./sub" }
output "id" { value = mycloud_vpc.this.id }
`

func TestCheckAllows(t *testing.T) {
	for name, src := range map[string]string{
		"the components' module":      module,
		"empty":                       "",
		"a scoped data source":        "check \"up\" {\n  data \"mycloud_vpc\" \"v\" {\n    id = \"vpc-1\"\n  }\n}",
		"import blocks":               "import {\n  to = mycloud_vpc.this\n  id = \"vpc-1\"\n}",
		"functions that read no file": `locals { x = jsonencode(upper("a")) }`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := mycloud.Check("main.tf", []byte(src)); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestCheckRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		src        string
		line       int
		block, why string
	}{
		// The regression case of the cross-tenant state read: another
		// namespace's state through the kubernetes backend.
		"remote state of another tenant": {src: `
data "terraform_remote_state" "victim" {
  backend = "kubernetes"
  config = {
    secret_suffix     = "network"
    namespace         = "vela-system"
    in_cluster_config = true
  }
}
resource "terraform_data" "peek" {
  lifecycle {
    precondition {
      condition     = false
      error_message = "LEAK ${jsonencode(data.terraform_remote_state.victim.outputs)}"
    }
  }
}`, line: 2, block: `data "terraform_remote_state" "victim"`, why: "reading another Terraform state"},
		"remote state in a check block": {src: "check \"c\" {\n  data \"terraform_remote_state\" \"s\" {\n    backend = \"local\"\n  }\n}", line: 2, block: `data "terraform_remote_state" "s"`, why: "another Terraform state"},
		"local-exec provisioner": {src: "resource \"mycloud_vpc\" \"v\" {\n  provisioner \"local-exec\" {\n    command = \"cat /var/run/secrets/kubernetes.io/serviceaccount/token\"\n  }\n}",
			line: 2, block: `provisioner "local-exec"`, why: "provisioners run commands"},
		"a backend":              {src: "terraform {\n  backend \"kubernetes\" {\n    namespace = \"vela-system\"\n  }\n}", line: 2, block: "terraform { backend }", why: "terraform-controller's"},
		"a cloud block":          {src: "terraform {\n  cloud {\n  }\n}", line: 2, block: "terraform { cloud }", why: "remove the cloud block"},
		"git module":             {src: `module "m" { source = "git::https://example.com/m.git" }`, line: 1, block: `module "m"`, why: "not a local module"},
		"registry module":        {src: `module "m" { source = "terraform-aws-modules/vpc/aws" }`, line: 1, block: `module "m"`, why: "not a local module"},
		"module out of the tree": {src: `module "m" { source = "./../../other-tenant" }`, line: 1, block: `module "m"`, why: "leaves the workspace"},
		"computed module source": {src: `module "m" { source = "./${var.x}" }`, line: 1, block: `module "m"`, why: "literal string"},
		"provider block":         {src: `provider "kubernetes" {}`, line: 1, block: `provider "kubernetes"`, why: `provider "kubernetes" is not allowed here (allowed: terraform, mycloud)`},
		"implied provider":       {src: "\n\nresource \"kubernetes_secret\" \"s\" {}", line: 3, block: `resource "kubernetes_secret" "s"`, why: `provider "kubernetes"`},
		"data source provider":   {src: `data "http" "x" { url = "http://10.0.0.1" }`, line: 1, block: `data "http" "x"`, why: `provider "http"`},
		"required provider":      {src: "terraform {\n  required_providers {\n    ext = { source = \"hashicorp/external\" }\n  }\n}", line: 3, block: "required_providers.ext", why: `provider "external"`},
		"provider endpoint":      {src: "provider \"mycloud\" {\n  endpoint = \"http://10.0.0.9:8480\"\n}", line: 2, block: `provider "mycloud"`, why: `argument "endpoint" is not allowed`},
		"provider credentials":   {src: "provider \"mycloud\" {\n  alias = \"x\"\n  access_key = \"AK\"\n}", line: 3, block: `provider "mycloud"`, why: `argument "access_key" is not allowed`},
		"file()":                 {src: `output "t" { value = file("/var/run/secrets/kubernetes.io/serviceaccount/token") }`, line: 1, block: "file()", why: "read files"},
		"templatefile() nested":  {src: "locals {\n  x = {\n    y = [upper(templatefile(\"/etc/passwd\", {}))]\n  }\n}", line: 3, block: "templatefile()", why: "read files"},
		"fileset()":              {src: `output "t" { value = fileset("/", "**") }`, line: 1, block: "fileset()", why: "read files"},
		"syntax error":           {src: "resource \"mycloud_vpc\" \"v\" {\n  name = \n}", line: 2, block: "syntax", why: "Invalid expression"},
	} {
		t.Run(name, func(t *testing.T) {
			err := mycloud.Check("main.tf", []byte(tc.src))
			var ge *Error
			if !errors.As(err, &ge) {
				t.Fatalf("not refused: %v", err)
			}
			v := ge.Violations[0]
			if v.Line != tc.line || v.Block != tc.block || !strings.Contains(v.Reason, tc.why) {
				t.Fatalf("got %+v, want line %d block %s reason containing %q", v, tc.line, tc.block, tc.why)
			}
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("message names no line: %s", err)
			}
		})
	}
}

func TestErrorListsAllViolationsCapped(t *testing.T) {
	src := `provider "a" {}
provider "b" {}
provider "c" {}
provider "d" {}
provider "e" {}`
	err := Policy{}.Check("main.tf", []byte(src))
	var ge *Error
	if !errors.As(err, &ge) || len(ge.Violations) != 5 {
		t.Fatalf("want 5 violations, got %v", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, `line 1: provider "a"`) || !strings.HasSuffix(msg, "and 2 more") || !strings.Contains(msg, "(allowed: terraform only)") {
		t.Fatalf("message: %s", msg)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{module, `data "terraform_remote_state" "x" {}`, `module "m" { source = "./a/../../b" }`, "terraform {\n backend \"s3\" {}\n}", `x = file("a")`, "{{{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		err := mycloud.Check("main.tf", []byte(src))
		var ge *Error
		if err != nil && (!errors.As(err, &ge) || len(ge.Violations) == 0) {
			t.Fatalf("an error without violations: %v", err)
		}
		// A remote state data block that parses is always refused.
		if err == nil && containsRemoteStateBlock(src) {
			t.Fatalf("remote state allowed: %q", src)
		}
	})
}

// containsRemoteStateBlock is a crude independent oracle for the fuzz test:
// a line that starts a remote state data block.
func containsRemoteStateBlock(src string) bool {
	for _, line := range strings.Split(src, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "data" && f[1] == `"terraform_remote_state"` && strings.HasSuffix(strings.Join(f[2:], " "), "{}") {
			return true
		}
	}
	return false
}
