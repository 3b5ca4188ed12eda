package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	kvv1alpha1 "github.com/oam-dev/kubevela/apis/core.oam.dev/v1alpha1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Deleting the owner of shared infrastructure while consumers remain would
// leave them using a resource nobody manages (the retain reconciler keeps
// it in the cloud, deleteResource false) or, with deleteResource true, one
// that is destroyed. Deletions refuses such a delete, naming each consumer
// and what to do, before anything is deleted:
//
//   - DELETE of an Application (`vela delete`, kubectl): refused when a
//     Configuration it owns (labels app.oam.dev/name and namespace) has
//     consumers outside the application. Passed: the override annotation,
//     `vela delete --orphan` (its finalizer: vela-core keeps the
//     Configurations, terraform-controller still manages them), a component
//     whose deleteResource the application set itself, one a
//     garbage-collect policy keeps (strategy never).
//   - DELETE of a Configuration by a person or a client other than the
//     workflow engine (`kubectl delete configuration`): refused the same
//     way. vela-core's own deletes pass: they follow an Application delete
//     judged above, or a component removed from the spec, which vela-core's
//     garbage collection would otherwise retry forever behind an update
//     that was already accepted (the retain reconciler keeps the resource
//     in the cloud then).
//
// Deletes by the cluster's own controllers (kube-system ServiceAccounts:
// namespace deletion, garbage collection) pass, so deleting a namespace is
// never wedged. Only the namespaces the step-runner serves are judged.

// AnnotationDeleteWithConsumers, "true" on an Application or a
// Configuration, lets it be deleted although other applications use what
// it owns: their resources stay in the cloud (deleteResource false), no
// longer managed.
const AnnotationDeleteWithConsumers = "infra.vela-infra.io/delete-with-consumers"

// Labels vela-core puts on what it renders (KubeVela's pkg/oam).
const (
	labelAppName      = "app.oam.dev/name"
	labelAppNamespace = "app.oam.dev/namespace"
	// finalizerOrphan is what `vela delete --orphan` adds: vela-core then
	// deletes none of the application's resources.
	finalizerOrphan = "app.oam.dev/orphan-resource"
)

// maxConsumersNamed caps the consumers a refusal names.
const maxConsumersNamed = 10

// Deletions refuses deleting an Application or Configuration whose cloud
// resources other applications use.
type Deletions struct {
	// Reader lists Configurations live.
	Reader client.Reader
	// Namespaces are the namespaces the step-runner serves (empty: every
	// one); deletes elsewhere pass.
	Namespaces []string
	// WorkflowEngines are the usernames of the workflow engine (vela-core),
	// whose Configuration deletes pass.
	WorkflowEngines []string
}

// deletedApp is the part of an Application the check reads.
type deletedApp struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Policies []struct {
			Type       string               `json:"type"`
			Properties runtime.RawExtension `json:"properties"`
		} `json:"policies"`
	} `json:"spec"`
}

// Handle implements admission.Handler.
func (d *Deletions) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Delete {
		return admission.Allowed("only deletes are checked")
	}
	if len(d.Namespaces) > 0 && !slices.Contains(d.Namespaces, req.Namespace) {
		return admission.Allowed("namespace " + req.Namespace + " is not served by the step-runner")
	}
	if clusterController(req.UserInfo.Username) {
		return admission.Allowed("a cluster controller's delete")
	}
	if len(req.OldObject.Raw) == 0 {
		return admission.Allowed("no object to check")
	}
	switch {
	case req.Kind.Group == "core.oam.dev" && req.Kind.Kind == "Application":
		return d.application(ctx, req)
	case req.Kind.Group == tfv1beta2.GroupVersion.Group && req.Kind.Kind == "Configuration":
		return d.configuration(ctx, req)
	}
	return admission.Allowed("not an Application or Configuration")
}

// clusterController: the API server's controllers (namespace deletion,
// garbage collection), whose deletes must not wedge.
func clusterController(username string) bool {
	return strings.HasPrefix(username, "system:serviceaccount:kube-system:") || username == "system:kube-controller-manager"
}

func (d *Deletions) application(ctx context.Context, req admission.Request) admission.Response {
	var app deletedApp
	if err := json.Unmarshal(req.OldObject.Raw, &app); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode Application %s/%s: %w", req.Namespace, req.Name, err))
	}
	if app.DeletionTimestamp != nil {
		return admission.Allowed("already being deleted")
	}
	if app.Annotations[AnnotationDeleteWithConsumers] == "true" {
		return admission.Allowed("deleted with " + AnnotationDeleteWithConsumers)
	}
	if slices.Contains(app.Finalizers, finalizerOrphan) {
		return admission.Allowed("vela delete --orphan: its resources are kept")
	}
	gc, err := app.garbageCollect()
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("application %s/%s: %w", req.Namespace, req.Name, err))
	}
	all, err := d.configurations(ctx)
	if err != nil {
		return unchecked(err)
	}
	byKey := map[types.NamespacedName]*tfv1beta2.Configuration{}
	for i := range all {
		byKey[client.ObjectKeyFromObject(&all[i])] = &all[i]
	}
	mine := func(c *tfv1beta2.Configuration) bool {
		if c == nil || c.Labels[labelAppName] != app.Name {
			return false
		}
		if ns, ok := c.Labels[labelAppNamespace]; ok {
			return ns == app.Namespace
		}
		return c.Namespace == app.Namespace
	}
	var used []usedConfiguration
	for i := range all {
		c := &all[i]
		if !mine(c) || c.DeletionTimestamp != nil || explicit(c) || kept(gc, c) {
			continue
		}
		var others []v1alpha1.Consumer
		for _, u := range controller.ConsumersOf(c, all) {
			if !mine(byKey[types.NamespacedName{Namespace: u.Namespace, Name: u.Configuration}]) {
				others = append(others, u)
			}
		}
		if len(others) > 0 {
			used = append(used, usedConfiguration{c, others})
		}
	}
	if len(used) == 0 {
		return admission.Allowed("")
	}
	log.FromContext(ctx).Info("refused deleting an application whose resources others use", "application", req.Namespace+"/"+req.Name, "user", req.UserInfo.Username)
	return admission.Denied(fmt.Sprintf("application %s/%s is not deleted: %s; nothing was deleted. "+
		"Delete those applications or point them at another resource first; or keep its Configurations (still managed by terraform-controller) with `vela delete %s -n %s --orphan`; "+
		"or delete it anyway with `kubectl annotate application %s -n %s %s=true` (the shared resources then stay in the cloud, unmanaged), "+
		"or by setting the component's deleteResource property (true destroys them)",
		req.Namespace, req.Name, describe(used), req.Name, req.Namespace, req.Name, req.Namespace, AnnotationDeleteWithConsumers))
}

func (d *Deletions) configuration(ctx context.Context, req admission.Request) admission.Response {
	if slices.Contains(d.WorkflowEngines, req.UserInfo.Username) {
		return admission.Allowed("the workflow engine's garbage collection")
	}
	var cfg tfv1beta2.Configuration
	if err := json.Unmarshal(req.OldObject.Raw, &cfg); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode Configuration %s/%s: %w", req.Namespace, req.Name, err))
	}
	if cfg.DeletionTimestamp != nil || cfg.Annotations[AnnotationDeleteWithConsumers] == "true" || explicit(&cfg) {
		return admission.Allowed("")
	}
	all, err := d.configurations(ctx)
	if err != nil {
		return unchecked(err)
	}
	consumers := controller.ConsumersOf(&cfg, all)
	if len(consumers) == 0 {
		return admission.Allowed("")
	}
	log.FromContext(ctx).Info("refused deleting a Configuration whose resources others use", "configuration", req.Namespace+"/"+req.Name, "user", req.UserInfo.Username)
	owner := ""
	if a := cfg.Labels[labelAppName]; a != "" {
		owner = fmt.Sprintf(" (application %s renders it: deleting the application is checked the same way)", a)
	}
	return admission.Denied(fmt.Sprintf("Configuration %s/%s is not deleted: %s; nothing was deleted. "+
		"Delete those applications or point them at another resource first; or delete it anyway with `kubectl annotate configuration %s -n %s %s=true` "+
		"(the shared resources then stay in the cloud, unmanaged)%s",
		req.Namespace, req.Name, describe([]usedConfiguration{{&cfg, consumers}}), req.Name, req.Namespace, AnnotationDeleteWithConsumers, owner))
}

// unchecked lets a delete through that could not be checked, with a
// warning, as the webhook's failurePolicy Ignore does when the step-runner
// is down: retain keeps shared resources in the cloud anyway.
func unchecked(err error) admission.Response {
	return admission.Allowed("").WithWarnings(fmt.Sprintf("vela-infra could not check whether other applications use what this deletes (%v); "+
		"shared cloud resources are kept in the cloud (deleteResource false) but no longer managed", err))
}

// configurations lists every Configuration: consumers may be in any
// namespace.
func (d *Deletions) configurations(ctx context.Context) ([]tfv1beta2.Configuration, error) {
	var list tfv1beta2.ConfigurationList
	if err := d.Reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list Configurations to find the consumers: %w", err)
	}
	return list.Items, nil
}

// usedConfiguration is a Configuration and the consumers of its resources.
type usedConfiguration struct {
	cfg       *tfv1beta2.Configuration
	consumers []v1alpha1.Consumer
}

// describe names what is used and by whom: "Configuration default/cache
// (component cache) is used by team-a/checkout (component checkout-cache):
// redis-1a2b3c4d in variable id".
func describe(used []usedConfiguration) string {
	parts := make([]string, 0, len(used))
	named := 0
	for _, u := range used {
		what := "Configuration " + u.cfg.Namespace + "/" + u.cfg.Name
		if comp := u.cfg.Labels["app.oam.dev/component"]; comp != "" {
			what += " (component " + comp + ")"
		}
		var by []string
		for i, c := range u.consumers {
			if named == maxConsumersNamed {
				by = append(by, fmt.Sprintf("and %d more", len(u.consumers)-i))
				break
			}
			named++
			by = append(by, controller.ConsumerName(c)+": "+strings.Join(c.Impacts, ", "))
		}
		parts = append(parts, what+" is used by "+strings.Join(by, "; "))
	}
	return strings.Join(parts, "; ")
}

// explicit: the application set the component's deleteResource itself and
// so decided what its deletion does.
func explicit(c *tfv1beta2.Configuration) bool {
	_, ok := c.Annotations[controller.AnnotationDeleteResource]
	return ok
}

// garbageCollect is the application's garbage-collect policy, if any.
func (a *deletedApp) garbageCollect() (*kvv1alpha1.GarbageCollectPolicySpec, error) {
	for _, p := range a.Spec.Policies {
		if p.Type != kvv1alpha1.GarbageCollectPolicyType || len(p.Properties.Raw) == 0 {
			continue
		}
		var spec kvv1alpha1.GarbageCollectPolicySpec
		if err := json.Unmarshal(p.Properties.Raw, &spec); err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Type, err)
		}
		return &spec, nil
	}
	return nil, nil
}

// kept: the garbage-collect policy keeps c when its application is
// deleted (strategy never), as vela-core matches its rules.
func kept(gc *kvv1alpha1.GarbageCollectPolicySpec, c *tfv1beta2.Configuration) bool {
	if gc == nil {
		return false
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(tfv1beta2.GroupVersion.WithKind("Configuration"))
	u.SetNamespace(c.Namespace)
	u.SetName(c.Name)
	u.SetLabels(c.Labels)
	s := gc.FindStrategy(u)
	return s != nil && *s == kvv1alpha1.GarbageCollectStrategyNever
}
