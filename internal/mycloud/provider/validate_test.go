package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

const sentinelPassword = "Sentinel-Validate-Passw0rd"

// databaseConfig builds a configuration (or a plan, or a state: the same
// object) of a database of type typ with its password and manage flag as
// given: a value, nil (null) or tftypes.UnknownValue.
func databaseConfig(t *testing.T, typ string, password, flag any) (*genericResource, tftypes.Value, resource.SchemaResponse) {
	t.Helper()
	var spec *resourceSpec
	for _, s := range resourceSpecs {
		if s.typeName == typ {
			spec = s
		}
	}
	if spec == nil || spec.managed == nil {
		t.Fatalf("no database type %q", typ)
	}
	r := &genericResource{spec: spec}
	ctx := context.Background()
	var schemaResp resource.SchemaResponse
	r.Schema(ctx, resource.SchemaRequest{}, &schemaResp)
	objType := schemaResp.Schema.Type().TerraformType(ctx).(tftypes.Object)
	values := map[string]tftypes.Value{}
	for name, typ := range objType.AttributeTypes {
		values[name] = tftypes.NewValue(typ, nil)
	}
	values["name"] = tftypes.NewValue(tftypes.String, "x1")
	values[spec.managed.password] = tftypes.NewValue(tftypes.String, password)
	values[spec.managed.flag] = tftypes.NewValue(tftypes.Bool, flag)
	return r, tftypes.NewValue(objType, values), schemaResp
}

// checkDiagnostics fails the test unless diags hold an error containing
// wantErr ("": no error) that names both the password and the manage flag,
// and fails it if any diagnostic echoes the password.
func checkDiagnostics(t *testing.T, r *genericResource, diags diag.Diagnostics, wantErr string) {
	t.Helper()
	var text strings.Builder
	for _, d := range diags {
		text.WriteString(d.Summary() + ": " + d.Detail() + "\n")
	}
	if strings.Contains(text.String(), sentinelPassword) {
		t.Fatalf("a diagnostic echoes the password:\n%s", text.String())
	}
	if wantErr == "" {
		if diags.HasError() {
			t.Fatalf("want no error, got:\n%s", text.String())
		}
		return
	}
	if !strings.Contains(text.String(), wantErr) {
		t.Fatalf("want an error %q, got:\n%s", wantErr, text.String())
	}
	for _, attr := range []string{r.spec.managed.password, r.spec.managed.flag} {
		if !strings.Contains(diags[0].Detail(), attr) {
			t.Errorf("the error does not name %s: %s", attr, diags[0].Detail())
		}
	}
}

// TestValidateConfigRefusesBoth: a database sets at most one of its
// password and its manage flag, whether it exists or not; the error names
// both attributes, never the password; a value not known yet is not judged.
// Setting neither is ModifyPlan's question (TestModifyPlanCreateNeedsAPassword).
func TestValidateConfigRefusesBoth(t *testing.T) {
	const pw = sentinelPassword
	unknown := tftypes.UnknownValue
	cases := map[string]struct {
		typ      string
		password any // string, nil (null) or unknown
		flag     any // bool, nil (null) or unknown
		wantErr  string
	}{
		"mysql password":                   {typ: "mysql", password: pw, flag: nil},
		"mysql password, manage false":     {typ: "mysql", password: pw, flag: false},
		"mysql managed":                    {typ: "mysql", password: nil, flag: true},
		"mysql neither":                    {typ: "mysql", password: nil, flag: nil},
		"mysql manage false, no password":  {typ: "mysql", password: nil, flag: false},
		"mysql both":                       {typ: "mysql", password: pw, flag: true, wantErr: "Conflicting admin_password and manage_admin_password"},
		"mysql password not known yet":     {typ: "mysql", password: unknown, flag: true},
		"mysql flag not known yet":         {typ: "mysql", password: pw, flag: unknown},
		"redis managed":                    {typ: "redis", password: nil, flag: true},
		"redis neither":                    {typ: "redis", password: nil, flag: nil},
		"redis both":                       {typ: "redis", password: pw, flag: true, wantErr: "Conflicting password and manage_password"},
		"redis password, manage false":     {typ: "redis", password: pw, flag: false},
		"redis password not known, manage": {typ: "redis", password: unknown, flag: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r, config, schemaResp := databaseConfig(t, tc.typ, tc.password, tc.flag)
			req := resource.ValidateConfigRequest{Config: tfsdk.Config{Schema: schemaResp.Schema, Raw: config}}
			var resp resource.ValidateConfigResponse
			r.ValidateConfig(context.Background(), req, &resp)
			checkDiagnostics(t, r, resp.Diagnostics, tc.wantErr)
		})
	}
}

// TestModifyPlanCreateNeedsAPassword: a plan that creates a database (no
// prior state: a new instance, a replacement, one deleted outside
// Terraform) needs its password or its manage flag, and the error names
// both; an instance that exists (in the state, imported) may set neither
// and keeps the password it has; a destroy and a value not known yet are
// not judged.
func TestModifyPlanCreateNeedsAPassword(t *testing.T) {
	const pw = sentinelPassword
	unknown := tftypes.UnknownValue
	cases := map[string]struct {
		typ      string
		password any // string, nil (null) or unknown
		flag     any // bool, nil (null) or unknown
		exists   bool
		destroy  bool
		wantErr  string
	}{
		"mysql create, neither":                {typ: "mysql", password: nil, flag: nil, wantErr: "Missing admin_password or manage_admin_password"},
		"mysql create, manage false":           {typ: "mysql", password: nil, flag: false, wantErr: "Missing admin_password or manage_admin_password"},
		"mysql create, password":               {typ: "mysql", password: pw, flag: nil},
		"mysql create, managed":                {typ: "mysql", password: nil, flag: true},
		"mysql create, password not known yet": {typ: "mysql", password: unknown, flag: nil},
		"mysql create, flag not known yet":     {typ: "mysql", password: nil, flag: unknown},
		"mysql exists, neither":                {typ: "mysql", password: nil, flag: nil, exists: true},
		"mysql exists, manage false":           {typ: "mysql", password: nil, flag: false, exists: true},
		"mysql destroy":                        {typ: "mysql", password: nil, flag: nil, exists: true, destroy: true},
		"redis create, neither":                {typ: "redis", password: nil, flag: nil, wantErr: "Missing password or manage_password"},
		"redis create, managed":                {typ: "redis", password: nil, flag: true},
		"redis exists, neither":                {typ: "redis", password: nil, flag: false, exists: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r, config, schemaResp := databaseConfig(t, tc.typ, tc.password, tc.flag)
			s := schemaResp.Schema
			req := resource.ModifyPlanRequest{
				Config: tfsdk.Config{Schema: s, Raw: config},
				Plan:   tfsdk.Plan{Schema: s, Raw: config},
				State:  tfsdk.State{Schema: s, Raw: tftypes.NewValue(config.Type(), nil)},
			}
			if tc.exists {
				_, state, _ := databaseConfig(t, tc.typ, nil, false)
				req.State.Raw = state
			}
			if tc.destroy {
				req.Plan.Raw = tftypes.NewValue(config.Type(), nil)
			}
			resp := resource.ModifyPlanResponse{Plan: req.Plan}
			r.ModifyPlan(context.Background(), req, &resp)
			checkDiagnostics(t, r, resp.Diagnostics, tc.wantErr)
		})
	}
}
