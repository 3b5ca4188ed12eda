// Command step-runner carries out the infra-import, infra-drift and
// infra-approve workflow steps: flags and wiring only; the reconcilers are
// package controller.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/vela-infra/vela-infra/internal/controller"
	"github.com/vela-infra/vela-infra/internal/statelock"
	"github.com/vela-infra/vela-infra/internal/target"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/internal/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "step-runner:", err)
		os.Exit(1)
	}
}

func run() error {
	started := time.Now()
	var (
		terraformBin        = flag.String("terraform", "terraform", "Terraform CLI to run")
		workDir             = flag.String("work-dir", filepath.Join(os.TempDir(), "vela-infra", "workspaces"), "directory of the per-target workspaces")
		pluginCache         = flag.String("plugin-cache-dir", filepath.Join(os.TempDir(), "vela-infra", "plugin-cache"), "Terraform plugin cache shared by all workspaces")
		cliConfig           = flag.String("terraform-cli-config", os.Getenv("TF_CLI_CONFIG_FILE"), "Terraform CLI config (provider mirror)")
		controllerNamespace = flag.String("controller-namespace", "", "terraform-controller's --controller-namespace, if it runs with one")
		backendKubeconfig   = flag.String("backend-kubeconfig", "", "kubeconfig for Terraform's kubernetes backend when not running in a pod")
		lockTimeout         = flag.Duration("lock-timeout", time.Minute, "how long a run waits for a held state lock")
		gracePeriod         = flag.Duration("grace-period", 30*time.Second, "how long an interrupted Terraform run may take to release its lock")
		maxConcurrent       = flag.Int("max-concurrent", 4, "Terraform runs at once per step kind")
		metricsAddr         = flag.String("metrics-bind-address", ":8080", "metrics endpoint address (0 disables)")
		probeAddr           = flag.String("health-probe-bind-address", ":8081", "health probe address")
		leaderElect         = flag.Bool("leader-elect", false, "elect a leader, for more than one replica")
		allowedProviders    = flag.String("allowed-providers", strings.Join(target.DefaultAllowedProviders, ","), "provider types a target's module may use, comma-separated (the builtin terraform provider is always allowed)")
		providerNamespaces  = flag.String("provider-namespaces", strings.Join(target.DefaultProviderNamespaces, ","), "namespaces of the Providers every tenant may use, comma-separated (a target's own namespace always counts)")
		namespaces          = flag.String("namespaces", "", "the namespaces the step-runner serves, comma-separated (empty: every one): there it keeps adopted and shared Configurations from being destroyed on delete (chart: namespaces)")
		planNamespace       = flag.String("plan-namespace", os.Getenv("TERRAFORM_BACKEND_NAMESPACE"), "where InfraApprovals' saved plans and the variables the workflow steps pass (Secrets) are kept, outside the tenants' namespaces (default: terraform-controller's backend namespace, env TERRAFORM_BACKEND_NAMESPACE); empty: each step-run object's own namespace")
		podNamespace        = flag.String("pod-namespace", os.Getenv("POD_NAMESPACE"), "the step-runner's own namespace (env POD_NAMESPACE, from the downward API): a state lock held by this pod before a restart, or by a pod of this Deployment that no longer exists, is released; empty: none is")
		providerTLS         = flag.Bool("provider-tls", false, "keep go-plugin's mTLS between Terraform and its providers (off: TF_DISABLE_PLUGIN_TLS=1, about 40 ms less per provider launch, three launches per plan)")
		webhookPort         = flag.Int("webhook-port", 0, "port of the admission webhooks that check and record who approves (0: not served; then an approval's approver is the name the client wrote)")
		webhookService      = flag.String("webhook-service", "vela-infra-step-runner-webhook", "the webhook Service, in --pod-namespace: the serving certificate is for <service>.<namespace>.svc")
		webhookSecret       = flag.String("webhook-secret", "vela-infra-step-runner-webhook-cert", "the Secret, in --pod-namespace, where the step-runner keeps its webhook CA and serving certificate")
		webhookConfig       = flag.String("webhook-configuration", "vela-infra-step-runner", "the ValidatingWebhookConfiguration whose caBundle the step-runner sets")
		webhookCertDir      = flag.String("webhook-cert-dir", filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs"), "where the webhook server reads its certificate")
		enableSharding      = flag.Bool("enable-sharding", false, "serve one shard of the step-run objects, by KubeVela's label controller.core.oam.dev/scheduled-shard-id (docs/scaling.md)")
		shardID             = flag.String("shard-id", "master", "the shard served, with --enable-sharding: master (every object not scheduled to one of --schedulable-shards, unlabeled ones too) or one of --schedulable-shards")
		schedulableShards   = flag.String("schedulable-shards", "", "the shard ids besides master, comma-separated, the same for every replica (with --enable-sharding)")
		requireRecorded     = flag.Bool("require-recorded-approver", false, "apply an approval only with the approver the admission webhook recorded, on a replica that does not serve the webhook itself (implied by --webhook-port)")
		workflowEngines     = flag.String("workflow-engine-users", "system:serviceaccount:vela-system:kubevela-vela-core", "usernames of the workflow engine (vela-core), comma-separated: its approvals follow a checked `vela workflow resume`")
	)
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	shard := controller.Shard{Enabled: *enableSharding, ID: *shardID, Shards: list(*schedulableShards)}
	if err := shard.Validate(); err != nil {
		return err
	}
	if *requireRecorded && *planNamespace == "" {
		return fmt.Errorf("--require-recorded-approver needs --plan-namespace (env TERRAFORM_BACKEND_NAMESPACE): the webhook records who approved in the saved plan's Secret there")
	}
	scheme, err := controller.Scheme()
	if err != nil {
		return err
	}
	// Terraform records the hostname as a lock's holder; in a pod it is the
	// pod's name.
	hostname, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	cfg := ctrl.GetConfigOrDie()
	mgrOpts := ctrl.Options{
		Scheme:                  scheme,
		Client:                  controller.ClientOptions(),
		Cache:                   controller.CacheOptions(*planNamespace, shard),
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        shard.LeaseName(leaderElectionID),
		GracefulShutdownTimeout: gracePeriod,
	}
	if *leaderElect && *podNamespace != "" {
		if mgrOpts.LeaderElectionResourceLockInterface, err = podLeaderLock(cfg, scheme, *podNamespace, shard.LeaseName(leaderElectionID), hostname); err != nil {
			return err
		}
	}
	if *webhookPort != 0 {
		if *podNamespace == "" {
			return fmt.Errorf("--webhook-port needs --pod-namespace (env POD_NAMESPACE): the webhook Service and certificate Secret are in the step-runner's namespace")
		}
		if *planNamespace == "" {
			return fmt.Errorf("--webhook-port needs --plan-namespace (env TERRAFORM_BACKEND_NAMESPACE): who approved a plan is recorded in its saved plan's Secret, which must be where tenants cannot write, not in each tenant's own namespace")
		}
		mgrOpts.WebhookServer = ctrlwebhook.NewServer(ctrlwebhook.Options{Port: *webhookPort, CertDir: *webhookCertDir})
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	if *webhookPort != 0 {
		if err := webhook.Setup(ctx, mgr, webhook.Options{
			Certs: &webhook.Certs{Namespace: *podNamespace, Secret: *webhookSecret, Service: *webhookService,
				Configuration: *webhookConfig, Dir: *webhookCertDir},
			PlanNamespace: *planNamespace, WorkflowEngines: list(*workflowEngines), Namespaces: list(*namespaces),
		}); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return err
		}
	}
	runner := &terraform.Runner{
		Bin: *terraformBin, WorkDir: *workDir, PluginCacheDir: *pluginCache, CLIConfigFile: *cliConfig,
		LockTimeout: *lockTimeout, GracePeriod: *gracePeriod, ProviderTLS: *providerTLS,
	}
	if err := controller.Setup(mgr, controller.Options{
		Runner: runner, ControllerNamespace: *controllerNamespace, BackendKubeconfig: *backendKubeconfig, MaxConcurrent: *maxConcurrent,
		Tenancy:                 target.Tenancy{AllowedProviders: list(*allowedProviders), ProviderNamespaces: list(*providerNamespaces)},
		Self:                    statelock.Identity{Namespace: *podNamespace, PodName: hostname, Started: started},
		PlanNamespace:           *planNamespace,
		Namespaces:              list(*namespaces),
		RequireRecordedApprover: *webhookPort != 0 || *requireRecorded,
		Shard:                   shard,
	}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.Info("starting step-runner", "terraform", *terraformBin, "workDir", *workDir, "serves", shard.Name())
	if *leaderElect {
		go sayWhoLeads(ctx, cfg, mgr.Elected(), leaderNamespace(*podNamespace), shard)
	}
	return mgr.Start(ctx)
}

// list splits a comma-separated flag value, dropping empty items: an empty
// flag is an empty list, not the default.
func list(s string) []string {
	out := []string{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// leaderElectionID is the name of the leader election Lease.
const leaderElectionID = "vela-infra-step-runner"

// podLeaderLock is the leader election lock of a step-runner in a pod, held
// under the pod's name rather than controller-runtime's hostname_<uuid>: a
// container the kubelet restarts after a crash (kill -9, OOM) is the same
// holder, so it leads again at once instead of waiting out the Lease
// (15 s) its previous incarnation left. Two processes never share a pod
// name at once: the kubelet starts a container again only after it died,
// and a StatefulSet starts a pod again only after it is gone. Outside a pod
// (no --pod-namespace) controller-runtime's own identity is kept, since two
// processes on one host would share a hostname.
func podLeaderLock(cfg *rest.Config, scheme *runtime.Scheme, namespace, lease, podName string) (resourcelock.Interface, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("leader election client: %w", err)
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events(namespace)})
	return resourcelock.New(resourcelock.LeasesResourceLock, namespace, lease, cs.CoreV1(), cs.CoordinationV1(),
		resourcelock.ResourceLockConfig{
			Identity:      podName,
			EventRecorder: broadcaster.NewRecorder(scheme, corev1.EventSource{Component: leaderElectionID}),
		})
}

// sayWhoLeads tells, while this replica waits for its shard's Lease,
// which replica holds it (a second replica of a shard, or one started
// with the same --shard-id as another, waits there for the first to stop),
// and when this one leads.
func sayWhoLeads(ctx context.Context, cfg *rest.Config, elected <-chan struct{}, namespace string, shard controller.Shard) {
	logger := ctrl.Log.WithName("leader-election")
	lease := shard.LeaseName(leaderElectionID)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		logger.Error(err, "cannot read the Lease")
		return
	}
	said := ""
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-elected:
			logger.Info("this replica leads: it runs the steps of "+shard.Name(), "lease", namespace+"/"+lease)
			return
		case <-tick.C:
		}
		l, err := cs.CoordinationV1().Leases(namespace).Get(ctx, lease, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == said {
			continue
		}
		said = *l.Spec.HolderIdentity
		logger.Info(fmt.Sprintf("waiting: %s is served by %s, which holds the Lease %s/%s; this replica takes over when that one stops (two replicas with the same --shard-id are one active and one standby)",
			shard.Name(), said, namespace, lease))
	}
}

// leaderNamespace is where controller-runtime keeps the Lease: the pod's
// namespace, else the one it finds itself in.
func leaderNamespace(podNamespace string) string {
	if podNamespace != "" {
		return podNamespace
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "default"
}
