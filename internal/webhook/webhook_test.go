package webhook

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

func scheme(t *testing.T) *runtime.Scheme {
	s, err := controller.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCertsIssueKeepAndRenew: the first Ensure creates the CA and serving
// certificate, writes the files and sets the caBundle; the next keeps them;
// close to expiry the serving certificate is renewed under the same CA.
func TestCertsIssueKeepAndRenew(t *testing.T) {
	ctx := context.Background()
	cfg := &admissionregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Webhooks: []admissionregv1.ValidatingWebhook{
		{Name: "a.example", ClientConfig: admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Name: "svc", Namespace: "ns"}}},
		{Name: "other.example", ClientConfig: admissionregv1.WebhookClientConfig{Service: &admissionregv1.ServiceReference{Name: "else", Namespace: "ns"}}},
	}}
	c := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(cfg).Build()
	now := time.Now()
	certs := &Certs{Client: c, Namespace: "ns", Secret: "cert", Service: "svc", Configuration: "cfg", Dir: t.TempDir(), Now: func() time.Time { return now }}
	if err := certs.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	var s1 corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "cert"}, &s1); err != nil {
		t.Fatal(err)
	}
	if !certs.valid(s1.Data) {
		t.Fatal("the issued certificate is not valid for the Service")
	}
	file, err := os.ReadFile(filepath.Join(certs.Dir, "tls.crt"))
	if err != nil || string(file) != string(s1.Data[tlsCertKey]) {
		t.Fatalf("tls.crt not written: %v", err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "cfg"}, cfg); err != nil {
		t.Fatal(err)
	}
	if string(cfg.Webhooks[0].ClientConfig.CABundle) != string(s1.Data[caCertKey]) || len(cfg.Webhooks[1].ClientConfig.CABundle) != 0 {
		t.Fatal("caBundle not set on exactly the webhook calling the Service")
	}

	if err := certs.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	var s2 corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "cert"}, &s2); err != nil {
		t.Fatal(err)
	}
	if string(s2.Data[tlsCertKey]) != string(s1.Data[tlsCertKey]) {
		t.Fatal("a valid certificate was replaced")
	}

	now = now.Add(300 * 24 * time.Hour) // 65 days left: renewed
	if err := certs.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	var s3 corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "cert"}, &s3); err != nil {
		t.Fatal(err)
	}
	if string(s3.Data[tlsCertKey]) == string(s1.Data[tlsCertKey]) || string(s3.Data[caCertKey]) != string(s1.Data[caCertKey]) {
		t.Fatal("want a new serving certificate under the same CA")
	}
}

// awaitingApproval is an InfraApproval holding plan p1 of request r1.
func awaitingApproval() *v1alpha1.InfraApproval {
	obj := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "shop-bucket", Generation: 1},
		Spec: v1alpha1.InfraApprovalSpec{Request: "r1", Target: v1alpha1.Target{ConfigurationName: "bucket"}}}
	obj.Status.ObservedGeneration = 1
	obj.Status.Plan = &v1alpha1.PlanSummary{ID: "p1"}
	obj.Status.ShownPlanIDs = []string{"p1"}
	obj.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonAwaitingApproval, ObservedGeneration: 1}}
	return obj
}

// deps serves a fake cluster where only members of approvers may approve.
func deps(t *testing.T, objs ...client.Object) (*Deps, client.Client) {
	c := fake.NewClientBuilder().WithScheme(scheme(t)).WithObjects(objs...).WithStatusSubresource(&v1alpha1.InfraApproval{}).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if sar, ok := obj.(*authorizationv1.SubjectAccessReview); ok {
				a := sar.Spec.ResourceAttributes
				sar.Status.Allowed = a.Verb == ApproveVerb && (a.Resource == "infraapprovals" || a.Resource == "infradrifts") && strings.Contains(strings.Join(sar.Spec.Groups, ","), "approvers")
				return nil
			}
			return c.Create(ctx, obj, opts...)
		}}).Build()
	return &Deps{Reader: c, Client: c, WorkflowEngines: []string{"system:serviceaccount:vela-system:kubevela-vela-core"},
		Approvals: &controller.Approvals{Client: c, PlanNamespace: "vela-system", Recorder: record.NewFakeRecorder(10)}}, c
}

func planSecret() *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "vela-system", Name: "tfplan-default.shop-bucket"}, Data: map[string][]byte{"planID": []byte("p1")}}
}

// appWith is an Application shop with an infra-approve step "approve" for
// component bucket, in phase.
func appWith(phase string, terminated bool) []byte {
	app := map[string]any{
		"metadata": map[string]any{"name": "shop", "namespace": "default"},
		"spec": map[string]any{"workflow": map[string]any{"steps": []any{
			map[string]any{"name": "approve", "type": "infra-approve", "properties": map[string]any{"component": "bucket"}}}}},
		"status": map[string]any{"workflow": map[string]any{"suspend": phase == "suspending", "terminated": terminated,
			"steps": []any{map[string]any{"id": "s1", "name": "approve", "type": "infra-approve", "phase": phase}}}},
	}
	raw, _ := json.Marshal(app)
	return raw
}

func statusUpdate(user authenticationv1.UserInfo, old, new []byte) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Update, SubResource: "status", Namespace: "default", Name: "shop", UserInfo: user,
		OldObject: runtime.RawExtension{Raw: old}, Object: runtime.RawExtension{Raw: new},
	}}
}

var (
	alice = authenticationv1.UserInfo{Username: "alice", Groups: []string{"approvers", "system:authenticated"}}
	bob   = authenticationv1.UserInfo{Username: "bob", Groups: []string{"developers", "system:authenticated"}}
)

// TestResume: bob's resume is denied naming the verb, nothing recorded;
// alice's is allowed and recorded for plan p1 of request r1.
func TestResume(t *testing.T) {
	ctx := context.Background()
	d, c := deps(t, awaitingApproval(), planSecret())
	h := &ApplicationStatus{d}
	resp := h.Handle(ctx, statusUpdate(bob, appWith("suspending", false), appWith("running", false)))
	if resp.Allowed || !strings.Contains(resp.Result.Message, `user "bob" may not approve InfraApproval default/shop-bucket: approving needs the verb "approve"`) {
		t.Fatalf("bob's resume: %+v", resp.Result)
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKeyFromObject(planSecret()), &s); err != nil || len(s.Data["approver"]) != 0 {
		t.Fatalf("a denied resume recorded an approver: %v %s", err, s.Data["approver"])
	}
	if resp := h.Handle(ctx, statusUpdate(alice, appWith("suspending", false), appWith("running", false))); !resp.Allowed {
		t.Fatalf("alice's resume denied: %+v", resp.Result)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(planSecret()), &s); err != nil {
		t.Fatal(err)
	}
	var rec controller.ApprovalRecord
	if err := json.Unmarshal(s.Data["approver"], &rec); err != nil || rec.Approver.Username != "alice" || rec.PlanID != "p1" || rec.Request != "r1" ||
		rec.Approver.Via != "vela workflow resume of application default/shop" {
		t.Fatalf("record %+v (%v)", rec, err)
	}
	// Unrelated status updates (still suspended) are let through unchecked.
	if resp := h.Handle(ctx, statusUpdate(bob, appWith("suspending", false), appWith("suspending", false))); !resp.Allowed {
		t.Fatalf("an unrelated update was denied: %+v", resp.Result)
	}
}

// TestTerminateRejects: terminate marks the approval Rejected and deletes
// its saved plan; a direct approval afterwards is refused saying why.
func TestTerminateRejects(t *testing.T) {
	ctx := context.Background()
	d, c := deps(t, awaitingApproval(), planSecret())
	if resp := (&ApplicationStatus{d}).Handle(ctx, statusUpdate(bob, appWith("suspending", false), appWith("failed", true))); !resp.Allowed {
		t.Fatalf("terminate denied: %+v", resp.Result)
	}
	var obj v1alpha1.InfraApproval
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "shop-bucket"}, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Status.Rejected == nil || obj.Status.Rejected.By.Username != "bob" || obj.Status.Rejected.Request != "r1" {
		t.Fatalf("not rejected: %+v", obj.Status.Rejected)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(planSecret()), &corev1.Secret{}); err == nil {
		t.Fatal("the rejected plan's Secret is still there")
	}
	resp := (&InfraApprovals{d}).Handle(ctx, approvalWrite(alice, &obj, "p1", "r1"))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "plan p1 was rejected by bob") {
		t.Fatalf("an approval of a rejected run: %+v", resp.Result)
	}
}

func approvalWrite(user authenticationv1.UserInfo, old *v1alpha1.InfraApproval, planID, request string) admission.Request {
	obj := old.DeepCopy()
	obj.Spec.Approval = &v1alpha1.Approval{PlanID: planID, Request: request, By: "someone-with-kubectl"}
	oldRaw, _ := json.Marshal(old)
	newRaw, _ := json.Marshal(obj)
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Update, Namespace: old.Namespace, Name: old.Name, UserInfo: user,
		OldObject: runtime.RawExtension{Raw: oldRaw}, Object: runtime.RawExtension{Raw: newRaw},
	}}
}

// TestDirectApproval: a person needs the verb approve; a plan id never
// shown is refused as such; the workflow engine passes (its approval is
// applied only with the person recorded at the resume); an anonymous
// request is refused.
func TestDirectApproval(t *testing.T) {
	ctx := context.Background()
	d, c := deps(t, awaitingApproval(), planSecret())
	h := &InfraApprovals{d}
	old := awaitingApproval()
	for name, tc := range map[string]struct {
		user    authenticationv1.UserInfo
		planID  string
		allowed bool
		message string
	}{
		"without approve": {user: bob, planID: "p1", message: `user "bob" may not approve InfraApproval default/shop-bucket`},
		"never shown":     {user: alice, planID: "deadbeef", message: "spec.approval.planID: plan id deadbeef was never shown (the plan shown is p1)"},
		"anonymous":       {user: authenticationv1.UserInfo{Username: "system:anonymous", Groups: []string{"system:unauthenticated"}}, planID: "p1", message: "needs a person the API server authenticated"},
		"workflow engine": {user: authenticationv1.UserInfo{Username: "system:serviceaccount:vela-system:kubevela-vela-core"}, planID: "p1", allowed: true},
		"approver":        {user: alice, planID: "p1", allowed: true},
	} {
		t.Run(name, func(t *testing.T) {
			resp := h.Handle(ctx, approvalWrite(tc.user, old, tc.planID, "r1"))
			if resp.Allowed != tc.allowed || (tc.message != "" && !strings.Contains(resp.Result.Message, tc.message)) {
				t.Fatalf("allowed %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
		})
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKeyFromObject(planSecret()), &s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s.Data["approver"]), `"username":"alice"`) {
		t.Fatalf("alice's direct approval not recorded: %s", s.Data["approver"])
	}
}
