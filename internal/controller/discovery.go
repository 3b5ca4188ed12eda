package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/discovery"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// DiscoveryReconciler carries out InfraDiscovery objects: it lists the
// cloud through the provider's list data source (internal/discovery) with
// a Provider's credentials, refuses what another application already
// manages, and writes the Application that adopts the rest into a
// ConfigMap. It changes nothing in the cloud and keeps no state.
type DiscoveryReconciler struct {
	*Runtime
	MaxConcurrent int
}

// SetupWithManager registers the reconciler.
func (r *DiscoveryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.register(mgr, &v1alpha1.InfraDiscovery{}, r.MaxConcurrent, r)
}

// defaultProvider is the Provider the terraform-mycloud addon installs,
// which the mycloud-* components use unless told otherwise.
var defaultProvider = v1alpha1.ProviderRef{Namespace: "default", Name: "mycloud"}

// applicationKey is the generated Application's key in its ConfigMap.
const applicationKey = "application.yaml"

// Reconcile discovers what the selector matches.
func (r *DiscoveryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &v1alpha1.InfraDiscovery{}
	return r.reconcileStep(ctx, req.NamespacedName, obj, step{
		due:      whenNotDone(obj),
		validate: func() error { return validateDiscovery(obj) },
		open:     func(ctx context.Context, p *pass) (outcome, error) { return r.openDiscovery(ctx, obj, p) },
		run:      func(ctx context.Context, p *pass) (outcome, error) { return r.discover(ctx, obj, p) },
	})
}

func selectorOf(obj *v1alpha1.InfraDiscovery) discovery.Selector {
	s := obj.Spec.Selector
	return discovery.Selector{Tags: s.Tags, NamePrefix: s.NamePrefix, Types: s.Types}
}

// applicationName is the Application to write.
func applicationName(obj *v1alpha1.InfraDiscovery) string {
	if obj.Spec.Application != "" {
		return obj.Spec.Application
	}
	return obj.Name
}

func validateDiscovery(obj *v1alpha1.InfraDiscovery) error {
	name := fmt.Sprintf("InfraDiscovery %s/%s", obj.Namespace, obj.Name)
	if err := selectorOf(obj).Validate(); err != nil {
		return invalidSpec("%s: %v", name, err)
	}
	if app := obj.Spec.Application; app != "" {
		if errs := validation.IsDNS1123Label(app); len(errs) > 0 {
			return invalidSpec("%s: spec.application %q is not an Application name: %s", name, app, errs[0])
		}
	} else if errs := validation.IsDNS1123Label(obj.Name); len(errs) > 0 {
		return invalidSpec("%s: the Application is named after this object, and %q is not an Application name (%s): set spec.application", name, obj.Name, errs[0])
	}
	return nil
}

// openDiscovery opens a workspace of its own for the discovery module,
// with the Provider's credentials; its state is local and holds only what
// the data sources read.
func (r *DiscoveryReconciler) openDiscovery(ctx context.Context, obj *v1alpha1.InfraDiscovery, p *pass) (outcome, error) {
	ref, field := defaultProvider, "spec.providerRef (default/mycloud when not set)"
	if obj.Spec.ProviderRef != nil {
		ref, field = *obj.Spec.ProviderRef, "spec.providerRef"
	}
	env, secrets, err := r.Resolver.ProviderEnvironment(ctx, obj.Namespace, ref, field)
	if err != nil {
		return p.fail("reading the Provider", err)
	}
	p.prog.start(ctx, r.Client, obj, fmt.Sprintf("listing the cloud's resources (%s) with Provider %s/%s", selectorOf(obj), ref.Namespace, ref.Name), r.progressAfter())
	// "_" starts no namespace, so this key is no Configuration's.
	return r.openWorkspace(ctx, p, terraform.Target{
		Key: "_discovery/" + obj.Namespace + "/" + obj.Name, HCL: discovery.Module(selectorOf(obj)), Env: env, Secrets: secrets,
	})
}

// discover plans the discovery module, refuses what others manage and
// writes the Application.
func (r *DiscoveryReconciler) discover(ctx context.Context, obj *v1alpha1.InfraDiscovery, p *pass) (outcome, error) {
	sel := selectorOf(obj)
	res, err := p.ws.Plan(ctx, terraform.PlanOptions{})
	if err != nil {
		return p.fail("listing the cloud", err)
	}
	outputs := map[string]any{}
	if res.Plan != nil && res.Plan.PlannedValues != nil {
		for name, o := range res.Plan.PlannedValues.Outputs {
			outputs[name] = o.Value
		}
	}
	found, err := discovery.Parse(sel, outputs)
	if err != nil {
		return p.fail("reading what was found", fmt.Errorf("%s: %w", p.name(), err))
	}
	app := applicationName(obj)
	owners, taken, err := r.owners(ctx, obj.Namespace, app)
	if err != nil {
		return outcome{}, err
	}
	adopted := discovery.Plan(found, taken)
	st := &obj.Status
	st.Found, st.Managed, st.Resources = len(adopted), 0, nil
	var elsewhere []string
	for _, a := range adopted {
		dr := v1alpha1.DiscoveredResource{Type: a.Type, ID: a.ID, Name: a.Name, Component: a.Component, DependsOn: a.DependsOn}
		if c, ok := owners[a.ID]; ok {
			dr.ManagedBy = consumerName(c)
			if c.Namespace == obj.Namespace && c.Application == app {
				st.Managed++
			} else {
				elsewhere = append(elsewhere, fmt.Sprintf("%s %s (%s) is managed by %s", a.Type, a.ID, a.Name, dr.ManagedBy))
			}
		}
		st.Resources = append(st.Resources, dr)
	}
	log.FromContext(ctx).Info("discovered", "selector", sel.String(), "found", len(adopted), "managed", st.Managed, "elsewhere", len(elsewhere))
	switch {
	case len(adopted) == 0:
		st.ApplicationRef = nil
		return succeeded(v1alpha1.ReasonNothingFound, fmt.Sprintf(
			"%s found nothing matching %s: no Application written. Check the selector against the cloud's tags and names, and the Provider's credentials (a project-scoped key sees only its project)",
			p.name(), sel)), nil
	case len(elsewhere) > 0:
		st.ApplicationRef = nil
		return notReady(v1alpha1.ReasonManagedElsewhere, fmt.Sprintf(
			"%s refused: the selector (%s) matches %d resource(s) another application already manages: %s. Two owners would each change and destroy them; narrow the selector (tags, namePrefix, types), or use them without owning them with reference components (mycloud-*-ref)",
			p.name(), sel, len(elsewhere), strings.Join(elsewhere, "; "))), nil
	}
	header := []string{
		fmt.Sprintf("Written by InfraDiscovery %s/%s at %s from what the cloud has (%s).", obj.Namespace, obj.Name, time.Now().UTC().Format(time.RFC3339), sel),
		"Review it, then `vela up -f` it: step adopt imports every resource into its component's state",
		"(nothing is created, replaced or destroyed; a refusal leaves every state as it was), then each",
		"component is applied. Databases with keep_existing_password keep the password they have.",
	}
	yaml, err := discovery.Application(app, obj.Namespace, adopted, header)
	if err != nil {
		return p.fail("writing the Application", err)
	}
	cmName := obj.Name + "-application"
	if err := r.saveApplication(ctx, p, cmName, string(yaml)); err != nil {
		return outcome{}, err
	}
	st.ApplicationRef = &v1alpha1.OutputRef{ConfigMap: cmName, Key: applicationKey}
	r.Recorder.Eventf(obj, corev1.EventTypeNormal, v1alpha1.ReasonDiscovered, "found %d resources; Application %s in ConfigMap %s", len(adopted), app, cmName)
	return succeeded(v1alpha1.ReasonDiscovered, fmt.Sprintf(
		"found %s matching %s, %d of them already managed by application %s; review the Application that adopts them: kubectl -n %s get configmap %s -o jsonpath='{.data.application\\.yaml}'",
		countByType(adopted), sel, st.Managed, app, obj.Namespace, cmName)), nil
}

// countByType says "8 resources (1 vpc, 2 subnet, ...)".
func countByType(adopted []discovery.Adopted) string {
	n := map[string]int{}
	for _, a := range adopted {
		n[a.Type]++
	}
	var parts []string
	for _, t := range discovery.TypeNames() {
		if n[t] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[t], t))
		}
	}
	return fmt.Sprintf("%d resources (%s)", len(adopted), strings.Join(parts, ", "))
}

// owners maps every id a Configuration owns (its id output) to it, and
// names the Configurations that are not app's (of namespace): a component
// may not take such a name, since terraform-controller keys a
// Configuration's state by its name in a backend namespace all namespaces
// share (an import into it would be refused as StateShared), and in app's
// namespace the Configuration is another application's.
func (r *DiscoveryReconciler) owners(ctx context.Context, namespace, app string) (map[string]v1alpha1.Consumer, map[string]bool, error) {
	var all tfv1beta2.ConfigurationList
	if err := r.Client.List(ctx, &all); err != nil {
		return nil, nil, fmt.Errorf("list Configurations: %w", err)
	}
	taken := map[string]bool{}
	for _, c := range all.Items {
		if c.Namespace != namespace || c.Labels["app.oam.dev/name"] != app {
			taken[c.Name] = true
		}
	}
	sort.Slice(all.Items, func(i, j int) bool {
		return all.Items[i].Namespace+"/"+all.Items[i].Name < all.Items[j].Namespace+"/"+all.Items[j].Name
	})
	owners := map[string]v1alpha1.Consumer{}
	for i := range all.Items {
		c := &all.Items[i]
		for _, id := range outputIDs(c) {
			if _, seen := owners[id]; !seen {
				owners[id] = v1alpha1.Consumer{Namespace: c.Namespace, Configuration: c.Name,
					Application: c.Labels["app.oam.dev/name"], Component: c.Labels["app.oam.dev/component"]}
			}
		}
	}
	return owners, taken, nil
}

// saveApplication keeps the generated Application in a ConfigMap owned by
// the discovery.
func (r *DiscoveryReconciler) saveApplication(ctx context.Context, p *pass, name, yaml string) error {
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       p.obj.GetNamespace(),
			Name:            name,
			Labels:          map[string]string{"app.kubernetes.io/managed-by": "vela-infra-step-runner"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(p.obj, p.gvk)},
		},
		Data: map[string]string{applicationKey: yaml},
	}
	err := r.Client.Create(ctx, cm.DeepCopy(), client.FieldOwner(fieldOwner))
	if apierrors.IsAlreadyExists(err) {
		err = r.Client.Patch(ctx, cm, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership)
	}
	if err != nil {
		return fmt.Errorf("save the Application: %w", err)
	}
	return nil
}
