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
)

// policyNet is an application owning a VPC whose changes are planned,
// held and applied by infra-plan + infra-approve.
func policyNet(cidr, team string) string {
	return `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: polnet
spec:
  components:
    - name: polnet-vpc
      type: mycloud-vpc
      properties:
        name: polnet
        cidr: ` + cidr + `
        tags:
          team: ` + team + `
  workflow:
    steps:
      - name: plan
        type: infra-plan
        properties:
          component: polnet-vpc
      - name: approve
        type: infra-approve
        properties:
          component: polnet-vpc
      - name: apply
        type: apply-component
        properties:
          component: polnet-vpc
`
}

// testPolicies: the shipped InfraPolicies (examples/policies), for the
// namespace default only while this test runs. A policy that does not
// compile, or sets a result that is no level, is refused by kubectl naming
// spec.rule. A VPC is created with a person's approval; a tag-only change
// then passes by policy without suspending the workflow (the approver is
// the policy, mycloud sees the PATCH); a cidr change, which replaces the
// VPC another application uses, is stopped by the mandatory policy: the
// plan step fails naming the policy and the consumer, an approval written
// on it is refused, and the cloud sees no create or delete.
func testPolicies(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	kubectl := kubectlOrFail(ctx, t, c)
	dir := t.TempDir()
	apply := func(name, yaml string) (string, error) {
		f := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return c.Kubectl(ctx, "apply", "-f", f)
	}

	// Bad input: refused at kubectl apply, naming the field and the line.
	for _, tc := range []struct{ rule, want string }{
		{`result: "deny"`, `InfraPolicy bad-level: spec.rule: result "deny" (rule.cue:1:1) is not one of pass, advisory, mandatory, approve`},
		{`if input.plan.destroy > 0 { result: "mandatory" `, `InfraPolicy bad-level: spec.rule: expected '}', found 'EOF'`},
		{`if input.plan.cost > 0 { result: "advisory" }`, `InfraPolicy bad-level: spec.rule: undefined field: cost (rule.cue:1:15)`},
	} {
		out, err := apply("bad", "apiVersion: infra.vela-infra.io/v1alpha1\nkind: InfraPolicy\nmetadata: {name: bad-level}\nspec:\n  rule: |\n    "+tc.rule+"\n")
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("kubectl apply of a bad policy (%s): %v\n%s\nwant %q", tc.rule, err, out, tc.want)
		}
	}
	if out, err := c.Kubectl(ctx, "get", "infrapolicy", "bad-level"); err == nil {
		t.Errorf("a refused policy exists:\n%s", out)
	}

	// Three of the shipped policies (shared-changes-need-a-person would
	// hold the tag change of the shared VPC below for a person), for
	// default only, gone after this test.
	for _, name := range []string{"no-destroy-of-shared-or-adopted", "database-changes-need-a-person", "tag-only-changes-pass"} {
		f := filepath.Join(root, "examples", "policies", name+".yaml")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scoped := strings.Replace(string(data), "\nspec:\n", "\nspec:\n  namespaces: [default]\n", 1)
		if out, err := apply(name, scoped); err != nil {
			t.Fatalf("kubectl apply %s: %v\n%s", f, err, out)
		}
		t.Cleanup(func() { _, _ = c.Kubectl(context.Background(), "delete", "infrapolicy", name, "--ignore-not-found") })
	}

	// Created with a person's approval (a create passes no policy).
	upApp(ctx, t, c, "polnet", policyNet("10.77.0.0/16", "a"))
	statusUntil(ctx, t, c, "polnet", "suspending", 3*time.Minute)
	if out, err := c.Vela(ctx, "workflow", "resume", "polnet"); err != nil {
		t.Fatalf("vela workflow resume polnet: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "polnet", "finished: true", 3*time.Minute)
	vpcID := ""
	vpcs, err := mcclient.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey).List(ctx, "vpcs", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vpcs {
		if v.String("name") == "polnet" {
			vpcID = v.String("id")
		}
	}
	if vpcID == "" {
		t.Fatalf("VPC polnet not in the cloud: %v", vpcs)
	}
	// Another application uses it.
	upApp(ctx, t, c, "polcons", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: polcons
spec:
  components:
    - name: polcons-net
      type: mycloud-vpc-ref
      properties:
        id: `+vpcID+`
`)
	statusUntil(ctx, t, c, "polcons", "finished: true", 3*time.Minute)

	// Tags only: passed by tag-only-changes-pass, never suspended.
	patches := cloud.CountRequests(http.MethodPatch, "/v1/vpcs/"+vpcID)
	upApp(ctx, t, c, "polnet", policyNet("10.77.0.0/16", "b"))
	var status string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		status, _ = c.Vela(ctx, "status", "polnet")
		if strings.Contains(status, "suspending") {
			t.Fatalf("a tag-only change suspended the workflow:\n%s", status)
		}
		if strings.Contains(status, "finished: true") && strings.Contains(status, "approved by InfraPolicy/tag-only-changes-pass") {
			break
		}
	}
	if !strings.Contains(status, "approved by InfraPolicy/tag-only-changes-pass") {
		t.Fatalf("the tag-only change was not applied by the policy:\n%s\n%s", status, diagnose(ctx, c))
	}
	t.Logf("vela status polnet after a tag-only change:\n%s", status)
	by := kubectl("get", "infraapproval", "polnet-polnet-vpc", "-o", "jsonpath={.status.approvedBy.username} / {.status.approvedBy.via} / {.status.policies}")
	for _, want := range []string{"InfraPolicy/tag-only-changes-pass / InfraPolicy tag-only-changes-pass (level approve)", `"policy":"tag-only-changes-pass","result":"approve"`} {
		if !strings.Contains(by, want) {
			t.Errorf("the InfraApproval's approver and policies %q lack %q", by, want)
		}
	}
	if n := cloud.CountRequests(http.MethodPatch, "/v1/vpcs/"+vpcID) - patches; n != 1 {
		t.Errorf("the tag-only change made %d PATCH(es) of %s, want 1", n, vpcID)
	}

	// A new cidr replaces the VPC polcons uses: stopped by the mandatory
	// policy, naming it and the consumer; nothing reaches the cloud.
	writes := cloud.CountRequests(http.MethodPost, "/v1/vpcs") + cloud.CountRequests(http.MethodDelete, "/v1/vpcs")
	upApp(ctx, t, c, "polnet", policyNet("10.78.0.0/16", "b"))
	status = statusUntil(ctx, t, c, "polnet", "cannot be approved", 3*time.Minute)
	t.Logf("vela status polnet after a cidr change:\n%s", status)
	for _, want := range []string{"InfraPolicy no-destroy-of-shared-or-adopted (mandatory): it would destroy or replace mycloud_vpc.this, which default/polcons use", "Nothing was applied"} {
		if !strings.Contains(status, want) {
			t.Errorf("vela status lacks %q:\n%s", want, status)
		}
	}
	planID := kubectl("get", "infraapproval", "polnet-polnet-vpc", "-o", "jsonpath={.status.plan.id}")
	request := kubectl("get", "infraapproval", "polnet-polnet-vpc", "-o", "jsonpath={.spec.request}")
	out, err := c.Kubectl(ctx, "patch", "infraapproval", "polnet-polnet-vpc", "--type", "merge",
		"-p", fmt.Sprintf(`{"spec":{"approval":{"planID":%q,"request":%q}}}`, planID, request))
	if err == nil || !strings.Contains(out, "plan "+planID+" cannot be approved: InfraPolicy no-destroy-of-shared-or-adopted (mandatory)") {
		t.Errorf("an approval written on the stopped plan: %v\n%s", err, out)
	}
	time.Sleep(5 * time.Second)
	if n := cloud.CountRequests(http.MethodPost, "/v1/vpcs") + cloud.CountRequests(http.MethodDelete, "/v1/vpcs") - writes; n != 0 {
		t.Errorf("the stopped replacement made %d create/delete call(s) of VPCs", n)
	}

	for _, app := range []string{"polcons", "polnet"} {
		if out, err := c.Vela(ctx, "delete", "-n", "default", app, "-y"); err != nil {
			t.Errorf("vela delete %s: %v\n%s", app, err, out)
		}
	}
}
