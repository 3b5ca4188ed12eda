// Command cluster runs the local single-node Kubernetes (internal/testground/localcluster)
// with vela-core (helm, from its chart) and terraform-controller (`vela addon
// enable ./addons/terraform`) installed in it.
//
//	go run ./hack/cluster up      # make up: start what is not running, install the platform
//	go run ./hack/cluster down    # make down: stop everything, remove .cluster/
//	go run ./hack/cluster status  # what runs
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cluster up|down|status")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(cmd string) error {
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	c, err := localcluster.New(root, os.Stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "up":
		start := time.Now()
		if err := c.Up(ctx); err != nil {
			return err
		}
		p, err := localcluster.DefaultPlatform(root, testenv.ModuleDir)
		if err != nil {
			return err
		}
		if err := c.Install(ctx, p); err != nil {
			return err
		}
		fmt.Printf("==> local cluster up in %.0fs: export KUBECONFIG=%s\n", time.Since(start).Seconds(), c.Kubeconfig())
		return nil
	case "down":
		localcluster.StopPidFile(filepath.Join(root, ".demo", "mycloud.pid")) // make demo KEEP=1's mycloud
		return c.Down()
	case "status":
		return c.Status(os.Stdout)
	}
	return fmt.Errorf("unknown command %q: want up, down or status", cmd)
}
