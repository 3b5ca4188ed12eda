// Package e2e drives the real vela CLI against a real API server running the
// real vela-core and the real step-runner binary, with the project's
// definitions applied and mycloud as the cloud.
//
// Two suites, both in `make test`. The tests in this file run on envtest's
// API server (no kubelet), with vela-core and the step-runner as processes:
// the workflows use only the infra-* steps, which the step-runner carries out
// itself, so each case takes seconds. cluster_test.go runs the whole flow on
// the local cluster (internal/testground/localcluster), where vela-core, terraform-controller
// and the step-runner run as Deployments and terraform-controller provisions
// components in Job pods.
package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

var (
	env       *testenv.Env
	root      string
	stack     *testenv.Stack
	setupOnce sync.Once
	setupErr  error
	cloud     *mycloudtest.Cloud
	// stepRunnerBin is the step-runner built from this checkout.
	stepRunnerBin string
)

func TestMain(m *testing.M) {
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if stack != nil {
		stack.Stop()
	}
	if cloud != nil {
		cloud.Kill() // package-lifetime: its cleanup is not tied to a test
	}
	_ = env.Stop()
	os.Exit(code)
}

// typedClient is a client of the API server at cfg that knows the
// step-run kinds, terraform-controller's and Kubernetes' own.
func typedClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	scheme, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bin returns a tool from bin/, failing when `make tools` has not built it.
func bin(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found at %s: run `make tools`", name, p)
	}
	return p
}

// setup starts mycloud and the stack (vela-core, the step-runner binary
// built from this checkout, the definitions, the mycloud Provider), once.
func setup(t *testing.T) {
	t.Helper()
	setupOnce.Do(func() {
		cloud = mycloudtest.Start(&packageTB{T: t}, mycloudtest.Options{CreateDelay: 200 * time.Millisecond, Seed: filepath.Join(root, "e2e", "testdata", "mycloud-seed.yaml")})
		dir, err := os.MkdirTemp("", "vela-infra-e2e-")
		if err != nil {
			setupErr = err
			return
		}
		stepRunnerBin = filepath.Join(dir, "step-runner")
		build := exec.Command("go", "build", "-o", stepRunnerBin, "./cmd/step-runner")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			setupErr = fmt.Errorf("build step-runner: %v\n%s", err, out)
			return
		}
		stack, setupErr = testenv.StartStack(env, root, testenv.StackOptions{
			VelaCore: bin(t, "vela-core"), Vela: bin(t, "vela"), StepRunner: stepRunnerBin, Terraform: bin(t, "terraform"),
			TerraformCLIConfig: mycloudtest.CLIConfig(t),
			Endpoint:           cloud.URL, AccessKey: mycloudtest.AccessKey, SecretKey: mycloudtest.SecretKey,
		})
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

// packageTB lets package-lifetime helpers fail the first test that uses
// them, without tying their cleanup to that test.
type packageTB struct{ *testing.T }

func (p *packageTB) Cleanup(func()) {}
func (p *packageTB) TempDir() string {
	d, _ := os.MkdirTemp("", "vela-infra-e2e-")
	return d
}

// vela runs the real vela CLI against the test cluster.
func vela(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return stack.Vela(bin(t, "vela"), args...)
}

// eventually runs vela args until the output contains want.
func eventually(t *testing.T, timeout time.Duration, want string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var out string
	for time.Now().Before(deadline) {
		out, _ = vela(t, args...)
		if strings.Contains(out, want) {
			return out
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("vela %s never showed %q; last output:\n%s\nstep-runner log tail:\n%s\nvela-core log tail:\n%s",
		strings.Join(args, " "), want, out, stack.LogTail("step-runner", 3000), stack.LogTail("vela-core", 3000))
	return ""
}

// upFile runs vela up on an example application of e2e/testdata.
func upFile(t *testing.T, name string) {
	t.Helper()
	if out, err := vela(t, "up", "-f", filepath.Join(root, "e2e", "testdata", name)); err != nil {
		t.Fatalf("vela up %s: %v\n%s", name, err, out)
	}
}

func up(t *testing.T, name, yaml string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := vela(t, "up", "-f", f); err != nil {
		t.Fatalf("vela up: %v\n%s", err, out)
	}
}

func TestApproveHoldsTheDiffAndAppliesOnResume(t *testing.T) {
	setup(t)
	upFile(t, "assets.yaml")
	status := eventually(t, 3*time.Minute, "suspending", "status", "assets")
	for _, want := range []string{"+ mycloud_bucket.this (create)", `name = "team-assets"`, "awaits approval"} {
		if !strings.Contains(status, want) {
			t.Errorf("vela status lacks %q while approval is pending:\n%s", want, status)
		}
	}
	t.Logf("vela status while the approval is held:\n%s", status)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != 0 {
		t.Fatalf("the bucket was created before approval (%d)", n)
	}
	if out, err := vela(t, "workflow", "resume", "assets"); err != nil {
		t.Fatalf("vela workflow resume: %v\n%s", err, out)
	}
	status = eventually(t, 3*time.Minute, "applied the approved plan", "status", "assets")
	t.Logf("vela status after resume:\n%s", status)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != 1 {
		t.Fatalf("want exactly one bucket created, got %d", n)
	}
}

func TestTerminateRejectsAndLeavesTheCloudAlone(t *testing.T) {
	setup(t)
	up(t, "rejected", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: rejected
spec:
  components:
    - name: rejected-bucket
      type: mycloud-bucket
      properties:
        name: never-created
  workflow:
    steps:
      - name: plan
        type: infra-plan
        properties:
          component: rejected-bucket
      - name: approve
        type: infra-approve
        properties:
          component: rejected-bucket
`)
	eventually(t, 3*time.Minute, "suspending", "status", "rejected")
	before := cloud.CountRequests(http.MethodPost, "/v1/buckets")
	if before != 1 { // the assets test's bucket only
		t.Fatalf("a bucket was created while the approval was held: %d creates", before)
	}
	if out, err := vela(t, "workflow", "terminate", "rejected"); err != nil {
		t.Fatalf("vela workflow terminate: %v\n%s", err, out)
	}
	eventually(t, time.Minute, "Terminated: true", "status", "rejected")
	time.Sleep(3 * time.Second)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != before {
		t.Fatal("a rejected plan created the bucket")
	}
}

func TestImportThenDriftThroughWorkflowSteps(t *testing.T) {
	setup(t)
	posts := cloud.CountRequests(http.MethodPost, "/v1/vpcs")
	upFile(t, "network.yaml")
	status := eventually(t, 3*time.Minute, "has no drift", "status", "network")
	t.Logf("vela status after infra-import and infra-drift:\n%s", status)
	if !strings.Contains(status, "adopted 1 resource") {
		t.Errorf("import step message missing:\n%s", status)
	}
	if n := cloud.CountRequests(http.MethodPost, "/v1/vpcs"); n != posts {
		t.Fatalf("infra-import created a VPC")
	}
	// Without drift, the step that takes infra-drift's output drifted is
	// skipped.
	status = eventually(t, time.Minute, "finished: true", "status", "network")
	if step := stepOf(status, "plan-correction"); !strings.Contains(step, "phase: skipped") {
		t.Errorf("plan-correction ran without drift:\n%s", status)
	}

	// Someone edits the VPC in the console; the next run reports the drift,
	// and the step that takes its output plans the correction.
	cloud.MustAdmin(http.MethodPatch, "resources/vpcs/vpc-legacy01", map[string]any{"tags": map[string]string{"owner": "someone-else"}}, nil)
	if out, err := vela(t, "workflow", "restart", "network"); err != nil {
		t.Fatalf("vela workflow restart: %v\n%s", err, out)
	}
	status = eventually(t, 3*time.Minute, "awaits approval", "status", "network")
	t.Logf("vela status after an out-of-band edit:\n%s", status)
	if !strings.Contains(status, `tags.owner: "ops" -> "someone-else"`) {
		t.Errorf("infra-drift does not show the drift:\n%s", status)
	}
	if step := stepOf(status, "plan-correction"); !strings.Contains(step, "phase: succeeded") || !strings.Contains(step, "awaits approval") ||
		!strings.Contains(step, `tags.owner: "someone-else" -> "ops"`) {
		t.Errorf("plan-correction did not plan the correction on drift:\n%s", step)
	}
}

// stepOf is the part of vela status output about the workflow step name.
func stepOf(status, name string) string {
	i := strings.Index(status, "name: "+name+"\n")
	if i < 0 {
		return ""
	}
	rest := status[i:]
	if j := strings.Index(rest[1:], "- id: "); j >= 0 {
		return rest[:j+1]
	}
	return rest
}

// TestStaleApprovalAppliesNothing: the cloud changes after the diff was
// shown; resuming applies nothing and the step shows the new plan.
func TestStaleApprovalAppliesNothing(t *testing.T) {
	setup(t)
	app := func(acl string) string {
		return `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: stale
spec:
  components:
    - name: stale-bucket
      type: mycloud-bucket
      properties:
        name: stale-assets
        acl: ` + acl + `
  workflow:
    steps:
      - name: plan
        type: infra-plan
        properties:
          component: stale-bucket
      - name: approve
        type: infra-approve
        properties:
          component: stale-bucket
`
	}
	up(t, "stale", app("private"))
	eventually(t, 3*time.Minute, "suspending", "status", "stale")
	if out, err := vela(t, "workflow", "resume", "stale"); err != nil {
		t.Fatalf("vela workflow resume: %v\n%s", err, out)
	}
	eventually(t, 3*time.Minute, "applied the approved plan", "status", "stale")

	// A change to show: public-read. While it waits, someone turns on
	// versioning in the console.
	up(t, "stale", app("public-read"))
	eventually(t, 3*time.Minute, `acl: "private" -> "public-read"`, "status", "stale")
	eventually(t, time.Minute, "suspending", "status", "stale")
	var id string
	for _, r := range cloud.Requests() {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/v1/buckets/bucket-") {
			id = strings.TrimPrefix(r.Path, "/v1/buckets/")
		}
	}
	cloud.MustAdmin(http.MethodPatch, "resources/buckets/"+id, map[string]any{"versioning": true}, nil)
	patches := cloud.CountRequests(http.MethodPatch, "/v1/buckets")
	if out, err := vela(t, "workflow", "resume", "stale"); err != nil {
		t.Fatalf("vela workflow resume: %v\n%s", err, out)
	}
	status := eventually(t, 3*time.Minute, "changed since plan", "status", "stale")
	for _, want := range []string{"nothing was applied", "versioning: true -> false", "vela workflow restart stale"} {
		if !strings.Contains(status, want) {
			t.Errorf("vela status lacks %q:\n%s", want, status)
		}
	}
	if n := cloud.CountRequests(http.MethodPatch, "/v1/buckets"); n != patches {
		t.Fatalf("a stale approval changed the bucket (%d PATCH calls)", n-patches)
	}
}

// TestImportThatWouldReplaceFailsTheStep: the component's name differs from
// the existing bucket's (an immutable attribute), so importing would lead to
// a replacement: the step fails and nothing is deleted.
func TestImportThatWouldReplaceFailsTheStep(t *testing.T) {
	setup(t)
	upFile(t, "legacy-import.yaml")
	status := eventually(t, 3*time.Minute, "phase: failed", "status", "legacy")
	for _, want := range []string{"refused", "replace mycloud_bucket.this", "state is unchanged", `set these component properties: {"name":"legacy-assets","tags":{"owner":"ops"}}`} {
		if !strings.Contains(status, want) {
			t.Errorf("vela status lacks %q:\n%s", want, status)
		}
	}
	if n := cloud.CountRequests(http.MethodDelete, "/v1/buckets"); n != 0 {
		t.Fatalf("a refused import deleted %d buckets", n)
	}
}

// TestDriftCanFailTheWorkflow: onDrift: fail turns found drift into a
// failed step whose message is the diff.
func TestDriftCanFailTheWorkflow(t *testing.T) {
	setup(t)
	up(t, "strict", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: strict
spec:
  components:
    - name: strict-assets
      type: mycloud-bucket
      properties:
        name: legacy-assets
        tags:
          owner: ops
  workflow:
    steps:
      - name: adopt
        type: infra-import
        properties:
          component: strict-assets
          resources:
            - address: mycloud_bucket.this
              id: bucket-legacy01
      - name: drift
        type: infra-drift
        properties:
          component: strict-assets
          onDrift: fail
`)
	eventually(t, 3*time.Minute, "has no drift", "status", "strict")
	cloud.MustAdmin(http.MethodPatch, "resources/buckets/bucket-legacy01", map[string]any{"acl": "public-read"}, nil)
	if out, err := vela(t, "workflow", "restart", "strict"); err != nil {
		t.Fatalf("vela workflow restart: %v\n%s", err, out)
	}
	status := eventually(t, 3*time.Minute, "phase: failed", "status", "strict")
	if !strings.Contains(status, `acl: "private" -> "public-read"`) {
		t.Errorf("the failed drift step does not show the diff:\n%s", status)
	}
}
