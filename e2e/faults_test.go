package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/mycloud"
	mcclient "github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFaults is the fault suite of issue 14: the step-runner's imports,
// drift checks and approved applies against a cloud that fails or stalls
// calls. Each subtest has a namespace with its own mycloud process and
// Provider, so the faults reach no other test (the stack's step-runner
// serves every namespace; the shared cloud of the other tests stays clean).
func TestFaults(t *testing.T) {
	setup(t)
	t.Run("TwentyPercent", testTwentyPercentFaults)
	t.Run("OutageMidImport", testOutageMidImport)
}

// faultMix is the campaign's faults: 20% of all calls in four equal
// shares, each fault with its own seed. Faults are tried in order and the
// first that fires answers, so each rate is its share of the calls the
// faults before it let through.
func faultMix() []map[string]any {
	effects := []map[string]any{
		{"status": 500},
		{"status": 503},
		{"status": 429, "retry_after_seconds": 1},
		{"latency_ms": 300},
	}
	const share = 0.05
	left := 1.0
	for i, f := range effects {
		f["path"] = "*"
		f["rate"] = share / left
		f["seed"] = 1400 + i
		left -= share
	}
	return effects
}

// faultProjects is how many projects the campaign runs: each imports four
// existing resources, checks drift (after an out-of-band edit in every
// other one), applies an approved change (a bucket more, a tag changed on
// two resources) and checks drift again.
const faultProjects = 16

// testTwentyPercentFaults runs the campaign with 20% of the cloud's calls
// faulted (500, 503, 429 with Retry-After: 1, 300 ms of latency): every
// step ends Ready, or failed with a one-sentence reason, within a bound;
// an import is all or nothing; the cloud ends with no duplicate and no
// resource outside a state.
func testTwentyPercentFaults(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ft := newFaultTenant(t, "fault-campaign")
	for i := range faultProjects {
		ft.cloud.MustAdmin(http.MethodPost, "seed", projectSeed(i), nil)
	}
	for _, f := range faultMix() {
		ft.cloud.MustAdmin(http.MethodPost, "faults", f, nil)
	}

	var (
		mu      sync.Mutex
		results []stepResult
		wg      sync.WaitGroup
	)
	for i := range faultProjects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := ft.runProject(i)
			mu.Lock()
			results = append(results, rs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	wall := time.Since(start)

	// Every step ended, and a failed one says why in one sentence.
	succeeded, failed, retried := 0, 0, 0
	for _, r := range results {
		switch {
		case r.err != "":
			t.Errorf("%s: %s", r.name, r.err)
		case r.ready:
			succeeded++
		default:
			failed++
			if err := oneSentence(r.name, r.message); err != nil {
				t.Errorf("%s failed with a reason that is not one sentence naming it (%v): %q", r.name, err, r.message)
			}
			t.Logf("%s failed: %s: %s", r.name, r.reason, r.message)
		}
		if r.retried {
			retried++
		}
	}

	// Imports are all or nothing, and the state of each project holds
	// exactly what its steps say it should.
	stateIDs := map[string]string{} // cloud id -> project
	for i := range faultProjects {
		want := ft.expectedState(i, results)
		got := ft.state(fmt.Sprintf("fp%d", i))
		if !sameKeys(got, want) {
			t.Errorf("project fp%d: state holds %v, want %v", i, sortedKeys(got), sortedKeys(want))
		}
		for addr, id := range got {
			if seeded, ok := want[addr]; ok && seeded != "" && seeded != id {
				t.Errorf("project fp%d: %s is %s in the state, want the seeded %s", i, addr, id, seeded)
			}
			if other, dup := stateIDs[id]; dup {
				t.Errorf("cloud id %s is in the states of fp%d and %s", id, i, other)
			}
			stateIDs[id] = fmt.Sprintf("fp%d", i)
		}
	}
	figures := ft.faultFigures(t)
	// No duplicate and no orphan: every cloud resource is in one state,
	// every name once.
	cloudIDs := ft.cloudResources(t)
	for id, name := range cloudIDs {
		if _, ok := stateIDs[id]; !ok {
			t.Errorf("cloud resource %s (%s) is in no state: an orphan", id, name)
		}
	}
	for id := range stateIDs {
		if _, ok := cloudIDs[id]; !ok {
			t.Errorf("the state holds %s, which is not in the cloud", id)
		}
	}

	// The figures: what the cloud saw and what the faults did.
	t.Logf("fault campaign, %d projects: %d cloud calls, %d faults injected (%.1f%%: %d HTTP 500, %d HTTP 503, %d HTTP 429 with Retry-After 1, %d delayed 300 ms); "+
		"of the %d error answers, %d were absorbed by the provider's retry of the same call; %d steps succeeded, %d failed, %d retried by the step-runner; wall time %s",
		faultProjects, figures.calls, figures.injected, 100*float64(figures.injected)/float64(max(figures.calls, 1)),
		figures.byEffect["500"], figures.byEffect["503"], figures.byEffect["429"], figures.byEffect["latency"],
		figures.errors, figures.absorbed, succeeded, failed, retried, wall.Round(time.Second))
	if figures.calls < 400 {
		t.Errorf("the campaign made %d cloud calls; it is meant to make several hundred", figures.calls)
	}
	if share := float64(figures.injected) / float64(max(figures.calls, 1)); share < 0.14 || share > 0.26 {
		t.Errorf("faults answered %.1f%% of the calls, want about 20%%", 100*share)
	}
	if figures.injected != figures.logged {
		t.Errorf("the faults' counters say %d injected, the request log names a fault on %d calls", figures.injected, figures.logged)
	}
	if want := faultProjects * 5; len(results) != want {
		t.Errorf("%d steps ran, want %d", len(results), want)
	}
}

// testOutageMidImport makes the cloud fail every read of one resource
// after the import has put the first ones into the state: the import
// fails, says so in one sentence, and leaves none of its resources in the
// state. Once the cloud recovers, the step-runner's own retry imports all.
func testOutageMidImport(t *testing.T) {
	t.Parallel()
	ft := newFaultTenant(t, "fault-outage")
	const p = 9
	ft.cloud.MustAdmin(http.MethodPost, "seed", projectSeed(p), nil)
	// Reading the subnet takes 1.5 s, so the test sees the state between
	// the first import and the VPC's.
	ft.cloud.MustAdmin(http.MethodPost, "faults", map[string]any{"method": "GET", "path": "/v1/subnets/", "latency_ms": 1500}, nil)
	cfg := fmt.Sprintf("fp%d", p)
	ft.create(ft.configuration(p, false))
	imp := ft.importObject(p)
	ft.create(imp)

	deadline := time.Now().Add(2 * time.Minute)
	for len(ft.state(cfg)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the import never wrote its first resource to the state; step-runner log:\n%s", stack.LogTail("step-runner", 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	ft.cloud.MustAdmin(http.MethodPost, "faults", map[string]any{"method": "GET", "path": "/v1/vpcs/", "status": 503, "retry_after_seconds": 1}, nil)
	outage := time.Now()

	r := ft.await(imp, 2*time.Minute, nil)
	if r.err != "" || r.ready {
		t.Fatalf("the import during the outage: ready %v, %s %s", r.ready, r.err, r.message)
	}
	if left := ft.state(cfg); len(left) != 0 {
		t.Errorf("the failed import left %v in the state: a partial import", sortedKeys(left))
	}
	if err := oneSentence(r.name, r.message); err != nil || !strings.Contains(r.message, "state restored") {
		t.Errorf("the failed import's reason (%v): %q, want one sentence naming it and saying the state was restored", err, r.message)
	}
	t.Logf("the import failed %s after the outage began: %s: %s", time.Since(outage).Round(time.Second), r.reason, r.message)
	for _, method := range []string{http.MethodPost, http.MethodPatch, http.MethodDelete} {
		if n := ft.cloud.CountRequests(method, "/v1/"); n != 0 {
			t.Errorf("the import sent %d %s calls", n, method)
		}
	}

	// The cloud recovers; the step-runner retries on its own.
	ft.cloud.MustAdmin(http.MethodDelete, "faults", nil, nil)
	recovered := time.Now()
	r = ft.await(imp, 2*time.Minute, func(s *v1alpha1.RunStatus, current bool) bool {
		return current && apimeta.IsStatusConditionTrue(s.Conditions, v1alpha1.ConditionReady)
	})
	if !r.ready {
		t.Fatalf("the import after the outage: %s %s", r.err, r.message)
	}
	if got, want := ft.state(cfg), projectIDs(p); !sameKeys(got, want) {
		t.Errorf("after the retry the state holds %v, want %v", got, want)
	}
	t.Logf("after the cloud recovered, the step-runner's retry imported all %d resources in %s", len(projectIDs(p)), time.Since(recovered).Round(time.Second))
}

// faultTenant is a namespace with its own mycloud and Provider.
type faultTenant struct {
	t     *testing.T
	ns    string
	c     client.Client
	cloud *mycloudtest.Cloud
}

func newFaultTenant(t *testing.T, ns string) *faultTenant {
	t.Helper()
	c := typedClient(t, env.Config)
	ft := &faultTenant{t: t, ns: ns, c: c, cloud: mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 200 * time.Millisecond})}
	creds := fmt.Sprintf("MYCLOUD_ENDPOINT: %s\nMYCLOUD_ACCESS_KEY: %s\nMYCLOUD_SECRET_KEY: %s\n", ft.cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	ft.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	ft.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mycloud-credentials"}, StringData: map[string]string{"credentials": creds}})
	ft.create(&tfv1beta1.Provider{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mycloud"},
		Spec: tfv1beta1.ProviderSpec{Provider: "custom", Credentials: tfv1beta1.ProviderCredentials{
			Source:    crossplane.CredentialsSourceSecret,
			SecretRef: &crossplane.SecretKeySelector{SecretReference: crossplane.SecretReference{Namespace: ns, Name: "mycloud-credentials"}, Key: "credentials"},
		}},
	})
	return ft
}

func (ft *faultTenant) create(obj client.Object) {
	ft.t.Helper()
	if err := ft.c.Create(context.Background(), obj); err != nil {
		ft.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// projectIDs are the seeded resources of project p, by address.
func projectIDs(p int) map[string]string {
	return map[string]string{
		"mycloud_vpc.net":     fmt.Sprintf("vpc-fault%02d", p),
		"mycloud_subnet.app":  fmt.Sprintf("subnet-fault%02d", p),
		"mycloud_bucket.logs": fmt.Sprintf("bucket-fault%02dl", p),
		"mycloud_bucket.data": fmt.Sprintf("bucket-fault%02dd", p),
	}
}

func projectSeed(p int) map[string]any {
	ids := projectIDs(p)
	owner := map[string]string{"owner": fmt.Sprintf("team-%d", p)}
	return map[string]any{
		"vpcs":    []map[string]any{{"id": ids["mycloud_vpc.net"], "name": fmt.Sprintf("fp%d-net", p), "cidr": fmt.Sprintf("10.%d.0.0/16", 100+p), "tags": owner}},
		"subnets": []map[string]any{{"id": ids["mycloud_subnet.app"], "name": fmt.Sprintf("fp%d-app", p), "vpc_id": ids["mycloud_vpc.net"], "cidr": fmt.Sprintf("10.%d.1.0/24", 100+p)}},
		"buckets": []map[string]any{
			{"id": ids["mycloud_bucket.logs"], "name": fmt.Sprintf("fp%d-logs", p), "tags": owner},
			{"id": ids["mycloud_bucket.data"], "name": fmt.Sprintf("fp%d-data", p)},
		},
	}
}

// projectHCL declares project p's resources as seeded; changed adds a
// bucket, which the approval creates.
func projectHCL(p int, changed bool) string {
	hcl := fmt.Sprintf(`terraform {
  required_providers {
    mycloud = {
      source = "vela-infra/mycloud"
    }
  }
}

variable "owner" {
  type = string
}

resource "mycloud_vpc" "net" {
  name = "fp%[1]d-net"
  cidr = "10.%[2]d.0.0/16"
  tags = { owner = var.owner }
}

resource "mycloud_subnet" "app" {
  name   = "fp%[1]d-app"
  vpc_id = mycloud_vpc.net.id
  cidr   = "10.%[2]d.1.0/24"
}

resource "mycloud_bucket" "logs" {
  name = "fp%[1]d-logs"
  tags = { owner = var.owner }
}

resource "mycloud_bucket" "data" {
  name = "fp%[1]d-data"
}
`, p, 100+p)
	if changed {
		hcl += fmt.Sprintf(`
resource "mycloud_bucket" "extra" {
  name = "fp%d-extra"
}
`, p)
	}
	return hcl
}

// configuration is project p's Configuration: as seeded, or changed (a
// bucket more, the owner tag changed on the VPC and the logs bucket).
func (ft *faultTenant) configuration(p int, changed bool) *tfv1beta2.Configuration {
	owner := fmt.Sprintf("team-%d", p)
	if changed {
		owner += "-v2"
	}
	vars, _ := json.Marshal(map[string]string{"owner": owner})
	return &tfv1beta2.Configuration{
		ObjectMeta: metav1.ObjectMeta{Namespace: ft.ns, Name: fmt.Sprintf("fp%d", p)},
		Spec: tfv1beta2.ConfigurationSpec{
			HCL: projectHCL(p, changed), Variable: &runtime.RawExtension{Raw: vars},
			ProviderReference: &crossplane.Reference{Name: "mycloud", Namespace: ft.ns},
		},
	}
}

func (ft *faultTenant) importObject(p int) *v1alpha1.InfraImport {
	var res []v1alpha1.ImportResource
	for _, addr := range sortedKeys(projectIDs(p)) {
		res = append(res, v1alpha1.ImportResource{Address: addr, ID: projectIDs(p)[addr]})
	}
	return &v1alpha1.InfraImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: ft.ns, Name: fmt.Sprintf("fp%d-import", p)},
		Spec:       v1alpha1.InfraImportSpec{Target: v1alpha1.Target{ConfigurationName: fmt.Sprintf("fp%d", p)}, Resources: res},
	}
}

// stepResult is how one step-run object ended.
type stepResult struct {
	project int
	name    string // kind namespace/name, as the step-runner names it
	kind    string
	ready   bool
	reason  string
	message string
	// retried: the object was seen not ready for a reason the step-runner
	// retries (throttled, a failed run) before it ended.
	retried bool
	// err is what the test itself found wrong.
	err string
}

// runProject walks project p through import, drift, approval and a last
// drift check; a step that fails ends the project there.
func (ft *faultTenant) runProject(p int) []stepResult {
	cfg := fmt.Sprintf("fp%d", p)
	var out []stepResult
	step := func(obj stepRunObject, what string, cond func(*v1alpha1.RunStatus, bool) bool) (stepResult, bool) {
		if err := ft.c.Create(context.Background(), obj); err != nil {
			return stepResult{project: p, kind: what, name: obj.GetName(), err: "create: " + err.Error()}, false
		}
		r := ft.await(obj, 150*time.Second, cond)
		r.project, r.kind = p, what
		return r, r.err == ""
	}
	if err := ft.c.Create(context.Background(), ft.configuration(p, false)); err != nil {
		return []stepResult{{project: p, name: cfg, err: err.Error()}}
	}

	r, ok := step(ft.importObject(p), "import", nil)
	out = append(out, r)
	if !ok || !r.ready {
		return out
	}

	edited := p%2 == 0
	if edited {
		if err := ft.cloud.Admin(http.MethodPatch, "resources/buckets/"+projectIDs(p)["mycloud_bucket.logs"], map[string]any{"tags": map[string]string{"owner": "console"}}, nil); err != nil {
			return append(out, stepResult{project: p, name: cfg + " out-of-band edit", err: err.Error()})
		}
	}
	drift := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: ft.ns, Name: cfg + "-drift"},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: cfg}}}
	r, ok = step(drift, "drift", nil)
	if ok && r.ready && drift.Status.Drifted != edited {
		r.err = fmt.Sprintf("drifted %v after an out-of-band edit: %v; message %q", drift.Status.Drifted, edited, r.message)
	}
	out = append(out, r)
	if !ok || !r.ready {
		return out
	}

	// The change, shown as a plan, then approved as the workflow step does.
	changed := ft.configuration(p, true)
	spec, _ := json.Marshal(changed.Spec)
	approval := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: ft.ns, Name: cfg + "-change"},
		Spec: v1alpha1.InfraApprovalSpec{Target: v1alpha1.Target{ConfigurationName: cfg, Spec: &runtime.RawExtension{Raw: spec}}}}
	shown := func(s *v1alpha1.RunStatus, current bool) bool {
		c := apimeta.FindStatusCondition(s.Conditions, v1alpha1.ConditionReady)
		return ended(s, current) || current && c != nil && c.Reason == v1alpha1.ReasonAwaitingApproval
	}
	r, ok = step(approval, "plan", shown)
	if ok && !r.ready && r.reason == v1alpha1.ReasonAwaitingApproval {
		if p := approval.Status.Plan; p == nil || p.Add != 1 || p.Change != 2 {
			r.err = fmt.Sprintf("the plan shown is %+v, want 1 to add and 2 to change", p)
		} else {
			r.ready = true
		}
	}
	out = append(out, r)
	if !ok || !r.ready {
		return out
	}
	patch := client.MergeFrom(approval.DeepCopy())
	approval.Spec.Approval = &v1alpha1.Approval{PlanID: approval.Status.Plan.ID, By: "the fault suite"}
	if err := ft.c.Patch(context.Background(), approval, patch); err != nil {
		return append(out, stepResult{project: p, name: cfg + " approve", err: err.Error()})
	}
	r = ft.await(approval, 150*time.Second, nil)
	r.project, r.kind = p, "apply"
	if r.ready && r.reason != v1alpha1.ReasonApplied {
		r.err = fmt.Sprintf("the approved plan ended %s, not Applied: %s", r.reason, r.message)
	}
	out = append(out, r)
	if !r.ready {
		return out
	}

	// The Configuration is what the approval applied (as apply-component
	// would leave it); the cloud now matches the state.
	var stored tfv1beta2.Configuration
	if err := ft.c.Get(context.Background(), types.NamespacedName{Namespace: ft.ns, Name: cfg}, &stored); err != nil {
		return append(out, stepResult{project: p, name: cfg, err: err.Error()})
	}
	stored.Spec = changed.Spec
	if err := ft.c.Update(context.Background(), &stored); err != nil {
		return append(out, stepResult{project: p, name: cfg, err: err.Error()})
	}
	recheck := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: ft.ns, Name: cfg + "-recheck"},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: cfg}}}
	r, ok = step(recheck, "recheck", nil)
	if ok && r.ready && recheck.Status.Drifted {
		r.err = "drift after the approved apply: " + r.message
	}
	return append(out, r)
}

type stepRunObject interface {
	client.Object
	v1alpha1.StepRun
}

// await polls obj until done(its status, whether the status is of the
// current generation), ended when done is nil. It fails (err) after
// timeout: a step still retrying then has retried for too long.
func (ft *faultTenant) await(obj stepRunObject, timeout time.Duration, done func(s *v1alpha1.RunStatus, current bool) bool) stepResult {
	if done == nil {
		done = ended
	}
	kind := strings.TrimPrefix(fmt.Sprintf("%T", obj), "*v1alpha1.")
	r := stepResult{name: fmt.Sprintf("%s %s/%s", kind, obj.GetNamespace(), obj.GetName())}
	deadline := time.Now().Add(timeout)
	for {
		err := ft.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if err == nil {
			s := obj.GetRunStatus()
			current := s.ObservedGeneration == obj.GetGeneration()
			if ready := apimeta.FindStatusCondition(s.Conditions, v1alpha1.ConditionReady); ready != nil {
				r.reason, r.message = ready.Reason, ready.Message
				r.ready = current && ready.Status == metav1.ConditionTrue
				if ready.Status == metav1.ConditionFalse && policyRetries(ready.Reason) && !ended(s, current) {
					r.retried = true
				}
			}
			if done(s, current) {
				return r
			}
		}
		if time.Now().After(deadline) {
			r.err = fmt.Sprintf("not done after %s (error %v): Ready %s %q", timeout, err, r.reason, r.message)
			return r
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// ended: the run of the current generation is over, Ready or Stalled.
func ended(s *v1alpha1.RunStatus, current bool) bool {
	return current && (apimeta.IsStatusConditionTrue(s.Conditions, v1alpha1.ConditionReady) ||
		apimeta.IsStatusConditionTrue(s.Conditions, v1alpha1.ConditionStalled))
}

// policyRetries tells the reasons of a run that failed and is tried again
// by the step-runner (not the ones that wait for a person or a spec).
func policyRetries(reason string) bool {
	switch reason {
	case v1alpha1.ReasonProgressing, v1alpha1.ReasonAwaitingApproval, v1alpha1.ReasonAwaitingVariables, v1alpha1.ReasonPlanChanged:
		return false
	}
	return true
}

// oneSentence checks a step's failure reason: it names the object, is one
// line, and ends as a sentence does.
func oneSentence(name, msg string) error {
	switch {
	case msg == "":
		return fmt.Errorf("empty")
	case !strings.Contains(msg, name):
		return fmt.Errorf("does not name %s", name)
	case strings.Contains(msg, "\n"):
		return fmt.Errorf("more than one line")
	case len(msg) > 1200:
		return fmt.Errorf("%d characters", len(msg))
	}
	return nil
}

// expectedState is what project p's state must hold after its steps: the
// seeded resources once the import succeeded (and the new bucket once the
// approval applied), none when the import failed. The new bucket's id is
// the cloud's, so it is given as "".
func (ft *faultTenant) expectedState(p int, results []stepResult) map[string]string {
	ended := map[string]bool{}
	for _, r := range results {
		if r.project == p && r.ready && r.err == "" {
			ended[r.kind] = true
		}
	}
	if !ended["import"] {
		return map[string]string{}
	}
	want := projectIDs(p)
	if ended["apply"] {
		want["mycloud_bucket.extra"] = ""
	}
	return want
}

// state reads the Terraform state of Configuration cfg (its kubernetes
// backend Secret, gzipped JSON): address -> cloud id.
func (ft *faultTenant) state(cfg string) map[string]string {
	ft.t.Helper()
	var secret corev1.Secret
	err := ft.c.Get(context.Background(), types.NamespacedName{Namespace: ft.ns, Name: "tfstate-default-" + cfg}, &secret)
	if apierrors.IsNotFound(err) {
		return map[string]string{}
	}
	if err != nil {
		ft.t.Fatal(err)
	}
	// Terraform's kubernetes backend creates the Secret empty and then
	// writes the state into it: between the two, there is no state yet.
	if len(secret.Data["tfstate"]) == 0 {
		return map[string]string{}
	}
	zr, err := gzip.NewReader(bytes.NewReader(secret.Data["tfstate"]))
	if err != nil {
		ft.t.Fatalf("state of %s: %v", cfg, err)
	}
	var state struct {
		Resources []struct {
			Type, Name string
			Instances  []struct {
				Attributes struct {
					ID string `json:"id"`
				} `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.NewDecoder(zr).Decode(&state); err != nil {
		ft.t.Fatalf("state of %s does not decode: %v", cfg, err)
	}
	out := map[string]string{}
	for _, r := range state.Resources {
		for _, in := range r.Instances {
			out[r.Type+"."+r.Name] = in.Attributes.ID
		}
	}
	return out
}

// cloudResources lists every resource of the tenant's cloud (id -> kind
// and name), failing on a name used twice in a kind.
func (ft *faultTenant) cloudResources(t *testing.T) map[string]string {
	t.Helper()
	ft.cloud.MustAdmin(http.MethodDelete, "faults", nil, nil)
	cli := mcclient.New(ft.cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	out := map[string]string{}
	for _, kind := range []string{mycloud.KindVPC, mycloud.KindSubnet, mycloud.KindBucket} {
		objs, err := cli.List(context.Background(), kind, nil)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		for _, o := range objs {
			if first, dup := names[o.String("name")]; dup {
				t.Errorf("%s %q exists twice: %s and %s", kind, o.String("name"), first, o.String("id"))
			}
			names[o.String("name")] = o.String("id")
			out[o.String("id")] = kind + " " + o.String("name")
		}
	}
	return out
}

// faultStats is what the campaign's cloud saw.
type faultStats struct {
	calls, injected, logged, errors, absorbed int
	byEffect                                  map[string]int
}

// faultFigures reads the faults' counters and the request log: calls,
// faults by effect, and error answers retried with success.
func (ft *faultTenant) faultFigures(t *testing.T) faultStats {
	t.Helper()
	var log struct {
		Items []mycloud.RequestLogEntry `json:"items"`
	}
	ft.cloud.MustAdmin(http.MethodGet, "requests", nil, &log)
	var faults mycloud.FaultList
	ft.cloud.MustAdmin(http.MethodGet, "faults", nil, &faults)
	s := faultStats{calls: len(log.Items), injected: faults.Injected, byEffect: map[string]int{}}
	for _, f := range faults.Items {
		switch {
		case f.Status != 0:
			s.byEffect[fmt.Sprint(f.Status)] += f.Hits
		default:
			s.byEffect["latency"] += f.Hits
		}
	}
	for i, e := range log.Items {
		if e.Fault == "" {
			continue
		}
		s.logged++
		if e.Status < 400 {
			continue
		}
		s.errors++
		for _, later := range log.Items[i+1:] {
			if later.Method == e.Method && later.Path == e.Path && later.Query == e.Query && later.Status < 400 {
				s.absorbed++
				break
			}
		}
	}
	return s
}

func sameKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
