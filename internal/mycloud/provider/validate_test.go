package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// TestValidateConfigExactlyOneOf: a database sets exactly one of its
// password and its manage flag; the error names both attributes, never the
// password; a value not known yet is not judged.
func TestValidateConfigExactlyOneOf(t *testing.T) {
	const pw = "Sentinel-Validate-Passw0rd"
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
		"mysql neither":                    {typ: "mysql", password: nil, flag: nil, wantErr: "Missing admin_password or manage_admin_password"},
		"mysql manage false, no password":  {typ: "mysql", password: nil, flag: false, wantErr: "Missing admin_password or manage_admin_password"},
		"mysql both":                       {typ: "mysql", password: pw, flag: true, wantErr: "Conflicting admin_password and manage_admin_password"},
		"mysql password not known yet":     {typ: "mysql", password: unknown, flag: true},
		"mysql flag not known yet":         {typ: "mysql", password: nil, flag: unknown},
		"redis managed":                    {typ: "redis", password: nil, flag: true},
		"redis neither":                    {typ: "redis", password: nil, flag: nil, wantErr: "Missing password or manage_password"},
		"redis both":                       {typ: "redis", password: pw, flag: true, wantErr: "Conflicting password and manage_password"},
		"redis password, manage false":     {typ: "redis", password: pw, flag: false},
		"redis password not known, manage": {typ: "redis", password: unknown, flag: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var spec *resourceSpec
			for _, s := range resourceSpecs {
				if s.typeName == tc.typ {
					spec = s
				}
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
			values[spec.managed.password] = tftypes.NewValue(tftypes.String, tc.password)
			values[spec.managed.flag] = tftypes.NewValue(tftypes.Bool, tc.flag)
			req := resource.ValidateConfigRequest{Config: tfsdk.Config{Schema: schemaResp.Schema, Raw: tftypes.NewValue(objType, values)}}
			var resp resource.ValidateConfigResponse
			r.ValidateConfig(ctx, req, &resp)

			var text strings.Builder
			for _, d := range resp.Diagnostics {
				text.WriteString(d.Summary() + ": " + d.Detail() + "\n")
			}
			if strings.Contains(text.String(), pw) {
				t.Fatalf("a diagnostic echoes the password:\n%s", text.String())
			}
			if tc.wantErr == "" {
				if resp.Diagnostics.HasError() {
					t.Fatalf("want no error, got:\n%s", text.String())
				}
				return
			}
			if !strings.Contains(text.String(), tc.wantErr) {
				t.Fatalf("want an error %q, got:\n%s", tc.wantErr, text.String())
			}
			for _, attr := range []string{spec.managed.password, spec.managed.flag} {
				if !strings.Contains(resp.Diagnostics[0].Detail(), attr) {
					t.Errorf("the error does not name %s: %s", attr, resp.Diagnostics[0].Detail())
				}
			}
		})
	}
}
