//go:build tools

// Package tools pins the KubeVela CLI, vela-core and terraform-controller at
// the versions the main module uses; hack/build-tool.sh builds them. Nothing
// imports this package.
package tools

import (
	_ "github.com/oam-dev/kubevela/cmd/core"
	_ "github.com/oam-dev/kubevela/references/cmd/cli"
	_ "github.com/oam-dev/terraform-controller"
)
