package controller

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/joblogs"
	"github.com/vela-infra/vela-infra/internal/statelock"
	"github.com/vela-infra/vela-infra/internal/target"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Scheme has every type the step-runner reads or writes.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, tfv1beta1.AddToScheme, tfv1beta2.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ClientOptions keeps Secrets and ConfigMaps out of the cache: the
// step-runner reads a few of them by name, and caching every one in the
// cluster would cost memory and RBAC.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}}}}
}

// CacheOptions caches only the pods of Jobs (for the Job-log keeper and
// the check for a running apply Job), the variables Secrets the workflow
// steps write in secretNamespace (watched, so a step-run object waiting
// for its variables runs as soon as they are there; see variables.go), and
// no object's managedFields. Without secretNamespace (state in each
// Configuration's namespace) no Secret is watched: the step-runner may not
// list them in every namespace, and a waiting object is looked at again
// after RetryAfter. The step-run objects and the variables Secrets are
// those of shard only; Configurations, Providers and InfraPolicies are the
// cluster's inventory, which every shard needs whole (who owns and who
// uses a Configuration, which policies apply), and are cached whole.
func CacheOptions(secretNamespace string, shard Shard) cache.Options {
	byObject := map[client.Object]cache.ByObject{&corev1.Pod{}: {Label: joblogs.PodSelector()}}
	if secretNamespace != "" {
		byObject[&corev1.Secret{}] = cache.ByObject{
			Namespaces: map[string]cache.Config{secretNamespace: {}},
			Label:      variablesSecretSelector().Add(shard.requirements()...),
		}
	}
	if sel := shard.Selector(); !sel.Empty() {
		for _, obj := range stepRunKinds() {
			byObject[obj] = cache.ByObject{Label: sel}
		}
	}
	return cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
}

// stepRunKinds are the kinds the workflow steps create for the step-runner
// to run: one shard's each.
func stepRunKinds() []client.Object {
	return []client.Object{&v1alpha1.InfraImport{}, &v1alpha1.InfraDrift{}, &v1alpha1.InfraApproval{}, &v1alpha1.InfraDiscovery{}}
}

// Options configure the step reconcilers.
type Options struct {
	Runner              *terraform.Runner
	ControllerNamespace string
	BackendKubeconfig   string
	MaxConcurrent       int
	// RetryAfter is the unit of the failure policy's waits (default 15s):
	// a held lock is retried after one, a stall caused outside the object
	// after four.
	RetryAfter time.Duration
	// ProgressAfter is how long a run goes before its Progressing
	// condition is written (default 2s; negative: at once).
	ProgressAfter time.Duration
	// Tenancy bounds what a namespace's targets may reach (zero: the
	// defaults of internal/target).
	Tenancy target.Tenancy
	// Self is this step-runner process (its namespace, pod and start), which
	// the holders of state locks are judged against: a lock whose holder
	// provably no longer exists is released. Without a namespace (not in a
	// pod), holders are only named.
	Self statelock.Identity
	// Namespaces are the namespaces the step-runner serves (empty: every
	// one); the retain reconciler changes Configurations only there.
	Namespaces []string
	// PlanNamespace keeps the InfraApprovals' saved plans and the
	// variables Secrets of the step-run objects (empty: each object's own
	// namespace). CacheOptions must be given the same namespace.
	PlanNamespace string
	// Shard is the part of the step-run objects this replica serves
	// (CacheOptions must be given the same): with sharding, the keeper of
	// terraform-controller's Job output runs in the master shard only.
	Shard Shard
	// RequireRecordedApprover applies the approval of an InfraApproval, or
	// of an InfraDrift's corrective plan, only with the person the
	// admission webhook recorded (internal/webhook): set when the
	// step-runner serves its webhooks.
	RequireRecordedApprover bool
}

// Setup registers the step reconcilers, the metrics (metrics.go) and the
// keeper of terraform-controller's Job output.
func Setup(mgr ctrl.Manager, o Options) error {
	// The resolver reads Configurations and Providers from the cache and
	// again live when the cache misses one (created just before its
	// step-run object); Secrets always live. Reading them live on every run
	// cost a fleet of drift checks about a tenth of its throughput on a
	// 2-core machine (make bench). State lock Leases and pods are read live
	// too, only after a run found the lock held: a cache could trail the
	// deletion of the pod that held it.
	live, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("create API client: %w", err)
	}
	rt := &Runtime{
		Client: mgr.GetClient(),
		Resolver: &target.Resolver{Client: live, Cached: mgr.GetClient(), ControllerNamespace: o.ControllerNamespace, BackendKubeconfig: o.BackendKubeconfig,
			Tenancy: o.Tenancy},
		Workspaces:         TerraformOpener(o.Runner),
		Recorder:           mgr.GetEventRecorderFor("vela-infra-step-runner"),
		Live:               live,
		Locks:              &statelock.Locks{Client: live, World: statelock.Cluster{Client: live, Identity: o.Self}},
		RetryAfter:         o.RetryAfter,
		ProgressAfter:      o.ProgressAfter,
		VariablesNamespace: o.PlanNamespace,
	}
	for _, c := range Metrics() {
		if err := metrics.Registry.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	clientset, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("create API client: %w", err)
	}
	reconcilers := []interface{ SetupWithManager(ctrl.Manager) error }{
		&ImportReconciler{Runtime: rt, MaxConcurrent: o.MaxConcurrent},
		&DiscoveryReconciler{Runtime: rt, MaxConcurrent: o.MaxConcurrent},
		&DriftReconciler{Runtime: rt, MaxConcurrent: o.MaxConcurrent, PlanNamespace: o.PlanNamespace, RequireRecordedApprover: o.RequireRecordedApprover},
		&ApprovalReconciler{Runtime: rt, MaxConcurrent: o.MaxConcurrent, PlanNamespace: o.PlanNamespace, RequireRecordedApprover: o.RequireRecordedApprover},
		// Every shard keeps what its own InfraImports adopted; the decision
		// is recorded on the Configuration, so that every shard reaches the
		// same one and the others' writes find nothing to change.
		&RetainReconciler{Client: mgr.GetClient(), Recorder: rt.Recorder, Namespaces: o.Namespaces},
	}
	if o.Shard.Master() {
		// Job output is terraform-controller's, of no shard: one keeper.
		reconcilers = append(reconcilers, &joblogs.Reconciler{Client: mgr.GetClient(), Live: live, Pods: clientset.CoreV1(), ControllerNamespace: o.ControllerNamespace,
			Resolver: rt.Resolver, Recorder: rt.Recorder, Namespaces: o.Namespaces})
	}
	if err := metrics.Registry.Register(servedObjects{reader: mgr.GetCache(), scheme: mgr.GetScheme()}); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	for _, r := range reconcilers {
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
	}
	return nil
}
