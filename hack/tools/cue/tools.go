//go:build tools

// Package tools pins the cue CLI that `make lint` formats the .cue files
// with; hack/build-tool.sh builds it. Nothing imports this package.
//
// cue v0.9.2 is the version go.mod's cuelang.org/go (and KubeVela) uses.
// `go install cuelang.org/go/cmd/cue@v0.9.2` fails on current Go: the
// golang.org/x/tools it requires (v0.21.0) does not compile; this module
// raises it to one that does.
package tools

import _ "cuelang.org/go/cmd/cue"
