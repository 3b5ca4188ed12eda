package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// heldDrift is InfraDrift default/reports-drift-detection holding
// corrective plan c1 for a person.
func heldDrift() *v1alpha1.InfraDrift {
	return &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "reports-drift-detection"},
		Status: v1alpha1.InfraDriftStatus{Remedy: &v1alpha1.RemedyStatus{Remedy: "approve", Result: v1alpha1.RemedyHeld, PlanID: "c1"}}}
}

func driftApproval(user authenticationv1.UserInfo, old *v1alpha1.InfraDrift, planID string) admission.Request {
	obj := old.DeepCopy()
	obj.Spec.Approval = &v1alpha1.Approval{PlanID: planID}
	oldRaw, _ := json.Marshal(old)
	newRaw, _ := json.Marshal(obj)
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Update, Namespace: old.Namespace, Name: old.Name, UserInfo: user,
		OldObject: runtime.RawExtension{Raw: oldRaw}, Object: runtime.RawExtension{Raw: newRaw},
	}}
}

// TestDriftApprovals: approving a held corrective plan needs the verb
// approve on infradrifts and the plan held; the person (or the workflow
// engine, for the trait's approvePlan) is recorded for the step-runner.
func TestDriftApprovals(t *testing.T) {
	ctx := context.Background()
	engine := authenticationv1.UserInfo{Username: "system:serviceaccount:vela-system:kubevela-vela-core"}
	for name, tc := range map[string]struct {
		user    authenticationv1.UserInfo
		planID  string
		message string
		via     string
	}{
		"without approve": {user: bob, planID: "c1", message: `user "bob" may not approve InfraDrift default/reports-drift-detection: approving needs the verb "approve" on infradrifts.infra.vela-infra.io`},
		"a plan not held": {user: alice, planID: "c9", message: "InfraDrift default/reports-drift-detection: spec.approval.planID: corrective plan c9 is not held for approval (the corrective plan held is c1)"},
		"anonymous":       {user: authenticationv1.UserInfo{Username: "system:anonymous", Groups: []string{"system:unauthenticated"}}, planID: "c1", message: "needs a person the API server authenticated"},
		"approver":        {user: alice, planID: "c1", via: "an approval written on InfraDrift default/reports-drift-detection"},
		"approvePlan":     {user: engine, planID: "c1", via: "the application's drift-detection approvePlan, applied by the workflow engine"},
	} {
		t.Run(name, func(t *testing.T) {
			d, c := deps(t, heldDrift())
			resp := (&InfraDrifts{d}).Handle(ctx, driftApproval(tc.user, heldDrift(), tc.planID))
			key := controller.DriftApprovalKey("vela-system", types.NamespacedName{Namespace: "default", Name: "reports-drift-detection"})
			var secret corev1.Secret
			err := c.Get(ctx, key, &secret)
			if tc.message != "" {
				if resp.Allowed || !strings.Contains(resp.Result.Message, tc.message) {
					t.Fatalf("allowed %v: %+v, want a refusal with %q", resp.Allowed, resp.Result, tc.message)
				}
				if err == nil {
					t.Fatalf("a refused approval was recorded: %s", secret.Data["approver"])
				}
				return
			}
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			var rec controller.ApprovalRecord
			if err != nil || json.Unmarshal(secret.Data["approver"], &rec) != nil || rec.Approver.Username != tc.user.Username || rec.PlanID != "c1" || rec.Approver.Via != tc.via {
				t.Fatalf("record %+v (%v)", rec, err)
			}
		})
	}
}
