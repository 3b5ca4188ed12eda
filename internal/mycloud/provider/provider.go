// Package provider is the Terraform provider of mycloud, built on
// terraform-plugin-framework (protocol 6). Its source address is
// registry.terraform.io/vela-infra/mycloud.
package provider

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
)

// Address is the provider's source address; Version is stamped at build.
const Address = "registry.terraform.io/vela-infra/mycloud"

// Environment variables read when the provider block leaves a setting out.
const (
	EnvEndpoint  = "MYCLOUD_ENDPOINT"
	EnvAccessKey = "MYCLOUD_ACCESS_KEY"
	EnvSecretKey = "MYCLOUD_SECRET_KEY"
)

// New returns a provider factory for providerserver.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &mycloudProvider{version: version} }
}

type mycloudProvider struct{ version string }

type providerModel struct {
	Endpoint  types.String `tfsdk:"endpoint"`
	AccessKey types.String `tfsdk:"access_key"`
	SecretKey types.String `tfsdk:"secret_key"`
}

func (p *mycloudProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "mycloud"
	resp.Version = p.version
}

func (p *mycloudProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Manages resources of mycloud, the simulated private cloud of vela-infra. " +
			"Creates are idempotent: with " + EnvIdempotencyScope + " set in the environment (never in this block), a create's key is derived from the scope, the resource type and its name, so a rerun after a crash adopts what its predecessor created.",
		Attributes: map[string]schema.Attribute{
			"endpoint":   schema.StringAttribute{Optional: true, Description: "Base URL of the mycloud API, e.g. http://127.0.0.1:8480. Env: " + EnvEndpoint + "."},
			"access_key": schema.StringAttribute{Optional: true, Description: "Access key id. Env: " + EnvAccessKey + "."},
			"secret_key": schema.StringAttribute{Optional: true, Sensitive: true, Description: "Secret key; it signs requests and is never sent. Env: " + EnvSecretKey + "."},
		},
	}
}

func (p *mycloudProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	settings := []struct {
		attr, env string
		val       types.String
		out       *string
	}{
		{"endpoint", EnvEndpoint, cfg.Endpoint, new(string)},
		{"access_key", EnvAccessKey, cfg.AccessKey, new(string)},
		{"secret_key", EnvSecretKey, cfg.SecretKey, new(string)},
	}
	for _, s := range settings {
		if s.val.IsUnknown() {
			resp.Diagnostics.AddAttributeError(path.Root(s.attr), "Unknown mycloud "+s.attr,
				"The provider's "+s.attr+" depends on a value not known until apply; set it to a known value or use "+s.env+".")
			continue
		}
		*s.out = s.val.ValueString()
		if *s.out == "" {
			*s.out = os.Getenv(s.env)
		}
		if *s.out == "" {
			resp.Diagnostics.AddAttributeError(path.Root(s.attr), "Missing mycloud "+s.attr,
				"Set "+s.attr+" in the provider block or the environment variable "+s.env+".")
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}
	c := client.New(*settings[0].out, *settings[1].out, *settings[2].out)
	resp.ResourceData = &providerData{client: c, scope: os.Getenv(EnvIdempotencyScope)}
	resp.DataSourceData = c
}

func (p *mycloudProvider) Resources(_ context.Context) []func() resource.Resource {
	var out []func() resource.Resource
	for _, spec := range resourceSpecs {
		out = append(out, func() resource.Resource { return &genericResource{spec: spec} })
	}
	return out
}

func (p *mycloudProvider) DataSources(_ context.Context) []func() datasource.DataSource {
	// One per resource type: shared infrastructure is referenced, by id,
	// name or tags, by applications that do not own it. mycloud_resources
	// lists what exists, for discovery.
	sources := []func() datasource.DataSource{func() datasource.DataSource { return &resourcesDataSource{} }}
	for _, spec := range resourceSpecs {
		sources = append(sources, func() datasource.DataSource { return &lookupDataSource{spec: spec} })
	}
	return sources
}
