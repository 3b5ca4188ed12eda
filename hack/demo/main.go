// Command demo walks the embedded default through the whole flow on a fresh
// local cluster (internal/testground/localcluster): mycloud on the host seeded with a
// pre-existing VPC and bucket, vela-core and terraform-controller in the
// cluster, both addons enabled with `vela addon enable`, and
// e2e/testdata/platform.yaml taken through import, provisioning by
// terraform-controller, drift and approval; then a Redis the platform
// shares with two teams' applications in their own namespaces; then a
// bucket whose drift-detection trait reverts an edit made in the console
// (hack/demo/declared.yaml); then a legacy project of eight resources, seeded
// in mycloud, discovered by its tags (an InfraDiscovery) and adopted by the
// Application written for it, with no write to the cloud. It prints
// what happens in plain language with the real `vela status` output.
// `make demo` runs it; KEEP=1 leaves the cluster and mycloud running (make
// down stops both).
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

const (
	accessKey  = "demo-access-key"
	secretKey  = "demo-secret-key"
	adminToken = "demo-admin-token"
)

// demo is one run of the demo: what it was asked (KEEP), the cluster and
// mycloud it talks to. Each stage is a method of it.
type demo struct {
	start    time.Time
	root     string // the repository
	keep     bool   // KEEP=1: leave the cluster and mycloud running
	ctx      context.Context
	c        *localcluster.Cluster
	endpoint string // mycloud's URL, as the pods reach it
	app      string // e2e/testdata/platform.yaml
	subnetID string // the platform's app subnet, where the shared Redis goes
	redisID  string // the shared Redis (stage 5)
}

func main() {
	d := &demo{start: time.Now()}
	if err := d.run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func (d *demo) step(format string, args ...any) {
	fmt.Printf("\n\033[1m==> [%5.1fs] %s\033[0m\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// run brings up a fresh cluster and takes the platform through its stages,
// then takes everything down unless KEEP=1.
func (d *demo) run() error {
	var err error
	if d.root, err = testenv.RepoRoot(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d.ctx = ctx
	d.keep = os.Getenv("KEEP") == "1"
	d.app = filepath.Join(d.root, "e2e", "testdata", "platform.yaml")
	if err := d.up(); err != nil {
		return err
	}
	if !d.keep {
		defer d.down()
	}
	stages := []func() error{
		d.install,
		d.startCloud,
		d.enableAddons,
		d.importAndProvision,
		d.approveBucket,
		d.driftAndRestart,
		d.changeProperty,
		d.approveChange,
		d.declareDrift, // stage 6's application, checked while stage 5 runs
		d.sharedOwner,
		d.sharedConsumers,
		d.sharedChange,
		d.sharedDelete,
		d.declaredDriftReverted,
		d.onboard,
	}
	for _, stage := range stages {
		if err := stage(); err != nil {
			return err
		}
	}
	d.done()
	return nil
}

func (d *demo) mycloudPidFile() string { return filepath.Join(d.root, ".demo", "mycloud.pid") }

// up starts from a fresh local cluster: it takes down a running one and a
// mycloud left by KEEP=1, then runs make up.
func (d *demo) up() error {
	var err error
	if d.c, err = localcluster.New(d.root, os.Stdout); err != nil {
		return err
	}
	if d.c.Running() {
		d.step("a local cluster is running: the demo starts from a fresh one (make down)")
		if err := d.c.Down(); err != nil {
			return err
		}
	}
	localcluster.StopPidFile(d.mycloudPidFile())

	d.step("make up: a single-node Kubernetes on this machine, vela-core and terraform-controller in it")
	return d.c.Up(d.ctx)
}

func (d *demo) down() {
	d.step("make down (KEEP=1 leaves everything running)")
	localcluster.StopPidFile(d.mycloudPidFile())
	_ = d.c.Down()
}

// install installs the default platform (the modules and definitions) in
// the cluster.
func (d *demo) install() error {
	p, err := localcluster.DefaultPlatform(d.root, testenv.ModuleDir)
	if err != nil {
		return err
	}
	return d.c.Install(d.ctx, p)
}

func (d *demo) enableAddons() error {
	d.step("vela addon enable ./addons/terraform-mycloud endpoint=%s accessKey=... secretKey=...; vela addon enable ./addons/vela-infra", d.endpoint)
	return d.c.EnableAddons(d.ctx, d.root, d.endpoint, accessKey, secretKey)
}

func (d *demo) done() {
	d.step("done in %.0fs", time.Since(d.start).Seconds())
	if d.keep {
		fmt.Printf("\nEverything is still running. In another shell:\n  export KUBECONFIG=%s\n  bin/vela status platform\n  bin/vela status declared --tree --detail\n  bin/vela status shop-legacy\n  bin/kubectl get configurations,infraimports,infradrifts,infraapprovals,infradiscoveries\n"+
			"  MYCLOUD_ENDPOINT=%s MYCLOUD_ACCESS_KEY=%s MYCLOUD_SECRET_KEY=%s bin/mycloud secret-value \"$(bin/kubectl get secret app-db-conn -o jsonpath='{.data.admin_password_secret_id}' | base64 -d)\"\n"+
			"mycloud: %s (admin token %s). make down stops it all.\n", d.c.Kubeconfig(), d.endpoint, accessKey, secretKey, d.endpoint, adminToken)
	}
}
