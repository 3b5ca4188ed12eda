package terraform_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

func runner(t *testing.T) *terraform.Runner {
	return &terraform.Runner{
		Bin: mycloudtest.TerraformPath(t), WorkDir: t.TempDir(), PluginCacheDir: t.TempDir(),
		CLIConfigFile: mycloudtest.CLIConfig(t),
	}
}

const vpcHCL = `
terraform {
  required_providers {
    mycloud = { source = "vela-infra/mycloud" }
  }
}
variable "name" { type = string }
variable "tags" {
  type    = map(string)
  default = {}
}
resource "mycloud_vpc" "this" {
  name = var.name
  cidr = "10.0.0.0/16"
  tags = var.tags
}
`

func target(c *mycloudtest.Cloud, vars map[string]any) terraform.Target {
	env := map[string]string{}
	for _, kv := range c.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return terraform.Target{Key: "default/vpc", HCL: vpcHCL, Variables: vars, Env: env, Secrets: []string{mycloudtest.SecretKey}}
}

func TestPlanApplyReuseImportRestore(t *testing.T) {
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	r := runner(t)
	ctx := context.Background()

	ws, err := r.Open(ctx, target(cloud, map[string]any{"name": "main", "tags": map[string]string{"a": "b"}}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ws.Plan(ctx, terraform.PlanOptions{})
	if err != nil || !res.Changes {
		t.Fatalf("plan: %v changes=%v\n%s", err, res != nil && res.Changes, ws.Output())
	}
	if err := ws.Apply(ctx, res.File); err != nil {
		t.Fatalf("apply: %v", err)
	}
	state, err := ws.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := terraform.ResourceIDs(state)["mycloud_vpc.this"]
	if !strings.HasPrefix(id, "vpc-") {
		t.Fatalf("state ids %v", terraform.ResourceIDs(state))
	}
	ws.Close()

	// A second run of the same target re-uses the initialised workspace.
	ws, err = r.Open(ctx, target(cloud, map[string]any{"name": "main", "tags": map[string]string{"a": "b"}}))
	if err != nil {
		t.Fatal(err)
	}
	res, err = ws.Plan(ctx, terraform.PlanOptions{RefreshOnly: true})
	if err != nil || res.Changes {
		t.Fatalf("refresh-only plan of an unchanged VPC: %v changes=%v", err, res != nil && res.Changes)
	}
	if strings.Contains(ws.Output(), "$ terraform init") {
		t.Fatalf("second run re-initialised:\n%s", ws.Output())
	}
	backup, err := ws.PullState(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Import to an address the configuration does not have: a typed error.
	err = ws.Import(ctx, "mycloud_bucket.nope", "bucket-x")
	if terraform.ReasonOf(err) != terraform.ReasonUnknownAddress {
		t.Fatalf("import to an unknown address: reason %q, err %v", terraform.ReasonOf(err), err)
	}
	ws.Close()

	// Change the state, then restore the backup.
	ws, err = r.Open(ctx, target(cloud, map[string]any{"name": "main", "tags": map[string]string{"a": "changed"}}))
	if err != nil {
		t.Fatal(err)
	}
	res, err = ws.Plan(ctx, terraform.PlanOptions{})
	if err == nil {
		err = ws.Apply(ctx, res.File)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.PushState(ctx, backup); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ws.Dir, "restore.tfstate")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the copy of the pushed state is still in the workspace: %v", err)
	}
	state, err = ws.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tags := state.Values.RootModule.Resources[0].AttributeValues["tags"].(map[string]any); tags["a"] != "b" {
		t.Fatalf("state after restore has tags %v", tags)
	}
	ws.Close()
	if strings.Contains(ws.Output(), mycloudtest.SecretKey) {
		t.Fatal("secret in output")
	}
}

func TestErrorsAreClassifiedAndRedacted(t *testing.T) {
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	r := runner(t)
	ctx := context.Background()
	cases := map[string]struct {
		mutate func(*terraform.Target)
		reason string
	}{
		"wrong secret": {func(tg *terraform.Target) {
			tg.HCL += "data \"mycloud_vpc\" \"lookup\" {\n  name = \"main\"\n}\n"
			tg.Env["MYCLOUD_SECRET_KEY"] = "wrong-secret-value"
			tg.Secrets = append(tg.Secrets, "wrong-secret-value")
		}, terraform.ReasonAuth},
		"hcl does not parse": {func(tg *terraform.Target) { tg.HCL = "resource \"mycloud_vpc\" {\n" }, terraform.ReasonInvalidConfig},
		"bad variable":       {func(tg *terraform.Target) { tg.Variables = map[string]any{"name": "Bad_Name"} }, terraform.ReasonInvalidInput},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tg := target(cloud, map[string]any{"name": "main"})
			tg.Key = "default/" + strings.ReplaceAll(name, " ", "-")
			tc.mutate(&tg)
			ws, err := r.Open(ctx, tg)
			if err == nil {
				_, err = ws.Plan(ctx, terraform.PlanOptions{})
				ws.Close()
			}
			if got := terraform.ReasonOf(err); got != tc.reason {
				t.Fatalf("reason %q, want %q: %v", got, tc.reason, err)
			}
			var te *terraform.Error
			if !errors.As(err, &te) || te.Summary == "" {
				t.Fatalf("no summary: %v", err)
			}
			for _, s := range tg.Secrets {
				if strings.Contains(te.Output, s) || strings.Contains(te.Summary, s) {
					t.Fatalf("secret %q in the error output", s)
				}
			}
		})
	}
}

// TestProviderTLS: Terraform runs with TF_DISABLE_PLUGIN_TLS=1 unless the
// runner keeps provider TLS. Terraform is the real one, behind a wrapper
// that records the environment of each command.
func TestProviderTLS(t *testing.T) {
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("ProviderTLS=%v", keep), func(t *testing.T) {
			dump := t.TempDir()
			wrapper := filepath.Join(t.TempDir(), "terraform")
			script := fmt.Sprintf("#!/bin/sh\nenv > %q/\"$1\".env\nexec %q \"$@\"\n", dump, mycloudtest.TerraformPath(t))
			if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			r := runner(t)
			r.Bin, r.ProviderTLS = wrapper, keep
			ctx := context.Background()
			ws, err := r.Open(ctx, target(cloud, map[string]any{"name": "tls"}))
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if _, err := ws.Plan(ctx, terraform.PlanOptions{}); err != nil {
				t.Fatalf("plan: %v\n%s", err, ws.Output())
			}
			env, err := os.ReadFile(filepath.Join(dump, "plan.env"))
			if err != nil {
				t.Fatal(err)
			}
			if disabled := slices.Contains(strings.Split(string(env), "\n"), "TF_DISABLE_PLUGIN_TLS=1"); disabled == keep {
				t.Errorf("ProviderTLS=%v, yet TF_DISABLE_PLUGIN_TLS=1 in the plan's environment is %v", keep, disabled)
			}
		})
	}
}

// TestInitAgainWhenTheCachedProviderIsGone: a workspace links its providers
// into the shared plugin cache; when the cache entry is gone (an init killed
// while re-installing it), the next run initialises again instead of
// failing on "could not read package directory" for ever.
func TestInitAgainWhenTheCachedProviderIsGone(t *testing.T) {
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	r := runner(t)
	ctx := context.Background()
	tg := target(cloud, map[string]any{"name": "main"})
	ws, err := r.Open(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Plan(ctx, terraform.PlanOptions{}); err != nil {
		t.Fatalf("plan: %v\n%s", err, ws.Output())
	}
	ws.Close()

	if err := os.RemoveAll(filepath.Join(r.PluginCacheDir, "registry.terraform.io")); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(ws.Dir, ".terraform", "providers", "registry.terraform.io", "vela-infra", "mycloud", "0.1.0", "linux_amd64")
	if _, err := os.Stat(pkg); err == nil {
		t.Fatalf("%s still resolves with the cache emptied: the workspace does not link into the cache, so this test proves nothing", pkg)
	}
	ws, err = r.Open(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, err := ws.Plan(ctx, terraform.PlanOptions{}); err != nil {
		t.Fatalf("plan after the cache entry went: %v\n%s", err, ws.Output())
	}
	if !strings.Contains(ws.Output(), "$ terraform init") {
		t.Fatalf("the workspace was not initialised again:\n%s", ws.Output())
	}
}

// TestNewWorkspaceLinksTheCachedProvider: initialising a second workspace
// links the provider the cache already holds instead of installing it
// again, which would remove the directory the first workspace's runs read.
func TestNewWorkspaceLinksTheCachedProvider(t *testing.T) {
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	r := runner(t)
	ctx := context.Background()
	first := target(cloud, map[string]any{"name": "first"})
	ws, err := r.Open(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
	cached := filepath.Join(r.PluginCacheDir, "registry.terraform.io", "vela-infra", "mycloud", "0.1.0", "linux_amd64")
	before, err := os.Lstat(cached)
	if err != nil {
		t.Fatalf("the provider is not in the cache: %v", err)
	}
	second := first
	second.Key = "default/other"
	ws, err = r.Open(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if !strings.Contains(ws.Output(), "$ terraform init") {
		t.Fatalf("the second workspace was not initialised:\n%s", ws.Output())
	}
	after, err := os.Lstat(cached)
	if err != nil {
		t.Fatalf("the cache entry is gone after the second init: %v", err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("the second init installed the provider into the cache again (%v, %v -> %v)", before.ModTime(), after.ModTime(), after.ModTime())
	}
}
