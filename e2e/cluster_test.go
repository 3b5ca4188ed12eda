package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
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
	ctx, cancel := context.WithTimeout(context.Background(), 42*time.Minute)
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
	t.Run("Onboarding", func(t *testing.T) { testOnboarding(ctx, t, c, cloud) })
	t.Run("SharedInfrastructure", func(t *testing.T) { testSharedInfrastructure(ctx, t, c, cloud) })
	t.Run("TerminateRejects", func(t *testing.T) { testTerminate(ctx, t, c, cloud) })
	t.Run("StaleApprovalAppliesNothing", func(t *testing.T) { testStaleApproval(ctx, t, c, cloud) })
	t.Run("ApprovalIdentity", func(t *testing.T) { testApprovalIdentity(ctx, t, c, cloud) })
	t.Run("Policies", func(t *testing.T) { testPolicies(ctx, t, c, cloud) })
	t.Run("ImportThatWouldReplaceFails", func(t *testing.T) { testImportWouldReplace(ctx, t, c, cloud) })
	t.Run("FailedApplyKeepsItsOutput", func(t *testing.T) { testFailedApplyOutput(ctx, t, c) })
	t.Run("BadPropertyNamesIt", func(t *testing.T) { testBadProperty(ctx, t, c) })
	t.Run("Crashes", func(t *testing.T) { testCrashes(ctx, t, c, cloud) })
	t.Run("FaultyCloudApplies", func(t *testing.T) { testFaultyCloudApplies(ctx, t, c) })
	t.Run("DeclaredDrift", func(t *testing.T) { testDeclaredDrift(ctx, t, c, cloud) })
	t.Run("Sharding", func(t *testing.T) { testSharding(ctx, t, c) })
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
	// app-db's password is managed by mycloud (manage_admin_password in
	// platform.yaml): the connection Secret holds only the secret's id,
	// mycloud returns a password for it, and that password is in no
	// Application, Configuration, connection Secret or Terraform state.
	encoded, err := c.Kubectl(ctx, "get", "secret", "app-db-conn", "-o", "jsonpath={.data.admin_password_secret_id}")
	secretID, decErr := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil || decErr != nil || !strings.HasPrefix(string(secretID), "secret-") {
		t.Fatalf("the connection Secret app-db-conn has no admin_password_secret_id: %v %v\n%s", err, decErr, encoded)
	}
	dbPassword, err := mcclient.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey).SecretValue(ctx, string(secretID))
	if err != nil || dbPassword == "" {
		t.Fatalf("mycloud returns no password for %s: %v", secretID, err)
	}
	stateB64, err := c.Kubectl(ctx, "-n", "vela-system", "get", "secret", "tfstate-default-app-db", "-o", "jsonpath={.data.tfstate}")
	if err != nil {
		t.Fatalf("the state Secret of app-db: %v\n%s", err, stateB64)
	}
	if state := gunzipBase64(t, stateB64); !strings.Contains(state, string(secretID)) || strings.Contains(state, dbPassword) {
		t.Errorf("app-db's state should hold the secret id %s and not the password", secretID)
	}
	for _, obj := range [][]string{{"application", "platform"}, {"configuration", "app-db"}, {"secret", "app-db-conn"}} {
		out, err := c.Kubectl(ctx, append([]string{"get", "-o", "json"}, obj...)...)
		if err != nil {
			t.Fatalf("kubectl get %v: %v\n%s", obj, err, out)
		}
		if strings.Contains(out, dbPassword) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(dbPassword))) {
			t.Errorf("%v holds app-db's password", obj)
		}
	}
	// The adopted VPC is kept in the cloud if the application is deleted,
	// and vela status says so.
	if out, err := c.Kubectl(ctx, "get", "configuration", "network", "-o", "jsonpath={.spec.deleteResource}"); err != nil || out != "false" {
		t.Errorf("the adopted network's deleteResource: %q (%v), want false", out, err)
	}
	until("kept in the cloud when deleted: it holds resources adopted by infra-import (mycloud_vpc.this=vpc-legacy01)", time.Minute)
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
	upAt := time.Now()
	if out, err := velaUp(ctx, c, f); err != nil {
		t.Fatalf("vela up: %v\n%s", err, out)
	}
	// The cloud's reason reaches vela status, not only terraform-controller's
	// "container ... is waiting to start".
	failing := statusUntil(ctx, t, c, "orphan", "the last terraform apply failed: ", 3*time.Minute)
	t.Logf("the failed apply's error in vela status %.0fs after vela up", time.Since(upAt).Seconds())
	if !strings.Contains(failing, "vpc-doesnotexist") {
		t.Errorf("vela status shows the failure without the cloud's reason:\n%s", failing)
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
	if out, _ := c.Kubectl(ctx, "get", "configuration", "orphan-subnet", "-o", `jsonpath={.metadata.annotations.infra\.vela-infra\.io/apply-error}`); out != "" {
		t.Errorf("the apply succeeded, the Configuration still notes an apply error: %q", out)
	}
	after, err := c.Kubectl(ctx, "get", "configmap", cm, "-o", "jsonpath={.data}")
	if err != nil || !strings.Contains(after, "vpc-doesnotexist") || !strings.Contains(after, podName) {
		t.Fatalf("after its pod %s is gone, %s lost the failed output (%v): %q", podName, cm, err, after)
	}
	t.Logf("the failed apply's output, kept after its pod %s is gone (kubectl get configmap %s):\n%s", podName, cm, failedLog)
}

// testBadProperty: a bad component property is rejected before anything
// runs, with a message that names the property: vela-core's validating
// admission webhook (on, as in a default install) renders the component and
// refuses the Application, so `vela up` itself fails and nothing is stored.
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
	out, err := velaUp(ctx, c, f)
	if err == nil {
		t.Fatalf("vela up of an Application with storage_gib: 5 exited 0; want it refused by vela-core's admission webhook:\n%s", out)
	}
	for _, want := range []string{
		`admission webhook "validating.core.oam.dev.v1beta1.applications" denied the request`,
		"The storage_gib must be a whole number from 20 to 16384",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("vela up output lacks %q:\n%s", want, out)
		}
	}
	if got, err := c.Kubectl(ctx, "get", "application", "bad-db", "-o", "name"); err == nil || !strings.Contains(got, "NotFound") {
		t.Errorf("the refused Application was stored (%v): %s", err, got)
	}
	if cfg, err := c.Kubectl(ctx, "get", "configuration", "bad-db", "-o", "name"); err == nil {
		t.Errorf("a Configuration was created for a bad property: %s", cfg)
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

// gunzipBase64 decodes a kubernetes-backend state: base64 of gzip.
func gunzipBase64(t *testing.T, s string) string {
	t.Helper()
	gz, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// testSharedInfrastructure: a Redis owned by one application and used, by
// id, by applications in two other namespaces through mycloud-redis-ref.
// The consumers get its endpoint; the owner's Configuration is kept in the
// cloud while they use it (vela status names them); a plan that replaces
// it names both in the held approval, terminate changes nothing, and a
// restart and resume apply exactly that replacement; deleting the owner
// while a consumer remains is refused naming them (the step-runner's
// admission webhook), deleting a consumer destroys nothing, and once the
// last consumer is gone the owner is deleted; annotated, an owner with a
// consumer is deleted and what it shares stays in the cloud.
func testSharedInfrastructure(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	subnetID, err := c.Kubectl(ctx, "get", "configuration", "app-subnet", "-o", "jsonpath={.status.apply.outputs.id.value}")
	if err != nil || !strings.HasPrefix(subnetID, "subnet-") {
		t.Fatalf("the platform's subnet id: %q %v", subnetID, err)
	}
	owner := func(version string) string {
		yaml, err := testenv.AppFile(root, "shared-cache.yaml", map[string]string{"SUBNET_ID": subnetID, "REDIS_VERSION": version})
		if err != nil {
			t.Fatal(err)
		}
		return yaml
	}
	upApp(ctx, t, c, "shared-cache", owner("7.0"))
	statusUntil(ctx, t, c, "shared-cache", "suspending", 3*time.Minute)
	if out, err := c.Vela(ctx, "workflow", "resume", "shared-cache"); err != nil {
		t.Fatalf("vela workflow resume: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "shared-cache", "finished: true", 4*time.Minute)
	redisID, err := c.Kubectl(ctx, "get", "configuration", "cache", "-o", "jsonpath={.status.apply.outputs.id.value}")
	if err != nil || !strings.HasPrefix(redisID, "redis-") {
		t.Fatalf("the shared Redis id: %q %v", redisID, err)
	}

	consumer := func(ns, app string) {
		if out, err := c.Kubectl(ctx, "create", "namespace", ns); err != nil && !strings.Contains(out, "AlreadyExists") {
			t.Fatalf("kubectl create namespace %s: %v\n%s", ns, err, out)
		}
		yaml, err := testenv.AppFile(root, "cache-consumer.yaml", map[string]string{"APP": app, "NAMESPACE": ns, "REDIS_ID": redisID})
		if err != nil {
			t.Fatal(err)
		}
		upApp(ctx, t, c, app, yaml)
	}
	consumer("team-a", "checkout")
	consumer("team-b", "search")
	// Names unique across namespaces: with terraform-controller's state in
	// one backend namespace, a Configuration named like another namespace's
	// would share its state (the step-runner refuses such a target).
	for ns, cfg := range map[string]string{"team-a": "checkout-cache", "team-b": "search-cache"} {
		deadline := time.Now().Add(4 * time.Minute)
		for {
			out, _ := c.Kubectl(ctx, "-n", ns, "get", "configuration", cfg, "-o", "jsonpath={.status.apply.state} {.status.apply.outputs.endpoint.value}")
			if strings.HasPrefix(out, "Available ") && len(out) > len("Available ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the consumer in %s never got the shared Redis' endpoint: %q\n%s", ns, out, diagnose(ctx, c))
			}
			time.Sleep(2 * time.Second)
		}
	}
	// Kept while used, saying by whom (vela status shows it once vela-core
	// looks at the application again).
	const why = "other Configurations use its resources: team-a/checkout (component checkout-cache), team-b/search (component search-cache)"
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		out, _ := c.Kubectl(ctx, "get", "configuration", "cache", "-o", `jsonpath={.spec.deleteResource} {.metadata.annotations.infra\.vela-infra\.io/retained}`)
		if out == "false "+why {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shared Redis' Configuration: %q, want it kept because %s", out, why)
		}
	}

	// Bad input. A second owner of the shared Redis is refused, naming the
	// first; a reference to an id that does not exist shows the cloud's
	// error in vela status.
	upApp(ctx, t, c, "grab", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: grab
spec:
  components:
    - name: grab-cache
      type: mycloud-redis
      properties:
        name: grab
        subnet_id: `+subnetID+`
        manage_password: true
  workflow:
    steps:
      - name: adopt
        type: infra-import
        properties:
          component: grab-cache
          resources:
            - address: mycloud_redis.this
              id: `+redisID+`
`)
	statusUntil(ctx, t, c, "grab", "spec.resources[0].id "+redisID+" is already managed by default/shared-cache (component cache)", 2*time.Minute)
	upApp(ctx, t, c, "dangling", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: dangling
spec:
  components:
    - name: dangling-cache
      type: mycloud-redis-ref
      properties:
        id: redis-doesnotexist
`)
	dangling := statusUntil(ctx, t, c, "dangling", "the last terraform apply failed: ", 3*time.Minute)
	if !strings.Contains(dangling, "redis-doesnotexist") {
		t.Errorf("vela status of a reference to a missing id does not name it:\n%s", dangling)
	}
	for _, app := range []string{"grab", "dangling"} {
		if out, err := c.Vela(ctx, "delete", "-n", "default", app, "-y"); err != nil {
			t.Errorf("vela delete %s: %v\n%s", app, err, out)
		}
	}

	// A replacement (the version is immutable) names both consumers in
	// the held approval; terminate leaves everything as it is.
	writes := func() int {
		return cloud.CountRequests(http.MethodPost, "/v1/redis-instances") + cloud.CountRequests(http.MethodDelete, "/v1/redis-instances") +
			cloud.CountRequests(http.MethodPatch, "/v1/redis-instances")
	}
	before := writes()
	upApp(ctx, t, c, "shared-cache", owner("6.2"))
	held := statusUntil(ctx, t, c, "shared-cache", "suspending", 3*time.Minute)
	t.Logf("vela status shared-cache, the replacement held:\n%s", held)
	for _, want := range []string{"Shared: 2 other Configuration(s) use what this plan changes, 2 of them lose a resource they refer to",
		"team-a/checkout (component checkout-cache): mycloud_redis.this (" + redisID + ") is replaced: its id changes; used by variable id",
		"team-b/search (component search-cache)"} {
		if !strings.Contains(held, want) {
			t.Errorf("the held approval lacks %q", want)
		}
	}
	if out, err := c.Vela(ctx, "workflow", "terminate", "shared-cache"); err != nil {
		t.Fatalf("vela workflow terminate: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "shared-cache", "Terminated: true", time.Minute)

	if n := writes() - before; n != 0 {
		t.Errorf("terminate changed the shared Redis: %d write requests", n)
	}

	// Planned anew, the same replacement is held naming both consumers, and
	// the resume applies exactly it: one create, one destroy, no update.
	if out, err := c.Vela(ctx, "workflow", "restart", "shared-cache"); err != nil {
		t.Fatalf("vela workflow restart: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "shared-cache", "suspending", 3*time.Minute)
	held = statusUntil(ctx, t, c, "shared-cache", "team-b/search (component search-cache)", time.Minute)
	if !strings.Contains(held, "team-a/checkout (component checkout-cache): mycloud_redis.this ("+redisID+") is replaced") {
		t.Errorf("the plan held after the restart does not name team-a/checkout:\n%s", held)
	}
	posts, deletes, patches := cloud.CountRequests(http.MethodPost, "/v1/redis-instances"), cloud.CountRequests(http.MethodDelete, "/v1/redis-instances"),
		cloud.CountRequests(http.MethodPatch, "/v1/redis-instances")
	if out, err := c.Vela(ctx, "workflow", "resume", "shared-cache"); err != nil {
		t.Fatalf("vela workflow resume: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "shared-cache", "finished: true", 4*time.Minute)
	oldID := redisID
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(2 * time.Second) {
		redisID, _ = c.Kubectl(ctx, "get", "configuration", "cache", "-o", "jsonpath={.status.apply.state} {.status.apply.outputs.id.value}")
		if id, ok := strings.CutPrefix(redisID, "Available "); ok && id != oldID && strings.HasPrefix(id, "redis-") {
			redisID = id
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced Redis' Configuration never became Available with a new id: %q\n%s", redisID, diagnose(ctx, c))
		}
	}
	for _, r := range []struct {
		method string
		before int
		want   int
	}{{http.MethodPost, posts, 1}, {http.MethodDelete, deletes, 1}, {http.MethodPatch, patches, 0}} {
		if n := cloud.CountRequests(r.method, "/v1/redis-instances") - r.before; n != r.want {
			t.Errorf("the approved replacement sent %d %s requests for Redis instances, want %d", n, r.method, r.want)
		}
	}
	if n := cloud.CountRequests(http.MethodDelete, "/v1/redis-instances/"+oldID); n != 1 {
		t.Errorf("the replaced Redis %s was deleted %d times, want once", oldID, n)
	}
	// The consumers still name the old id: nothing re-points them. The
	// owner is no longer shared (deleteResource back to true) until they
	// are re-pointed at the new id, as their owners would.
	for _, ref := range []string{"team-a/checkout-cache", "team-b/search-cache"} {
		ns, name, _ := strings.Cut(ref, "/")
		out, _ := c.Kubectl(ctx, "-n", ns, "get", "configuration", name, "-o", "jsonpath={.spec.variable.id} {.status.apply.state}")
		t.Logf("after the replacement, consumer %s: %s (the Redis it names was %s, is now %s)", ref, out, oldID, redisID)
	}
	consumer("team-a", "checkout")
	consumer("team-b", "search")
	retainedBy := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
			out, _ := c.Kubectl(ctx, "get", "configuration", "cache", "-o", `jsonpath={.spec.deleteResource} {.metadata.annotations.infra\.vela-infra\.io/retained}`)
			if out == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the shared Redis' Configuration: %q, want %q", out, want)
			}
		}
	}
	retainedBy("false " + why)

	// Deleting the owner while consumers remain is refused, naming them;
	// nothing is deleted, in the cluster or the cloud.
	before = writes()
	refused := func(consumers ...string) {
		t.Helper()
		out, err := c.Vela(ctx, "delete", "-n", "default", "shared-cache", "-y")
		t.Logf("vela delete shared-cache while %v use its Redis: %v\n%s", consumers, err, out)
		if err == nil {
			t.Fatalf("vela delete of the owner succeeded while %v use its Redis:\n%s", consumers, out)
		}
		for _, want := range append([]string{"application default/shared-cache is not deleted", "nothing was deleted", "--orphan",
			"infra.vela-infra.io/delete-with-consumers=true"}, consumers...) {
			if !strings.Contains(out, want) {
				t.Errorf("vela delete's refusal lacks %q", want)
			}
		}
		if out, err := c.Kubectl(ctx, "get", "application", "shared-cache", "-o", "jsonpath={.metadata.deletionTimestamp}"); err != nil || out != "" {
			t.Errorf("the refused application is being deleted (%v): %q", err, out)
		}
		if out, err := c.Kubectl(ctx, "get", "configuration", "cache", "-o", "name"); err != nil {
			t.Errorf("the owner's Configuration is gone after a refused delete: %s", out)
		}
	}
	refused("team-a/checkout (component checkout-cache)", "team-b/search (component search-cache)", redisID+" in variable id")
	gone := func(ns, kind, name string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
			out, err := c.Kubectl(ctx, "-n", ns, "get", kind, name)
			if err != nil && strings.Contains(out, "NotFound") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s/%s is still there: %s", kind, ns, name, out)
			}
		}
	}
	// Deleting a consumer destroys nothing; the owner is still refused,
	// naming the one that remains.
	if out, err := c.Vela(ctx, "delete", "-n", "team-a", "checkout", "-y"); err != nil {
		t.Fatalf("vela delete checkout: %v\n%s", err, out)
	}
	gone("team-a", "configuration", "checkout-cache")
	refused("team-b/search (component search-cache)")
	time.Sleep(5 * time.Second) // terraform-controller would have started a destroy Job by now
	if n := writes() - before; n != 0 {
		t.Errorf("the shared Redis was changed or destroyed: %d write requests", n)
	}
	// After the last consumer goes, the owner is deleted.
	if out, err := c.Vela(ctx, "delete", "-n", "team-b", "search", "-y"); err != nil {
		t.Fatalf("vela delete search: %v\n%s", err, out)
	}
	gone("team-b", "configuration", "search-cache")
	retainedBy("true ")
	if out, err := c.Vela(ctx, "delete", "-n", "default", "shared-cache", "-y"); err != nil {
		t.Fatalf("vela delete of the owner after its last consumer went: %v\n%s", err, out)
	}
	gone("default", "configuration", "cache")
	time.Sleep(5 * time.Second)
	t.Logf("Redis DELETE requests after the owner went, no consumer left (deleteResource true): %d", cloud.CountRequests(http.MethodDelete, "/v1/redis-instances/"+redisID))

	// The override: annotated, the owner of a VPC another namespace uses is
	// deleted (vela-core's deletion of its Configuration passes too), and
	// the VPC stays in the cloud for its consumer.
	upApp(ctx, t, c, "shared-net", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shared-net
spec:
  components:
    - name: shared-net-vpc
      type: mycloud-vpc
      properties:
        name: shared-net
        cidr: 10.91.0.0/16
`)
	var vpcID string
	for deadline := time.Now().Add(3 * time.Minute); !strings.HasPrefix(vpcID, "vpc-"); time.Sleep(2 * time.Second) {
		vpcID, _ = c.Kubectl(ctx, "get", "configuration", "shared-net-vpc", "-o", "jsonpath={.status.apply.outputs.id.value}")
		if time.Now().After(deadline) {
			t.Fatalf("the VPC of shared-net was never created: %q\n%s", vpcID, diagnose(ctx, c))
		}
	}
	upApp(ctx, t, c, "net-user", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: net-user
  namespace: team-a
spec:
  components:
    - name: net-user-vpc
      type: mycloud-vpc-ref
      properties:
        id: `+vpcID+`
`)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		out, _ := c.Kubectl(ctx, "get", "configuration", "shared-net-vpc", "-o", "jsonpath={.spec.deleteResource}")
		if out == "false" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shared VPC's Configuration was never retained: deleteResource %q", out)
		}
	}
	if out, err := c.Vela(ctx, "delete", "-n", "default", "shared-net", "-y"); err == nil || !strings.Contains(out, "team-a/net-user (component net-user-vpc)") {
		t.Fatalf("vela delete of the VPC's owner while team-a/net-user uses it: want a refusal naming it, got %v:\n%s", err, out)
	}
	if out, err := c.Kubectl(ctx, "annotate", "application", "shared-net", "infra.vela-infra.io/delete-with-consumers=true"); err != nil {
		t.Fatalf("kubectl annotate: %v\n%s", err, out)
	}
	if out, err := c.Vela(ctx, "delete", "-n", "default", "shared-net", "-y"); err != nil {
		t.Fatalf("vela delete of the annotated owner: %v\n%s", err, out)
	}
	gone("default", "configuration", "shared-net-vpc")
	time.Sleep(5 * time.Second) // terraform-controller would have started a destroy Job by now
	if n := cloud.CountRequests(http.MethodDelete, "/v1/vpcs/"+vpcID); n != 0 {
		t.Errorf("the VPC team-a/net-user uses was destroyed with its forced owner (%d DELETE)", n)
	}
	if out, err := c.Vela(ctx, "delete", "-n", "team-a", "net-user", "-y"); err != nil {
		t.Errorf("vela delete net-user: %v\n%s", err, out)
	}
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
	id := bucketID(ctx, t, cloud, "stale-assets")
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
		// Configurations: read everywhere, patched (deleteResource) only
		// where it serves; never created, updated whole or deleted.
		{[]string{"patch", "configurations.terraform.core.oam.dev", "-n", "default"}, "yes"},
		{[]string{"patch", "configurations.terraform.core.oam.dev", "-n", "kube-system"}, "no"},
		{[]string{"delete", "configurations.terraform.core.oam.dev", "-n", "default"}, "no"},
		{[]string{"update", "configurations.terraform.core.oam.dev", "-n", "default"}, "no"},
		// InfraPolicies: read (every plan is judged by them), never written.
		{[]string{"list", "infrapolicies.infra.vela-infra.io", "--all-namespaces"}, "yes"},
		{[]string{"create", "infrapolicies.infra.vela-infra.io", "--all-namespaces"}, "no"},
		{[]string{"update", "infrapolicies.infra.vela-infra.io", "--all-namespaces"}, "no"},
		{[]string{"delete", "infrapolicies.infra.vela-infra.io", "--all-namespaces"}, "no"},
	} {
		out, _ := c.Kubectl(ctx, append([]string{"auth", "can-i", "--as", sa}, tc.args...)...)
		if got := strings.TrimSpace(out); got != tc.want {
			t.Errorf("kubectl auth can-i %s as the step-runner: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

// bucketID is the id of the bucket named name in cloud, failing when there
// is none.
func bucketID(ctx context.Context, t *testing.T, cloud *mycloudtest.Cloud, name string) string {
	t.Helper()
	buckets, err := mcclient.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey).List(ctx, "buckets", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets {
		if b.String("name") == name {
			return b.String("id")
		}
	}
	t.Fatalf("bucket %s not in the cloud: %v", name, buckets)
	return ""
}
