package definitions_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"
	"sigs.k8s.io/yaml"
)

// types are the mycloud resource types: module definitions/modules/<type>,
// definition mycloud-<type>.
var types = []string{"vpc", "subnet", "mysql", "redis", "bucket", "vpc-ref", "subnet-ref", "redis-ref", "mysql-ref"}

// componentsDir holds the generated ComponentDefinitions, as the addon
// terraform-mycloud installs them.
const componentsDir = "addons/terraform-mycloud/definitions"

// app is an Application with one component of the given type.
func app(t testing.TB, typ string, props map[string]any) []byte {
	t.Helper()
	b, err := yaml.Marshal(map[string]any{
		"apiVersion": "core.oam.dev/v1beta1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": "shop", "namespace": "shop-ns"},
		"spec": map[string]any{"components": []any{map[string]any{
			"name": "res", "type": "mycloud-" + typ, "properties": props,
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// configuration decodes a rendered object strictly into terraform-controller's
// own Configuration type, so a misspelt field fails the test.
func configuration(t testing.TB, obj map[string]any) (*tfv1beta2.Configuration, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var c tfv1beta2.Configuration
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		t.Fatalf("the rendered object is not a terraform-controller Configuration: %v\n%s", err, raw)
	}
	if c.APIVersion != "terraform.core.oam.dev/v1beta2" || c.Kind != "Configuration" {
		t.Fatalf("rendered %s %s, want terraform.core.oam.dev/v1beta2 Configuration", c.APIVersion, c.Kind)
	}
	var vars map[string]any
	if c.Spec.Variable == nil {
		t.Fatal("the Configuration has no spec.variable")
	}
	if err := json.Unmarshal(c.Spec.Variable.Raw, &vars); err != nil {
		t.Fatal(err)
	}
	return &c, vars
}

func module(t testing.TB, typ string) string {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, "definitions/modules/"+typ+"/main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type ref struct{ Name, Namespace string }

func TestRenderGoodProperties(t *testing.T) {
	t.Parallel()
	defs := repoPath(t, componentsDir)
	noTags := map[string]any{}
	cases := map[string]struct {
		typ          string
		props        map[string]any
		wantVars     map[string]any
		wantProvider ref
		wantSecret   ref
		wantDelete   *bool // nil: not set
	}{
		"vpc with defaults": {
			typ:          "vpc",
			props:        map[string]any{"name": "main", "cidr": "10.0.0.0/16"},
			wantVars:     map[string]any{"name": "main", "cidr": "10.0.0.0/16", "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"vpc with the longest prefix, a 63-character name and tags": {
			typ:          "vpc",
			props:        map[string]any{"name": "a" + strings.Repeat("b", 62), "cidr": "192.168.255.240/28", "tags": map[string]any{"team": "shop"}},
			wantVars:     map[string]any{"name": "a" + strings.Repeat("b", 62), "cidr": "192.168.255.240/28", "tags": map[string]any{"team": "shop"}},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"subnet with every property": {
			typ: "subnet",
			props: map[string]any{"name": "app", "vpc_id": "vpc-1a2b3c4d", "cidr": "10.0.1.0/29", "zone": "zone-b", "tags": map[string]any{"tier": "web"},
				"writeConnectionSecretToRef": map[string]any{"name": "app-subnet", "namespace": "other"}},
			wantVars:     map[string]any{"name": "app", "vpc_id": "vpc-1a2b3c4d", "cidr": "10.0.1.0/29", "zone": "zone-b", "tags": map[string]any{"tier": "web"}},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"app-subnet", "other"},
		},
		"vpc-ref": {
			typ: "vpc-ref", props: map[string]any{"id": "vpc-legacy01"},
			wantVars: map[string]any{"id": "vpc-legacy01"}, wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"redis-ref kept or not, as the application says": {
			typ: "redis-ref", props: map[string]any{"id": "redis-1a2b", "deleteResource": true},
			wantVars: map[string]any{"id": "redis-1a2b"}, wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"}, wantDelete: ptr(true),
		},
		"mysql with defaults": {
			typ:   "mysql",
			props: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "admin_password": "Orders-Passw0rd"},
			wantVars: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "engine_version": "8.0", "instance_class": "db.small",
				"storage_gib": float64(20), "admin_password": "Orders-Passw0rd", "manage_admin_password": false, "keep_existing_password": false, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"mysql with every property at its limits": {
			typ: "mysql",
			props: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "engine_version": "5.7", "instance_class": "db.large",
				"storage_gib": 16384, "admin_password": "Abcdefghijk1", "tags": map[string]any{"env": "prod"},
				"providerRef": map[string]any{"name": "other-account", "namespace": "infra"}, "deleteResource": false,
				"writeConnectionSecretToRef": map[string]any{"name": "orders-db"}},
			wantVars: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "engine_version": "5.7", "instance_class": "db.large",
				"storage_gib": float64(16384), "admin_password": "Abcdefghijk1", "manage_admin_password": false, "keep_existing_password": false, "tags": map[string]any{"env": "prod"}},
			wantProvider: ref{"other-account", "infra"}, wantSecret: ref{"orders-db", "shop-ns"}, wantDelete: ptr(false),
		},
		"mysql with a unicode password": {
			typ:   "mysql",
			props: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "storage_gib": 20, "instance_class": "db.medium", "admin_password": "ÄÖÜäöü12"},
			wantVars: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "engine_version": "8.0", "instance_class": "db.medium",
				"storage_gib": float64(20), "admin_password": "ÄÖÜäöü12", "manage_admin_password": false, "keep_existing_password": false, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		// A managed password: no password property, none in the variables
		// (the module's null applies), the flag passed on.
		"mysql with a managed password": {
			typ:   "mysql",
			props: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "manage_admin_password": true},
			wantVars: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "engine_version": "8.0", "instance_class": "db.small",
				"storage_gib": float64(20), "manage_admin_password": true, "keep_existing_password": false, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"mysql with a password and manage_admin_password false": {
			typ:   "mysql",
			props: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "admin_password": "Orders-Passw0rd", "manage_admin_password": false},
			wantVars: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "engine_version": "8.0", "instance_class": "db.small",
				"storage_gib": float64(20), "admin_password": "Orders-Passw0rd", "manage_admin_password": false, "keep_existing_password": false, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		// An adopted instance that keeps its password: none in the
		// properties or the variables.
		"mysql keeping the password it has": {
			typ:   "mysql",
			props: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "keep_existing_password": true},
			wantVars: map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "engine_version": "8.0", "instance_class": "db.small",
				"storage_gib": float64(20), "manage_admin_password": false, "keep_existing_password": true, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"redis keeping the password it has, manage_password false": {
			typ:          "redis",
			props:        map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "manage_password": false, "keep_existing_password": true},
			wantVars:     map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "redis_version": "7.0", "memory_mib": float64(1024), "manage_password": false, "keep_existing_password": true, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"redis with a managed password": {
			typ:          "redis",
			props:        map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "manage_password": true},
			wantVars:     map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "redis_version": "7.0", "memory_mib": float64(1024), "manage_password": true, "keep_existing_password": false, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"redis with defaults": {
			typ:          "redis",
			props:        map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "password": "Cache-Passw0rd"},
			wantVars:     map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "redis_version": "7.0", "memory_mib": float64(1024), "password": "Cache-Passw0rd", "manage_password": false, "keep_existing_password": false, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"redis with the smallest and a 6.2": {
			typ:          "redis",
			props:        map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "password": "Cache-Passw0rd", "memory_mib": 256, "redis_version": "6.2"},
			wantVars:     map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "redis_version": "6.2", "memory_mib": float64(256), "password": "Cache-Passw0rd", "manage_password": false, "keep_existing_password": false, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"redis with the largest memory": {
			typ:          "redis",
			props:        map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "password": "Cache-Passw0rd", "memory_mib": 65536},
			wantVars:     map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "redis_version": "7.0", "memory_mib": float64(65536), "password": "Cache-Passw0rd", "manage_password": false, "keep_existing_password": false, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"bucket with dots, public-read and versioning": {
			typ:          "bucket",
			props:        map[string]any{"name": "assets.shop-1", "acl": "public-read", "versioning": true},
			wantVars:     map[string]any{"name": "assets.shop-1", "acl": "public-read", "versioning": true, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
		"bucket with defaults and a 3-character name": {
			typ:          "bucket",
			props:        map[string]any{"name": "a-1"},
			wantVars:     map[string]any{"name": "a-1", "acl": "private", "versioning": false, "tags": noTags},
			wantProvider: ref{"mycloud", "default"}, wantSecret: ref{"res-conn", "shop-ns"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs, err := dryRun(t, defs, app(t, tc.typ, tc.props))
			if err != nil {
				t.Fatalf("render failed: %v", err)
			}
			if len(objs) != 1 {
				t.Fatalf("rendered %d objects, want 1 Configuration", len(objs))
			}
			c, vars := configuration(t, objs[0])
			if c.Name != "res" || c.Namespace != "shop-ns" {
				t.Errorf("Configuration %s/%s, want shop-ns/res (the component's name and the application's namespace)", c.Namespace, c.Name)
			}
			if c.Spec.HCL != module(t, tc.typ) {
				t.Errorf("spec.hcl differs from definitions/modules/%s/main.tf:\n%s", tc.typ, cmp.Diff(module(t, tc.typ), c.Spec.HCL))
			}
			if diff := cmp.Diff(tc.wantVars, vars); diff != "" {
				t.Errorf("spec.variable (-want +got):\n%s", diff)
			}
			if p := c.Spec.ProviderReference; p == nil || (ref{p.Name, p.Namespace}) != tc.wantProvider {
				t.Errorf("spec.providerRef = %+v, want %+v", p, tc.wantProvider)
			}
			if s := c.Spec.WriteConnectionSecretToReference; s == nil || (ref{s.Name, s.Namespace}) != tc.wantSecret {
				t.Errorf("spec.writeConnectionSecretToRef = %+v, want %+v", s, tc.wantSecret)
			}
			// Unset unless the application sets it, and then marked as its
			// choice, which the step-runner does not override.
			if d := c.Spec.DeleteResource; (d == nil) != (tc.wantDelete == nil) || d != nil && *d != *tc.wantDelete {
				t.Errorf("spec.deleteResource = %v, want %v", d, tc.wantDelete)
			}
			explicit, marked := c.Annotations["infra.vela-infra.io/delete-resource"]
			if marked != (tc.wantDelete != nil) || tc.wantDelete != nil && explicit != fmt.Sprint(*tc.wantDelete) {
				t.Errorf("annotation infra.vela-infra.io/delete-resource = %q (set: %v), want it to mark %v", explicit, marked, tc.wantDelete)
			}
			if c.Spec.InlineCredentials || c.Spec.Remote != "" || c.Spec.Backend != nil {
				t.Errorf("unexpected spec fields: inlineCredentials %v, remote %q, backend %+v", c.Spec.InlineCredentials, c.Spec.Remote, c.Spec.Backend)
			}
		})
	}
}

func TestRenderBadPropertyNamesIt(t *testing.T) {
	t.Parallel()
	defs := repoPath(t, componentsDir)
	const (
		nameMsg       = "The name must be 2-63 lower-case letters, digits and '-', starting with a letter and not ending with '-'."
		vpcCIDRMsg    = "The cidr must be an IPv4 CIDR block such as 10.0.0.0/16, with a prefix length from /16 to /28."
		subnetCIDRMsg = "The cidr must be an IPv4 CIDR block such as 10.0.1.0/24, with a prefix length from /16 to /29."
		storageMsg    = "The storage_gib must be a whole number from 20 to 16384."
		memoryMsg     = "The memory_mib must be from 256 to 65536 and a multiple of 256."
		adminPwMsg    = "The admin_password must be 12-128 characters with an upper-case letter, a lower-case letter and a digit."
		redisPwMsg    = "The password must be 12-128 characters with an upper-case letter, a lower-case letter and a digit."
		bucketMsg     = "The name must be 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit."
		// Exactly one of the password, its manage flag and
		// keep_existing_password.
		adminOneOf           = "Set exactly one of admin_password, manage_admin_password: true and keep_existing_password: true; "
		adminNoneMsg         = adminOneOf + "none is set."
		adminBothMsg         = adminOneOf + "both are set: admin_password and manage_admin_password: true."
		adminPasswordKeptMsg = adminOneOf + "both are set: admin_password and keep_existing_password: true."
		adminManagedKeptMsg  = adminOneOf + "both are set: manage_admin_password: true and keep_existing_password: true."
		redisOneOf           = "Set exactly one of password, manage_password: true and keep_existing_password: true; "
		redisNoneMsg         = redisOneOf + "none is set."
		redisBothMsg         = redisOneOf + "both are set: password and manage_password: true."
		redisPasswordKeptMsg = redisOneOf + "both are set: password and keep_existing_password: true."
		redisManagedKeptMsg  = redisOneOf + "both are set: manage_password: true and keep_existing_password: true."
	)
	vpc := func(k string, v any) map[string]any {
		p := map[string]any{"name": "main", "cidr": "10.0.0.0/16"}
		p[k] = v
		return p
	}
	subnet := func(k string, v any) map[string]any {
		p := map[string]any{"name": "app", "vpc_id": "vpc-1a2b", "cidr": "10.0.1.0/24"}
		p[k] = v
		return p
	}
	mysql := func(k string, v any) map[string]any {
		p := map[string]any{"name": "orders", "subnet_id": "subnet-1a2b", "admin_password": "Orders-Passw0rd"}
		p[k] = v
		return p
	}
	redis := func(k string, v any) map[string]any {
		p := map[string]any{"name": "cache", "subnet_id": "subnet-1a2b", "password": "Cache-Passw0rd"}
		p[k] = v
		return p
	}
	bucket := func(k string, v any) map[string]any {
		p := map[string]any{"name": "assets"}
		p[k] = v
		return p
	}
	without := func(p map[string]any, k string) map[string]any {
		delete(p, k)
		return p
	}
	with := func(p map[string]any, k string, v any) map[string]any {
		p[k] = v
		return p
	}
	cases := map[string]struct {
		typ   string
		props map[string]any
		// wantAt is where the error must point: check.<property> for a
		// broken rule, parameter.<property> or
		// output.spec.variable.<property> for what CUE itself refuses.
		wantAt  string
		wantMsg string
		// secret must not appear in the error.
		secret string
	}{
		"vpc name with an upper-case letter": {"vpc", vpc("name", "Main"), "check.name", nameMsg, ""},
		"vpc name ending with a dash":        {"vpc", vpc("name", "main-"), "check.name", nameMsg, ""},
		"vpc name of 64 characters":          {"vpc", vpc("name", "a"+strings.Repeat("b", 63)), "check.name", nameMsg, ""},
		// A required property not given renders only once the workflow has
		// filled in inputs (the admission webhook lets it through:
		// TestAdmissionWebhook); CUE then names it as an incomplete value.
		"vpc name missing":                  {"vpc", without(vpc("name", nil), "name"), "output.spec.variable.name", "incomplete value string", ""},
		"vpc cidr prefix too short":         {"vpc", vpc("cidr", "10.0.0.0/8"), "check.cidr", vpcCIDRMsg, ""},
		"vpc cidr prefix too long":          {"vpc", vpc("cidr", "10.0.0.0/29"), "check.cidr", vpcCIDRMsg, ""},
		"vpc cidr with three octets":        {"vpc", vpc("cidr", "10.0.0/16"), "check.cidr", vpcCIDRMsg, ""},
		"vpc cidr with an octet over 255":   {"vpc", vpc("cidr", "10.256.0.0/16"), "check.cidr", vpcCIDRMsg, ""},
		"vpc cidr with a leading zero":      {"vpc", vpc("cidr", "10.01.0.0/16"), "check.cidr", vpcCIDRMsg, ""},
		"vpc cidr without a prefix":         {"vpc", vpc("cidr", "10.0.0.0"), "check.cidr", vpcCIDRMsg, ""},
		"vpc cidr that is a word":           {"vpc", vpc("cidr", "default"), "check.cidr", vpcCIDRMsg, ""},
		"subnet cidr prefix /30":            {"subnet", subnet("cidr", "10.0.1.0/30"), "check.cidr", subnetCIDRMsg, ""},
		"subnet vpc_id of a subnet":         {"subnet", subnet("vpc_id", "subnet-1a2b"), "check.vpc_id", "The vpc_id must be a VPC id such as vpc-1a2b3c4d.", ""},
		"subnet zone with two letters":      {"subnet", subnet("zone", "zone-ab"), "check.zone", "The zone must look like zone-a.", ""},
		"subnet zone that does not exist":   {"subnet", subnet("zone", "zone-z"), "check.zone", "The zone must be one of zone-a, zone-b, zone-c: mycloud has no other zone.", ""},
		"subnet name with an underscore":    {"subnet", subnet("name", "my_app"), "check.name", "The name must be", ""},
		"mysql storage too small":           {"mysql", mysql("storage_gib", 10), "check.storage_gib", storageMsg, ""},
		"mysql storage too large":           {"mysql", mysql("storage_gib", 16385), "check.storage_gib", storageMsg, ""},
		"mysql storage not whole":           {"mysql", mysql("storage_gib", 20.5), "check.storage_gib", storageMsg, ""},
		"mysql engine_version not offered":  {"mysql", mysql("engine_version", "9.0"), "check.engine_version", "The engine_version must be 5.7 or 8.0.", ""},
		"mysql instance_class not offered":  {"mysql", mysql("instance_class", "db.huge"), "check.instance_class", "The instance_class must be db.small, db.medium or db.large.", ""},
		"mysql subnet_id of a vpc":          {"mysql", mysql("subnet_id", "vpc-1a2b"), "check.subnet_id", "The subnet_id must be a subnet id such as subnet-1a2b3c4d.", ""},
		"mysql password too short":          {"mysql", mysql("admin_password", "Short-Pw0rd"), "check.admin_password", adminPwMsg, "Short-Pw0rd"},
		"mysql password too long":           {"mysql", mysql("admin_password", "Aa1"+strings.Repeat("x", 126)), "check.admin_password", adminPwMsg, "Aa1" + strings.Repeat("x", 126)},
		"mysql password without upper case": {"mysql", mysql("admin_password", "weak-passw0rd"), "check.admin_password", adminPwMsg, "weak-passw0rd"},
		"mysql password without lower case": {"mysql", mysql("admin_password", "WEAK-PASSW0RD"), "check.admin_password", adminPwMsg, "WEAK-PASSW0RD"},
		"mysql password without a digit":    {"mysql", mysql("admin_password", "Weak-Password"), "check.admin_password", adminPwMsg, "Weak-Password"},
		"mysql password missing":            {"mysql", without(mysql("admin_password", nil), "admin_password"), "check.admin_password", adminNoneMsg, ""},
		"mysql manage false, no password":   {"mysql", without(mysql("manage_admin_password", false), "admin_password"), "check.admin_password", adminNoneMsg, ""},
		"mysql password and manage":         {"mysql", mysql("manage_admin_password", true), "check.manage_admin_password", adminBothMsg, "Orders-Passw0rd"},
		"mysql manage not a bool":           {"mysql", without(mysql("manage_admin_password", "yes"), "admin_password"), "output.spec.variable.manage_admin_password", `conflicting values bool and "yes"`, ""},
		"mysql keep false, no password":     {"mysql", without(mysql("keep_existing_password", false), "admin_password"), "check.admin_password", adminNoneMsg, ""},
		"mysql password and keep":           {"mysql", mysql("keep_existing_password", true), "check.keep_existing_password", adminPasswordKeptMsg, "Orders-Passw0rd"},
		"mysql password, manage and keep":   {"mysql", with(mysql("keep_existing_password", true), "manage_admin_password", true), "check.manage_admin_password", adminBothMsg, "Orders-Passw0rd"},
		"mysql manage and keep":             {"mysql", with(without(mysql("keep_existing_password", true), "admin_password"), "manage_admin_password", true), "check.keep_existing_password", adminManagedKeptMsg, ""},
		"mysql keep not a bool":             {"mysql", without(mysql("keep_existing_password", "yes"), "admin_password"), "output.spec.variable.keep_existing_password", `conflicting values bool and "yes"`, ""},
		// A value of the wrong type names the type, not "2 errors in empty
		// disjunction" (a default in the parameter would be a disjunction).
		"redis memory a string":      {"redis", redis("memory_mib", "lots"), "output.spec.variable.memory_mib", `conflicting values number and "lots"`, ""},
		"redis version a number":     {"redis", redis("redis_version", 1), "output.spec.variable.redis_version", "conflicting values string and 1", ""},
		"subnet zone a number":       {"subnet", subnet("zone", 1), "output.spec.variable.zone", "conflicting values string and 1", ""},
		"bucket versioning a string": {"bucket", bucket("versioning", "yes"), "output.spec.variable.versioning", `conflicting values bool and "yes"`, ""},
		// The cloud's rules that need no lookup (internal/mycloud/rules).
		"vpc cidr with host bits":            {"vpc", vpc("cidr", "10.0.0.1/16"), "check.cidr", "The cidr 10.0.0.1/16 has host bits set: the block starts at 10.0.0.0/16; use that.", ""},
		"vpc cidr public":                    {"vpc", vpc("cidr", "8.8.0.0/16"), "check.cidr", "The cidr 8.8.0.0/16 is not a private IPv4 block: a VPC must lie inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.", ""},
		"subnet cidr with host bits":         {"subnet", subnet("cidr", "10.0.1.1/24"), "check.cidr", "the block starts at 10.0.1.0/24", ""},
		"vpc 100 tags":                       {"vpc", vpc("tags", manyTags(100)), "check.tags", "The tags hold 100 tags: mycloud allows at most 50.", ""},
		"bucket empty tag key":               {"bucket", bucket("tags", map[string]any{"": "x"}), "check.tags", `The tag key \"\" must be 1-128 characters.`, ""},
		"redis tag value too long":           {"redis", redis("tags", map[string]any{"note": strings.Repeat("x", 257)}), "check.tags", `The value of tag \"note\" is longer than 256 characters`, ""},
		"redis password missing":             {"redis", without(redis("password", nil), "password"), "check.password", redisNoneMsg, ""},
		"redis password and manage":          {"redis", redis("manage_password", true), "check.manage_password", redisBothMsg, "Cache-Passw0rd"},
		"redis password and keep":            {"redis", redis("keep_existing_password", true), "check.keep_existing_password", redisPasswordKeptMsg, "Cache-Passw0rd"},
		"redis manage and keep":              {"redis", with(without(redis("keep_existing_password", true), "password"), "manage_password", true), "check.keep_existing_password", redisManagedKeptMsg, ""},
		"mysql name missing":                 {"mysql", without(mysql("name", nil), "name"), "output.spec.variable.name", "incomplete value string", "Orders-Passw0rd"},
		"mysql subnet_id missing":            {"mysql", without(mysql("subnet_id", nil), "subnet_id"), "output.spec.variable.subnet_id", "incomplete value string", "Orders-Passw0rd"},
		"mysql misspelt property":            {"mysql", mysql("storage", 50), "parameter.storage", "field not allowed", "Orders-Passw0rd"},
		"redis memory not a multiple of 256": {"redis", redis("memory_mib", 300), "check.memory_mib", memoryMsg, ""},
		"redis memory not whole":             {"redis", redis("memory_mib", 256.5), "check.memory_mib", memoryMsg, ""},
		"redis memory too small":             {"redis", redis("memory_mib", 128), "check.memory_mib", memoryMsg, ""},
		"redis memory too large":             {"redis", redis("memory_mib", 65792), "check.memory_mib", memoryMsg, ""},
		"redis version not offered":          {"redis", redis("redis_version", "5.0"), "check.redis_version", "The redis_version must be 6.2 or 7.0.", ""},
		"redis weak password":                {"redis", redis("password", "cachepassword"), "check.password", redisPwMsg, "cachepassword"},
		"bucket name with two dots":          {"bucket", bucket("name", "assets..shop"), "check.name", bucketMsg, ""},
		"bucket name starting with a dash":   {"bucket", bucket("name", "-assets"), "check.name", bucketMsg, ""},
		"bucket name of two characters":      {"bucket", bucket("name", "ab"), "check.name", bucketMsg, ""},
		"bucket acl not offered":             {"bucket", bucket("acl", "public"), "check.acl", "The acl must be private or public-read.", ""},
		"vpc-ref id of a subnet":             {"vpc-ref", map[string]any{"id": "subnet-1a2b"}, "check.id", "The id must be a VPC id such as vpc-1a2b3c4d.", ""},
		"redis-ref id missing":               {"redis-ref", map[string]any{}, "output.spec.variable.id", "incomplete value string", ""},
		"mysql-ref a property it lacks":      {"mysql-ref", map[string]any{"id": "mysql-1a2b", "name": "orders"}, "parameter.name", "field not allowed", ""},
		"bucket tag that is not a string":    {"bucket", bucket("tags", map[string]any{"n": 1}), "parameter.tags.n", "conflicting values 1 and string", ""},
		"secret name with upper case": {"vpc", vpc("writeConnectionSecretToRef", map[string]any{"name": "Net_Secret"}),
			"check.writeConnectionSecretToRef.name", "must be a Secret name", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs, err := dryRun(t, defs, app(t, tc.typ, tc.props))
			if err == nil {
				t.Fatalf("rendered %d objects, want an error at %s", len(objs), tc.wantAt)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantAt+":") || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error does not name %s with %q:\n%s", tc.wantAt, tc.wantMsg, msg)
			}
			if tc.secret != "" && strings.Contains(msg, tc.secret) {
				t.Errorf("the error echoes the password:\n%s", msg)
			}
		})
	}
}

// TestExampleApplication renders addons/terraform-mycloud/examples/app.yaml.
// Its subnet and databases take ids from other components' outputs through
// `inputs`; the deploy workflow fills those in before it renders a
// component, so the test does the same with ids of the right shape, and
// checks that each output the example reads is an output of the module.
func TestExampleApplication(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(repoPath(t, "addons/terraform-mycloud/examples/app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       struct {
			Components []struct {
				Name       string         `json:"name"`
				Type       string         `json:"type"`
				DependsOn  []string       `json:"dependsOn,omitempty"`
				Properties map[string]any `json:"properties"`
				Inputs     []struct {
					From         string `json:"from"`
					ParameterKey string `json:"parameterKey"`
				} `json:"inputs,omitempty"`
				Outputs []struct {
					Name      string `json:"name"`
					ValueFrom string `json:"valueFrom"`
				} `json:"outputs,omitempty"`
			} `json:"components"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(raw, &a); err != nil {
		t.Fatalf("examples/app.yaml: %v", err)
	}
	outputRE := regexp.MustCompile(`^output\.status\.apply\.outputs\.([a-z_]+)\.value$`)
	ids := map[string]string{}    // output name → a value of its shape
	typeOf := map[string]string{} // component → resource type
	for _, c := range a.Spec.Components {
		typeOf[c.Name] = strings.TrimPrefix(c.Type, "mycloud-")
		for _, o := range c.Outputs {
			m := outputRE.FindStringSubmatch(o.ValueFrom)
			if m == nil {
				t.Fatalf("component %s: output %s reads %q, not a Configuration output", c.Name, o.Name, o.ValueFrom)
			}
			if !strings.Contains(module(t, typeOf[c.Name]), `output "`+m[1]+`"`) {
				t.Fatalf("component %s: output %s reads %q, which definitions/modules/%s does not output", c.Name, o.Name, m[1], typeOf[c.Name])
			}
			ids[o.Name] = typeOf[c.Name] + "-0example"
		}
	}
	want := map[string]string{} // component → the id an input gave it
	for i, c := range a.Spec.Components {
		for _, in := range c.Inputs {
			v, ok := ids[in.From]
			key, isProp := strings.CutPrefix(in.ParameterKey, "properties.")
			if !ok || !isProp {
				t.Fatalf("component %s: input %+v reads no output of another component or sets no property", c.Name, in)
			}
			a.Spec.Components[i].Properties[key] = v
			want[c.Name+"."+key] = v
		}
	}
	filled, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := dryRun(t, repoPath(t, componentsDir), filled)
	if err != nil {
		t.Fatalf("the example does not render: %v", err)
	}
	var got []string
	for _, obj := range objs {
		c, vars := configuration(t, obj)
		typ := typeOf[c.Name]
		got = append(got, c.Name)
		if c.Spec.HCL != module(t, typ) {
			t.Errorf("%s: spec.hcl is not definitions/modules/%s/main.tf", c.Name, typ)
		}
		for k, v := range want {
			if comp, key, _ := strings.Cut(k, "."); comp == c.Name && vars[key] != v {
				t.Errorf("%s: variable %s = %v, want %s from the input", c.Name, key, vars[key], v)
			}
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"assets", "orders-db", "sessions", "shop-network", "shop-subnet"}, got); diff != "" {
		t.Errorf("rendered Configurations (-want +got):\n%s", diff)
	}
}

// TestVelaDefVet runs `vela def vet` on every definition file of both
// addons: the ComponentDefinitions and the workflow step definitions.
func TestVelaDefVet(t *testing.T) {
	t.Parallel()
	// stepsDir also holds the trait drift-detection.
	for dir, want := range map[string]int{componentsDir: len(types), stepsDir: len(steps) + 1} {
		files, err := filepath.Glob(filepath.Join(repoPath(t, dir), "*.cue"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != want {
			t.Errorf("%s holds %d .cue files, want %d", dir, len(files), want)
		}
		for _, f := range files {
			stdout, stderr, err := vela(t, "", "def", "vet", f)
			if err != nil || !strings.Contains(stdout, "Validation "+f+" succeed.") {
				t.Errorf("vela def vet %s: %v\n%s", f, err, velaError(stdout+stderr))
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// manyTags is n distinct tags.
func manyTags(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("k%03d", i)] = "v"
	}
	return m
}
