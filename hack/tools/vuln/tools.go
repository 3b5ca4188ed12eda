//go:build tools

// Package tools pins govulncheck and the vulndb indexer that `make vuln`
// builds: the indexer turns the OSV files of golang.org/x/vulndb (served by
// the module proxy) into a database govulncheck reads offline.
package tools

import (
	_ "golang.org/x/vuln/cmd/govulncheck"
	_ "golang.org/x/vulndb/cmd/indexdb"
)
