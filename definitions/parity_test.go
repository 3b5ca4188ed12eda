package definitions_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/vela-infra/vela-infra/internal/mycloud/rules"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

// TestRulesAgreeWithTheModules holds the definitions' render-time checks
// against the modules' own validation blocks, evaluated by the real
// Terraform CLI, for a table of values per variable. A definition must never
// accept what its module rejects; it may reject what the module accepts
// only when the cloud rejects it too (internal/mycloud/rules), as for a CIDR
// with a leading zero, which Terraform 1.5's cidrnetmask accepts.
// Passwords, which the modules leave unvalidated, are held against the
// cloud's password policy instead.
func TestRulesAgreeWithTheModules(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return "a" + strings.Repeat("b", n-1) }
	names := []any{"main", "a1", "a-b-9", long(63), "a", "1abc", "abc-", "ab_c", "Abc", long(64), ""}
	cloudName := func(v any) bool { return rules.Name(v.(string)) == nil }
	samples := map[string]map[string]struct {
		values []any
		// cloud is the cloud's verdict, where internal/mycloud/rules has one.
		cloud func(any) bool
	}{
		"vpc": {
			"name": {names, cloudName},
			"cidr": {[]any{"10.0.0.0/16", "192.168.0.0/28", "172.16.0.0/20", "10.0.0.1/16", "8.8.8.0/24", "10.0.0.0/15", "10.0.0.0/29",
				"010.0.0.0/16", "10.0.0/16", "256.0.0.0/16", "fd00::/16", "10.0.0.0", "10.0.0.0/16 ", "ten"},
				func(v any) bool { return rules.VPCCIDR(v.(string)) == nil }},
		},
		"subnet": {
			"name":   {names, cloudName},
			"vpc_id": {[]any{"vpc-1a2b", "vpc-0", "vpc-", "subnet-1a2b", "vpc-ABC", "vpc-a_b"}, func(v any) bool { return rules.ID("vpc-", v.(string)) == nil }},
			"cidr": {[]any{"10.0.1.0/24", "10.0.1.0/29", "10.0.0.0/16", "10.0.1.0/30", "10.0.0.0/15", "10.00.1.0/24", "10.0.1.0/33"},
				func(v any) bool { return rules.SubnetCIDR(v.(string)) == nil }},
			"zone": {[]any{"zone-a", "zone-b", "zone-c", "zone-d", "zone-z", "zone-ab", "zone-1", "Zone-a", ""}, func(v any) bool { return rules.Zone(v.(string)) == nil }},
		},
		"mysql": {
			"name":           {names, cloudName},
			"subnet_id":      {[]any{"subnet-1a2b", "subnet-", "vpc-1a2b", "subnet-A"}, func(v any) bool { return rules.ID("subnet-", v.(string)) == nil }},
			"engine_version": {[]any{"5.7", "8.0", "8", "9.0", ""}, nil},
			"instance_class": {[]any{"db.small", "db.medium", "db.large", "db.huge", "small"}, nil},
			"storage_gib":    {[]any{20, 100, 16384, 19, 16385, 20.5, 0, -20}, nil},
		},
		"redis": {
			"name":          {names, cloudName},
			"redis_version": {[]any{"6.2", "7.0", "7", "5.0"}, nil},
			"memory_mib":    {[]any{256, 1024, 65536, 255, 300, 65792, 256.5, 0}, nil},
		},
		"bucket": {
			"name": {[]any{"abc", "a.b", "a-b.c", "assets.shop-1", long(63), "ab", "a..b", ".ab", "ab.", "ab-", "Abc", "a_b", long(64)},
				func(v any) bool { return rules.BucketName(v.(string)) == nil }},
			"acl": {[]any{"private", "public-read", "public", ""}, nil},
		},
	}
	good := map[string]map[string]any{
		"vpc":    {"name": "main", "cidr": "10.0.0.0/16"},
		"subnet": {"name": "app", "vpc_id": "vpc-1a2b", "cidr": "10.0.1.0/24"},
		"mysql":  {"name": "orders", "subnet_id": "subnet-1a2b", "admin_password": "Orders-Passw0rd"},
		"redis":  {"name": "cache", "subnet_id": "subnet-1a2b", "password": "Cache-Passw0rd"},
		"bucket": {"name": "assets"},
	}
	defs := repoPath(t, componentsDir)
	for typ, vars := range samples {
		tf := newVariablesWorkspace(t, typ)
		for variable, s := range vars {
			for _, value := range s.values {
				props := map[string]any{}
				for k, v := range good[typ] {
					props[k] = v
				}
				props[variable] = value
				t.Run(fmt.Sprintf("%s %s=%q", typ, variable, fmt.Sprint(value)), func(t *testing.T) {
					t.Parallel()
					moduleOK := tf.accepts(t, props, variable)
					_, err := dryRun(t, defs, app(t, typ, props))
					if err != nil && !strings.Contains(err.Error(), "check."+variable+":") {
						t.Fatalf("the definition fails, but not at check.%s: %v", variable, err)
					}
					switch cueOK := err == nil; {
					case cueOK && !moduleOK:
						t.Errorf("the definition accepts what the module's validation rejects")
					case !cueOK && moduleOK && (s.cloud == nil || s.cloud(value)):
						t.Errorf("the definition rejects what the module (and the cloud) accept: %v", err)
					}
				})
			}
		}
	}

	// The passwords: the cloud's policy, in bytes, and Unicode classes.
	for _, pw := range []string{"Orders-Passw0rd", "Abcdefghijk1", "ÄÖÜäöü12", "Äbcdefghij1", "Aa1" + strings.Repeat("x", 125),
		"Abcdefghij1", "abcdefghijk1", "ABCDEFGHIJK1", "Abcdefghijkl", "Aa1" + strings.Repeat("x", 126), "", "ÄÖÜäöü1"} {
		for typ, variable := range map[string]string{"mysql": "admin_password", "redis": "password"} {
			props := map[string]any{}
			for k, v := range good[typ] {
				props[k] = v
			}
			props[variable] = pw
			t.Run(fmt.Sprintf("%s %s of %d bytes", typ, variable, len(pw)), func(t *testing.T) {
				t.Parallel()
				_, err := dryRun(t, defs, app(t, typ, props))
				if err != nil && !strings.Contains(err.Error(), "check."+variable+":") {
					t.Fatalf("fails, but not at check.%s: %v", variable, err)
				}
				if cueOK, cloudOK := err == nil, rules.Password(pw) == nil; cueOK != cloudOK {
					t.Errorf("the definition accepts it: %v; the cloud's password policy: %v", cueOK, cloudOK)
				}
			})
		}
	}
}

// TestExactlyOneOfAgreesWithTheProvider holds the definitions' check that
// exactly one of a database's password, its manage flag and
// keep_existing_password is given against `terraform plan` of the real
// module (its precondition says the same rule) with the real provider, for
// every combination, twice: for an instance that exists (an import block
// adopts it; its owners set its password) and for a create. For an instance
// that exists, both must refuse the same ones. A create differs in one:
// keep_existing_password alone, which the definition admits (it cannot know
// whether the instance exists) and the provider refuses, as the cloud would,
// naming the password and the manage flag. Every refusal names the password
// and the manage flag (the definition's keep_existing_password too), and
// none echoes a password.
func TestExactlyOneOfAgreesWithTheProvider(t *testing.T) {
	t.Parallel()
	const (
		pw       = "Sentinel-Parity-Passw0rd"
		ownersPw = "Sentinel-Owners-Passw0rd"
		keep     = "keep_existing_password"
	)
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	cloud.MustAdmin(http.MethodPost, "seed", map[string]any{
		"vpcs":            []map[string]any{{"id": "vpc-1a2b", "name": "parity", "cidr": "10.80.0.0/16"}},
		"subnets":         []map[string]any{{"id": "subnet-1a2b", "name": "parity", "vpc_id": "vpc-1a2b", "cidr": "10.80.1.0/24"}},
		"mysql-instances": []map[string]any{{"id": "mysql-parity01", "name": "parity", "subnet_id": "subnet-1a2b", "admin_password": ownersPw}},
		"redis-instances": []map[string]any{{"id": "redis-parity01", "name": "parity", "subnet_id": "subnet-1a2b", "password": ownersPw}},
	}, nil)
	defs := repoPath(t, componentsDir)
	// named matches a property's name, not the end of a longer one
	// (password in manage_password).
	named := func(msg, name string) bool { return regexp.MustCompile(`\b` + name + `\b`).MatchString(msg) }
	for typ, names := range map[string][2]string{"mysql": {"admin_password", "manage_admin_password"}, "redis": {"password", "manage_password"}} {
		password, flag := names[0], names[1]
		create := mycloudtest.NewWorkspace(t, cloud, map[string]string{"main.tf": module(t, typ)})
		create.MustRun("init", "-input=false")
		exists := mycloudtest.NewWorkspace(t, cloud, map[string]string{"main.tf": module(t, typ),
			"import.tf": fmt.Sprintf("import {\n  to = mycloud_%s.this\n  id = %q\n}\n", typ, typ+"-parity01")})
		exists.MustRun("init", "-input=false")
		for _, given := range []bool{true, false} {
			for _, managed := range []any{nil, false, true} {
				for _, kept := range []any{nil, true} {
					props := map[string]any{"name": "parity", "subnet_id": "subnet-1a2b"}
					args := []string{"plan", "-input=false", "-lock=false", "-var", "name=parity", "-var", "subnet_id=subnet-1a2b"}
					if given {
						props[password] = pw
						args = append(args, "-var", password+"="+pw)
					}
					if managed != nil {
						props[flag] = managed
						args = append(args, "-var", fmt.Sprintf("%s=%v", flag, managed))
					}
					if kept != nil {
						props[keep] = kept
						args = append(args, "-var", fmt.Sprintf("%s=%v", keep, kept))
					}
					t.Run(fmt.Sprintf("%s %s given=%v %s=%v %s=%v", typ, password, given, flag, managed, keep, kept), func(t *testing.T) {
						t.Parallel()
						n := 0
						for _, set := range []bool{given, managed == true, kept == true} {
							if set {
								n++
							}
						}
						oneOf := n == 1
						_, renderErr := dryRun(t, defs, app(t, typ, props))
						if (renderErr == nil) != oneOf {
							t.Fatalf("the definition: want accepted=%v, got %v", oneOf, renderErr)
						}
						if renderErr != nil {
							for _, name := range []string{password, flag, keep} {
								if !named(renderErr.Error(), name) {
									t.Errorf("the definition does not name %s:\n%v", name, renderErr)
								}
							}
						}
						for _, w := range []struct {
							what   string
							w      *mycloudtest.Workspace
							accept bool
						}{
							{"terraform plan of the existing instance", exists, oneOf},
							// Kept alone: there is no instance to keep.
							{"terraform plan of a create", create, oneOf && kept != true},
						} {
							out, planErr := w.w.Run(args...)
							if (planErr == nil) != w.accept {
								t.Fatalf("%s: want accepted=%v, got %v\n%s", w.what, w.accept, planErr, out)
							}
							if planErr != nil && (!named(out, password) || !named(out, flag)) {
								t.Errorf("%s does not name both %s and %s:\n%s", w.what, password, flag, out)
							}
							if planErr != nil && oneOf && !strings.Contains(out, "Missing "+password+" or "+flag) {
								t.Errorf("%s: want the provider's refusal of a create without a password:\n%s", w.what, out)
							}
							if strings.Contains(out, pw) || strings.Contains(out, ownersPw) {
								t.Errorf("%s echoes a password:\n%s", w.what, out)
							}
						}
						if renderErr != nil && (strings.Contains(renderErr.Error(), pw) || strings.Contains(renderErr.Error(), ownersPw)) {
							t.Errorf("the definition echoes a password:\n%s", renderErr)
						}
					})
				}
			}
		}
	}
}

// variablesWorkspace is a Terraform working directory with only the
// variable blocks of a module, taken verbatim from its main.tf: `terraform
// plan` evaluates their validation without a provider or a cloud.
type variablesWorkspace struct {
	dir       string
	terraform string
	env       []string
	// lines maps a variable to the first and last line of its block in
	// variables.tf.
	lines map[string][2]int
}

func newVariablesWorkspace(t *testing.T, typ string) *variablesWorkspace {
	t.Helper()
	terraform := repoPath(t, "bin/terraform")
	if _, err := os.Stat(terraform); err != nil {
		t.Fatalf("terraform not found at %s: run make tools", terraform)
	}
	src := []byte(module(t, typ))
	f, diags := hclparse.NewParser().ParseHCL(src, "main.tf")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	w := &variablesWorkspace{dir: t.TempDir(), terraform: terraform, lines: map[string][2]int{}}
	var vars []string
	line := 1
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "variable" {
			text := string(b.Range().SliceBytes(src))
			n := strings.Count(text, "\n")
			w.lines[b.Labels[0]] = [2]int{line, line + n}
			line += n + 2 // the block, then a blank line
			vars = append(vars, text)
		}
	}
	rc := filepath.Join(w.dir, "terraformrc")
	if err := os.WriteFile(rc, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "variables.tf"), []byte(strings.Join(vars, "\n\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
	if out, err := w.run("init", "-input=false", "-backend=false"); err != nil {
		t.Fatalf("terraform init: %v\n%s", err, out)
	}
	return w
}

func (w *variablesWorkspace) run(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.terraform, args...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	return cmd.CombinedOutput()
}

// accepts runs terraform plan with props as variables and reports whether
// the validation of variable passed: an error inside its block (the
// validation failed, or its condition could not be evaluated) rejects the
// value; any other error fails the test.
func (w *variablesWorkspace) accepts(t *testing.T, props map[string]any, variable string) bool {
	t.Helper()
	args := []string{"plan", "-input=false", "-json", "-refresh=false", "-lock=false"}
	for k, v := range props {
		args = append(args, "-var", fmt.Sprintf("%s=%v", k, v))
	}
	out, _ := w.run(args...)
	ok := true
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Diagnostic *struct {
				Severity, Summary, Detail string
				Range                     *struct {
					Filename string
					Start    struct{ Line int }
				}
			}
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Diagnostic == nil || line.Diagnostic.Severity != "error" {
			continue
		}
		d := line.Diagnostic
		block := w.lines[variable]
		if d.Range == nil || d.Range.Filename != "variables.tf" || d.Range.Start.Line < block[0] || d.Range.Start.Line > block[1] {
			t.Fatalf("terraform plan %v: error %q outside variable %q: %s", props, d.Summary, variable, d.Detail)
		}
		ok = false
	}
	return ok
}

// TestCloudRulesAgreeWithTheSimulator holds the render-time checks of the
// cloud's own rules (those that need no lookup: CIDR blocks, zones, tags)
// to exactly the verdicts of internal/mycloud/rules, which the simulator
// enforces: for each value, rendering accepts it if and only if the rule
// does, and a refusal names the property at check.<property>.
func TestCloudRulesAgreeWithTheSimulator(t *testing.T) {
	t.Parallel()
	str := func(rule func(string) error) func(any) error { return func(v any) error { return rule(v.(string)) } }
	tagRule := func(v any) error {
		m := map[string]string{}
		for k, x := range v.(map[string]any) {
			m[k] = x.(string)
		}
		return rules.Tags(m)
	}
	tagValues := []any{manyTags(0), manyTags(1), manyTags(50), manyTags(51), manyTags(100),
		map[string]any{"": "x"}, map[string]any{"team": "shop", "": ""},
		map[string]any{strings.Repeat("k", 128): "v"}, map[string]any{strings.Repeat("k", 129): "v"},
		map[string]any{"k": strings.Repeat("v", 256)}, map[string]any{"k": strings.Repeat("v", 257)},
		// Lengths are in bytes, in both: 64 and 65 two-byte runes.
		map[string]any{strings.Repeat("é", 64): "v"}, map[string]any{strings.Repeat("é", 65): "v"},
		map[string]any{"k": strings.Repeat("é", 129)}}
	cases := []struct {
		typ, property string
		values        []any
		rule          func(any) error
	}{
		{"vpc", "cidr", []any{"10.0.0.0/16", "172.16.0.0/16", "172.31.255.240/28", "192.168.0.0/16", "10.255.255.0/24",
			"10.0.0.1/16", "10.0.1.0/16", "192.168.1.1/28", "10.0.0.8/28", "10.0.0.16/28",
			"8.8.8.0/24", "172.32.0.0/16", "172.15.0.0/16", "192.169.0.0/16", "11.0.0.0/16", "0.0.0.0/16", "255.255.255.0/24", "100.64.0.0/16", "169.254.0.0/16",
			"10.0.0.0/15", "10.0.0.0/29", "172.16.0.0/12", "010.0.0.0/16", "10.0.0.0/016", " 10.0.0.0/16", "10.0.0.0", "fd00::/16", "10.0.0.0/16/16"},
			str(rules.VPCCIDR)},
		{"subnet", "cidr", []any{"10.0.1.0/24", "8.8.8.0/24", "10.0.1.8/29", "10.0.1.4/29", "10.0.1.0/30", "10.0.0.0/15",
			"192.168.0.128/25", "192.168.0.64/25", "192.168.0.64/26", "10.0.255.255/16", "10.1.0.0/16"},
			str(rules.SubnetCIDR)},
		{"subnet", "zone", []any{"zone-a", "zone-b", "zone-c", "zone-d", "zone-z", "zone-ab", "Zone-a", ""}, str(rules.Zone)},
		{"vpc", "tags", tagValues, tagRule},
		{"subnet", "tags", tagValues, tagRule},
		{"mysql", "tags", tagValues, tagRule},
		{"redis", "tags", tagValues, tagRule},
		{"bucket", "tags", tagValues, tagRule},
	}
	good := map[string]map[string]any{
		"vpc":    {"name": "main", "cidr": "10.0.0.0/16"},
		"subnet": {"name": "app", "vpc_id": "vpc-1a2b", "cidr": "10.0.1.0/24"},
		"mysql":  {"name": "orders", "subnet_id": "subnet-1a2b", "manage_admin_password": true},
		"redis":  {"name": "cache", "subnet_id": "subnet-1a2b", "manage_password": true},
		"bucket": {"name": "assets"},
	}
	defs := repoPath(t, componentsDir)
	for _, tc := range cases {
		for _, value := range tc.values {
			props := maps.Clone(good[tc.typ])
			props[tc.property] = value
			desc := fmt.Sprint(value)
			if len(desc) > 40 {
				desc = fmt.Sprintf("%.40s... (%d bytes)", desc, len(desc))
			}
			t.Run(fmt.Sprintf("%s %s=%s", tc.typ, tc.property, desc), func(t *testing.T) {
				t.Parallel()
				_, err := dryRun(t, defs, app(t, tc.typ, props))
				cloudErr := tc.rule(value)
				switch {
				case err == nil && cloudErr != nil:
					t.Errorf("the definition accepts what mycloud refuses: %v", cloudErr)
				case err != nil && cloudErr == nil:
					t.Errorf("the definition refuses what mycloud accepts: %v", err)
				case err != nil && !strings.Contains(err.Error(), "check."+tc.property+": "):
					t.Errorf("the definition refuses it, but not at check.%s: %v", tc.property, err)
				}
			})
		}
	}
}
