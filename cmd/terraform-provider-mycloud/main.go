// Command terraform-provider-mycloud is the Terraform provider of mycloud:
// wiring only; the provider is package provider.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/vela-infra/vela-infra/internal/mycloud/provider"
)

// version is set with -ldflags "-X main.version=…" by the Makefile.
var version = "0.1.0"

func main() {
	debug := flag.Bool("debug", false, "run with support for debuggers such as delve")
	flag.Parse()
	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: provider.Address,
		Debug:   *debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
