package controller_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// cloudWrites counts the provider's writes to the VPCs API: creates,
// updates and deletes.
func (f *fixture) cloudWrites() map[string]int {
	return map[string]int{
		http.MethodPost:   f.cloud.CountRequests(http.MethodPost, "/v1/vpcs"),
		http.MethodPatch:  f.cloud.CountRequests(http.MethodPatch, "/v1/vpcs"),
		http.MethodPut:    f.cloud.CountRequests(http.MethodPut, "/v1/vpcs"),
		http.MethodDelete: f.cloud.CountRequests(http.MethodDelete, "/v1/vpcs"),
	}
}

// writesSince is the difference of two cloudWrites, without zeros.
func writesSince(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for m, n := range after {
		if d := n - before[m]; d != 0 {
			out[m] = d
		}
	}
	return out
}

func (f *fixture) hasEvent(obj client.Object, reason string) bool {
	f.t.Helper()
	var events corev1.EventList
	if err := f.c.List(context.Background(), &events, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.Reason == reason && e.InvolvedObject.Name == obj.GetName() {
			return true
		}
	}
	return false
}

// TestDriftRevertPutsTheCloudBack: an out-of-band edit of a tag is found
// and, with remedy revert, put back by exactly one in-place update in the
// cloud (mycloud's request log); a check afterwards finds no drift.
func TestDriftRevertPutsTheCloudBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.adoptLegacyVPC()
	f.cloud.MustAdmin(http.MethodPatch, "resources/vpcs/vpc-legacy01", map[string]any{"tags": map[string]string{"owner": "someone-else"}}, nil)
	before := f.cloudWrites()

	d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "revert"}, Spec: v1alpha1.InfraDriftSpec{
		Target: v1alpha1.Target{ConfigurationName: "network"}, Remedy: v1alpha1.RemedyRevert}}
	f.create(d)
	d = await(f, d, "drift reverted", func(o *v1alpha1.InfraDrift) bool {
		return readyIs(metav1.ConditionTrue, v1alpha1.ReasonDriftReverted)(o)
	})
	if d.Status.Drifted || d.Status.DriftedSince != nil || d.Status.Remedy == nil || d.Status.Remedy.Result != v1alpha1.RemedyReverted {
		t.Fatalf("status after the revert: drifted %v since %v remedy %+v", d.Status.Drifted, d.Status.DriftedSince, d.Status.Remedy)
	}
	if got := writesSince(before, f.cloudWrites()); len(got) != 1 || got[http.MethodPatch] != 1 {
		t.Errorf("cloud writes of the revert %v, want exactly one PATCH", got)
	}
	msg := condition(&d.Status.RunStatus, v1alpha1.ConditionReady).Message
	for _, want := range []string{"exactly the reversal of the drift (1 in-place update(s))", `tags.owner: "ops" -> "someone-else"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if !f.hasEvent(d, v1alpha1.ReasonDriftReverted) {
		t.Error("no DriftReverted Event")
	}

	again := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "after-revert"}, Spec: v1alpha1.InfraDriftSpec{
		Target: v1alpha1.Target{ConfigurationName: "network"}}}
	f.create(again)
	await(f, again, "no drift after the revert", func(o *v1alpha1.InfraDrift) bool { return readyIs(metav1.ConditionTrue, v1alpha1.ReasonNoDrift)(o) })
	f.assertNoSecrets(d, again)
}

// TestDriftRevertHoldsAReplaceForAPerson: an out-of-band change of the
// VPC's cidr (immutable: putting it back replaces the VPC) is not reverted
// but held, with the reason, writing nothing to the cloud; an approval of
// another plan applies nothing; the approval of the held plan applies it.
func TestDriftRevertHoldsAReplaceForAPerson(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.adoptLegacyVPC()
	f.cloud.MustAdmin(http.MethodPatch, "resources/vpcs/vpc-legacy01", map[string]any{"cidr": "10.41.0.0/16"}, nil)
	before := f.cloudWrites()

	d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "held"}, Spec: v1alpha1.InfraDriftSpec{
		Target: v1alpha1.Target{ConfigurationName: "network"}, Remedy: v1alpha1.RemedyRevert}}
	f.create(d)
	d = await(f, d, "revert held", func(o *v1alpha1.InfraDrift) bool {
		return readyIs(metav1.ConditionTrue, v1alpha1.ReasonDriftFound)(o) && o.Status.Remedy != nil
	})
	r := d.Status.Remedy
	if r.Result != v1alpha1.RemedyHeld || !strings.Contains(r.Reason, "mycloud_vpc.this would be replaced (cidr cannot be changed in place)") || r.PlanID != d.Status.Plan.ID {
		t.Fatalf("remedy %+v, want Held naming the replace of mycloud_vpc.this, plan %s", r, d.Status.Plan.ID)
	}
	if !d.Status.Drifted || d.Status.DriftedSince == nil {
		t.Errorf("drift should stand: drifted %v since %v", d.Status.Drifted, d.Status.DriftedSince)
	}
	if !f.hasEvent(d, v1alpha1.ReasonRevertHeld) {
		t.Error("no RevertHeld Event")
	}
	if got := writesSince(before, f.cloudWrites()); len(got) != 0 {
		t.Fatalf("a held revert wrote to the cloud: %v", got)
	}

	setApproval := func(planID string) {
		t.Helper()
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Approval = &v1alpha1.Approval{PlanID: planID, By: "alice"}
		if err := f.c.Patch(context.Background(), d, patch); err != nil {
			t.Fatal(err)
		}
	}
	setApproval("0123456789abcdef")
	d = await(f, d, "a wrong approval refused", func(o *v1alpha1.InfraDrift) bool {
		return o.Status.ObservedGeneration == o.Generation && o.Status.Remedy != nil && strings.Contains(o.Status.Remedy.Message, "changed since plan 0123456789abcdef was approved")
	})
	if got := writesSince(before, f.cloudWrites()); len(got) != 0 {
		t.Fatalf("an approval of another plan wrote to the cloud: %v", got)
	}

	setApproval(r.PlanID)
	d = await(f, d, "the approved correction applied", func(o *v1alpha1.InfraDrift) bool {
		return readyIs(metav1.ConditionTrue, v1alpha1.ReasonCorrectionApplied)(o)
	})
	// Without the webhooks (as here) the approver is the name the client
	// wrote, and says so.
	if d.Status.Remedy.Result != v1alpha1.RemedyApplied || !strings.HasPrefix(d.Status.Remedy.ApprovedBy, "alice (spec.approval.by, a name the client wrote") || d.Status.Drifted {
		t.Errorf("status after the approval: drifted %v remedy %+v", d.Status.Drifted, d.Status.Remedy)
	}
	if got := writesSince(before, f.cloudWrites()); got[http.MethodPost] != 1 || got[http.MethodDelete] != 1 {
		t.Errorf("cloud writes of the approved replace %v, want one POST and one DELETE", got)
	}
	if !f.hasEvent(d, v1alpha1.ReasonCorrectionApplied) {
		t.Error("no CorrectionApplied Event")
	}
}
