package target

import (
	"context"
	"slices"
	"sort"
	"strings"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfprovider "github.com/oam-dev/terraform-controller/controllers/provider"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// ProviderEnvironment is the environment a Provider gives Terraform (the
// cloud's keys), for work on no Configuration (a discovery), and the values
// never to show. The same tenancy holds as for a Configuration's
// providerRef: a Provider of namespace's own or of a shared namespace.
// field names where the reference came from, for the messages.
func (r *Resolver) ProviderEnvironment(ctx context.Context, namespace string, ref v1alpha1.ProviderRef, field string) (map[string]string, []string, error) {
	if ref.Namespace != namespace && !slices.Contains(r.Tenancy.providerNamespaces(), ref.Namespace) {
		return nil, nil, failed(v1alpha1.ReasonInvalidSpec,
			"%s names Provider %s/%s: use a Provider of namespace %s or a shared one (namespaces %s), not another tenant's",
			field, ref.Namespace, ref.Name, namespace, strings.Join(r.Tenancy.providerNamespaces(), ", "))
	}
	provider, err := r.provider(ctx, &crossplane.Reference{Namespace: ref.Namespace, Name: ref.Name})
	if err != nil {
		return nil, nil, err
	}
	if provider == nil {
		return nil, nil, failed(v1alpha1.ReasonProviderNotFound,
			"%s names Provider %s/%s, which does not exist: enable the provider's addon or fix %s", field, ref.Namespace, ref.Name, field)
	}
	env, err := tfprovider.GetProviderCredentials(ctx, r.Client, provider, provider.Spec.Region)
	if err != nil {
		return nil, nil, failed(v1alpha1.ReasonCredentialsInvalid,
			"credentials of Provider %s/%s cannot be read: %v; check its Secret", ref.Namespace, ref.Name, err)
	}
	var missing []string
	for _, k := range mycloudSettings {
		if strings.TrimSpace(env[k]) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, nil, failed(v1alpha1.ReasonCredentialsInvalid,
			"credentials of Provider %s/%s have no %s: add them to its credentials Secret", ref.Namespace, ref.Name, strings.Join(missing, ", "))
	}
	var secrets []string
	for k, v := range env {
		if secretName.MatchString(k) {
			secrets = append(secrets, v)
		}
	}
	sort.Strings(secrets)
	return env, secrets, nil
}
