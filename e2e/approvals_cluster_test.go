package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

// approvalRBAC lets the groups app-operators and platform-approvers run
// vela against applications in default (read them and their
// ResourceTrackers, patch their status: resume and terminate) and patch
// InfraApprovals; only platform-approvers may approve.
const approvalRBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: app-operators, namespace: default}
rules:
  - apiGroups: [core.oam.dev]
    resources: ["*"]
    verbs: [get, list, watch]
  - apiGroups: [core.oam.dev]
    resources: [applications/status]
    verbs: [get, patch, update]
  - apiGroups: [infra.vela-infra.io]
    resources: [infraapprovals]
    verbs: [get, list, watch, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app-operators, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app-operators}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: app-operators}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: platform-approvers}
---
# vela workflow resume lists the application's ResourceTrackers, which are
# cluster-scoped.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: app-operators-resourcetrackers}
rules:
  - apiGroups: [core.oam.dev]
    resources: [resourcetrackers]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: app-operators-resourcetrackers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: app-operators-resourcetrackers}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: app-operators}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: platform-approvers}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: infra-approvers, namespace: default}
rules:
  - apiGroups: [infra.vela-infra.io]
    resources: [infraapprovals]
    verbs: [approve]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: infra-approvers, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: infra-approvers}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: platform-approvers}
---
# Approvers may also write applications (separation of duty keeps them
# from approving their own changes).
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: app-authors, namespace: default}
rules:
  - apiGroups: [core.oam.dev]
    resources: [applications]
    verbs: [create, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app-authors, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app-authors}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: platform-approvers}
`

// testApprovalIdentity: two people with client certificates of the cluster
// CA, both allowed to resume the workflow. bob, without the verb approve,
// is denied by `vela workflow resume` naming the permission, and nothing is
// created; alice, a platform-approver, resumes and is recorded by name and
// groups in the InfraApproval's status, its Event and the step message. A
// hand-patched plan id that was never shown is refused saying so; a
// terminated approval is Rejected, its saved plan deleted, and alice's
// patch of an approval onto it is refused and creates nothing.
func testApprovalIdentity(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	kubectl := kubectlOrFail(ctx, t, c)
	rbac := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(rbac, []byte(approvalRBAC), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl("apply", "-f", rbac)
	alice := personKubeconfig(t, c, "alice", "platform-approvers")
	bob := personKubeconfig(t, c, "bob", "app-operators")

	// bob may resume the workflow, but not approve: denied, nothing created.
	upApp(ctx, t, c, "who", approvalApp("who", "who-assets", "private"))
	statusUntil(ctx, t, c, "who", "suspending", 3*time.Minute)
	posts := cloud.CountRequests(http.MethodPost, "/v1/buckets")
	out, err := velaAs(ctx, c, bob, "workflow", "resume", "who")
	if err == nil {
		t.Fatalf("vela workflow resume by bob (no approve permission) succeeded:\n%s", out)
	}
	for _, want := range []string{`user "bob" may not approve InfraApproval default/who-who-bucket`, `needs the verb "approve" on infraapprovals.infra.vela-infra.io in namespace default`, "nothing was applied"} {
		if !strings.Contains(out, want) {
			t.Errorf("bob's denied resume lacks %q:\n%s", want, out)
		}
	}
	t.Logf("vela workflow resume who, as bob:\n%s", out)
	time.Sleep(5 * time.Second)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets") - posts; n != 0 {
		t.Fatalf("bob's denied resume created %d bucket(s)", n)
	}
	statusUntil(ctx, t, c, "who", "suspending", 10*time.Second)

	// alice approves: recorded as the API server authenticated her.
	if out, err := velaAs(ctx, c, alice, "workflow", "resume", "who"); err != nil {
		t.Fatalf("vela workflow resume by alice: %v\n%s", err, out)
	}
	status := statusUntil(ctx, t, c, "who", "finished: true", 3*time.Minute)
	if !strings.Contains(status, "approved by alice") {
		t.Errorf("vela status does not name the approver alice:\n%s", status)
	}
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets") - posts; n != 1 {
		t.Errorf("alice's approval created %d bucket(s), want 1", n)
	}
	by := kubectl("get", "infraapproval", "who-who-bucket", "-o", "jsonpath={.status.approvedBy.username} {.status.approvedBy.groups} {.status.approvedBy.via}")
	for _, want := range []string{"alice ", "platform-approvers", "system:authenticated", "vela workflow resume of application default/who"} {
		if !strings.Contains(by, want) {
			t.Errorf("status.approvedBy %q lacks %q", by, want)
		}
	}
	events := kubectl("get", "events", "--field-selector", "involvedObject.name=who-who-bucket", "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")
	if !strings.Contains(events, "Applied: ") || !strings.Contains(events, "Approver: alice (groups platform-approvers, system:authenticated) via vela workflow resume") {
		t.Errorf("no Applied Event naming alice:\n%s", events)
	}

	// A plan id never shown is refused as such; then terminate rejects,
	// and an approval patched on afterwards applies nothing.
	upApp(ctx, t, c, "revive", approvalApp("revive", "revive-assets", "private"))
	statusUntil(ctx, t, c, "revive", "suspending", 3*time.Minute)
	const approval = "revive-revive-bucket"
	planID := kubectl("get", "infraapproval", approval, "-o", "jsonpath={.status.plan.id}")
	request := kubectl("get", "infraapproval", approval, "-o", "jsonpath={.spec.request}")
	patch := func(id string) (string, error) {
		return kubectlAs(ctx, c, alice, "patch", "infraapproval", approval, "--type", "merge",
			"-p", fmt.Sprintf(`{"spec":{"approval":{"planID":%q,"request":%q,"by":"someone-with-kubectl"}}}`, id, request))
	}
	if out, err := patch("deadbeef"); err == nil || !strings.Contains(out, "plan id deadbeef was never shown (the plan shown is "+planID+")") {
		t.Errorf("an approval of a plan id never shown: %v\n%s", err, out)
	}
	if out, err := c.Vela(ctx, "workflow", "terminate", "revive"); err != nil {
		t.Fatalf("vela workflow terminate: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "revive", "Terminated: true", time.Minute)
	reason := kubectl("get", "infraapproval", approval, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason} {.status.rejected.by.username}`)
	if !strings.HasPrefix(reason, "Rejected ") || !strings.Contains(reason, "vela-infra-admin") {
		t.Errorf("after terminate the InfraApproval reads %q, want Rejected by vela-infra-admin", reason)
	}
	if out, err := c.Kubectl(ctx, "-n", "vela-system", "get", "secret", "tfplan-default."+approval); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("the rejected plan's Secret is still there: %v\n%s", err, out)
	}
	posts = cloud.CountRequests(http.MethodPost, "/v1/buckets")
	out, err = patch(planID)
	if err == nil || !strings.Contains(out, "was rejected by vela-infra-admin") || !strings.Contains(out, "nothing can be approved for this run") {
		t.Errorf("reviving the terminated approval: %v\n%s", err, out)
	}
	time.Sleep(5 * time.Second)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets") - posts; n != 0 {
		t.Fatalf("a patch onto a terminated approval created %d bucket(s)", n)
	}
	// Separation of duty: alice writes the application herself; her
	// resume is refused, carol's (another approver) applies it.
	carol := personKubeconfig(t, c, "carol", "platform-approvers")
	duty := filepath.Join(t.TempDir(), "duty.yaml")
	app := strings.Replace(approvalApp("duty", "duty-assets", "private"), "          component: duty-bucket\n      - name: apply",
		"          component: duty-bucket\n          separateDuties: true\n      - name: apply", 1)
	if !strings.Contains(app, "separateDuties: true") {
		t.Fatalf("no separateDuties in:\n%s", app)
	}
	if err := os.WriteFile(duty, []byte(app), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectlAs(ctx, c, alice, "apply", "-f", duty); err != nil {
		t.Fatalf("kubectl apply as alice: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "duty", "suspending", 3*time.Minute)
	posts = cloud.CountRequests(http.MethodPost, "/v1/buckets")
	out, err = velaAs(ctx, c, alice, "workflow", "resume", "duty")
	if err == nil || !strings.Contains(out, `separation of duty (step approve, separateDuties): user "alice" made the application's current spec`) {
		t.Errorf("alice resuming her own change: %v\n%s", err, out)
	}
	t.Logf("vela workflow resume duty, as alice who wrote it:\n%s", out)
	statusUntil(ctx, t, c, "duty", "suspending", 10*time.Second)
	if out, err := velaAs(ctx, c, carol, "workflow", "resume", "duty"); err != nil {
		t.Fatalf("vela workflow resume by carol: %v\n%s", err, out)
	}
	statusUntil(ctx, t, c, "duty", "approved by carol", 3*time.Minute)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets") - posts; n != 1 {
		t.Errorf("carol's approval created %d bucket(s), want 1", n)
	}

	for _, app := range []string{"who", "revive", "duty"} {
		if out, err := c.Vela(ctx, "delete", "-n", "default", app, "-y"); err != nil {
			t.Errorf("vela delete %s: %v\n%s", app, err, out)
		}
	}
}

// personKubeconfig is a kubeconfig for user name in group (and
// system:authenticated, which the API server adds), with a client
// certificate signed by the local cluster's CA.
func personKubeconfig(t *testing.T, c *localcluster.Cluster, name, group string) string {
	t.Helper()
	file, err := c.PersonKubeconfig(name, group)
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// velaAs runs bin/vela as the person of kubeconfig.
func velaAs(ctx context.Context, c *localcluster.Cluster, kubeconfig string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Bin, "vela"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+filepath.Dir(kubeconfig))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectlOrFail returns a kubectl that fails the test on an error.
func kubectlOrFail(ctx context.Context, t *testing.T, c *localcluster.Cluster) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, err := c.Kubectl(ctx, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
}

// kubectlAs runs bin/kubectl as the person of kubeconfig.
func kubectlAs(ctx context.Context, c *localcluster.Cluster, kubeconfig string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.Bin, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
