package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vela-infra/vela-infra/internal/controller"
)

// Separation of duty (the infra-approve parameter separateDuties): the
// person who made an application's current spec may not approve its plan.
// The API server tells who changes a spec only at that request, so the
// SpecAuthors webhook, sent only the spec changes of applications with such
// a step, records the author and a hash of the spec in a Secret of the plan
// namespace (where tenants cannot write). At `vela workflow resume` the
// ApplicationStatus webhook hashes the spec it sees: a record of another
// spec (a change the webhook did not see) is no record, and the resume is
// denied rather than let the author approve; an approval written directly
// on an InfraApproval is checked against the latest record.

// separateDutiesParam is the infra-approve parameter.
const separateDutiesParam = "separateDuties"

// authorKey is the key of the record in its Secret.
const authorKey = "author"

// SpecAuthor records who made an application's spec.
type SpecAuthor struct {
	Username string      `json:"username"`
	Groups   []string    `json:"groups,omitempty"`
	SpecHash string      `json:"specHash"`
	At       metav1.Time `json:"at"`
	// Approvals are the InfraApprovals (<app>-<component>) of its steps
	// with separateDuties.
	Approvals []string `json:"approvals"`
}

// authorSecret is where the record of the application ns/name is kept.
func (d *Deps) authorSecret(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: d.Approvals.PlanNamespace, Name: "spec-author." + ns + "." + name}
}

// specOf is the application's spec, raw, from an admission object.
func specOf(raw []byte) (json.RawMessage, error) {
	var obj struct {
		Spec json.RawMessage `json:"spec"`
	}
	err := json.Unmarshal(raw, &obj)
	return obj.Spec, err
}

// specHash is a hash of a spec that does not depend on its key order.
func specHash(spec json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(spec, &v); err != nil {
		return "", err
	}
	canonical, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:]), nil
}

// dutySeparated are the InfraApprovals (<app>-<component>) of the
// infra-approve steps of a with separateDuties true.
func (a *application) dutySeparated() []string {
	if a.Spec.Workflow == nil {
		return nil
	}
	var names []string
	for _, s := range a.Spec.Workflow.Steps {
		for _, step := range append([]workflowStep{s}, s.SubSteps...) {
			if step.Type == approveStepType && step.Properties[separateDutiesParam] == true {
				c, _ := step.Properties["component"].(string)
				names = append(names, a.Name+"-"+c)
			}
		}
	}
	return names
}

// stepSeparatesDuties says whether the step name has separateDuties true.
func (a *application) stepSeparatesDuties(name string) bool {
	if a.Spec.Workflow == nil {
		return false
	}
	for _, s := range a.Spec.Workflow.Steps {
		for _, step := range append([]workflowStep{s}, s.SubSteps...) {
			if step.Name == name {
				return step.Properties[separateDutiesParam] == true
			}
		}
	}
	return false
}

// SpecAuthors records who changes the spec of an application with
// separation of duty, and forgets it when the application turns it off.
type SpecAuthors struct{ *Deps }

// Handle implements admission.Handler. It never denies: a record it cannot
// write makes the next resume fail closed instead.
func (h *SpecAuthors) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.SubResource != "" || dryRun(req) {
		return admission.Allowed("")
	}
	var app application
	if err := json.Unmarshal(req.Object.Raw, &app); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	key := h.authorSecret(req.Namespace, req.Name)
	app.Name = req.Name
	approvals := app.dutySeparated()
	if len(approvals) == 0 {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		if err := h.Client.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
			log.FromContext(ctx).Error(err, "could not forget the spec author", "application", req.Namespace+"/"+req.Name)
		}
		return admission.Allowed("")
	}
	spec, err := specOf(req.Object.Raw)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	hash, err := specHash(spec)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	rec := SpecAuthor{Username: req.UserInfo.Username, Groups: req.UserInfo.Groups, SpecHash: hash, At: metav1.Now(), Approvals: approvals}
	if err := h.recordAuthor(ctx, key, req.Namespace, req.Name, rec); err != nil {
		log.FromContext(ctx).Error(err, "could not record the spec author: approving its plan with separateDuties is refused until the next spec change", "application", req.Namespace+"/"+req.Name)
		return admission.Allowed("").WithWarnings(fmt.Sprintf("vela-infra could not record you as the author of this spec (%v): a `vela workflow resume` with separateDuties will be refused until the next change", err))
	}
	return admission.Allowed("")
}

func (h *SpecAuthors) recordAuthor(ctx context.Context, key types.NamespacedName, ns, name string, rec SpecAuthor) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
		"infra.vela-infra.io/spec-author-of": truncate63(ns + "." + name),
	}}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{authorKey: data}}
	return controller.UpsertSecretData(ctx, h.Client, secret)
}

func truncate63(s string) string {
	if len(s) > 63 {
		return s[:63]
	}
	return s
}

// author reads the record of the application ns/name (nil when none).
func (d *Deps) author(ctx context.Context, ns, name string) (*SpecAuthor, error) {
	var secret corev1.Secret
	key := d.authorSecret(ns, name)
	if err := d.Reader.Get(ctx, key, &secret); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read the spec author record %s: %w", key, err)
	}
	var rec SpecAuthor
	if err := json.Unmarshal(secret.Data[authorKey], &rec); err != nil || rec.Username == "" {
		return nil, nil
	}
	return &rec, nil
}

// separateDuties denies who resuming step of the application (its status
// update) when they made its current spec, or when its author is not
// known; nil when they may approve.
func (d *Deps) separateDuties(ctx context.Context, req admission.Request, step string, who authenticationv1.UserInfo) (*admission.Response, error) {
	spec, err := specOf(req.OldObject.Raw)
	if err != nil {
		return nil, err
	}
	hash, err := specHash(spec)
	if err != nil {
		return nil, err
	}
	rec, err := d.author(ctx, req.Namespace, req.Name)
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("vela workflow resume %s: separation of duty (step %s, separateDuties): ", req.Name, step)
	switch {
	case rec == nil || rec.SpecHash != hash:
		r := admission.Denied(prefix + "who made the application's current spec was not recorded (the step-runner's webhook did not see that change), so nobody can be told apart from its author; nothing was applied and the workflow stays suspended. `vela up` the application again with a change to record its author, or ask the platform team")
		return &r, nil
	case rec.Username == who.Username:
		r := admission.Denied(prefix + fmt.Sprintf("user %q made the application's current spec (at %s) and may not also approve its plan; someone else with the verb approve must run `vela workflow resume %s`. Nothing was applied and the workflow stays suspended",
			who.Username, rec.At.UTC().Format("2006-01-02T15:04:05Z"), req.Name))
		return &r, nil
	}
	return nil, nil
}

// separateDutiesDirect denies who writing an approval on the InfraApproval
// key when they made the latest recorded spec of its application. The
// application is found from the InfraApproval's name (<app>-<component>,
// which no one can change), not from its labels.
func (d *Deps) separateDutiesDirect(ctx context.Context, key types.NamespacedName, who authenticationv1.UserInfo) (*admission.Response, error) {
	for i := range key.Name {
		if key.Name[i] != '-' {
			continue
		}
		app := key.Name[:i]
		rec, err := d.author(ctx, key.Namespace, app)
		if err != nil {
			return nil, err
		}
		if rec == nil || rec.Username != who.Username || !slices.Contains(rec.Approvals, key.Name) {
			continue
		}
		r := admission.Denied(fmt.Sprintf("InfraApproval %s: separation of duty (application %s, separateDuties): user %q made the application's current spec (at %s) and may not also approve its plan; nothing was applied",
			key, app, who.Username, rec.At.UTC().Format("2006-01-02T15:04:05Z")))
		return &r, nil
	}
	return nil, nil
}
