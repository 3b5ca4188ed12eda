// Package target resolves a step's target (a terraform-controller
// Configuration, or the rendered spec a workflow step passes) into a
// Terraform workspace target, with terraform-controller's own packages, so
// both sides agree on the backend, credentials and variables by construction.
package target

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tftypes "github.com/oam-dev/terraform-controller/api/types"
	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"
	tfcfg "github.com/oam-dev/terraform-controller/controllers/configuration"
	"github.com/oam-dev/terraform-controller/controllers/configuration/backend"
	"github.com/oam-dev/terraform-controller/controllers/process"
	tfprovider "github.com/oam-dev/terraform-controller/controllers/provider"

	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Resolver turns a step's target into a Terraform workspace target.
type Resolver struct {
	// Client reads live: Secrets (credentials), and what Cached misses.
	Client client.Client
	// Cached, when set, reads Configurations and Providers from the
	// manager's informer cache; a miss is read again live, so one created
	// just before its step-run object is still found. A cached object may
	// trail the API server by the watch latency: the workflow steps pass
	// the rendered spec in spec.target.spec, and an approved plan is
	// re-planned before it is applied, so a trailing spec cannot apply
	// anything nobody saw.
	Cached client.Client
	// ControllerNamespace is terraform-controller's --controller-namespace,
	// when it runs with one (state Secrets are then keyed by UID).
	ControllerNamespace string
	// BackendKubeconfig, when set, makes Terraform's kubernetes backend use
	// this kubeconfig instead of the in-cluster config (running outside a
	// pod, as in tests).
	BackendKubeconfig string
	// Tenancy bounds what a target may reach (zero: the defaults).
	Tenancy Tenancy
}

// Resolved is a resolved target.
type Resolved struct {
	Configuration *tfv1beta2.Configuration
	// Exists is false when the Configuration is not in the cluster yet and
	// the step passed its spec.
	Exists bool
	Target terraform.Target
	// ApplyJob is the name of terraform-controller's apply Job.
	ApplyJob string
	// StateLock is the Lease of the state lock of terraform-controller's
	// kubernetes backend (lock-tfstate-default-<suffix>, next to the state
	// Secret); zero for another backend.
	StateLock types.NamespacedName
}

// Error is a target that cannot be resolved until something outside the
// step-runner changes: the step's spec, the Configuration, the Provider or
// its Secret. Reason is a v1alpha1 condition reason.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Message }

func failed(reason, format string, args ...any) error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// variablesBoth refuses inline variables next to variablesFrom: Secret.
const variablesBoth = "spec.target.spec.variable must be empty when spec.target.variablesFrom is Secret: the variables come from the Secret status.variablesSecret names; remove one of the two"

// CheckVariablesFrom refuses a target whose variables come from a Secret
// (spec.target.variablesFrom: Secret) but whose spec is missing or has
// variables of its own, before the step-runner waits for that Secret:
// such a spec would otherwise wait for it (AwaitingVariables) forever when
// no workflow step writes it.
func CheckVariablesFrom(target v1alpha1.Target) error {
	if target.VariablesFrom != v1alpha1.VariablesFromSecret {
		return nil
	}
	if target.Spec == nil {
		return failed(v1alpha1.ReasonInvalidSpec, "spec.target.variablesFrom is Secret, which needs spec.target.spec: the Configuration's own spec has its variables")
	}
	var spec struct {
		Variable json.RawMessage `json:"variable"`
	}
	if err := json.Unmarshal(target.Spec.Raw, &spec); err != nil {
		return nil // Resolve names what is wrong with the spec
	}
	if v := bytes.TrimSpace(spec.Variable); len(v) > 0 && !bytes.Equal(v, []byte("null")) && !bytes.Equal(v, []byte("{}")) {
		return failed(v1alpha1.ReasonInvalidSpec, variablesBoth)
	}
	return nil
}

// Resolve resolves target for a step-run object in namespace, in phases:
// the Configuration, what the tenant may do with it, its Provider's
// credentials, then the rendered module. vars, when target.VariablesFrom
// is Secret, are the variables read from that Secret, in place of
// spec.variable.
func (r *Resolver) Resolve(ctx context.Context, namespace string, target v1alpha1.Target, vars map[string]any) (*Resolved, error) {
	if err := checkName(namespace, target.ConfigurationName); err != nil {
		return nil, err
	}
	cfg, exists, err := r.configuration(ctx, namespace, target)
	if err != nil {
		return nil, err
	}
	if target.VariablesFrom == v1alpha1.VariablesFromSecret {
		if err := CheckVariablesFrom(target); err != nil {
			return nil, err
		}
		if inSpec, err := tfcfg.RawExtension2Map(cfg.Spec.Variable); err != nil || len(inSpec) > 0 {
			return nil, failed(v1alpha1.ReasonInvalidSpec, variablesBoth)
		}
		raw, err := json.Marshal(vars)
		if err != nil {
			return nil, failed(v1alpha1.ReasonInvalidSpec, "the variables of spec.target.variablesFrom: %v", err)
		}
		cfg = cfg.DeepCopy()
		cfg.Spec.Variable = &runtime.RawExtension{Raw: raw}
	}
	cfgType, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	field := "spec"
	if target.Spec != nil {
		field = "spec.target.spec"
	}
	if err := r.Tenancy.admit(cfg, field); err != nil {
		return nil, err
	}
	var opts []process.Option
	if r.ControllerNamespace != "" {
		opts = append(opts, process.ControllerNamespaceOption(r.ControllerNamespace))
	}
	meta := process.New(ctrl.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: cfg.Name}}, *cfg, r.Client, opts...)
	env := map[string]string{}
	if !cfg.Spec.InlineCredentials {
		creds, err := r.credentials(ctx, cfg, meta.ProviderReference)
		if err != nil {
			return nil, err
		}
		for k, v := range creds {
			env[k] = v
		}
	}
	t, lock, err := r.render(cfg, cfgType, meta, env)
	if err != nil {
		return nil, err
	}
	return &Resolved{Configuration: cfg, Exists: exists, ApplyJob: meta.ApplyJobName, Target: t, StateLock: lock}, nil
}

// OwnState refuses a resolved target whose state is also another
// namespace's (the steps run it before Terraform; resolving to redact a
// Configuration's Job output does not need it). In
// its backend namespace (TERRAFORM_BACKEND_NAMESPACE, shared by every
// namespace's Configurations) terraform-controller keys a state Secret by
// the Configuration's name alone (tfstate-default-<name>), unless it runs
// with --controller-namespace (keyed by UID): Configurations of the same
// name in two namespaces share one state, and a run for one would read and
// change the other's resources.
func (r *Resolver) OwnState(ctx context.Context, res *Resolved) error {
	cfg, lock := res.Configuration, res.StateLock
	if r.ControllerNamespace != "" || lock.Namespace == "" || lock.Namespace == cfg.Namespace {
		return nil
	}
	var all tfv1beta2.ConfigurationList
	list := r.Client.List
	if r.Cached != nil {
		list = r.Cached.List
	}
	if err := list(ctx, &all); err != nil {
		return fmt.Errorf("list Configurations: %w", err)
	}
	for _, other := range all.Items {
		if other.Name == cfg.Name && other.Namespace != cfg.Namespace {
			return failed(v1alpha1.ReasonStateShared,
				"Configuration %s/%s has the same Terraform state as Configuration %s/%s (Secret %s/tfstate-default-%s): terraform-controller keys state by name alone in its backend namespace %s, so a run of either reads and changes the other's resources; give one of them (its component) another name",
				cfg.Namespace, cfg.Name, other.Namespace, other.Name, lock.Namespace, cfg.Name, lock.Namespace)
		}
	}
	return nil
}

// configuration reads the target's Configuration, with the spec the step
// passed (if any) in place of its own; a Configuration not created yet is
// stood in for by one with that spec.
func (r *Resolver) configuration(ctx context.Context, namespace string, target v1alpha1.Target) (*tfv1beta2.Configuration, bool, error) {
	cfg := &tfv1beta2.Configuration{}
	err := r.get(ctx, types.NamespacedName{Namespace: namespace, Name: target.ConfigurationName}, cfg)
	exists := err == nil
	switch {
	case apierrors.IsNotFound(err) && target.Spec == nil:
		return nil, false, failed(v1alpha1.ReasonConfigurationNotFound,
			"Configuration %s/%s does not exist: deploy the component first, or pass its rendered spec in spec.target.spec",
			namespace, target.ConfigurationName)
	case err != nil && !apierrors.IsNotFound(err):
		return nil, false, fmt.Errorf("get Configuration %s/%s: %w", namespace, target.ConfigurationName, err)
	case !exists && r.ControllerNamespace != "":
		return nil, false, failed(v1alpha1.ReasonConfigurationNotFound,
			"Configuration %s/%s does not exist yet, and terraform-controller runs with --controller-namespace, which keys its state by the Configuration's UID: deploy the component first",
			namespace, target.ConfigurationName)
	case !exists:
		cfg = &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: target.ConfigurationName}}
	}
	if target.Spec == nil {
		return cfg, exists, nil
	}
	var spec tfv1beta2.ConfigurationSpec
	dec := json.NewDecoder(bytes.NewReader(target.Spec.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return nil, false, failed(v1alpha1.ReasonInvalidSpec, "spec.target.spec is not a terraform-controller Configuration spec: %v", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Spec = spec
	return cfg, exists, nil
}

// validate checks the Configuration as terraform-controller would, and
// that it is of the one kind the step-runner runs (inline HCL).
func validate(cfg *tfv1beta2.Configuration) (tftypes.ConfigurationType, error) {
	cfgType, err := tfcfg.ValidConfigurationObject(cfg)
	if err != nil {
		return "", failed(v1alpha1.ReasonInvalidConfiguration, "Configuration %s/%s: %v", cfg.Namespace, cfg.Name, err)
	}
	if cfgType != tftypes.ConfigurationHCL {
		return "", failed(v1alpha1.ReasonInvalidConfiguration,
			"Configuration %s/%s uses spec.remote, which the step-runner does not support yet: use spec.hcl", cfg.Namespace, cfg.Name)
	}
	return cfgType, nil
}

// credentials reads the environment the Configuration's Provider gives
// Terraform (the cloud's keys).
func (r *Resolver) credentials(ctx context.Context, cfg *tfv1beta2.Configuration, ref *crossplane.Reference) (map[string]string, error) {
	provider, err := r.provider(ctx, ref)
	if err != nil {
		return nil, err
	}
	if provider == nil {
		return nil, failed(v1alpha1.ReasonProviderNotFound,
			"Configuration %s/%s refers to Provider %s/%s, which does not exist: enable the provider's addon or fix spec.providerRef",
			cfg.Namespace, cfg.Name, ref.Namespace, ref.Name)
	}
	region := cfg.Spec.Region
	if region == "" {
		region = provider.Spec.Region
	}
	// The same call terraform-controller makes (without its side effect of
	// writing the region back into the Configuration).
	creds, err := tfprovider.GetProviderCredentials(ctx, r.Client, provider, region)
	if err != nil {
		return nil, failed(v1alpha1.ReasonCredentialsInvalid,
			"credentials of Provider %s/%s cannot be read: %v; check its Secret", ref.Namespace, ref.Name, err)
	}
	if missing := missingSettings(cfg, creds); len(missing) > 0 {
		where := "its credentials Secret"
		if c := provider.Spec.Credentials.SecretRef; c != nil {
			where = fmt.Sprintf("its credentials Secret %s/%s (key %s)", c.Namespace, c.Name, c.Key)
		}
		return nil, failed(v1alpha1.ReasonCredentialsInvalid,
			"credentials of Provider %s/%s have no %s: add %s to %s",
			ref.Namespace, ref.Name, strings.Join(missing, ", "), strings.Join(missing, ", "), where)
	}
	return creds, nil
}

// mycloudSettings are the settings of the mycloud provider that come from
// the environment, which is the Provider's credentials: the modules have no
// provider block, and tenancy refuses one that would set them. Without one
// of them Terraform fails with no word of the Secret ("Provider ...
// requires explicit configuration").
var mycloudSettings = []string{"MYCLOUD_ENDPOINT", "MYCLOUD_ACCESS_KEY", "MYCLOUD_SECRET_KEY"}

// missingSettings lists the mycloud settings that creds lack (set but
// empty counts as lacking), for a module that uses mycloud.
func missingSettings(cfg *tfv1beta2.Configuration, creds map[string]string) []string {
	if !strings.Contains(cfg.Spec.HCL, `"mycloud_`) {
		return nil
	}
	var missing []string
	for _, k := range mycloudSettings {
		if strings.TrimSpace(creds[k]) == "" {
			missing = append(missing, k)
		}
	}
	return missing
}

// provider reads a Provider from the cache, and live when the cache does
// not have it; nil when it does not exist.
func (r *Resolver) provider(ctx context.Context, ref *crossplane.Reference) (*tfv1beta1.Provider, error) {
	if r.Cached != nil {
		p, err := tfprovider.GetProviderFromConfiguration(ctx, r.Cached, ref.Namespace, ref.Name)
		if p != nil || err != nil {
			return p, err
		}
	}
	return tfprovider.GetProviderFromConfiguration(ctx, r.Client, ref.Namespace, ref.Name)
}

// secretName matches the variables whose values are redacted from output.
var secretName = regexp.MustCompile(`(?i)pass|secret|token|key|credential|private`)

// render builds the workspace target: the module with terraform-controller's
// backend block, its variables, and the values never to show; and names the
// backend's state lock Lease.
func (r *Resolver) render(cfg *tfv1beta2.Configuration, cfgType tftypes.ConfigurationType, meta *process.TFConfigurationMeta, env map[string]string) (terraform.Target, types.NamespacedName, error) {
	var lock types.NamespacedName
	hcl, be, err := meta.RenderConfiguration(cfg, cfgType)
	if err != nil {
		return terraform.Target{}, lock, failed(v1alpha1.ReasonInvalidConfiguration, "Configuration %s/%s: %v", cfg.Namespace, cfg.Name, err)
	}
	variables, err := tfcfg.RawExtension2Map(cfg.Spec.Variable)
	if err != nil {
		return terraform.Target{}, lock, failed(v1alpha1.ReasonInvalidSpec, "Configuration %s/%s: spec.variable is not an object: %v", cfg.Namespace, cfg.Name, err)
	}
	// The Provider's credentials are redacted, its endpoint is not: a
	// message that names the host it could not reach is the useful one.
	var secrets []string
	for k, v := range env {
		if secretName.MatchString(k) {
			secrets = append(secrets, v)
		}
	}
	for k, v := range variables {
		if s, ok := v.(string); ok && secretName.MatchString(k) {
			secrets = append(secrets, s)
		}
	}
	sort.Strings(secrets)
	var backendConfig []string
	if k8s, ok := be.(*backend.K8SBackend); ok {
		// Terraform's kubernetes backend locks the state Secret (workspace
		// "default") with the Lease "lock-" + its name.
		lock = types.NamespacedName{Namespace: k8s.SecretNS, Name: "lock-" + fmt.Sprintf(backend.TFBackendSecret, "default", k8s.SecretSuffix)}
		if r.BackendKubeconfig != "" {
			backendConfig = []string{"config_path=" + r.BackendKubeconfig, "in_cluster_config=false"}
		}
	}
	return terraform.Target{
		Key:           cfg.Namespace + "/" + cfg.Name,
		HCL:           hcl,
		Variables:     variables,
		Env:           env,
		BackendConfig: backendConfig,
		Secrets:       secrets,
	}, lock, nil
}

// get reads from the cache, and live when the cache does not have it.
func (r *Resolver) get(ctx context.Context, key types.NamespacedName, obj client.Object) error {
	if r.Cached != nil {
		err := r.Cached.Get(ctx, key, obj)
		if !apierrors.IsNotFound(err) {
			return err
		}
	}
	return r.Client.Get(ctx, key, obj)
}

// Hash identifies the resolved target's inputs (HCL, variables, provider
// environment): a plan made for one hash does not hold for another.
func (r *Resolved) Hash() string {
	h := sha256.New()
	data, _ := json.Marshal(struct {
		HCL  string
		Vars map[string]any
		Env  map[string]string
	}{r.Target.HCL, r.Target.Variables, r.Target.Env})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
