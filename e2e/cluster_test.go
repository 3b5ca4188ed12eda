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

	mcclient "github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// TestCluster runs on the real local cluster (make up): in-cluster vela-core,
// terraform-controller running Terraform in Job pods, and the step-runner
// Deployment installed by `vela addon enable`; mycloud runs on the host,
// where pods reach it. One cluster and one cloud for its subtests, which run
// in order (they count mycloud's requests); the whole test runs in parallel
// with the envtest suite.
func TestCluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := startCluster(t, ctx)
	cloud := mycloudtest.Start(t, mycloudtest.Options{
		CreateDelay: 200 * time.Millisecond, Host: c.HostIP().String(),
		Seed: filepath.Join(root, "e2e", "testdata", "mycloud-seed.yaml"),
	})
	if err := c.EnableAddons(ctx, root, cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey); err != nil {
		t.Fatal(err)
	}
	t.Run("LeastPrivilege", func(t *testing.T) { testLeastPrivilege(ctx, t, c) })
	t.Run("Platform", func(t *testing.T) { testPlatform(ctx, t, c, cloud) })
	t.Run("TerminateRejects", func(t *testing.T) { testTerminate(ctx, t, c, cloud) })
	t.Run("StaleApprovalAppliesNothing", func(t *testing.T) { testStaleApproval(ctx, t, c, cloud) })
	t.Run("ImportThatWouldReplaceFails", func(t *testing.T) { testImportWouldReplace(ctx, t, c, cloud) })
	t.Run("FailedApplyKeepsItsOutput", func(t *testing.T) { testFailedApplyOutput(ctx, t, c) })
	t.Run("BadPropertyNamesIt", func(t *testing.T) { testBadProperty(ctx, t, c) })
	t.Run("AddonDisable", func(t *testing.T) { testAddonDisable(ctx, t, c, cloud) })
}

// testPlatform walks e2e/testdata/platform.yaml through the four stages of
// `make demo`:
//  1. infra-import adopts the pre-existing VPC with no create or delete;
//  2. terraform-controller provisions the subnet and the MySQL instance (its
//     subnet id passed from the subnet's Terraform output), Available;
//  3. an out-of-band edit, then infra-drift reports it as a diff;
//  4. a property change held by infra-approve until vela workflow resume,
//     which applies exactly the shown change.
func testPlatform(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	vela := func(args ...string) string {
		t.Helper()
		out, err := c.Vela(ctx, args...)
		if err != nil {
			t.Fatalf("vela %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	until := func(want string, timeout time.Duration) string {
		t.Helper()
		deadline := time.Now().Add(timeout)
		var out string
		for time.Now().Before(deadline) {
			out, _ = c.Vela(ctx, "status", "platform")
			if strings.Contains(out, want) {
				return out
			}
			time.Sleep(2 * time.Second)
		}
		t.Fatalf("vela status platform never showed %q in %s; last output:\n%s\n%s", want, timeout, out, diagnose(ctx, c))
		return ""
	}
	available := func(name string) {
		t.Helper()
		out, err := c.Kubectl(ctx, "get", "configuration", name, "-o", "jsonpath={.status.apply.state}")
		if err != nil || out != "Available" {
			t.Errorf("Configuration %s: state %q (%v), want Available", name, out, err)
		}
	}

	// Stages 1 and 2, and the new bucket held for approval.
	vela("up", "-f", filepath.Join(root, "e2e", "testdata", "platform.yaml"))
	status := until("suspending", 6*time.Minute)
	t.Logf("vela status platform, creation of the bucket held:\n%s", status)
	for _, want := range []string{"adopted 1 resource(s) into Configuration network", "+ mycloud_bucket.this (create)", "awaits approval"} {
		if !strings.Contains(status, want) {
			t.Errorf("vela status lacks %q", want)
		}
	}
	if n := cloud.CountRequests(http.MethodPost, "/v1/vpcs") + cloud.CountRequests(http.MethodDelete, "/v1/vpcs"); n != 0 {
		t.Errorf("the adopted VPC was created or deleted: %d requests", n)
	}
	for _, kind := range []string{"subnets", "mysql-instances"} {
		if n := cloud.CountRequests(http.MethodPost, "/v1/"+kind); n != 1 {
			t.Errorf("terraform-controller created %d %s, want 1", n, kind)
		}
	}
	for _, name := range []string{"network", "app-subnet", "app-db"} {
		available(name)
	}
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != 0 {
		t.Fatalf("the bucket was created before approval (%d creates)", n)
	}
	vela("workflow", "resume", "platform")
	until("finished: true", 3*time.Minute)
	available("app-assets")
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != 1 {
		t.Errorf("want exactly one bucket created after approval, got %d", n)
	}

	// Stage 3: an out-of-band edit, reported by infra-drift.
	cloud.MustAdmin(http.MethodPatch, "resources/vpcs/vpc-legacy01", map[string]any{"tags": map[string]string{"owner": "someone-else"}}, nil)
	vela("workflow", "restart", "platform")
	status = until(`tags.owner: "ops" -> "someone-else"`, 4*time.Minute)
	t.Logf("vela status platform after the out-of-band edit:\n%s", status)
	until("finished: true", 3*time.Minute)

	// Stage 4: a property change waits for approval and applies exactly it.
	app, err := os.ReadFile(filepath.Join(root, "e2e", "testdata", "platform.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(app), "        name: app-assets\n        acl: private\n", "        name: app-assets\n        acl: private\n        versioning: true\n", 1)
	if changed == string(app) {
		t.Fatal("platform.yaml no longer has the app-assets properties this test edits")
	}
	f := filepath.Join(t.TempDir(), "platform.yaml")
	if err := os.WriteFile(f, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	patches := cloud.CountRequests(http.MethodPatch, "/v1/buckets")
	vela("up", "-f", f)
	status = until("versioning: false -> true", 4*time.Minute)
	until("suspending", time.Minute)
	if n := cloud.CountRequests(http.MethodPatch, "/v1/buckets"); n != patches {
		t.Fatalf("the bucket was changed before approval")
	}
	t.Logf("vela status platform, the change held:\n%s", status)
	vela("workflow", "resume", "platform")
	until("finished: true", 3*time.Minute)
	if n := cloud.CountRequests(http.MethodPatch, "/v1/buckets") - patches; n != 1 {
		t.Errorf("want exactly one bucket update after approval, got %d", n)
	}
	available("app-assets")
}

// startCluster brings up the local cluster for one test and takes it down
// at the end. A cluster that already runs (make up, make demo KEEP=1) is not
// touched: the test fails and says so.
func startCluster(t *testing.T, ctx context.Context) *localcluster.Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the local-cluster test runs containerd and a kubelet: run make test as root")
	}
	var log strings.Builder
	c, err := localcluster.New(root, &log)
	if err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Fatalf("a local cluster is already running in %s (make up or make demo KEEP=1): run make down first", c.Dir)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range localcluster.Components {
				t.Logf("last lines of %s:\n%s", n, c.LogTail(n, 10))
			}
		}
		if err := c.Down(); err != nil {
			t.Errorf("make down: %v", err)
		}
		t.Logf("local cluster:\n%s", log.String())
	})
	if err := c.Up(ctx); err != nil {
		t.Fatalf("make up: %v\n%s", err, log.String())
	}
	p, err := localcluster.DefaultPlatform(root, testenv.ModuleDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Install(ctx, p); err != nil {
		t.Fatalf("installing vela-core and terraform-controller: %v\n%s", err, log.String())
	}
	return c
}

// diagnose is what a failed cluster test prints: objects and controller logs.
func diagnose(ctx context.Context, c *localcluster.Cluster) string {
	objs, _ := c.Kubectl(ctx, "get", "configurations,jobs,pods,configmaps", "-A")
	tfc, _ := c.Kubectl(ctx, "-n", "vela-system", "logs", "deploy/terraform-controller", "--tail=30")
	sr, _ := c.Kubectl(ctx, "-n", "vela-system", "logs", "deploy/vela-infra-step-runner", "--tail=30")
	return fmt.Sprintf("%s\nterraform-controller:\n%s\nstep-runner:\n%s", objs, tfc, sr)
}

// testFailedApplyOutput: terraform-controller's apply fails in the cloud (a
// subnet in a VPC that does not exist); the step-runner keeps the full
// Terraform output of the pod in a ConfigMap labelled failed and says where
// in an Event on the Configuration. After the fix, terraform-controller
// replaces the Job (its pod is gone) and the failed run's output is still
// readable, next to the successful run's.
func testFailedApplyOutput(ctx context.Context, t *testing.T, c *localcluster.Cluster) {
	f := filepath.Join(t.TempDir(), "orphan.yaml")
	app := `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: orphan
spec:
  components:
    - name: orphan-subnet
      type: mycloud-subnet
      properties:
        name: orphan
        vpc_id: vpc-doesnotexist
        cidr: 10.77.1.0/24
`
	if err := os.WriteFile(f, []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := velaUp(ctx, c, f); err != nil {
		t.Fatalf("vela up: %v\n%s", err, out)
	}
	kept := func(failed string) (name, log string) {
		names, _ := c.Kubectl(ctx, "get", "configmap", "-l", "infra.vela-infra.io/configuration=orphan-subnet,infra.vela-infra.io/terraform-run=apply,infra.vela-infra.io/failed="+failed,
			"-o", "jsonpath={.items[*].metadata.name}")
		for _, n := range strings.Fields(names) {
			l, _ := c.Kubectl(ctx, "get", "configmap", n, "-o", "jsonpath={.data.terraform-executor\\.log}")
			return n, l
		}
		return "", ""
	}
	var cm, failedLog string
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) && !strings.Contains(failedLog, "vpc-doesnotexist") {
		time.Sleep(2 * time.Second)
		cm, failedLog = kept("true")
	}
	if !strings.Contains(failedLog, "vpc-doesnotexist") || !strings.Contains(failedLog, "Error") {
		t.Fatalf("no ConfigMap holds the failed apply's output: %q %q\n%s", cm, failedLog, diagnose(ctx, c))
	}
	podName := strings.TrimSuffix(cm, "-terraform-log")
	events, _ := c.Kubectl(ctx, "get", "events", "--field-selector", "involvedObject.kind=Configuration,involvedObject.name=orphan-subnet,reason=TerraformRunFailed", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, cm) {
		t.Errorf("no TerraformRunFailed Event on the Configuration points to %s: %q", cm, events)
	}
	status, _ := c.Vela(ctx, "status", "orphan")
	t.Logf("vela status orphan while the apply fails:\n%s\nEvent: %s", status, events)

	// The fix: the subnet goes into the VPC that exists. terraform-controller
	// deletes the failing Job (and its pod) and runs a new one.
	fixed := strings.Replace(app, "vpc_id: vpc-doesnotexist\n        cidr: 10.77.1.0/24", "vpc_id: vpc-legacy01\n        cidr: 10.40.77.0/24", 1)
	if err := os.WriteFile(f, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := velaUp(ctx, c, f); err != nil {
		t.Fatalf("vela up: %v\n%s", err, out)
	}
	var latest string
	deadline = time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) && !strings.Contains(latest, "Apply complete!") {
		time.Sleep(2 * time.Second)
		_, latest = kept("false")
	}
	if !strings.Contains(latest, "Apply complete!") {
		t.Fatalf("the fixed apply's output was not kept: %q\n%s", latest, diagnose(ctx, c))
	}
	if out, err := c.Kubectl(ctx, "get", "pod", podName); err == nil {
		t.Fatalf("the failed run's pod %s is still there:\n%s", podName, out)
	}
	after, err := c.Kubectl(ctx, "get", "configmap", cm, "-o", "jsonpath={.data}")
	if err != nil || !strings.Contains(after, "vpc-doesnotexist") || !strings.Contains(after, podName) {
		t.Fatalf("after its pod %s is gone, %s lost the failed output (%v): %q", podName, cm, err, after)
	}
	t.Logf("the failed apply's output, kept after its pod %s is gone (kubectl get configmap %s):\n%s", podName, cm, failedLog)
}

// testBadProperty: a bad component property is rejected before anything
// runs, with a message that names the property.
func testBadProperty(ctx context.Context, t *testing.T, c *localcluster.Cluster) {
	f := filepath.Join(t.TempDir(), "bad.yaml")
	app := `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: bad-db
spec:
  components:
    - name: bad-db
      type: mycloud-mysql
      properties:
        name: bad-db
        subnet_id: subnet-1a2b3c4d
        storage_gib: 5
        admin_password: Demo-Passw0rd-2026
`
	if err := os.WriteFile(f, []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := velaUp(ctx, c, f)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && !strings.Contains(out, "storage_gib") {
		time.Sleep(2 * time.Second)
		out, _ = c.Vela(ctx, "status", "bad-db")
	}
	if !strings.Contains(out, "The storage_gib must be a whole number from 20 to 16384") {
		t.Fatalf("vela never named the bad property storage_gib:\n%s", out)
	}
	if cfg, err := c.Kubectl(ctx, "get", "configuration", "bad-db", "-o", "name"); err == nil {
		t.Fatalf("a Configuration was created for a bad property: %s", cfg)
	}
}

// testAddonDisable: `vela addon disable` refuses while applications use an
// addon's definitions; forced, it removes what enable added (definitions,
// Provider, credentials, the step-runner and its CRDs: the cluster's garbage
// collector deletes what the addon Application owns) and leaves the cloud,
// the Configurations and their state alone.
func testAddonDisable(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	writes := func() int {
		return cloud.CountRequests(http.MethodPost, "/v1/") + cloud.CountRequests(http.MethodPatch, "/v1/") + cloud.CountRequests(http.MethodDelete, "/v1/")
	}
	before := writes()
	out, err := c.Vela(ctx, "addon", "disable", "terraform-mycloud")
	if err == nil || !strings.Contains(out, "is being used by") || !strings.Contains(out, "default/") {
		t.Fatalf("vela addon disable of an addon in use: want a refusal naming the applications, got %v:\n%s", err, out)
	}
	for _, addon := range []string{"vela-infra", "terraform-mycloud"} {
		if out, err := c.Vela(ctx, "addon", "disable", addon, "--force"); err != nil {
			t.Fatalf("vela addon disable %s --force: %v\n%s", addon, err, out)
		}
	}
	gone := [][]string{
		{"-n", "vela-system", "componentdefinition", "mycloud-vpc"},
		{"-n", "vela-system", "workflowstepdefinition", "infra-import"},
		{"-n", "default", "provider", "mycloud"},
		{"-n", "vela-system", "deployment", "vela-infra-step-runner"},
		{"crd", "infraimports.infra.vela-infra.io"},
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, obj := range gone {
		for {
			out, err := c.Kubectl(ctx, append([]string{"get"}, obj...)...)
			if err != nil && (strings.Contains(out, "NotFound") || strings.Contains(out, "not found")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after vela addon disable, %v is still there: %s", obj, out)
			}
			time.Sleep(time.Second)
		}
	}
	for _, obj := range [][]string{{"configuration", "network"}, {"configuration", "app-db"}, {"-n", "vela-system", "secret", "tfstate-default-app-db"}} {
		if out, err := c.Kubectl(ctx, append([]string{"get"}, obj...)...); err != nil {
			t.Errorf("vela addon disable removed %v: %s", obj, out)
		}
	}
	if n := writes() - before; n != 0 {
		t.Errorf("vela addon disable changed the cloud: %d write requests", n)
	}
}

// upApp writes an application and runs vela up on it.
func upApp(ctx context.Context, t *testing.T, c *localcluster.Cluster, name, yaml string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := velaUp(ctx, c, f); err != nil {
		t.Fatalf("vela up %s: %v\n%s", name, err, out)
	}
}

// velaUp runs vela up -f file, again when it lost a race with vela-core
// updating the same Application ("the object has been modified": vela up
// reads and updates without retrying), as a person would run it again.
func velaUp(ctx context.Context, c *localcluster.Cluster, file string) (string, error) {
	out, err := c.Vela(ctx, "up", "-f", file)
	for i := 0; i < 3 && err != nil && strings.Contains(out, "the object has been modified"); i++ {
		time.Sleep(time.Second)
		out, err = c.Vela(ctx, "up", "-f", file)
	}
	return out, err
}

// statusUntil polls vela status app until it shows want.
func statusUntil(ctx context.Context, t *testing.T, c *localcluster.Cluster, app, want string, timeout time.Duration) string {
	t.Helper()
	var out string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if out, _ = c.Vela(ctx, "status", app); strings.Contains(out, want) {
			return out
		}
	}
	t.Fatalf("vela status %s never showed %q in %s; last output:\n%s\n%s", app, want, timeout, out, diagnose(ctx, c))
	return ""
}

// approvalApp is a bucket whose changes wait for approval.
func approvalApp(app, bucket, acl string) string {
	return `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: ` + app + `
spec:
  components:
    - name: ` + app + `-bucket
      type: mycloud-bucket
      properties:
        name: ` + bucket + `
        acl: ` + acl + `
  workflow:
    steps:
      - name: plan
        type: infra-plan
        properties:
          component: ` + app + `-bucket
      - name: approve
        type: infra-approve
        properties:
          component: ` + app + `-bucket
      - name: apply
        type: apply-component
        properties:
          component: ` + app + `-bucket
`
}

// testTerminate: vela workflow terminate rejects the held plan; nothing is
// created, by the step-runner or by terraform-controller.
func testTerminate(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	upApp(ctx, t, c, "rejected", approvalApp("rejected", "never-created", "private"))
	statusUntil(ctx, t, c, "rejected", "suspending", 3*time.Minute)
	before := cloud.CountRequests(http.MethodPost, "/v1/buckets")
	if out, err := c.Vela(ctx, "workflow", "terminate", "rejected"); err != nil {
		t.Fatalf("vela workflow terminate: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "rejected", "Terminated: true", time.Minute)
	time.Sleep(5 * time.Second)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets") - before; n != 0 {
		t.Fatalf("a rejected plan created %d bucket(s)", n)
	}
	if out, err := c.Kubectl(ctx, "get", "configuration", "rejected-bucket"); err == nil {
		t.Fatalf("terminate left a Configuration for terraform-controller to apply:\n%s", out)
	}
}

// testStaleApproval: the cloud changes after the diff was shown; the resume
// applies nothing and shows the new diff.
func testStaleApproval(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	upApp(ctx, t, c, "stale", approvalApp("stale", "stale-assets", "private"))
	statusUntil(ctx, t, c, "stale", "suspending", 3*time.Minute)
	if out, err := c.Vela(ctx, "workflow", "resume", "stale"); err != nil {
		t.Fatalf("vela workflow resume: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "stale", "finished: true", 3*time.Minute)

	upApp(ctx, t, c, "stale", approvalApp("stale", "stale-assets", "public-read"))
	statusUntil(ctx, t, c, "stale", `acl: "private" -> "public-read"`, 3*time.Minute)
	statusUntil(ctx, t, c, "stale", "suspending", time.Minute)
	buckets, err := mcclient.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey).List(ctx, "buckets", nil)
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, b := range buckets {
		if b.String("name") == "stale-assets" {
			id = b.String("id")
		}
	}
	if id == "" {
		t.Fatalf("bucket stale-assets not in the cloud: %v", buckets)
	}
	// Someone turns on versioning in the console while the diff waits.
	cloud.MustAdmin(http.MethodPatch, "resources/buckets/"+id, map[string]any{"versioning": true}, nil)
	patches := cloud.CountRequests(http.MethodPatch, "/v1/buckets")
	if out, err := c.Vela(ctx, "workflow", "resume", "stale"); err != nil {
		t.Fatalf("vela workflow resume: %v\n%s", err, out)
	}
	status := statusUntil(ctx, t, c, "stale", "changed since plan", 3*time.Minute)
	for _, want := range []string{"nothing was applied", "versioning: true -> false"} {
		if !strings.Contains(status, want) {
			t.Errorf("vela status lacks %q:\n%s", want, status)
		}
	}
	time.Sleep(3 * time.Second)
	if n := cloud.CountRequests(http.MethodPatch, "/v1/buckets") - patches; n != 0 {
		t.Fatalf("a stale approval changed the bucket (%d PATCH calls)", n)
	}
}

// testImportWouldReplace: adopting the seeded bucket under another name
// would replace it; the import step fails and nothing is deleted.
func testImportWouldReplace(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	deletes := cloud.CountRequests(http.MethodDelete, "/v1/buckets")
	if out, err := velaUp(ctx, c, filepath.Join(root, "e2e", "testdata", "legacy-import.yaml")); err != nil {
		t.Fatalf("vela up: %v\n%s", err, out)
	}
	status := statusUntil(ctx, t, c, "legacy", "phase: failed", 3*time.Minute)
	for _, want := range []string{"refused", "replace mycloud_bucket.this", "state is unchanged", `set these component properties: {"name":"legacy-assets","tags":{"owner":"ops"}}`} {
		if !strings.Contains(status, want) {
			t.Errorf("vela status lacks %q:\n%s", want, status)
		}
	}
	time.Sleep(3 * time.Second)
	if n := cloud.CountRequests(http.MethodDelete, "/v1/buckets") - deletes; n != 0 {
		t.Fatalf("a refused import deleted %d bucket(s)", n)
	}
	if out, err := c.Kubectl(ctx, "get", "configuration", "legacy-bucket"); err == nil {
		t.Fatalf("the failed import let apply-component run:\n%s", out)
	}
}

// testLeastPrivilege asks the API server what the installed step-runner's
// ServiceAccount may do: Secrets only where state and shared credentials
// live (vela-system), none in a tenant's namespace or cluster-wide; run
// output where it serves.
func testLeastPrivilege(ctx context.Context, t *testing.T, c *localcluster.Cluster) {
	const sa = "system:serviceaccount:vela-system:vela-infra-step-runner"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "secrets", "-n", "default"}, "no"},
		{[]string{"create", "secrets", "-n", "default"}, "no"},
		{[]string{"get", "secrets", "-n", "kube-system"}, "no"},
		{[]string{"list", "secrets", "--all-namespaces"}, "no"},
		{[]string{"list", "configmaps", "--all-namespaces"}, "no"},
		{[]string{"get", "secrets", "-n", "vela-system"}, "yes"},
		{[]string{"create", "configmaps", "-n", "default"}, "yes"},
		{[]string{"create", "configmaps", "-n", "kube-system"}, "no"},
	} {
		out, _ := c.Kubectl(ctx, append([]string{"auth", "can-i", "--as", sa}, tc.args...)...)
		if got := strings.TrimSpace(out); got != tc.want {
			t.Errorf("kubectl auth can-i %s as the step-runner: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
