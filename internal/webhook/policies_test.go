package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestInfraPolicies: a rule that does not compile, sets a result that is no
// level, or reads a field the input lacks is refused naming spec.rule and
// the line; a namespace that is no name is refused naming the entry.
func TestInfraPolicies(t *testing.T) {
	for name, tc := range map[string]struct {
		rule       string
		namespaces []string
		message    string
	}{
		"compiles":           {rule: `if input.plan.destroy > 0 { result: "mandatory", message: "no destroy" }`},
		"does not compile":   {rule: `result: "mandatory" &&`, message: "InfraPolicy p: spec.rule: expected operand, found 'EOF' (rule.cue:1:23)"},
		"result is no level": {rule: `result: "deny"`, message: `InfraPolicy p: spec.rule: result "deny" (rule.cue:1:1) is not one of pass, advisory, mandatory, approve`},
		"unknown field":      {rule: `if input.target.owner == "x" { result: "advisory" }`, message: "InfraPolicy p: spec.rule: undefined field: owner"},
		"bad namespace":      {rule: `result: "pass"`, namespaces: []string{"team-a", "Team_B"}, message: `InfraPolicy p: spec.namespaces[1] "Team_B" is not a namespace name`},
	} {
		t.Run(name, func(t *testing.T) {
			pol := v1alpha1.InfraPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1alpha1.InfraPolicySpec{Rule: tc.rule, Namespaces: tc.namespaces}}
			raw, _ := json.Marshal(pol)
			resp := InfraPolicies{}.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				Operation: admissionv1.Create, Name: "p", Object: runtime.RawExtension{Raw: raw}}})
			if tc.message == "" {
				if !resp.Allowed {
					t.Fatalf("refused: %+v", resp.Result)
				}
				return
			}
			if resp.Allowed || !strings.Contains(resp.Result.Message, tc.message) {
				t.Fatalf("allowed %v: %+v, want a refusal with %q", resp.Allowed, resp.Result, tc.message)
			}
		})
	}
}

// TestApprovalOfADeniedPlan: an approval written on a plan an InfraPolicy
// stops is refused at once, naming the policy.
func TestApprovalOfADeniedPlan(t *testing.T) {
	old := awaitingApproval()
	old.Status.Policies = []v1alpha1.PolicyResult{{Policy: "no-replace", Result: "mandatory", Message: "replaces the VPC", PlanID: "p1"}}
	d, _ := deps(t, old, planSecret())
	resp := (&InfraApprovals{d}).Handle(context.Background(), approvalWrite(alice, old, "p1", "r1"))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "InfraApproval default/shop-bucket: plan p1 cannot be approved: InfraPolicy no-replace (mandatory): replaces the VPC; nothing was applied") {
		t.Fatalf("allowed %v: %+v", resp.Allowed, resp.Result)
	}
}
