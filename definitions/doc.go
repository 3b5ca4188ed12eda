// Package definitions holds the KubeVela definitions of vela-infra: the
// Terraform modules (modules/), the mycloud ComponentDefinitions generated
// from them (components/, written by gen/) and the tests that render every
// definition with the real vela CLI.
package definitions

//go:generate go run ./gen
