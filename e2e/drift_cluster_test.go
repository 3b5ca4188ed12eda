package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	mcclient "github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

// testDeclaredDrift: a component with the trait drift-detection (remedy
// revert, every 30s) deployed with vela up gets an InfraDrift of its
// Configuration; an out-of-band edit in the console is found by the
// schedule and put back by exactly one in-place update (mycloud's request
// log), which vela status reports; the InfraDrift goes with the application.
func testDeclaredDrift(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	const app, comp, drift = "declared", "declared-bucket", "declared-bucket-drift-detection"
	upApp(ctx, t, c, app, `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: `+app+`
spec:
  components:
    - name: `+comp+`
      type: mycloud-bucket
      properties:
        name: declared-assets
        acl: private
      traits:
        - type: drift-detection
          properties:
            interval: 30s
            remedy: revert
`)
	// vela status shows the trait's message as vela-core last evaluated it
	// (it re-evaluates a running application on its resync period, 5m by
	// default): wait on the InfraDrift itself.
	driftField := func(path string) string {
		out, _ := c.Kubectl(ctx, "get", "infradrift", drift, "-o", "jsonpath="+path)
		return out
	}
	// A first check may run before terraform-controller created the bucket
	// (an empty state has no drift): wait for the Configuration too.
	applied := func() bool {
		out, _ := c.Kubectl(ctx, "get", "configuration", comp, "-o", "jsonpath={.status.apply.state}")
		return out == "Available"
	}
	for deadline := time.Now().Add(4 * time.Minute); !applied() || driftField(`{.status.conditions[?(@.type=="Ready")].reason}`) != "NoDrift"; time.Sleep(2 * time.Second) {
		if time.Now().After(deadline) {
			out, _ := c.Kubectl(ctx, "get", "infradrift", drift, "-o", "yaml")
			t.Fatalf("InfraDrift %s never checked the bucket clean within 4m:\n%s\n%s", drift, out, diagnose(ctx, c))
		}
	}
	id := bucketID(ctx, t, cloud, "declared-assets")

	// Someone turns on versioning in the console.
	patches := cloud.CountRequests(http.MethodPatch, "/v1/buckets")
	creates, deletes := cloud.CountRequests(http.MethodPost, "/v1/buckets"), cloud.CountRequests(http.MethodDelete, "/v1/buckets")
	edited := time.Now()
	cloud.MustAdmin(http.MethodPatch, "resources/buckets/"+id, map[string]any{"versioning": true}, nil)
	remedyUntil(ctx, t, c, drift, "Reverted", "the out-of-band edit reverted")
	t.Logf("reverted %s after the out-of-band edit", time.Since(edited).Round(time.Second))
	if n := cloud.CountRequests(http.MethodPatch, "/v1/buckets") - patches; n != 1 {
		t.Errorf("the revert made %d PATCH calls to the bucket, want exactly 1", n)
	}
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets") + cloud.CountRequests(http.MethodDelete, "/v1/buckets") - creates - deletes; n != 0 {
		t.Errorf("the revert created or deleted %d bucket(s)", n)
	}
	b, err := mcclient.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey).Get(ctx, "buckets", id)
	if err != nil {
		t.Fatal(err)
	}
	if b.Bool("versioning") {
		t.Errorf("versioning still on in the cloud after the revert: %v", b)
	}
	status := statusUntil(ctx, t, c, app, "Type: drift-detection", time.Minute)
	t.Logf("vela status after the revert (the trait's message as vela-core last evaluated it):\n%s", status)
	events, _ := c.Kubectl(ctx, "get", "events", "--field-selector", "involvedObject.name="+drift, "-o", "jsonpath={.items[*].reason}")
	if !strings.Contains(events, "DriftReverted") {
		t.Errorf("no DriftReverted Event on InfraDrift %s (events: %s)", drift, events)
	}
	testDriftMetrics(ctx, t, c, cloud, drift, id, edited)

	// The held replacement, approved through the admission webhook: a plan
	// id not held is refused; the held one is recorded with the person the
	// API server authenticated (the admin here, allowed the verb approve on
	// infradrifts) and applied.
	held, _ := c.Kubectl(ctx, "get", "infradrift", drift, "-o", "jsonpath={.status.remedy.planID}")
	approve := func(planID string) (string, error) {
		return c.Kubectl(ctx, "patch", "infradrift", drift, "--type", "merge", "-p", fmt.Sprintf(`{"spec":{"approval":{"planID":%q}}}`, planID))
	}
	if out, err := approve("0123456789abcdef"); err == nil || !strings.Contains(out, "spec.approval.planID: corrective plan 0123456789abcdef is not held for approval (the corrective plan held is "+held+")") {
		t.Errorf("an approval of a corrective plan not held: %v\n%s", err, out)
	}
	creates, deletes = cloud.CountRequests(http.MethodPost, "/v1/buckets"), cloud.CountRequests(http.MethodDelete, "/v1/buckets")
	if out, err := approve(held); err != nil {
		t.Fatalf("approving the held corrective plan %s: %v\n%s", held, err, out)
	}
	remedyUntil(ctx, t, c, drift, "Applied", "the approved corrective plan applied")
	if by, _ := c.Kubectl(ctx, "get", "infradrift", drift, "-o", "jsonpath={.status.remedy.approvedBy}"); !strings.Contains(by, "vela-infra-admin") ||
		!strings.Contains(by, "via an approval written on InfraDrift default/"+drift) {
		t.Fatalf("the approved corrective plan was approved by %q, want vela-infra-admin, recorded by the webhook", by)
	}
	if n, m := cloud.CountRequests(http.MethodPost, "/v1/buckets")-creates, cloud.CountRequests(http.MethodDelete, "/v1/buckets")-deletes; n != 1 || m != 1 {
		t.Errorf("the approved replacement made %d create(s) and %d delete(s) of buckets, want 1 and 1", n, m)
	}

	// The InfraDrift is the application's: deleted with it.
	if out, err := c.Vela(ctx, "delete", app, "-n", "default", "-y"); err != nil {
		t.Fatalf("vela delete: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(2 * time.Second) {
		out, err := c.Kubectl(ctx, "get", "infradrift", drift, "--ignore-not-found", "-o", "name")
		if err == nil && strings.TrimSpace(out) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("InfraDrift %s still there 3m after vela delete: %s %v", drift, out, err)
		}
	}
}

// remedyUntil waits up to 2 minutes for InfraDrift drift's
// status.remedy.result to be want (what: the awaited event, for the
// failure).
func remedyUntil(ctx context.Context, t *testing.T, c *localcluster.Cluster, drift, want, what string) {
	t.Helper()
	var result string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if result, _ = c.Kubectl(ctx, "get", "infradrift", drift, "-o", "jsonpath={.status.remedy.result}"); result == want {
			return
		}
	}
	out, _ := c.Kubectl(ctx, "get", "infradrift", drift, "-o", "yaml")
	t.Fatalf("not %s within 2m: remedy %q, want %q:\n%s\n%s", what, result, want, out, diagnose(ctx, c))
}
