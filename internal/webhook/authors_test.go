package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// dutyApp is application shop with an infra-approve step for component
// bucket (separateDuties as given) and a property acl, in phase.
func dutyApp(separate bool, acl, phase string) []byte {
	props := map[string]any{"component": "bucket"}
	if separate {
		props["separateDuties"] = true
	}
	app := map[string]any{
		"metadata": map[string]any{"name": "shop", "namespace": "default"},
		"spec": map[string]any{
			"components": []any{map[string]any{"name": "bucket", "type": "mycloud-bucket", "properties": map[string]any{"acl": acl}}},
			"workflow":   map[string]any{"steps": []any{map[string]any{"name": "approve", "type": "infra-approve", "properties": props}}}},
		"status": map[string]any{"workflow": map[string]any{"suspend": phase == "suspending",
			"steps": []any{map[string]any{"id": "s1", "name": "approve", "type": "infra-approve", "phase": phase}}}},
	}
	raw, _ := json.Marshal(app)
	return raw
}

func specWrite(user authenticationv1.UserInfo, raw []byte) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Update, Namespace: "default", Name: "shop", UserInfo: user,
		Object: runtime.RawExtension{Raw: raw}, OldObject: runtime.RawExtension{Raw: raw},
	}}
}

var carol = authenticationv1.UserInfo{Username: "carol", Groups: []string{"approvers", "system:authenticated"}}

// TestSeparationOfDuty: alice changes the spec of an application with
// separateDuties; she may approve its plan neither by resuming nor
// directly, carol may. A spec the webhook did not see has no author, and
// its resume is refused. Turning separateDuties off forgets the author.
func TestSeparationOfDuty(t *testing.T) {
	ctx := context.Background()
	d, c := deps(t, awaitingApproval(), planSecret())
	authors, status := &SpecAuthors{d}, &ApplicationStatus{d}
	if resp := authors.Handle(ctx, specWrite(alice, dutyApp(true, "private", "running"))); !resp.Allowed {
		t.Fatalf("a spec change was refused: %+v", resp.Result)
	}
	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: "vela-system", Name: "spec-author.default.shop"}, &secret); err != nil {
		t.Fatalf("no author record: %v", err)
	}
	if rec := string(secret.Data[authorKey]); !strings.Contains(rec, `"username":"alice"`) || !strings.Contains(rec, `"approvals":["shop-bucket"]`) {
		t.Fatalf("author record %s", rec)
	}

	resume := func(user authenticationv1.UserInfo, acl string) admission.Response {
		return status.Handle(ctx, statusUpdate(user, dutyApp(true, acl, "suspending"), dutyApp(true, acl, "running")))
	}
	if resp := resume(alice, "private"); resp.Allowed || !strings.Contains(resp.Result.Message,
		`vela workflow resume shop: separation of duty (step approve, separateDuties): user "alice" made the application's current spec`) {
		t.Fatalf("the author's resume: %+v", resp.Result)
	}
	if resp := (&InfraApprovals{d}).Handle(ctx, approvalWrite(alice, awaitingApproval(), "p1", "r1")); resp.Allowed ||
		!strings.Contains(resp.Result.Message, `InfraApproval default/shop-bucket: separation of duty (application shop, separateDuties): user "alice" made the application's current spec`) {
		t.Fatalf("the author's direct approval: %+v", resp.Result)
	}
	// A spec nobody was recorded for: refused for everyone.
	if resp := resume(carol, "public-read"); resp.Allowed || !strings.Contains(resp.Result.Message, "who made the application's current spec was not recorded") {
		t.Fatalf("a resume of an unrecorded spec: %+v", resp.Result)
	}
	if resp := resume(carol, "private"); !resp.Allowed {
		t.Fatalf("carol's resume: %+v", resp.Result)
	}

	// Off: the record goes, and the author may approve again.
	if resp := authors.Handle(ctx, specWrite(alice, dutyApp(false, "private", "running"))); !resp.Allowed {
		t.Fatalf("a spec change was refused: %+v", resp.Result)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "vela-system", Name: "spec-author.default.shop"}, &secret); err == nil {
		t.Fatal("the author record outlived separateDuties")
	}
	if resp := status.Handle(ctx, statusUpdate(alice, dutyApp(false, "private", "suspending"), dutyApp(false, "private", "running"))); !resp.Allowed {
		t.Fatalf("alice's resume without separateDuties: %+v", resp.Result)
	}
}
