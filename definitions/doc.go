// Package definitions holds what the KubeVela definitions of vela-infra are
// made from and the tests that render every definition with the real vela
// CLI and KubeVela's workflow engine: the Terraform modules (modules/) and
// the generator (gen/) of the mycloud ComponentDefinitions in
// addons/terraform-mycloud/definitions, of docs/components.md and of the
// shared block of the workflow step definitions in
// addons/vela-infra/definitions.
package definitions

//go:generate go run ./gen
