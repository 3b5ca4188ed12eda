package target

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/hclguard"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// DefaultAllowedProviders are the providers a tenant's module may use when
// the step-runner is not told otherwise: the one its image mirrors.
var DefaultAllowedProviders = []string{"mycloud"}

// DefaultProviderNamespaces hold the Providers every tenant may use:
// terraform-controller's default providerRef namespace, where the
// terraform-mycloud addon puts its Provider.
var DefaultProviderNamespaces = []string{"default"}

// Tenancy is what a namespace's step-run objects may make the step-runner
// do. A tenant is a namespace: its targets are its own Configurations, run
// on the state terraform-controller keeps for them, with a Provider of its
// own namespace or a shared one, and a module that reaches nothing else.
type Tenancy struct {
	// AllowedProviders are the provider types a module may use (nil:
	// DefaultAllowedProviders).
	AllowedProviders []string
	// ProviderNamespaces hold the shared Providers (nil:
	// DefaultProviderNamespaces). A target's own namespace always counts.
	ProviderNamespaces []string
}

func (t Tenancy) guard() hclguard.Policy {
	if t.AllowedProviders == nil {
		return hclguard.Policy{AllowedProviders: DefaultAllowedProviders}
	}
	return hclguard.Policy{AllowedProviders: t.AllowedProviders}
}

func (t Tenancy) providerNamespaces() []string {
	if t.ProviderNamespaces == nil {
		return DefaultProviderNamespaces
	}
	return t.ProviderNamespaces
}

// checkName refuses a Configuration name that is not one: the name keys the
// state Secret and Lease, so it must be a valid object name.
func checkName(namespace, name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return failed(v1alpha1.ReasonInvalidSpec, "spec.target.configurationName %q in namespace %s is not a Configuration name: %s", name, namespace, errs[0])
	}
	return nil
}

// admit refuses a Configuration that would reach outside its tenant: a
// backend of its own (another state), a Provider of another namespace (its
// credentials), or a module doing what hclguard forbids. field names where
// the spec came from, for the message.
func (t Tenancy) admit(cfg *tfv1beta2.Configuration, field string) error {
	where := fmt.Sprintf("Configuration %s/%s: %s", cfg.Namespace, cfg.Name, field)
	if cfg.Spec.Backend != nil {
		return failed(v1alpha1.ReasonInvalidSpec,
			"%s.backend is set: the step-runner works only on the state terraform-controller keeps for this Configuration (its default kubernetes backend); remove backend", where)
	}
	if ref := cfg.Spec.ProviderReference; ref != nil && ref.Namespace != "" && ref.Namespace != cfg.Namespace && !slices.Contains(t.providerNamespaces(), ref.Namespace) {
		return failed(v1alpha1.ReasonInvalidSpec,
			"%s.providerRef names Provider %s/%s: a target may use a Provider of its own namespace or a shared one (namespaces %s), not another tenant's",
			where, ref.Namespace, ref.Name, strings.Join(t.providerNamespaces(), ", "))
	}
	if err := t.guard().Check("main.tf", []byte(cfg.Spec.HCL)); err != nil {
		return failed(v1alpha1.ReasonInvalidConfiguration, "%s.hcl is refused: %v", where, err)
	}
	return nil
}
