package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
)

// genericResource implements every mycloud resource type from its spec: the
// five types differ only in their attributes.
type genericResource struct {
	spec   *resourceSpec
	client *client.Client
	data   *providerData
}

var (
	_ resource.ResourceWithConfigure      = (*genericResource)(nil)
	_ resource.ResourceWithImportState    = (*genericResource)(nil)
	_ resource.ResourceWithValidateConfig = (*genericResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*genericResource)(nil)
)

func (r *genericResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.spec.typeName
}

func (r *genericResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if req.ProviderData == nil {
		return
	}
	data, ok := req.ProviderData.(*providerData)
	if !ok {
		resp.Diagnostics.AddError("Unexpected provider data", fmt.Sprintf("got %T, want *providerData", req.ProviderData))
		return
	}
	r.client, r.data = data.client, data
}

func (r *genericResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := map[string]schema.Attribute{
		"id": schema.StringAttribute{
			Computed: true, Description: "Id assigned by the cloud (" + r.spec.idPrefix + "…).",
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
		},
	}
	for _, a := range r.spec.attrs {
		attrs[a.name] = resourceAttribute(a)
	}
	for _, c := range r.spec.computed {
		switch {
		case c.kind == kindInt:
			attrs[c.name] = schema.Int64Attribute{Computed: true, Description: c.description,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}}
		case r.spec.managed != nil && c.name == r.spec.managed.secretID:
			attrs[c.name] = schema.StringAttribute{Computed: true, Description: c.description,
				PlanModifiers: []planmodifier.String{secretIDPlan{flag: r.spec.managed.flag}}}
		default:
			attrs[c.name] = schema.StringAttribute{Computed: true, Description: c.description,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
		}
	}
	resp.Schema = schema.Schema{Description: r.spec.description, Attributes: attrs}
}

func resourceAttribute(a attrSpec) schema.Attribute {
	optional := !a.required
	computed := a.def != nil
	switch a.kind {
	case kindInt:
		s := schema.Int64Attribute{Required: a.required, Optional: optional, Computed: computed, Description: a.description}
		if a.def != nil {
			s.Default = int64default.StaticInt64(a.def.(int64))
		}
		if a.max > 0 {
			s.Validators = append(s.Validators, int64validator.Between(a.min, a.max))
		}
		if a.step > 0 {
			s.Validators = append(s.Validators, multipleOf(a.step))
		}
		if a.immutable {
			s.PlanModifiers = append(s.PlanModifiers, int64planmodifier.RequiresReplace())
		}
		return s
	case kindBool:
		s := schema.BoolAttribute{Required: a.required, Optional: optional, Computed: computed, Description: a.description}
		if a.def != nil {
			s.Default = booldefault.StaticBool(a.def.(bool))
		}
		if a.immutable {
			s.PlanModifiers = append(s.PlanModifiers, boolplanmodifier.RequiresReplace())
		}
		return s
	case kindTags:
		return schema.MapAttribute{
			ElementType: types.StringType, Optional: true, Computed: true, Description: a.description,
			Default: mapdefault.StaticValue(types.MapValueMust(types.StringType, map[string]attr.Value{})),
		}
	default:
		s := schema.StringAttribute{Required: a.required, Optional: optional, Computed: computed, Sensitive: a.writeOnly, Description: a.description}
		if a.def != nil {
			s.Default = stringdefault.StaticString(a.def.(string))
		}
		if a.rule != nil {
			s.Validators = append(s.Validators, ruleValidator{rule: a.rule})
		}
		if len(a.enum) > 0 {
			s.Validators = append(s.Validators, stringvalidator.OneOf(a.enum...))
		}
		if a.immutable {
			s.PlanModifiers = append(s.PlanModifiers, stringplanmodifier.RequiresReplace())
		}
		return s
	}
}

// getter is what tfsdk.Plan, tfsdk.State and tfsdk.Config have in common.
type getter interface {
	GetAttribute(ctx context.Context, p path.Path, target any) diag.Diagnostics
}

// readValue returns the Go value (string, int64, bool, map[string]string) of
// an attribute, or nil when it is null or unknown.
func readValue(ctx context.Context, g getter, name string, kind attrKind) (any, diag.Diagnostics) {
	p := path.Root(name)
	switch kind {
	case kindInt:
		var v types.Int64
		d := g.GetAttribute(ctx, p, &v)
		if v.IsNull() || v.IsUnknown() {
			return nil, d
		}
		return v.ValueInt64(), d
	case kindBool:
		var v types.Bool
		d := g.GetAttribute(ctx, p, &v)
		if v.IsNull() || v.IsUnknown() {
			return nil, d
		}
		return v.ValueBool(), d
	case kindTags:
		var v types.Map
		d := g.GetAttribute(ctx, p, &v)
		if v.IsNull() || v.IsUnknown() {
			return nil, d
		}
		m := map[string]string{}
		d.Append(v.ElementsAs(ctx, &m, false)...)
		return m, d
	default:
		var v types.String
		d := g.GetAttribute(ctx, p, &v)
		if v.IsNull() || v.IsUnknown() {
			return nil, d
		}
		return v.ValueString(), d
	}
}

// writeObject sets every attribute of state from an API object, except the
// write-only ones, which keep writeOnly's values (from the plan or prior state).
func (r *genericResource) writeObject(ctx context.Context, state *tfsdk.State, obj client.Object, writeOnly map[string]any) diag.Diagnostics {
	var diags diag.Diagnostics
	diags.Append(state.SetAttribute(ctx, path.Root("id"), obj.String("id"))...)
	for _, a := range r.spec.attrs {
		p := path.Root(a.name)
		switch {
		case a.writeOnly:
			if v, ok := writeOnly[a.name]; ok && v != nil {
				diags.Append(state.SetAttribute(ctx, p, v.(string))...)
			} else {
				diags.Append(state.SetAttribute(ctx, p, types.StringNull())...)
			}
		case a.kind == kindInt:
			diags.Append(state.SetAttribute(ctx, p, obj.Int(a.name))...)
		case a.kind == kindBool:
			diags.Append(state.SetAttribute(ctx, p, obj.Bool(a.name))...)
		case a.kind == kindTags:
			m, d := types.MapValueFrom(ctx, types.StringType, obj.Tags())
			diags.Append(d...)
			diags.Append(state.SetAttribute(ctx, p, m)...)
		default:
			diags.Append(state.SetAttribute(ctx, p, obj.String(a.name))...)
		}
	}
	for _, c := range r.spec.computed {
		_, returned := obj[c.name]
		switch {
		case c.kind == kindInt:
			diags.Append(state.SetAttribute(ctx, path.Root(c.name), obj.Int(c.name))...)
		case !returned: // a secret id of an instance whose password was given
			diags.Append(state.SetAttribute(ctx, path.Root(c.name), types.StringNull())...)
		default:
			diags.Append(state.SetAttribute(ctx, path.Root(c.name), obj.String(c.name))...)
		}
	}
	return diags
}

func (r *genericResource) writeOnlyValues(ctx context.Context, g getter) (map[string]any, diag.Diagnostics) {
	out := map[string]any{}
	var diags diag.Diagnostics
	for _, a := range r.spec.attrs {
		if a.writeOnly {
			v, d := readValue(ctx, g, a.name, a.kind)
			diags.Append(d...)
			out[a.name] = v
		}
	}
	return out, diags
}

func (r *genericResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	attrs := map[string]any{}
	for _, a := range r.spec.attrs {
		v, d := readValue(ctx, req.Plan, a.name, a.kind)
		resp.Diagnostics.Append(d...)
		if v != nil {
			attrs[a.name] = v
		}
	}
	writeOnly, d := r.writeOnlyValues(ctx, req.Plan)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	name, _ := attrs["name"].(string)
	key, err := r.data.idempotencyKey("mycloud_"+r.spec.typeName, name)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Duplicate mycloud_"+r.spec.typeName+" name", err.Error())
		return
	}
	obj, replayed, err := r.client.CreateWithKey(ctx, r.spec.apiKind, key, attrs)
	if reused, ok := client.IsIdempotencyKeyReused(err); ok {
		resp.Diagnostics.AddError(fmt.Sprintf("mycloud_%s %q already exists as %s", r.spec.typeName, name, reused.ResourceID),
			fmt.Sprintf("An earlier run under this idempotency scope (%s) created %s named %q with other attributes and did not record it in the state (it was probably killed while the resource was being created); import %s into this resource's address and apply again, or delete it in the cloud, then apply again.",
				EnvIdempotencyScope, reused.ResourceID, name, reused.ResourceID))
		return
	}
	if err != nil {
		r.addAPIError(&resp.Diagnostics, "create", err)
		return
	}
	if replayed {
		resp.Diagnostics.AddWarning(fmt.Sprintf("Adopted mycloud_%s %q: %s", r.spec.typeName, name, obj.String("id")),
			fmt.Sprintf("%s already existed, created with the same attributes and idempotency key by an earlier call (a run interrupted before it could record it, or a retry of this one); nothing new was created and the state now holds it.", obj.String("id")))
	}
	// Record the id before waiting: if the wait is interrupted, Terraform
	// keeps the resource (tainted) instead of losing track of it.
	resp.Diagnostics.Append(r.writeObject(ctx, &resp.State, obj, writeOnly)...)
	obj, err = r.client.WaitAvailable(ctx, r.spec.apiKind, obj.String("id"))
	if err != nil {
		r.addAPIError(&resp.Diagnostics, "wait for", err)
		return
	}
	resp.Diagnostics.Append(r.writeObject(ctx, &resp.State, obj, writeOnly)...)
}

func (r *genericResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var id types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("id"), &id)...)
	if resp.Diagnostics.HasError() {
		return
	}
	obj, err := r.client.Get(ctx, r.spec.apiKind, id.ValueString())
	if client.IsNotFound(err) {
		resp.State.RemoveResource(ctx) // deleted outside Terraform: plan a create
		return
	}
	if err != nil {
		r.addAPIError(&resp.Diagnostics, "read", err)
		return
	}
	writeOnly, d := r.writeOnlyValues(ctx, req.State)
	resp.Diagnostics.Append(d...)
	resp.Diagnostics.Append(r.writeObject(ctx, &resp.State, obj, writeOnly)...)
}

func (r *genericResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var id types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("id"), &id)...)
	changed := map[string]any{}
	for _, a := range r.spec.attrs {
		if a.immutable {
			continue // a change there is a replacement, never an update
		}
		planned, d := readValue(ctx, req.Plan, a.name, a.kind)
		resp.Diagnostics.Append(d...)
		current, d := readValue(ctx, req.State, a.name, a.kind)
		resp.Diagnostics.Append(d...)
		if planned != nil && fmt.Sprint(planned) != fmt.Sprint(current) {
			changed[a.name] = planned
		}
	}
	writeOnly, d := r.writeOnlyValues(ctx, req.Plan)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	var (
		obj client.Object
		err error
	)
	if len(changed) > 0 {
		obj, err = r.client.Update(ctx, r.spec.apiKind, id.ValueString(), changed)
	} else {
		obj, err = r.client.Get(ctx, r.spec.apiKind, id.ValueString())
	}
	if err != nil {
		r.addAPIError(&resp.Diagnostics, "update", err)
		return
	}
	resp.Diagnostics.Append(r.writeObject(ctx, &resp.State, obj, writeOnly)...)
}

func (r *genericResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var id types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("id"), &id)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.client.Delete(ctx, r.spec.apiKind, id.ValueString()); err != nil {
		r.addAPIError(&resp.Diagnostics, "delete", err)
	}
}

func (r *genericResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := rules.ID(r.spec.idPrefix, req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import id for mycloud_"+r.spec.typeName,
			fmt.Sprintf("Import id %s. Use the id the cloud shows for the %s, e.g. %sa1b2c3d4.", err, r.spec.typeName, r.spec.idPrefix))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}

// ValidateConfig refuses a database that sets both its password and its
// manage flag, at plan time, naming both attributes and never the value.
// Setting neither is a question for ModifyPlan: it depends on whether the
// instance exists. Unknown values (a variable not known yet) are left to a
// later check.
func (r *genericResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	m := r.spec.managed
	if m == nil {
		return
	}
	password, managed, diags := r.passwordConfig(ctx, req.Config)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() || password.IsUnknown() || managed.IsUnknown() {
		return
	}
	if !password.IsNull() && managed.ValueBool() {
		resp.Diagnostics.AddAttributeError(path.Root(m.flag), "Conflicting "+m.password+" and "+m.flag,
			fmt.Sprintf("mycloud_%s sets both %s and %s = true: set exactly one of them. With %s = true the cloud generates the password and keeps it as a secret (%s), so remove %s.",
				r.spec.typeName, m.password, m.flag, m.flag, m.secretID, m.password))
	}
}

// ModifyPlan refuses to create a database with neither its password nor its
// manage flag: the cloud refuses such a create, and only the plan knows that
// it is one (no prior state). An instance that exists, imported, may set
// neither: it keeps the password it has, which the cloud never returns and
// the configuration does not hold, and its plan changes nothing. Terraform
// plans a replacement as a create, so a change that would replace such an
// instance is refused too, as is a create of one deleted outside Terraform.
func (r *genericResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	m := r.spec.managed
	if m == nil || req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() {
		return // not a database, a destroy, or an instance that exists
	}
	password, managed, diags := r.passwordConfig(ctx, req.Config)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() || password.IsUnknown() || managed.IsUnknown() || !password.IsNull() || managed.ValueBool() {
		return
	}
	resp.Diagnostics.AddAttributeError(path.Root(m.password), "Missing "+m.password+" or "+m.flag,
		fmt.Sprintf("mycloud_%s plans a new instance (none is in the state, or a change replaces it) and needs exactly one of %s and %s = true: set %s, or set %s = true to let the cloud generate the password and keep it as a secret (%s). Only an instance that exists, imported, may set neither: it keeps the password it has.",
			r.spec.typeName, m.password, m.flag, m.password, m.flag, m.secretID))
}

// passwordConfig reads a database's password and manage flag from its
// configuration.
func (r *genericResource) passwordConfig(ctx context.Context, config tfsdk.Config) (password types.String, managed types.Bool, diags diag.Diagnostics) {
	diags.Append(config.GetAttribute(ctx, path.Root(r.spec.managed.password), &password)...)
	diags.Append(config.GetAttribute(ctx, path.Root(r.spec.managed.flag), &managed)...)
	return password, managed, diags
}

// secretIDPlan plans the id of a managed password's secret so the plan says
// what apply will do: null when the cloud does not manage the password,
// the id in state while the instance stays, unknown when a new instance
// gets a new secret (Terraform plans a replacement as a create, with no
// prior state).
type secretIDPlan struct{ flag string }

func (m secretIDPlan) Description(context.Context) string {
	return "null unless " + m.flag + " is true; kept from state while the instance stays"
}
func (m secretIDPlan) MarkdownDescription(ctx context.Context) string { return m.Description(ctx) }
func (m secretIDPlan) PlanModifyString(ctx context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	var managed types.Bool
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root(m.flag), &managed)...)
	switch {
	case resp.Diagnostics.HasError() || managed.IsUnknown():
	case !managed.ValueBool():
		resp.PlanValue = types.StringNull()
	case !req.State.Raw.IsNull() && !req.StateValue.IsNull() && !req.StateValue.IsUnknown():
		resp.PlanValue = req.StateValue
	}
}

// addAPIError reports err, on the attribute the API named when it named one.
func (r *genericResource) addAPIError(diags *diag.Diagnostics, verb string, err error) {
	summary := fmt.Sprintf("Could not %s mycloud_%s", verb, r.spec.typeName)
	var apiErr *client.Error
	if errors.As(err, &apiErr) && apiErr.Field != "" {
		if _, known := r.attr(apiErr.Field); known {
			diags.AddAttributeError(path.Root(apiErr.Field), summary, err.Error())
			return
		}
	}
	diags.AddError(summary, err.Error())
}

func (r *genericResource) attr(name string) (attrSpec, bool) {
	for _, a := range r.spec.attrs {
		if a.name == name {
			return a, true
		}
	}
	return attrSpec{}, false
}

// ruleValidator applies a mycloud input rule to a string attribute.
type ruleValidator struct{ rule func(string) error }

func (v ruleValidator) Description(context.Context) string {
	return "value must satisfy mycloud's input rules"
}
func (v ruleValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (v ruleValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.rule(req.ConfigValue.ValueString()); err != nil {
		name := req.Path.String()
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+name, name+" "+err.Error())
	}
}

type multipleOfValidator struct{ step int64 }

func multipleOf(step int64) validator.Int64 { return multipleOfValidator{step} }

func (v multipleOfValidator) Description(context.Context) string {
	return fmt.Sprintf("value must be a multiple of %d", v.step)
}
func (v multipleOfValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (v multipleOfValidator) ValidateInt64(_ context.Context, req validator.Int64Request, resp *validator.Int64Response) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if n := req.ConfigValue.ValueInt64(); n%v.step != 0 {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+req.Path.String(),
			fmt.Sprintf("%s must be a multiple of %d, got %d", req.Path, v.step, n))
	}
}
