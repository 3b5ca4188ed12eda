// Package webhook serves the step-runner's admission webhooks, with a
// certificate it keeps itself (certs.go): who approves an InfraApproval is
// the person the API server authenticated, and only a person allowed the
// verb approve on infraapprovals may.
//
//   - ApplicationStatus, on applications/status: `vela workflow resume`
//     patches the Application's status with the user's credentials, so the
//     request's userInfo is the person resuming. A resume that releases a
//     suspended infra-approve step is checked with a SubjectAccessReview
//     (verb approve on that InfraApproval) and denied, naming the missing
//     permission, before anything runs; allowed, the person is recorded for
//     the plan shown (controller.Approvals). A terminate (or a restart)
//     rejects the plan awaiting approval: its saved plan is deleted.
//   - InfraApprovals, on infraapprovals: an approval written directly into
//     spec.approval passes the same check, and is refused for a plan id
//     never shown or a rejected run. The workflow engine's own writes (the
//     infra-approve step after a resume) pass: the reconciler applies them
//     only with the person recorded at the resume.
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// ApproveVerb is the permission to approve an InfraApproval, as Kubernetes
// has approve on certificatesigningrequests/approval.
const ApproveVerb = "approve"

// approveStepType is the workflow step that holds a plan for a person.
const approveStepType = "infra-approve"

// Deps are what the webhooks use.
type Deps struct {
	// Reader reads InfraApprovals live (a decision must not act on a stale
	// status).
	Reader client.Reader
	// Client creates SubjectAccessReviews.
	Client    client.Client
	Approvals *controller.Approvals
	// WorkflowEngines are the usernames of the workflow engine (vela-core's
	// ServiceAccount), whose approvals follow a checked resume.
	WorkflowEngines []string
}

// authorize denies who (nil: allowed) unless they are authenticated and
// allowed the verb approve on the InfraApproval key.
func (d *Deps) authorize(ctx context.Context, who authenticationv1.UserInfo, key types.NamespacedName) (*admission.Response, error) {
	return d.authorizeOn(ctx, who, "infraapprovals", "InfraApproval", key)
}

// authorizeOn denies who (nil: allowed) unless they are authenticated and
// allowed the verb approve on the object key of resource (kind).
func (d *Deps) authorizeOn(ctx context.Context, who authenticationv1.UserInfo, resource, kind string, key types.NamespacedName) (*admission.Response, error) {
	if who.Username == "" || who.Username == "system:anonymous" || slices.Contains(who.Groups, "system:unauthenticated") {
		r := admission.Denied(fmt.Sprintf("%s %s: an approval needs a person the API server authenticated, and this request is anonymous; nothing was applied", kind, key))
		return &r, nil
	}
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range who.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: who.Username, UID: who.UID, Groups: who.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: key.Namespace, Name: key.Name, Verb: ApproveVerb,
			Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: resource,
		},
	}}
	if err := d.Client.Create(ctx, sar); err != nil {
		return nil, fmt.Errorf("SubjectAccessReview of %s: %w", who.Username, err)
	}
	if sar.Status.Allowed {
		return nil, nil
	}
	r := admission.Denied(fmt.Sprintf("user %q may not approve %s %s: approving needs the verb %q on %s.%s in namespace %s "+
		"(a Role rule: apiGroups [%s], resources [%s], verbs [%s]); nothing was applied",
		who.Username, kind, key, ApproveVerb, resource, v1alpha1.GroupVersion.Group, key.Namespace, v1alpha1.GroupVersion.Group, resource, ApproveVerb))
	return &r, nil
}

// approverOf is who as recorded.
func approverOf(who authenticationv1.UserInfo, via string) v1alpha1.Approver {
	return v1alpha1.Approver{Username: who.Username, Groups: who.Groups, Via: via}
}

func dryRun(req admission.Request) bool { return req.DryRun != nil && *req.DryRun }

// ApplicationStatus checks and records `vela workflow resume` and
// `vela workflow terminate` of applications with infra-approve steps.
type ApplicationStatus struct{ *Deps }

// application is the part of a KubeVela Application the webhook reads.
type application struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Workflow *struct {
			Steps []workflowStep `json:"steps"`
		} `json:"workflow"`
	} `json:"spec"`
	Status struct {
		Workflow *struct {
			Suspend    bool         `json:"suspend"`
			Terminated bool         `json:"terminated"`
			Steps      []stepStatus `json:"steps"`
		} `json:"workflow"`
	} `json:"status"`
}

type workflowStep struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
	SubSteps   []workflowStep `json:"subSteps"`
}

type stepStatus struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Type     string       `json:"type"`
	Phase    string       `json:"phase"`
	SubSteps []stepStatus `json:"subSteps"`
}

// steps flattens the steps and their sub-steps.
func (a *application) steps() []stepStatus {
	if a.Status.Workflow == nil {
		return nil
	}
	var out []stepStatus
	for _, s := range a.Status.Workflow.Steps {
		out = append(out, s)
		out = append(out, s.SubSteps...)
	}
	return out
}

// component is the component parameter of the infra-approve step name.
func (a *application) component(name string) string {
	if a.Spec.Workflow == nil {
		return ""
	}
	var find func([]workflowStep) string
	find = func(steps []workflowStep) string {
		for _, s := range steps {
			if s.Name == name {
				c, _ := s.Properties["component"].(string)
				return c
			}
			if c := find(s.SubSteps); c != "" {
				return c
			}
		}
		return ""
	}
	return find(a.Spec.Workflow.Steps)
}

// decision is what a status update does to one suspended infra-approve
// step.
type decision int

const (
	keep decision = iota
	resumed
	terminated
	restarted
)

// Handle implements admission.Handler.
func (h *ApplicationStatus) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.SubResource != "status" || len(req.OldObject.Raw) == 0 {
		return admission.Allowed("")
	}
	var oldApp, newApp application
	if err := json.Unmarshal(req.OldObject.Raw, &oldApp); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if err := json.Unmarshal(req.Object.Raw, &newApp); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	newSteps := newApp.steps()
	type held struct {
		key  types.NamespacedName
		obj  *v1alpha1.InfraApproval
		d    decision
		step string
		// separate: the step has separateDuties (authors.go).
		separate bool
	}
	var decisions []held
	for _, s := range oldApp.steps() {
		if s.Type != approveStepType || s.Phase != "suspending" {
			continue
		}
		d := restarted // the step is gone: a restart, or a new revision
		if i := slices.IndexFunc(newSteps, func(n stepStatus) bool { return n.ID == s.ID }); i >= 0 {
			switch n := newSteps[i]; {
			case newApp.Status.Workflow.Terminated && !oldApp.Status.Workflow.Terminated:
				d = terminated
			case n.Phase == "suspending":
				d = keep
			case n.Phase == "failed":
				d = terminated
			default:
				d = resumed
			}
		}
		component := newApp.component(s.Name)
		if component == "" {
			component = oldApp.component(s.Name)
		}
		if d == keep || component == "" {
			continue
		}
		key := types.NamespacedName{Namespace: req.Namespace, Name: req.Name + "-" + component}
		obj, err := awaiting(ctx, h.Reader, key)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		if obj != nil {
			separate := newApp.stepSeparatesDuties(s.Name) || oldApp.stepSeparatesDuties(s.Name)
			decisions = append(decisions, held{key, obj, d, s.Name, separate})
		}
	}
	if len(decisions) == 0 {
		return admission.Allowed("")
	}
	app := req.Namespace + "/" + req.Name
	// Every resume is checked before anything is recorded: one denial
	// leaves the workflow suspended and every plan unapproved.
	for _, h2 := range decisions {
		if h2.d != resumed {
			continue
		}
		denied, err := h.authorize(ctx, req.UserInfo, h2.key)
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		if denied != nil {
			denied.Result.Message = "vela workflow resume " + req.Name + ": " + denied.Result.Message + " and the workflow stays suspended"
			return *denied
		}
		if !h2.separate {
			continue
		}
		if denied, err := h.separateDuties(ctx, req, h2.step, req.UserInfo); err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		} else if denied != nil {
			return *denied
		}
	}
	if dryRun(req) {
		return admission.Allowed("")
	}
	for _, h2 := range decisions {
		var err error
		switch h2.d {
		case resumed:
			rec := controller.ApprovalRecord{
				Approver: approverOf(req.UserInfo, "vela workflow resume of application "+app),
				PlanID:   h2.obj.Status.Plan.ID, Request: h2.obj.Spec.Request, At: metav1.Now(),
			}
			err = h.Approvals.RecordApprover(ctx, h2.obj, rec)
			if errors.Is(err, controller.ErrNoSavedPlan) {
				return admission.Denied(fmt.Sprintf("vela workflow resume %s: InfraApproval %s: %v (deleted, or the plan was rejected); nothing was applied: run `vela workflow restart %s` to plan anew", req.Name, h2.key, err, req.Name))
			}
		case terminated:
			err = h.Approvals.Reject(ctx, h2.key, approverOf(req.UserInfo, "vela workflow terminate of application "+app))
		case restarted:
			err = h.Approvals.Reject(ctx, h2.key, approverOf(req.UserInfo, "superseded: the workflow of application "+app+" was restarted"))
		}
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		log.FromContext(ctx).Info("approval decision", "infraApproval", h2.key, "user", req.UserInfo.Username, "decision", h2.d)
	}
	return admission.Allowed("")
}

// awaiting reads the InfraApproval key when it awaits approval of a shown
// plan (nil otherwise, or when it does not exist).
func awaiting(ctx context.Context, r client.Reader, key types.NamespacedName) (*v1alpha1.InfraApproval, error) {
	var obj v1alpha1.InfraApproval
	if err := r.Get(ctx, key, &obj); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read InfraApproval %s: %w", key, err)
	}
	ready := apimeta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Reason != v1alpha1.ReasonAwaitingApproval || obj.Status.Plan == nil ||
		obj.Status.ObservedGeneration != obj.Generation {
		return nil, nil
	}
	return &obj, nil
}

// InfraApprovals checks approvals written into an InfraApproval's spec.
type InfraApprovals struct{ *Deps }

// Handle implements admission.Handler.
func (h *InfraApprovals) Handle(ctx context.Context, req admission.Request) admission.Response {
	var obj, old v1alpha1.InfraApproval
	if err := decodeUpdate(req, &obj, &old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	a := obj.Spec.Approval
	if !approvalWritten(a, old.Spec.Approval) {
		return admission.Allowed("")
	}
	if slices.Contains(h.WorkflowEngines, req.UserInfo.Username) {
		return admission.Allowed("the workflow engine's approval is applied only with the person recorded at `vela workflow resume`")
	}
	key := types.NamespacedName{Namespace: req.Namespace, Name: req.Name}
	if denied, err := h.authorize(ctx, req.UserInfo, key); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	} else if denied != nil {
		return *denied
	}
	if denied, err := h.separateDutiesDirect(ctx, key, req.UserInfo); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	} else if denied != nil {
		return *denied
	}
	st := old.Status
	if rej := st.Rejected; rej != nil && rej.Request == obj.Spec.Request {
		return admission.Denied(fmt.Sprintf("InfraApproval %s: plan %s was rejected by %s at %s (%s): its saved plan was deleted and nothing can be approved for this run; `vela workflow restart` plans anew",
			key, rej.PlanID, rej.By.Username, rej.At.UTC().Format("2006-01-02T15:04:05Z"), rej.By.Via))
	}
	if a.Request != obj.Spec.Request {
		return admission.Denied(fmt.Sprintf("InfraApproval %s: spec.approval.request %q is not spec.request %q: an approval counts only for the run it was given for", key, a.Request, obj.Spec.Request))
	}
	if st.Plan == nil || (a.PlanID != st.Plan.ID && !slices.Contains(st.ShownPlanIDs, a.PlanID)) {
		shown := "no plan has been shown yet"
		if st.Plan != nil {
			shown = "the plan shown is " + st.Plan.ID
		}
		return admission.Denied(fmt.Sprintf("InfraApproval %s: spec.approval.planID: plan id %s was never shown (%s); nothing was applied", key, a.PlanID, shown))
	}
	if denial := controller.PolicyDenial(&old); denial != "" && a.PlanID == old.Status.Plan.ID {
		return admission.Denied(fmt.Sprintf("InfraApproval %s: plan %s cannot be approved: %s; nothing was applied", key, a.PlanID, denial))
	}
	if dryRun(req) {
		return admission.Allowed("")
	}
	rec := controller.ApprovalRecord{
		Approver: approverOf(req.UserInfo, "an approval written on InfraApproval "+key.String()),
		PlanID:   a.PlanID, Request: a.Request, At: metav1.Now(),
	}
	if err := h.Approvals.RecordApprover(ctx, &old, rec); errors.Is(err, controller.ErrNoSavedPlan) {
		return admission.Denied(fmt.Sprintf("InfraApproval %s: %v; nothing can be applied: `vela workflow restart` plans anew", key, err))
	} else if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.Allowed("")
}

// decodeUpdate decodes the object of req into obj and its old object, if
// any, into old.
func decodeUpdate(req admission.Request, obj, old any) error {
	if err := json.Unmarshal(req.Object.Raw, obj); err != nil {
		return err
	}
	if len(req.OldObject.Raw) > 0 {
		return json.Unmarshal(req.OldObject.Raw, old)
	}
	return nil
}

// approvalWritten says whether a request sets approval a, new or changed
// from before.
func approvalWritten(a, before *v1alpha1.Approval) bool {
	return a != nil && (before == nil || *before != *a)
}

// String names a decision in logs.
func (d decision) String() string {
	return [...]string{"keep", "approved", "rejected", "superseded"}[d]
}
