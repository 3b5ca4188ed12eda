package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

// resourcesDataSource lists the existing resources of one type, filtered
// by tags and a name prefix: discovery of what is there, where the
// per-type lookup data sources need exactly one match. Each item carries
// every attribute the cloud returned as JSON, so one schema serves every
// type and values keep their JSON types.
type resourcesDataSource struct {
	client *client.Client
}

var (
	_ datasource.DataSourceWithConfigure      = (*resourcesDataSource)(nil)
	_ datasource.DataSourceWithValidateConfig = (*resourcesDataSource)(nil)
)

type resourcesModel struct {
	Type       types.String   `tfsdk:"type"`
	Tags       types.Map      `tfsdk:"tags"`
	NamePrefix types.String   `tfsdk:"name_prefix"`
	Items      []resourceItem `tfsdk:"items"`
}

type resourceItem struct {
	ID             types.String `tfsdk:"id"`
	Name           types.String `tfsdk:"name"`
	Tags           types.Map    `tfsdk:"tags"`
	AttributesJSON types.String `tfsdk:"attributes_json"`
}

func (d *resourcesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_resources"
}

func (d *resourcesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if c, ok := req.ProviderData.(*client.Client); ok {
		d.client = c
	}
}

// resourceTypeNames lists the values of type: the resource types without
// their mycloud_ prefix.
func resourceTypeNames() []string {
	names := make([]string, len(resourceSpecs))
	for i, s := range resourceSpecs {
		names[i] = s.typeName
	}
	return names
}

func specOf(typeName string) *resourceSpec {
	for _, s := range resourceSpecs {
		if s.typeName == typeName {
			return s
		}
	}
	return nil
}

func (d *resourcesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Lists the existing mycloud resources of one type, optionally filtered by tags and a name prefix. " +
			"Zero matches is an empty list. With an access key scoped to a project, only what the key can see is listed.",
		Attributes: map[string]schema.Attribute{
			"type": schema.StringAttribute{Required: true,
				Description: "Resource type to list: one of " + strings.Join(resourceTypeNames(), ", ") + " (a resource type without mycloud_)."},
			"tags": schema.MapAttribute{ElementType: types.StringType, Optional: true,
				Description: "Tags a resource must have, every one of them with the given value."},
			"name_prefix": schema.StringAttribute{Optional: true,
				Description: "Start of the names to list, such as \"shop-\": 1-63 characters a name of the type can start with."},
			"items": schema.ListNestedAttribute{Computed: true,
				Description: "The matching resources, sorted by id.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id":   schema.StringAttribute{Computed: true, Description: "Id of the resource."},
					"name": schema.StringAttribute{Computed: true, Description: "Name of the resource."},
					"tags": schema.MapAttribute{ElementType: types.StringType, Computed: true, Description: "Tags of the resource."},
					"attributes_json": schema.StringAttribute{Computed: true,
						Description: "Every attribute the cloud returned for the resource, as a JSON object (numbers stay numbers, booleans booleans): read it with jsondecode()."},
				}},
			},
		},
	}
}

// ValidateConfig checks type and name_prefix before any API call; a value
// not known yet is left to Read.
func (d *resourcesDataSource) ValidateConfig(ctx context.Context, req datasource.ValidateConfigRequest, resp *datasource.ValidateConfigResponse) {
	var typ, prefix types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("type"), &typ)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("name_prefix"), &prefix)...)
	if resp.Diagnostics.HasError() || typ.IsUnknown() || typ.IsNull() {
		return
	}
	spec := specOf(typ.ValueString())
	if spec == nil {
		addTypeError(&resp.Diagnostics, typ.ValueString())
		return
	}
	if prefix.IsNull() || prefix.IsUnknown() {
		return
	}
	if err := namePrefixRule(spec)(prefix.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("name_prefix"), "Invalid name_prefix",
			fmt.Sprintf("name_prefix %s for type %s.", err, spec.typeName))
	}
}

func addTypeError(diags *diag.Diagnostics, typ string) {
	diags.AddAttributeError(path.Root("type"), "Invalid type",
		fmt.Sprintf("type %q is not a mycloud resource type: use one of %s.", typ, strings.Join(resourceTypeNames(), ", ")))
}

// namePrefixRule is the cloud's rule for a prefix of spec's names.
func namePrefixRule(spec *resourceSpec) func(string) error {
	if spec.typeName == "bucket" {
		return rules.BucketNamePrefix
	}
	return rules.NamePrefix
}

func (d *resourcesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg resourcesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec := specOf(cfg.Type.ValueString())
	if spec == nil {
		addTypeError(&resp.Diagnostics, cfg.Type.ValueString())
		return
	}
	filters := url.Values{}
	if !cfg.Tags.IsNull() {
		tags := map[string]string{}
		resp.Diagnostics.Append(cfg.Tags.ElementsAs(ctx, &tags, false)...)
		for k, v := range tags {
			filters.Set("tag."+k, v)
		}
	}
	if !cfg.NamePrefix.IsNull() {
		filters.Set("name_prefix", cfg.NamePrefix.ValueString())
	}
	if resp.Diagnostics.HasError() {
		return
	}
	objs, err := d.client.List(ctx, spec.apiKind, filters)
	if err != nil {
		resp.Diagnostics.AddError("Could not list mycloud_"+spec.typeName+" resources", err.Error())
		return
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].String("id") < objs[j].String("id") })
	cfg.Items = make([]resourceItem, 0, len(objs))
	for _, obj := range objs {
		tags, diags := types.MapValueFrom(ctx, types.StringType, obj.Tags())
		resp.Diagnostics.Append(diags...)
		// Numbers went through float64, which holds every integer the
		// cloud accepts (at most 2^53) exactly.
		data, err := json.Marshal(obj)
		if err != nil {
			resp.Diagnostics.AddError("Could not encode mycloud_"+spec.typeName+" "+obj.String("id"), err.Error())
			return
		}
		cfg.Items = append(cfg.Items, resourceItem{
			ID:             types.StringValue(obj.String("id")),
			Name:           types.StringValue(obj.String("name")),
			Tags:           tags,
			AttributesJSON: types.StringValue(string(data)),
		})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}
