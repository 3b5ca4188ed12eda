package provider

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
)

// lookupDataSource finds exactly one existing resource of a kind by id, by
// any of its string attributes (name, vpc_id, …) and by tags, so that shared
// infrastructure is referenced rather than declared twice.
type lookupDataSource struct {
	spec   *resourceSpec
	client *client.Client
}

var _ datasource.DataSourceWithConfigure = (*lookupDataSource)(nil)

func (d *lookupDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + d.spec.typeName
}

func (d *lookupDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if c, ok := req.ProviderData.(*client.Client); ok {
		d.client = c
	}
}

func (d *lookupDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := map[string]schema.Attribute{
		"id": schema.StringAttribute{Optional: true, Computed: true, Description: "Id to look up."},
	}
	for _, a := range d.spec.attrs {
		desc := a.description
		switch a.kind {
		case kindTags:
			attrs[a.name] = schema.MapAttribute{ElementType: types.StringType, Optional: true, Computed: true,
				Description: "Tags the resource must have (all of them); the resource's tags once found."}
		case kindInt:
			attrs[a.name] = schema.Int64Attribute{Computed: true, Description: desc}
		case kindBool:
			attrs[a.name] = schema.BoolAttribute{Computed: true, Description: desc}
		default:
			if a.writeOnly {
				// The cloud never returns it: always null, never a filter.
				attrs[a.name] = schema.StringAttribute{Computed: true, Sensitive: true, Description: "Never returned by the cloud: null."}
				continue
			}
			attrs[a.name] = schema.StringAttribute{Optional: true, Computed: true, Description: desc + " Filters the lookup when set."}
		}
	}
	for _, c := range d.spec.computed {
		if c.kind == kindInt {
			attrs[c.name] = schema.Int64Attribute{Computed: true, Description: c.description}
			continue
		}
		attrs[c.name] = schema.StringAttribute{Computed: true, Description: c.description}
	}
	resp.Schema = schema.Schema{
		Description: "Looks up one existing " + d.spec.typeName + " by id, attributes or tags; fails unless exactly one matches.",
		Attributes:  attrs,
	}
}

func (d *lookupDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	filters := url.Values{}
	var id string
	if v, diags := readValue(ctx, req.Config, "id", kindString); v != nil {
		id = v.(string)
		resp.Diagnostics.Append(diags...)
	}
	for _, a := range d.spec.attrs {
		if a.kind != kindString && a.kind != kindTags || a.writeOnly {
			continue
		}
		v, diags := readValue(ctx, req.Config, a.name, a.kind)
		resp.Diagnostics.Append(diags...)
		switch val := v.(type) {
		case string:
			filters.Set(a.name, val)
		case map[string]string:
			for k, tv := range val {
				filters.Set("tag."+k, tv)
			}
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}
	if id == "" && len(filters) == 0 {
		resp.Diagnostics.AddError("No lookup criteria for data.mycloud_"+d.spec.typeName,
			"Set id, name or tags so that exactly one "+d.spec.typeName+" matches.")
		return
	}
	var matches []client.Object
	if id != "" {
		obj, err := d.client.Get(ctx, d.spec.apiKind, id)
		if err != nil && !client.IsNotFound(err) {
			resp.Diagnostics.AddError("Could not read mycloud_"+d.spec.typeName, err.Error())
			return
		}
		if err == nil && matchesFilters(obj, filters) {
			matches = append(matches, obj)
		}
	} else {
		objs, err := d.client.List(ctx, d.spec.apiKind, filters)
		if err != nil {
			resp.Diagnostics.AddError("Could not list mycloud_"+d.spec.typeName, err.Error())
			return
		}
		matches = objs
	}
	if len(matches) != 1 {
		ids := make([]string, len(matches))
		for i, m := range matches {
			ids[i] = m.String("id")
		}
		sort.Strings(ids)
		resp.Diagnostics.AddError(fmt.Sprintf("%d mycloud %ss match", len(matches), d.spec.typeName),
			fmt.Sprintf("data.mycloud_%s needs exactly one match for %s; found %d %s. Narrow the lookup with name or tags.",
				d.spec.typeName, describe(id, filters), len(matches), strings.Join(ids, ", ")))
		return
	}
	state := tfsdk.State{Schema: resp.State.Schema, Raw: resp.State.Raw}
	r := &genericResource{spec: d.spec}
	resp.Diagnostics.Append(r.writeObject(ctx, &state, matches[0], nil)...)
	resp.State.Raw = state.Raw
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), matches[0].String("id"))...)
}

func matchesFilters(obj client.Object, filters url.Values) bool {
	tags := obj.Tags()
	for k := range filters {
		if tag, ok := strings.CutPrefix(k, "tag."); ok {
			if tags[tag] != filters.Get(k) {
				return false
			}
		} else if obj.String(k) != filters.Get(k) {
			return false
		}
	}
	return true
}

func describe(id string, filters url.Values) string {
	if id != "" {
		return "id " + id
	}
	return filters.Encode()
}
