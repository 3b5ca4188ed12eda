package controller_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/prometheus/client_golang/prometheus/testutil"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

var legacyVPC = map[string]any{"vpcs": []map[string]any{{"id": "vpc-legacy01", "name": "legacy", "cidr": "10.40.0.0/16", "tags": map[string]string{"owner": "ops"}}}}

func vpcVars(cidr string) map[string]any {
	return map[string]any{"name": "legacy", "cidr": cidr, "tags": map[string]string{"owner": "ops"}}
}

func (f *fixture) importVPC(name, cfg, id string) *v1alpha1.InfraImport {
	obj := &v1alpha1.InfraImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: v1alpha1.InfraImportSpec{
			Target:    v1alpha1.Target{ConfigurationName: cfg},
			Resources: []v1alpha1.ImportResource{{Address: "mycloud_vpc.this", ID: id}},
		},
	}
	f.create(obj)
	return obj
}

// TestImportAdoptsWithoutRecreateAndSharesState imports a pre-existing VPC
// into the state terraform-controller would use for the Configuration.
func TestImportAdoptsWithoutRecreateAndSharesState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.cloud.MustAdmin(http.MethodPost, "seed", legacyVPC, nil)
	f.configuration("network", "vpc", vpcVars("10.40.0.0/16"))

	imp := await(f, f.importVPC("adopt", "network", "vpc-legacy01"), "import Ready", func(o *v1alpha1.InfraImport) bool { return readyIs(metav1.ConditionTrue, "")(o) })
	if got := imp.Status.Imported; len(got) != 1 || got[0] != "mycloud_vpc.this" {
		t.Fatalf("imported %v", got)
	}
	if p := imp.Status.Plan; p == nil || p.Add+p.Change+p.Destroy != 0 {
		t.Fatalf("plan after import is not empty: %+v", p)
	}
	if n := f.cloud.CountRequests(http.MethodPost, "/v1/vpcs") + f.cloud.CountRequests(http.MethodDelete, "/v1/vpcs"); n != 0 {
		t.Fatalf("import created or deleted %d VPCs", n)
	}
	// The state is terraform-controller's: its Kubernetes backend Secret for
	// this Configuration, written under the backend's Lease lock.
	var state corev1.Secret
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "tfstate-default-network"}, &state); err != nil {
		t.Fatalf("state Secret terraform-controller reads: %v", err)
	}
	var lease coordinationv1.Lease
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "lock-tfstate-default-network"}, &lease); err != nil {
		t.Fatalf("the backend lock Lease was never used: %v", err)
	}
	if imp.Status.OutputRef == nil {
		t.Fatal("no output reference")
	}
	var out corev1.ConfigMap
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: imp.Status.OutputRef.ConfigMap}, &out); err != nil || !strings.Contains(out.Data["output.txt"], "terraform import") {
		t.Fatalf("run output not kept: %v %q", err, tail(out.Data["output.txt"], 300))
	}

	// Again: idempotent, nothing imported twice.
	again := await(f, f.importVPC("adopt-again", "network", "vpc-legacy01"), "second import Ready", func(o *v1alpha1.InfraImport) bool { return readyIs(metav1.ConditionTrue, "")(o) })
	if len(again.Status.Imported) != 0 || len(again.Status.Skipped) != 1 {
		t.Fatalf("second import: imported %v skipped %v", again.Status.Imported, again.Status.Skipped)
	}
	f.assertNoSecrets(imp, again)
}

func TestImportThatWouldReplaceIsRefusedAndStateUntouched(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.cloud.MustAdmin(http.MethodPost, "seed", legacyVPC, nil)
	f.configuration("network", "vpc", vpcVars("10.41.0.0/16")) // CIDR differs: replace
	imp := await(f, f.importVPC("adopt", "network", "vpc-legacy01"), "import refused", func(o *v1alpha1.InfraImport) bool {
		return stalledWith(v1alpha1.ReasonWouldReplace)(o)
	})
	msg := condition(&imp.Status.RunStatus, v1alpha1.ConditionReady).Message
	for _, want := range []string{"replace mycloud_vpc.this", "state is unchanged", `cidr: "10.40.0.0/16" -> "10.41.0.0/16" (forces replacement)`,
		`set these component properties: {"cidr":"10.40.0.0/16"}`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if n := f.stateResources("network"); n != 0 {
		t.Fatalf("a refused import left %d resources in the state", n)
	}
	if n := f.cloud.CountRequests(http.MethodDelete, "/v1/") + f.cloud.CountRequests(http.MethodPost, "/v1/"); n != 0 {
		t.Fatalf("a refused import changed the cloud: %d calls", n)
	}
}

func TestImportWithInPlaceChangesSuggestsTheProperties(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.cloud.MustAdmin(http.MethodPost, "seed", legacyVPC, nil)
	vars := vpcVars("10.40.0.0/16")
	vars["tags"] = map[string]string{"owner": "platform"} // the cloud says ops
	f.configuration("network", "vpc", vars)
	imp := await(f, f.importVPC("adopt", "network", "vpc-legacy01"), "import Ready", func(o *v1alpha1.InfraImport) bool { return readyIs(metav1.ConditionTrue, "")(o) })
	msg := condition(&imp.Status.RunStatus, v1alpha1.ConditionReady).Message
	for _, want := range []string{"Review the in-place changes", `set these component properties: {"tags":{"owner":"ops"}}`, `tags.owner: "ops" -> "platform"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if n := f.cloud.CountRequests(http.MethodPatch, "/v1/"); n != 0 {
		t.Fatalf("an import changed the cloud: %d PATCH calls", n)
	}
}

// adoptLegacyVPC seeds the legacy VPC, declares it as Configuration
// "network" and imports it: a target with state and no drift.
func (f *fixture) adoptLegacyVPC() {
	f.t.Helper()
	f.cloud.MustAdmin(http.MethodPost, "seed", legacyVPC, nil)
	f.configuration("network", "vpc", vpcVars("10.40.0.0/16"))
	await(f, f.importVPC("adopt", "network", "vpc-legacy01"), "import Ready", func(o *v1alpha1.InfraImport) bool { return readyIs(metav1.ConditionTrue, "")(o) })
}

func TestDriftIsFoundDescribedAndCounted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.adoptLegacyVPC()

	clean := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "before"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: "network"}}}
	f.create(clean)
	clean = await(f, clean, "no-drift check", func(o *v1alpha1.InfraDrift) bool { return readyIs(metav1.ConditionTrue, v1alpha1.ReasonNoDrift)(o) })
	if clean.Status.Drifted {
		t.Fatal("drift reported on an untouched VPC")
	}
	// status.drifted reads false, not absent (the CRD defaults it): the
	// Drifted printer column says false.
	raw := &unstructured.Unstructured{}
	raw.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("InfraDrift"))
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(clean), raw); err != nil {
		t.Fatal(err)
	}
	if v, found, err := unstructured.NestedBool(raw.Object, "status", "drifted"); !found || err != nil || v {
		t.Errorf("status.drifted of a clean check: %v (found %v, %v), want false", v, found, err)
	}

	f.cloud.MustAdmin(http.MethodPatch, "resources/vpcs/vpc-legacy01", map[string]any{"tags": map[string]string{"owner": "someone-else", "temp": "yes"}}, nil)
	// Scheduled: its first check runs at its phase, within 30s (schedule.go).
	drift := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "after"}, Spec: v1alpha1.InfraDriftSpec{
		Target: v1alpha1.Target{ConfigurationName: "network"}, Interval: &metav1.Duration{Duration: 30 * time.Second}}}
	f.create(drift)
	drift = await(f, drift, "drift found", func(o *v1alpha1.InfraDrift) bool { return readyIs(metav1.ConditionTrue, v1alpha1.ReasonDriftFound)(o) })
	if !drift.Status.Drifted || drift.Status.Drift.Change != 1 {
		t.Fatalf("drift status %+v", drift.Status.Drift)
	}
	msg := condition(&drift.Status.RunStatus, v1alpha1.ConditionReady).Message
	for _, want := range []string{"~ mycloud_vpc.this (drift)", `tags.owner: "ops" -> "someone-else"`, `tags.temp: null -> "yes"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("drift message lacks %q:\n%s", want, msg)
		}
	}
	if p := drift.Status.Plan; p.Change != 1 {
		t.Errorf("an apply should change 1 resource back, plan says %+v", p)
	}
	if got := testutil.ToFloat64(controller.DriftResources.WithLabelValues(f.ns, "after", "network")); got != 1 {
		t.Errorf("drift gauge %v, want 1", got)
	}
	var events corev1.EventList
	_ = f.c.List(context.Background(), &events, client.InNamespace(f.ns))
	found := false
	for _, e := range events.Items {
		if e.Reason == v1alpha1.ReasonDriftFound && e.InvolvedObject.Name == "after" {
			found = true
		}
	}
	if !found {
		t.Error("no DriftFound event")
	}
	f.assertNoSecrets(drift, clean)
	if got := kstatusOf(t, drift); got != kstatus.CurrentStatus {
		t.Errorf("kstatus reads a finished drift check as %s, want Current", got)
	}
}

// kstatusOf is what standard tooling (kstatus: kubectl wait, Flux, Argo)
// reads from a step-run object's conditions.
func kstatusOf(t *testing.T, obj client.Object) kstatus.Status {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

func (f *fixture) approval(name, cfg string, spec any) *v1alpha1.InfraApproval {
	obj := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: v1alpha1.InfraApprovalSpec{Target: v1alpha1.Target{ConfigurationName: cfg}}}
	if spec != nil {
		obj.Spec.Target.Spec = raw(f.t, spec)
	}
	f.create(obj)
	return obj
}

func (f *fixture) approve(obj *v1alpha1.InfraApproval, planID string) {
	f.t.Helper()
	patch := client.MergeFrom(obj.DeepCopy())
	obj.Spec.Approval = &v1alpha1.Approval{PlanID: planID, By: "workflow my-app/approve-step"}
	if err := f.c.Patch(context.Background(), obj, patch); err != nil {
		f.t.Fatal(err)
	}
}

func awaiting(o *v1alpha1.InfraApproval) bool {
	return readyIs(metav1.ConditionFalse, v1alpha1.ReasonAwaitingApproval)(o)
}

// TestApprovalAppliesExactlyTheShownPlan: a plan is shown and held; once
// approved, that plan and nothing else is applied.
func TestApprovalAppliesExactlyTheShownPlan(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bucket := func(acl string) any {
		return f.configurationSpec("bucket", map[string]any{"name": "team-assets", "acl": acl})
	}
	// Before the Configuration exists: the step passes the rendered spec.
	a := await(f, f.approval("create", "assets", bucket("private")), "plan shown", awaiting)
	if got := kstatusOf(t, a); got != kstatus.InProgressStatus {
		t.Errorf("kstatus reads a held approval as %s, want InProgress", got)
	}
	if p := a.Status.Plan; p.Add != 1 || !strings.Contains(p.Diff, "+ mycloud_bucket.this (create)") {
		t.Fatalf("shown plan %+v", p)
	}
	time.Sleep(time.Second)
	if n := f.cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != 0 {
		t.Fatalf("created before approval: %d", n)
	}
	f.approve(a, a.Status.Plan.ID)
	a = await(f, a, "applied", func(o *v1alpha1.InfraApproval) bool { return readyIs(metav1.ConditionTrue, v1alpha1.ReasonApplied)(o) })
	if a.Status.ApprovedBy == nil || a.Status.ApprovedBy.Username != "workflow my-app/approve-step" || a.Status.ApprovedAt == nil || a.Status.ApprovedPlanID != a.Status.Plan.ID {
		t.Fatalf("approval not recorded: %+v", a.Status)
	}
	if n := f.cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != 1 {
		t.Fatalf("want exactly 1 bucket created, got %d", n)
	}

	// Nothing to change: passes without holding.
	same := await(f, f.approval("same", "assets", bucket("private")), "no changes", func(o *v1alpha1.InfraApproval) bool {
		return readyIs(metav1.ConditionTrue, v1alpha1.ReasonNoChanges)(o)
	})
	if same.Status.Plan.Add+same.Status.Plan.Change != 0 {
		t.Fatalf("no-change plan %+v", same.Status.Plan)
	}

	// A change in the cloud after the plan was shown voids the approval.
	stale := await(f, f.approval("public", "assets", bucket("public-read")), "plan shown", awaiting)
	shown := stale.Status.Plan.ID
	id := bucketID(f)
	f.cloud.MustAdmin(http.MethodPatch, "resources/buckets/"+id, map[string]any{"versioning": true}, nil)
	patches := f.cloud.CountRequests(http.MethodPatch, "/v1/buckets")
	f.approve(stale, shown)
	stale = await(f, stale, "plan changed", func(o *v1alpha1.InfraApproval) bool {
		return readyIs(metav1.ConditionFalse, v1alpha1.ReasonPlanChanged)(o)
	})
	if stale.Status.Plan.ID == shown || !strings.Contains(stale.Status.Plan.Diff, "versioning: true -> false") {
		t.Fatalf("new plan not shown: %+v", stale.Status.Plan)
	}
	if n := f.cloud.CountRequests(http.MethodPatch, "/v1/buckets"); n != patches {
		t.Fatalf("a stale approval changed the cloud (%d PATCH calls)", n-patches)
	}
	// Approving the new plan applies it.
	f.approve(stale, stale.Status.Plan.ID)
	await(f, stale, "applied after re-approval", func(o *v1alpha1.InfraApproval) bool { return readyIs(metav1.ConditionTrue, v1alpha1.ReasonApplied)(o) })
	f.assertNoSecrets(a, same, stale)
}

// stateResources counts the resources in the state terraform-controller
// keeps for a Configuration (its kubernetes backend Secret, gzipped JSON).
func (f *fixture) stateResources(cfg string) int {
	f.t.Helper()
	var secret corev1.Secret
	err := f.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "tfstate-default-" + cfg}, &secret)
	if apierrors.IsNotFound(err) {
		return 0
	}
	if err != nil {
		f.t.Fatal(err)
	}
	// Terraform's kubernetes backend creates the Secret empty and then
	// writes the state into it: between the two, there is no state yet.
	if len(secret.Data["tfstate"]) == 0 {
		return 0
	}
	zr, err := gzip.NewReader(bytes.NewReader(secret.Data["tfstate"]))
	if err != nil {
		f.t.Fatalf("state Secret: %v", err)
	}
	var state struct {
		Resources []any `json:"resources"`
	}
	if err := json.NewDecoder(zr).Decode(&state); err != nil {
		f.t.Fatalf("state Secret: %v", err)
	}
	return len(state.Resources)
}

func bucketID(f *fixture) string {
	f.t.Helper()
	for _, r := range f.cloud.Requests() {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/v1/buckets/bucket-") {
			return strings.TrimPrefix(r.Path, "/v1/buckets/")
		}
	}
	f.t.Fatal("no bucket id in the request log")
	return ""
}

// TestRejectedApprovalLeavesTheCloudAlone: terminating the workflow means
// the approval is never given; nothing is applied.
func TestRejectedApprovalLeavesTheCloudAlone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spec := f.configurationSpec("bucket", map[string]any{"name": "never-made"})
	a := await(f, f.approval("rejected", "never", spec), "plan shown", awaiting)
	// The saved plan (it can hold sensitive values) is kept outside the
	// tenant's namespace, and goes with its InfraApproval.
	plan := types.NamespacedName{Namespace: planNS, Name: "tfplan-" + f.ns + ".rejected"}
	if a.Status.PlanSecret != plan.String() {
		t.Fatalf("status.planSecret %q, want %s", a.Status.PlanSecret, plan)
	}
	if err := f.c.Get(context.Background(), plan, &corev1.Secret{}); err != nil {
		t.Fatalf("saved plan: %v", err)
	}
	if err := f.c.Delete(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	gone := func(key types.NamespacedName, obj client.Object) bool {
		return apierrors.IsNotFound(f.c.Get(context.Background(), key, obj))
	}
	for deadline := time.Now().Add(30 * time.Second); !gone(plan, &corev1.Secret{}) || !gone(client.ObjectKeyFromObject(a), a); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("30s after its deletion: saved plan gone %v, InfraApproval gone %v",
				gone(plan, &corev1.Secret{}), gone(client.ObjectKeyFromObject(a), a))
		}
	}
	if n := f.cloud.CountRequests(http.MethodPost, "/v1/"); n != 0 {
		t.Fatalf("a rejected plan changed the cloud: %d", n)
	}
}

func TestBadInputStallsWithANamedField(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.cloud.MustAdmin(http.MethodPost, "seed", legacyVPC, nil)
	f.configuration("network", "vpc", vpcVars("10.40.0.0/16"))
	f.configuration("broken", "vpc", nil)
	brokenHCL := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "bad-hcl"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{
		ConfigurationName: "network", Spec: raw(t, map[string]any{"hcl": "resource \"mycloud_vpc\" {", "providerRef": map[string]string{"name": "mycloud", "namespace": f.ns}})}}}
	noProvider := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "no-provider"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{
		ConfigurationName: "network", Spec: raw(t, map[string]any{"hcl": module(t, "vpc"), "providerRef": map[string]string{"name": "nope", "namespace": f.ns}})}}}
	unknownField := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "unknown-field"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{
		ConfigurationName: "network", Spec: raw(t, map[string]any{"hcl": module(t, "vpc"), "colour": "red"})}}}
	missingVar := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "missing-var"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: "broken"}}}
	cases := []struct {
		obj interface {
			client.Object
			v1alpha1.StepRun
		}
		reason string
		want   string
	}{
		{&v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "unknown-cfg"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: "nope"}}},
			v1alpha1.ReasonConfigurationNotFound, "Configuration " + f.ns + "/nope does not exist"},
		{&v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "bad-id"}, Spec: v1alpha1.InfraImportSpec{Target: v1alpha1.Target{ConfigurationName: "network"},
			Resources: []v1alpha1.ImportResource{{Address: "mycloud_vpc.this", ID: "vpc legacy"}}}}, v1alpha1.ReasonInvalidSpec, "spec.resources[0].id"},
		{&v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "bad-address"}, Spec: v1alpha1.InfraImportSpec{Target: v1alpha1.Target{ConfigurationName: "network"},
			Resources: []v1alpha1.ImportResource{{Address: "not an address", ID: "vpc-legacy01"}}}}, v1alpha1.ReasonInvalidSpec, "spec.resources[0].address"},
		{&v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "address-not-in-module"}, Spec: v1alpha1.InfraImportSpec{Target: v1alpha1.Target{ConfigurationName: "network"},
			Resources: []v1alpha1.ImportResource{{Address: "mycloud_vpc.other", ID: "vpc-legacy01"}}}}, v1alpha1.ReasonInvalidConfiguration, "mycloud_vpc.other <- vpc-legacy01"},
		{&v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "id-not-in-cloud"}, Spec: v1alpha1.InfraImportSpec{Target: v1alpha1.Target{ConfigurationName: "network"},
			Resources: []v1alpha1.ImportResource{{Address: "mycloud_vpc.this", ID: "vpc-missing99"}}}}, v1alpha1.ReasonCloudNotFound, "vpc-missing99"},
		{brokenHCL, v1alpha1.ReasonInvalidConfiguration, "spec.target.spec.hcl is refused: line 1: syntax"},
		{noProvider, v1alpha1.ReasonProviderNotFound, "Provider " + f.ns + "/nope, which does not exist"},
		{unknownField, v1alpha1.ReasonInvalidSpec, `unknown field "colour"`},
		{missingVar, v1alpha1.ReasonInvalidConfiguration, "No value for required variable"},
	}
	for _, tc := range cases {
		f.create(tc.obj)
	}
	for _, tc := range cases {
		obj := await(f, tc.obj, tc.obj.GetName()+" stalled with "+tc.reason, func(o interface {
			client.Object
			v1alpha1.StepRun
		}) bool {
			return stalledWith(tc.reason)(o)
		})
		if msg := condition(obj.GetRunStatus(), v1alpha1.ConditionReady).Message; !strings.Contains(msg, tc.want) {
			t.Errorf("%s: message lacks %q: %s", tc.obj.GetName(), tc.want, msg)
		}
		if got := kstatusOf(t, obj); got != kstatus.FailedStatus {
			t.Errorf("%s: kstatus reads a stalled object as %s, want Failed", tc.obj.GetName(), got)
		}
	}
	// None of it touched the state or the cloud.
	if n := f.stateResources("network"); n != 0 {
		t.Fatalf("bad input left %d resources in the state", n)
	}
	if n := f.cloud.CountRequests(http.MethodPost, "/v1/") + f.cloud.CountRequests(http.MethodPatch, "/v1/") + f.cloud.CountRequests(http.MethodDelete, "/v1/"); n != 0 {
		t.Fatalf("bad input changed the cloud: %d calls", n)
	}
}

func TestWrongCredentialsStallWithoutLeakingThem(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.cloud.MustAdmin(http.MethodPost, "seed", legacyVPC, nil)
	secret := &corev1.Secret{}
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "mycloud-credentials"}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Data["credentials"] = []byte(strings.Replace(string(secret.Data["credentials"]), "MYCLOUD_SECRET_KEY: ", "MYCLOUD_SECRET_KEY: "+dbPassword, 1))
	if err := f.c.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	f.configuration("network", "vpc", vpcVars("10.40.0.0/16"))
	imp := await(f, f.importVPC("adopt", "network", "vpc-legacy01"), "auth failure", func(o *v1alpha1.InfraImport) bool {
		return stalledWith(v1alpha1.ReasonAuthFailed)(o)
	})
	if msg := condition(&imp.Status.RunStatus, v1alpha1.ConditionReady).Message; !strings.Contains(msg, "credentials") {
		t.Errorf("message: %s", msg)
	}
	f.assertNoSecrets(imp)

	// The stall is retried (every second here) and ends the same way each
	// time. A retry writes its Progressing status; once it ends, the stall
	// must show again, although its conditions equal the ones before the
	// retry (a patch against the object as first read would leave
	// Reconciling=True behind for good).
	reconciling := func(o *v1alpha1.InfraImport) bool {
		c := condition(&o.Status.RunStatus, v1alpha1.ConditionReconciling)
		return c != nil && c.Status == metav1.ConditionTrue
	}
	poll := func(what string, cond func(*v1alpha1.InfraImport) bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(imp), imp); err != nil {
				t.Fatal(err)
			}
			if cond(imp) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v", what, imp.Status.Conditions)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	poll("a retry's Progressing status", reconciling)
	poll("the stall again after the retry", func(o *v1alpha1.InfraImport) bool {
		return !reconciling(o) && stalledWith(v1alpha1.ReasonAuthFailed)(o)
	})
}

// TestScheduledDriftCheckEndsItsProgress: a scheduled re-check of an
// unchanged target ends with the same conditions it started from; the
// Progressing status it wrote meanwhile must not stay behind.
func TestScheduledDriftCheckEndsItsProgress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.adoptLegacyVPC()
	d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "scheduled"}, Spec: v1alpha1.InfraDriftSpec{
		Target: v1alpha1.Target{ConfigurationName: "network"}, Interval: &metav1.Duration{Duration: 30 * time.Second}}}
	f.create(d)
	d = await(f, d, "first check", func(o *v1alpha1.InfraDrift) bool { return readyIs(metav1.ConditionTrue, v1alpha1.ReasonNoDrift)(o) })
	first := d.Status.LastRunTime.DeepCopy()
	d = await(f, d, "the scheduled second check", func(o *v1alpha1.InfraDrift) bool {
		return o.Status.LastRunTime != nil && !o.Status.LastRunTime.Equal(first)
	})
	if !readyIs(metav1.ConditionTrue, v1alpha1.ReasonNoDrift)(d) {
		t.Errorf("second check: %+v", d.Status.Conditions)
	}
	if c := condition(&d.Status.RunStatus, v1alpha1.ConditionReconciling); c != nil {
		t.Errorf("the second check left %s=%s (%s) behind: %+v", c.Type, c.Status, c.Reason, d.Status.Conditions)
	}
}

// TestMissingConfigurationIsPickedUpWhenItAppears: a drift check of a
// Configuration that does not exist yet stalls, and runs once it exists.
func TestMissingConfigurationIsPickedUpWhenItAppears(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	drift := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "early"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: "later"}}}
	f.create(drift)
	await(f, drift, "stalled on a missing Configuration", func(o *v1alpha1.InfraDrift) bool { return stalledWith(v1alpha1.ReasonConfigurationNotFound)(o) })
	f.configuration("later", "bucket", map[string]any{"name": "later-bucket"})
	await(f, drift, "checked once the Configuration exists", func(o *v1alpha1.InfraDrift) bool { return readyIs(metav1.ConditionTrue, v1alpha1.ReasonNoDrift)(o) })
}

// TestVariablesPassedInASecretNeverReachTheObject is the way the workflow
// steps pass a component's variables: the InfraApproval names the Secret
// it waits for, the step writes them there (here: the test, as vela-core
// would), the plan uses them, and the password reaches no step-run object,
// status, Event or ConfigMap. The Secret goes with its object.
func TestVariablesPassedInASecretNeverReachTheObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	obj := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "db"}, Spec: v1alpha1.InfraApprovalSpec{
		Request: "session-1",
		Target: v1alpha1.Target{ConfigurationName: "db", VariablesFrom: v1alpha1.VariablesFromSecret,
			Spec: raw(t, map[string]any{"hcl": module(t, "mysql"), "providerRef": map[string]string{"name": "mycloud", "namespace": f.ns}})},
	}}
	f.create(obj)
	obj = await(f, obj, "the variables Secret named", func(o *v1alpha1.InfraApproval) bool {
		return readyIs(metav1.ConditionFalse, v1alpha1.ReasonAwaitingVariables)(o) && o.Status.VariablesSecret != ""
	})
	want := planNS + "/tfvars-infraapproval." + f.ns + ".db"
	if obj.Status.VariablesSecret != want {
		t.Fatalf("status.variablesSecret %q, want %q", obj.Status.VariablesSecret, want)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: planNS, Name: "tfvars-infraapproval." + f.ns + ".db",
		Labels: map[string]string{"infra.vela-infra.io/variables-kind": "InfraApproval", "infra.vela-infra.io/variables-namespace": f.ns,
			"infra.vela-infra.io/variables-name": "db"},
		Annotations: map[string]string{"infra.vela-infra.io/request": "session-1"}},
		StringData: map[string]string{"variables": fmt.Sprintf(`{"name":"orders","subnet_id":"subnet-1a2b3c4d","admin_password":%q}`, dbPassword)}}
	f.create(secret)
	obj = await(f, obj, "the plan awaiting approval", func(o *v1alpha1.InfraApproval) bool {
		return readyIs(metav1.ConditionFalse, v1alpha1.ReasonAwaitingApproval)(o)
	})
	if p := obj.Status.Plan; p == nil || p.Add != 1 {
		t.Fatalf("plan %+v, want the instance created", obj.Status.Plan)
	}
	f.assertNoSecrets(obj)

	if err := f.c.Delete(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !apierrors.IsNotFound(f.c.Get(context.Background(), client.ObjectKeyFromObject(secret), &corev1.Secret{})) {
		if time.Now().After(deadline) {
			t.Fatalf("the variables Secret %s outlived its InfraApproval", want)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// TestSharedConfigurationIsKeptWhileUsed: against the API server, a
// Configuration whose output id another namespace's Configuration holds
// gets deleteResource false with the consumer named, and true again once
// the consumer is gone; the InfraImport adoption of the legacy VPC keeps
// "network" for good.
func TestSharedConfigurationIsKeptWhileUsed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := newFixture(t)
	consumer := newFixture(t)
	shared := owner.configuration("shared", "vpc", vpcVars("10.60.0.0/16"))
	shared.Status.Apply.Outputs = map[string]tfv1beta2.Property{"id": {Value: "vpc-shared01"}}
	if err := owner.c.Status().Update(ctx, shared); err != nil {
		t.Fatal(err)
	}
	kept := func(want bool, reason string) {
		t.Helper()
		await(owner, shared, fmt.Sprintf("deleteResource %v", !want), func(c *tfv1beta2.Configuration) bool {
			return c.Spec.DeleteResource != nil && *c.Spec.DeleteResource == !want && strings.Contains(c.Annotations["infra.vela-infra.io/retained"], reason)
		})
	}
	user := consumer.configuration("subnet", "subnet", map[string]any{"name": "app", "vpc_id": "vpc-shared01", "cidr": "10.60.1.0/24"})
	kept(true, "other Configurations use its resources: Configuration "+consumer.ns+"/subnet")
	if err := consumer.c.Delete(ctx, user); err != nil {
		t.Fatal(err)
	}
	kept(false, "")

	owner.adoptLegacyVPC()
	network := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: owner.ns, Name: "network"}}
	await(owner, network, "the adopted network kept", func(c *tfv1beta2.Configuration) bool {
		return c.Spec.DeleteResource != nil && !*c.Spec.DeleteResource && c.Annotations["infra.vela-infra.io/adopted"] == "mycloud_vpc.this=vpc-legacy01"
	})
}
