// Command terraform-controller runs terraform-controller's own reconcilers
// (github.com/oam-dev/terraform-controller/controllers, at the version in
// ../go.mod) in a manager that re-lists its objects every
// --informer-re-sync-interval.
//
// Why not the module's main package: at this version it parses
// --informer-re-sync-interval but, since its move to controller-runtime
// v0.19, never passes it to the manager (Options.SyncPeriod became
// Cache.SyncPeriod), so the default of 10 hours applies. Its Configuration
// reconciler returns without a requeue while an apply Job is still running
// and does not watch Jobs, so a Configuration whose Job finishes after that
// check stays "ProvisioningAndChecking" for hours. v0.8.0 re-synced every
// 10 s; this restores that and changes nothing else.
package main

import (
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/util/feature"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2/textlogger"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"
	"github.com/oam-dev/terraform-controller/controllers"
)

func main() {
	var (
		leaderElect         bool
		resync              time.Duration
		metricsAddr         string
		namespace           string
		controllerNamespace string
	)
	pflag.BoolVar(&leaderElect, "enable-leader-election", false, "Run only while holding the leader lease.")
	pflag.DurationVar(&resync, "informer-re-sync-interval", 10*time.Second, "How often every Configuration and Provider is reconciled again.")
	pflag.StringVar(&metricsAddr, "metrics-addr", ":38080", "Address of the metrics endpoint.")
	pflag.StringVar(&namespace, "namespace", "", "Only watch this namespace (default: all).")
	pflag.StringVar(&controllerNamespace, "controller-namespace", "", "Namespace the Terraform Jobs run in.")
	feature.DefaultMutableFeatureGate.AddFlag(pflag.CommandLine)
	pflag.Parse()
	ctrl.SetLogger(textlogger.NewLogger(textlogger.NewConfig()))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, tfv1beta1.AddToScheme, tfv1beta2.AddToScheme} {
		if err := add(scheme); err != nil {
			log.Error(err, "building the scheme")
			os.Exit(1)
		}
	}
	cacheOpts := cache.Options{SyncPeriod: &resync}
	if namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:           scheme,
		Cache:            cacheOpts,
		LeaderElection:   leaderElect,
		LeaderElectionID: "ce329a9c.core.oam.dev",
		Metrics:          server.Options{BindAddress: metricsAddr},
	})
	if err != nil {
		log.Error(err, "starting the manager")
		os.Exit(1)
	}
	if err := (&controllers.ConfigurationReconciler{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(), ControllerNamespace: controllerNamespace,
		Log: ctrl.Log.WithName("controllers").WithName("Configuration"),
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "setting up the Configuration controller")
		os.Exit(1)
	}
	if err := (&controllers.ProviderReconciler{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(),
		Log: ctrl.Log.WithName("controllers").WithName("Provider"),
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "setting up the Provider controller")
		os.Exit(1)
	}
	log.Info("starting manager", "resync", resync)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
