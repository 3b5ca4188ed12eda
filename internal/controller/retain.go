package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"
	tfcfg "github.com/oam-dev/terraform-controller/controllers/configuration"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// terraform-controller destroys a Configuration's cloud resources when the
// Configuration is deleted, unless its spec.deleteResource is false; the
// components leave that field to the CRD's default (true) unless the
// application sets their deleteResource property. Deleting an application
// then destroys what it adopted with infra-import (which existed before it,
// and may be used elsewhere) and what other applications still use. The
// retain reconciler keeps both out of that destroy: it sets deleteResource
// false on a Configuration that
//   - holds resources adopted by infra-import (recorded on it, in the
//     annotation infra.vela-infra.io/adopted, once an InfraImport of it has
//     imported them: the record outlives the InfraImport), or
//   - has an output "id" (of its own resource) that another Configuration,
//     in any namespace, holds in its variables or HCL: shared
//     infrastructure, retained while it has consumers,
//
// says why in the annotation infra.vela-infra.io/retained and an Event, and
// sets deleteResource back to true once neither holds. An application that
// sets deleteResource itself (the components then set the annotation
// infra.vela-infra.io/delete-resource) is never overridden. Only
// Configurations of the namespaces the step-runner serves are changed.
const (
	annotationAdopted        = "infra.vela-infra.io/adopted"
	annotationRetained       = "infra.vela-infra.io/retained"
	annotationDeleteResource = "infra.vela-infra.io/delete-resource"

	reasonRetained    = "Retained"
	reasonNotRetained = "NoLongerRetained"
)

// RetainReconciler keeps adopted and shared infrastructure from being
// destroyed with a Configuration.
type RetainReconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	// Namespaces it may change Configurations in (empty: every one).
	Namespaces []string
}

// SetupWithManager watches Configurations (a change of one can make another
// shared or no longer shared) and InfraImports (an import adopts).
func (r *RetainReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("retain").
		For(&tfv1beta2.Configuration{}).
		Watches(&tfv1beta2.Configuration{}, handler.EnqueueRequestsFromMapFunc(r.usedBy)).
		Watches(&v1alpha1.InfraImport{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			imp, ok := o.(*v1alpha1.InfraImport)
			if !ok || imp.Spec.Target.ConfigurationName == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: imp.Namespace, Name: imp.Spec.Target.ConfigurationName}}}
		})).
		Complete(r)
}

// usedBy maps a Configuration to those whose output ids it holds: whether
// they are shared may have changed with it.
func (r *RetainReconciler) usedBy(ctx context.Context, o client.Object) []reconcile.Request {
	c, ok := o.(*tfv1beta2.Configuration)
	if !ok {
		return nil
	}
	var all tfv1beta2.ConfigurationList
	if err := r.Client.List(ctx, &all); err != nil {
		log.FromContext(ctx).Error(err, "list Configurations")
		return nil
	}
	var reqs []reconcile.Request
	for i := range all.Items {
		owner := &all.Items[i]
		if owner.Namespace == c.Namespace && owner.Name == c.Name {
			continue
		}
		if len(uses(c, outputIDs(owner))) > 0 {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(owner)})
		}
	}
	return reqs
}

// Reconcile sets the Configuration's deleteResource from whether it holds
// adopted or shared infrastructure.
func (r *RetainReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if !r.serves(req.Namespace) {
		return ctrl.Result{}, nil
	}
	var cfg tfv1beta2.Configuration
	if err := r.Client.Get(ctx, req.NamespacedName, &cfg); err != nil || cfg.DeletionTimestamp != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if _, explicit := cfg.Annotations[annotationDeleteResource]; explicit {
		return ctrl.Result{}, nil
	}
	adopted, err := r.adopted(ctx, &cfg)
	if err != nil {
		return ctrl.Result{}, err
	}
	consumers, err := r.consumers(ctx, &cfg)
	if err != nil {
		return ctrl.Result{}, err
	}
	var why []string
	if adopted != "" {
		why = append(why, "it holds resources adopted by infra-import ("+adopted+")")
	}
	if len(consumers) > 0 {
		why = append(why, "other Configurations use its resources: "+strings.Join(consumers, ", "))
	}
	retained := strings.Join(why, "; and ")

	patched := cfg.DeepCopy()
	setAnnotation(patched, annotationAdopted, adopted)
	setAnnotation(patched, annotationRetained, retained)
	switch {
	case retained != "":
		patched.Spec.DeleteResource = ptrTo(false)
	case cfg.Annotations[annotationRetained] != "":
		patched.Spec.DeleteResource = ptrTo(true) // retained by this reconciler until now
	}
	if maps.Equal(cfg.Annotations, patched.Annotations) && equalBool(cfg.Spec.DeleteResource, patched.Spec.DeleteResource) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Patch(ctx, patched, client.MergeFrom(&cfg)); err != nil {
		return ctrl.Result{}, fmt.Errorf("set deleteResource of Configuration %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	if retained != "" && retained != cfg.Annotations[annotationRetained] {
		r.Recorder.Eventf(patched, corev1.EventTypeNormal, reasonRetained,
			"Configuration %s/%s is kept in the cloud when it is deleted (deleteResource false): %s", cfg.Namespace, cfg.Name, retained)
	} else if retained == "" {
		r.Recorder.Eventf(patched, corev1.EventTypeNormal, reasonNotRetained,
			"Configuration %s/%s is no longer adopted or used by others: deleting it destroys its cloud resources again (deleteResource true)", cfg.Namespace, cfg.Name)
	}
	return ctrl.Result{}, nil
}

func (r *RetainReconciler) serves(ns string) bool {
	return len(r.Namespaces) == 0 || slices.Contains(r.Namespaces, ns)
}

// adopted is the adoption record of cfg: its annotation, else the
// resources an InfraImport of it imported ("address=id, ...").
func (r *RetainReconciler) adopted(ctx context.Context, cfg *tfv1beta2.Configuration) (string, error) {
	if a := cfg.Annotations[annotationAdopted]; a != "" {
		return a, nil
	}
	var imports v1alpha1.InfraImportList
	if err := r.Client.List(ctx, &imports, client.InNamespace(cfg.Namespace)); err != nil {
		return "", fmt.Errorf("list the InfraImports of %s: %w", cfg.Namespace, err)
	}
	set := map[string]bool{}
	for _, imp := range imports.Items {
		if imp.Spec.Target.ConfigurationName != cfg.Name {
			continue
		}
		done := map[string]bool{}
		for _, a := range append(append([]string{}, imp.Status.Imported...), imp.Status.Skipped...) {
			done[a] = true
		}
		for _, res := range imp.Spec.Resources {
			if done[res.Address] {
				set[res.Address+"="+res.ID] = true
			}
		}
	}
	return strings.Join(slices.Sorted(maps.Keys(set)), ", "), nil
}

// consumers names the other Configurations that hold an output id of cfg.
func (r *RetainReconciler) consumers(ctx context.Context, cfg *tfv1beta2.Configuration) ([]string, error) {
	ids := outputIDs(cfg)
	if len(ids) == 0 {
		return nil, nil
	}
	var all tfv1beta2.ConfigurationList
	if err := r.Client.List(ctx, &all); err != nil {
		return nil, fmt.Errorf("list Configurations: %w", err)
	}
	var names []string
	for i := range all.Items {
		c := &all.Items[i]
		if c.Namespace == cfg.Namespace && c.Name == cfg.Name || c.DeletionTimestamp != nil {
			continue
		}
		if len(uses(c, ids)) > 0 {
			names = append(names, consumerName(v1alpha1.Consumer{Namespace: c.Namespace, Configuration: c.Name,
				Application: c.Labels["app.oam.dev/name"], Component: c.Labels["app.oam.dev/component"]}))
		}
	}
	sort.Strings(names)
	return names, nil
}

// outputIDs are the ids of cfg's own resources: its output "id" (each
// component's module outputs the id of its resource so), unless cfg holds
// that id itself, as a reference component does (it reads, not owns). A
// "vpc_id" output is a reference to another Configuration's VPC, not one.
func outputIDs(cfg *tfv1beta2.Configuration) []string {
	out, ok := cfg.Status.Apply.Outputs["id"]
	if !ok || out.Value == "" || len(uses(cfg, []string{out.Value})) > 0 {
		return nil
	}
	return []string{out.Value}
}

// uses returns the ids of ids that c holds in its variables or HCL.
func uses(c *tfv1beta2.Configuration, ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	vars, _ := tfcfg.RawExtension2Map(c.Spec.Variable)
	var used []string
	for _, id := range ids {
		if len(referencesTo(vars, "", id)) > 0 || strings.Contains(c.Spec.HCL, `"`+id+`"`) {
			used = append(used, id)
		}
	}
	return used
}

func setAnnotation(o client.Object, key, value string) {
	a := o.GetAnnotations()
	if value == "" {
		delete(a, key)
		o.SetAnnotations(a)
		return
	}
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	o.SetAnnotations(a)
}

func equalBool(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func ptrTo[T any](v T) *T { return &v }
