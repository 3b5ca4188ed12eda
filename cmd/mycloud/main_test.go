package main_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

// TestProcessSurvivesKill9SeedsAndStopsCleanly runs the real binary: a
// resource the API reported created survives SIGKILL, the start-up seed file
// is applied once, SIGTERM shuts down cleanly, and no secret is logged.
func TestProcessSurvivesKill9SeedsAndStopsCleanly(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(seed, []byte(`
vpcs:
  - id: vpc-legacy01
    name: legacy
    cidr: 10.50.0.0/16
buckets:
  - name: legacy-assets
    tags: {owner: ops}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cloud := mycloudtest.Start(t, mycloudtest.Options{Seed: seed})
	cli := client.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	ctx := context.Background()

	if _, err := cli.Get(ctx, "vpcs", "vpc-legacy01"); err != nil {
		t.Fatalf("seeded VPC: %v", err)
	}
	created, err := cli.Create(ctx, "vpcs", map[string]any{"name": "kept", "cidr": "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}

	cloud.Kill() // SIGKILL: no chance to flush anything
	cloud.Restart()
	if _, err := cli.Get(ctx, "vpcs", created.String("id")); err != nil {
		t.Fatalf("VPC created before kill -9 is lost: %v", err)
	}
	buckets, err := cli.List(ctx, "buckets", nil)
	if err != nil || len(buckets) != 1 {
		t.Fatalf("seed re-applied on restart: want 1 bucket, got %d (%v)", len(buckets), err)
	}

	resp, err := http.Get(cloud.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := cloud.Terminate(); err != nil {
		t.Fatalf("SIGTERM: want a clean exit, got %v\n%s", err, cloud.Log)
	}
	log := cloud.Log.String()
	if !strings.Contains(log, `"msg":"shutting down"`) {
		t.Fatalf("no structured shutdown line in the log:\n%s", log)
	}
	for _, secret := range []string{mycloudtest.SecretKey, mycloudtest.AdminToken} {
		if strings.Contains(log, secret) {
			t.Fatalf("a secret reached the log")
		}
	}
}
