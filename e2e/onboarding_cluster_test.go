package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

// legacyShop is the legacy project's seed (mycloud's admin seed format):
// eight resources of all five types, tagged project=shop.
const legacyShop = "legacy-shop.yaml"

// legacyShopPassword is the password its owners set on shop-users.
const legacyShopPassword = "Legacy-Passw0rd-42"

// testOnboarding discovers the legacy project, reviews the Application
// written for it, and adopts all of it in one workflow run with no create,
// change or delete in the cloud; a second run finds it all managed; a
// discovery for another application is refused naming the owner; a
// selector that matches nothing says so; deleting the application leaves
// the cloud as it was.
func testOnboarding(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := c.Kubectl(ctx, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	discover := func(name, app, selector string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), name+".yaml")
		obj := fmt.Sprintf("apiVersion: infra.vela-infra.io/v1alpha1\nkind: InfraDiscovery\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  application: %s\n  selector:\n%s", name, app, selector)
		if err := os.WriteFile(f, []byte(obj), 0o644); err != nil {
			t.Fatal(err)
		}
		kubectl("apply", "-f", f)
	}
	// readyAs waits for the discovery's Ready condition of its current
	// generation with reason and returns its message.
	readyAs := func(name, status, reason string) string {
		t.Helper()
		var out string
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			out, _ = c.Kubectl(ctx, "get", "infradiscovery", name, "-o", `jsonpath={.metadata.generation} {.status.observedGeneration} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason} {.status.conditions[?(@.type=="Ready")].message}`)
			gen, rest, _ := strings.Cut(out, " ")
			if want := gen + " " + status + " " + reason + " "; strings.HasPrefix(rest, want) {
				return strings.TrimPrefix(rest, want)
			}
		}
		t.Fatalf("InfraDiscovery %s never was Ready=%s %s; last: %s\n%s", name, status, reason, out, diagnose(ctx, c))
		return ""
	}
	writes := func() int {
		n := 0
		for _, r := range cloud.Requests() {
			if strings.HasPrefix(r.Path, "/v1/") && r.Method != http.MethodGet {
				n++
			}
		}
		return n
	}

	seed, err := os.ReadFile(filepath.Join(root, "e2e", "testdata", legacyShop))
	if err != nil {
		t.Fatal(err)
	}
	var project map[string]any
	if err := yaml.Unmarshal(seed, &project); err != nil {
		t.Fatal(err)
	}
	cloud.MustAdmin(http.MethodPost, "seed", project, nil)
	before := writes()

	// A selector that matches nothing is a clear result, not an error.
	discover("nothing", "nothing", "    tags:\n      project: no-such-project\n")
	if msg := readyAs("nothing", "True", "NothingFound"); !strings.Contains(msg, "found nothing matching tag project=no-such-project") {
		t.Errorf("NothingFound message: %s", msg)
	}
	// Bad input is named.
	discover("bad", "bad", "    tags:\n      project: shop\n    types: [vpc, ec2]\n")
	if msg := readyAs("bad", "False", "InvalidSpec"); !strings.Contains(msg, `spec.selector.types[1] "ec2" is not a type discovery knows: one of vpc, subnet, mysql, redis, bucket`) {
		t.Errorf("InvalidSpec message: %s", msg)
	}

	// Discover and review.
	discover("shop", "shop-legacy", "    tags:\n      project: shop\n")
	msg := readyAs("shop", "True", "Discovered")
	t.Logf("InfraDiscovery shop: %s", msg)
	if !strings.Contains(msg, "found 8 resources (1 vpc, 2 subnet, 2 mysql, 1 redis, 2 bucket)") {
		t.Errorf("Discovered message: %s", msg)
	}
	app := kubectl("get", "configmap", "shop-application", "-o", `jsonpath={.data.application\.yaml}`)
	t.Logf("the Application written for review:\n%s", app)
	for _, want := range []string{
		"name: shop-legacy", "type: infra-bulk-import", "type: mycloud-mysql", "keep_existing_password: true",
		"from: shop-net-id", "parameterKey: vpc_id", "from: shop-data-id", "parameterKey: subnet_id", "storage_gib: 50",
	} {
		if !strings.Contains(app, want) {
			t.Errorf("the Application lacks %q", want)
		}
	}
	if strings.Contains(app, legacyShopPassword) || strings.Contains(app, "vpc_id: vpc-shop0001") {
		t.Errorf("the Application holds a password or a pasted parent id")
	}

	up := func(yaml string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "shop-legacy.yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := velaUp(ctx, c, f); err != nil {
			t.Fatalf("vela up: %v\n%s", err, out)
		}
	}

	// A reviewer's mistake (a subnet's cidr, which cannot change) would
	// replace a resource: that import is refused, the others are adopted,
	// and nothing is applied.
	mistaken := strings.Replace(app, "cidr: 10.60.2.0/24", "cidr: 10.60.3.0/24", 1)
	if mistaken == app {
		t.Fatal("the Application has no cidr 10.60.2.0/24 to change")
	}
	up(mistaken)
	status := statusUntil(ctx, t, c, "shop-legacy", "7 adopted, 0 already managed, 1 refused; nothing is applied: shop-data: ", 8*time.Minute)
	t.Logf("vela status shop-legacy, one import refused:\n%s", status)
	if !strings.Contains(status, "would replace mycloud_subnet.this") {
		t.Errorf("the refusal does not say why")
	}

	// The Application as written adopts the rest: nothing created, changed
	// or deleted.
	up(app)
	statusUntil(ctx, t, c, "shop-legacy", "1 adopted, 7 already managed, 0 refused", 8*time.Minute)
	status = statusUntil(ctx, t, c, "shop-legacy", "finished: true", 8*time.Minute)
	t.Logf("vela status shop-legacy:\n%s", status)
	if strings.Contains(status, "phase: failed") {
		t.Errorf("a step failed")
	}
	if n := writes() - before; n != 0 {
		t.Errorf("adopting the project wrote to the cloud %d times, want 0: %v", n, cloud.Requests())
	}
	for _, cfg := range []string{"shop-net", "shop-app", "shop-data", "shop-orders", "shop-users", "shop-sessions", "shop-assets", "shop-logs"} {
		if out, err := c.Kubectl(ctx, "get", "configuration", cfg, "-o", "jsonpath={.status.apply.state}"); err != nil || out != "Available" {
			t.Errorf("Configuration %s: %q (%v), want Available", cfg, out, err)
		}
	}

	// Run again: all managed, nothing written.
	kubectl("patch", "infradiscovery", "shop", "--type=merge", "-p", `{"spec":{"request":"again"}}`)
	if msg := readyAs("shop", "True", "Discovered"); !strings.Contains(msg, "8 of them already managed by application shop-legacy") {
		t.Errorf("the second discovery: %s", msg)
	}
	if _, err := c.Vela(ctx, "workflow", "restart", "shop-legacy"); err != nil {
		t.Fatal(err)
	}
	statusUntil(ctx, t, c, "shop-legacy", "0 adopted, 8 already managed, 0 refused", 4*time.Minute)
	statusUntil(ctx, t, c, "shop-legacy", "finished: true", 4*time.Minute)
	if n := writes() - before; n != 0 {
		t.Errorf("the second run wrote to the cloud %d times, want 0", n)
	}

	// Another application may not take them over.
	discover("takeover", "shop-copy", "    tags:\n      project: shop\n")
	if msg := readyAs("takeover", "False", "ManagedElsewhere"); !strings.Contains(msg, "vpc vpc-shop0001 (shop-net) is managed by default/shop-legacy (component shop-net)") {
		t.Errorf("ManagedElsewhere message: %s", msg)
	}

	// Deleting the application keeps what it adopted.
	deletes := cloud.CountRequests(http.MethodDelete, "/v1/")
	if out, err := c.Vela(ctx, "delete", "-n", "default", "shop-legacy", "-y"); err != nil {
		t.Fatalf("vela delete: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if out, _ := c.Kubectl(ctx, "get", "configurations", "-l", "app.oam.dev/name=shop-legacy", "-o", "name"); strings.TrimSpace(out) == "" {
			break
		}
	}
	if n := cloud.CountRequests(http.MethodDelete, "/v1/") - deletes; n != 0 {
		t.Errorf("deleting the adopting application deleted %d resources", n)
	}
	kubectl("delete", "infradiscovery", "shop", "nothing", "bad", "takeover")
}
