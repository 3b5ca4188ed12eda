// Package modules holds the Terraform modules the mycloud
// ComponentDefinitions wrap, one directory per resource type. Its tests run
// each module with the real Terraform CLI and the real provider (installed
// from a filesystem mirror) against a real mycloud process.
package modules

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

func workspace(t *testing.T, cloud *mycloudtest.Cloud, module string, extra map[string]string) *mycloudtest.Workspace {
	t.Helper()
	hcl, err := os.ReadFile(filepath.Join(module, "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"main.tf": string(hcl)}
	for k, v := range extra {
		files[k] = v
	}
	return mycloudtest.NewWorkspace(t, cloud, files)
}

func outputs(t *testing.T, w *mycloudtest.Workspace) map[string]string {
	t.Helper()
	var raw map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal([]byte(w.MustRun("output", "-json")), &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range raw {
		b, _ := json.Marshal(v.Value)
		out[k] = strings.Trim(string(b), `"`)
	}
	return out
}

func TestEveryModuleAppliesAndDestroys(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 200 * time.Millisecond})
	const pw = "Sentinel-ModPassw0rd"

	vpc := workspace(t, cloud, "vpc", nil)
	vpc.MustRun("init", "-input=false")
	vpc.MustRun("apply", "-input=false", "-auto-approve", "-var", "name=main", "-var", "cidr=10.0.0.0/16")
	vpcID := outputs(t, vpc)["id"]

	subnet := workspace(t, cloud, "subnet", nil)
	subnet.MustRun("init", "-input=false")
	subnet.MustRun("apply", "-input=false", "-auto-approve", "-var", "name=app", "-var", "vpc_id="+vpcID, "-var", "cidr=10.0.1.0/24")
	subnetID := outputs(t, subnet)["id"]

	others := map[string][]string{
		"mysql":  {"-var", "name=orders", "-var", "subnet_id=" + subnetID, "-var", "admin_password=" + pw, "-var", "storage_gib=50"},
		"redis":  {"-var", "name=cache", "-var", "subnet_id=" + subnetID, "-var", "password=" + pw},
		"bucket": {"-var", "name=assets.example", "-var", "versioning=true"},
	}
	for module, vars := range others {
		w := workspace(t, cloud, module, nil)
		w.MustRun("init", "-input=false")
		out := w.MustRun(append([]string{"apply", "-input=false", "-auto-approve"}, vars...)...)
		if strings.Contains(out, pw) {
			t.Fatalf("%s: the password appears in terraform output", module)
		}
		o := outputs(t, w)
		if !strings.HasPrefix(o["id"], map[string]string{"mysql": "mysql-", "redis": "redis-", "bucket": "bucket-"}[module]) {
			t.Fatalf("%s: output id %q", module, o["id"])
		}
		if module == "mysql" && (o["port"] != "3306" || o["admin_password"] != pw) {
			t.Fatalf("mysql outputs %v", o)
		}
		if _, ok := o[map[string]string{"mysql": "admin_password_secret_id", "redis": "password_secret_id"}[module]]; ok {
			t.Fatalf("%s: a secret id output for a given password: %v", module, o)
		}
		// A second plan finds nothing to do: the module and provider agree
		// with the cloud's defaults.
		plan := w.MustRun(append([]string{"plan", "-input=false", "-detailed-exitcode"}, vars...)...)
		if !strings.Contains(plan, "No changes") {
			t.Fatalf("%s: second plan is not empty:\n%s", module, plan)
		}
		if module != "bucket" {
			// Its reference module reads it by id and gives its outputs.
			if ro := useByRef(t, cloud, module, o["id"]); ro["endpoint"] != o["endpoint"] || ro["port"] != o["port"] {
				t.Fatalf("%s-ref outputs %v, want the endpoint and port of %v", module, ro, o)
			}
		}
		w.MustRun(append([]string{"destroy", "-input=false", "-auto-approve"}, vars...)...)
	}
	if ro := useByRef(t, cloud, "vpc", vpcID); ro["cidr"] != "10.0.0.0/16" {
		t.Fatalf("vpc-ref outputs %v", ro)
	}
	if ro := useByRef(t, cloud, "subnet", subnetID); ro["vpc_id"] != vpcID || ro["zone"] != "zone-a" {
		t.Fatalf("subnet-ref outputs %v", ro)
	}
	subnet.MustRun("destroy", "-input=false", "-auto-approve", "-var", "name=app", "-var", "vpc_id="+vpcID, "-var", "cidr=10.0.1.0/24")
	vpc.MustRun("destroy", "-input=false", "-auto-approve", "-var", "name=main", "-var", "cidr=10.0.0.0/16")
	for _, kind := range []string{"vpcs", "subnets", "mysql-instances", "redis-instances", "buckets"} {
		if n := cloud.CountRequests(http.MethodDelete, "/v1/"+kind); n != 1 {
			t.Errorf("%s: want 1 delete, got %d", kind, n)
		}
	}
}

// useByRef applies the module <module>-ref for id, returns its outputs and
// destroys it: a reference creates and deletes nothing (the caller counts
// the cloud's writes).
func useByRef(t *testing.T, cloud *mycloudtest.Cloud, module, id string) map[string]string {
	t.Helper()
	w := workspace(t, cloud, module+"-ref", nil)
	w.MustRun("init", "-input=false")
	w.MustRun("apply", "-input=false", "-auto-approve", "-var", "id="+id)
	o := outputs(t, w)
	if o["id"] != id {
		t.Fatalf("%s-ref: output id %q, want %q", module, o["id"], id)
	}
	w.MustRun("destroy", "-input=false", "-auto-approve", "-var", "id="+id)
	return o
}

func TestModuleVariableValidation(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	// Terraform wraps the precondition's message; the start of it fits.
	const (
		mysqlOneOf = `Set exactly one of admin_password, manage_admin_password = true and`
		redisOneOf = `Set exactly one of password, manage_password = true and`
	)
	cases := []struct {
		module string
		vars   []string
		want   string
	}{
		{"vpc", []string{"name=ok-name", "cidr=10.0.0.0/8"}, `var.cidr`},
		{"vpc", []string{"name=Bad_Name", "cidr=10.0.0.0/16"}, `var.name`},
		{"subnet", []string{"name=app", "vpc_id=subnet-1", "cidr=10.0.1.0/24"}, `var.vpc_id`},
		{"subnet", []string{"name=app", "vpc_id=vpc-1", "cidr=10.0.1.0/24", "zone=eu"}, `var.zone`},
		{"mysql", []string{"name=db", "subnet_id=subnet-1", "admin_password=Aa1aaaaaaaaaaa", "storage_gib=10"}, `var.storage_gib`},
		{"mysql", []string{"name=db", "subnet_id=subnet-1", "admin_password=weak"}, `admin_password must be 12-128`},
		{"mysql", []string{"name=db", "subnet_id=subnet-1", "admin_password=Aa1aaaaaaaaaaa", "engine_version=9"}, `var.engine_version`},
		{"redis", []string{"name=db", "subnet_id=subnet-1", "password=Aa1aaaaaaaaaaa", "memory_mib=300"}, `var.memory_mib`},
		{"redis", []string{"name=db", "subnet_id=subnet-1", "password=weak"}, `password must be 12-128`},
		// Exactly one of the password, the manage flag and
		// keep_existing_password, checked by the module's precondition at
		// plan time.
		{"mysql", []string{"name=db", "subnet_id=subnet-1"}, mysqlOneOf},
		{"mysql", []string{"name=db", "subnet_id=subnet-1", "manage_admin_password=false"}, mysqlOneOf},
		{"mysql", []string{"name=db", "subnet_id=subnet-1", "admin_password=Sentinel-Both-Passw0rd", "manage_admin_password=true"}, mysqlOneOf},
		{"mysql", []string{"name=db", "subnet_id=subnet-1", "admin_password=Sentinel-Both-Passw0rd", "keep_existing_password=true"}, mysqlOneOf},
		{"mysql", []string{"name=db", "subnet_id=subnet-1", "manage_admin_password=true", "keep_existing_password=true"}, mysqlOneOf},
		{"redis", []string{"name=db", "subnet_id=subnet-1"}, redisOneOf},
		{"redis", []string{"name=db", "subnet_id=subnet-1", "password=Sentinel-Both-Passw0rd", "manage_password=true"}, redisOneOf},
		{"redis", []string{"name=db", "subnet_id=subnet-1", "password=Sentinel-Both-Passw0rd", "keep_existing_password=true"}, redisOneOf},
		// keep_existing_password with no instance to keep: the provider
		// refuses the create.
		{"mysql", []string{"name=db", "subnet_id=subnet-1", "keep_existing_password=true"}, `Missing admin_password or manage_admin_password`},
		{"redis", []string{"name=db", "subnet_id=subnet-1", "keep_existing_password=true"}, `Missing password or manage_password`},
		{"bucket", []string{"name=ok-name", "acl=world"}, `var.acl`},
		{"bucket", []string{"name=a..b"}, `var.name`},
	}
	inits := map[string]*mycloudtest.Workspace{}
	for _, tc := range cases {
		w, ok := inits[tc.module]
		if !ok {
			w = workspace(t, cloud, tc.module, nil)
			w.MustRun("init", "-input=false")
			inits[tc.module] = w
		}
		args := []string{"plan", "-input=false"}
		for _, v := range tc.vars {
			args = append(args, "-var", v)
		}
		out, err := w.Run(args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s %v: want an error naming %s, got err=%v\n%s", tc.module, tc.vars, tc.want, err, out)
		}
		if strings.Contains(out, "=weak") || strings.Contains(out, `"weak"`) || strings.Contains(out, "Sentinel-Both-Passw0rd") {
			t.Errorf("%s: the rejected password is echoed:\n%s", tc.module, out)
		}
	}
	if n := len(cloud.Requests()); n != 0 {
		t.Fatalf("bad variables reached the cloud: %d requests", n)
	}
}

// TestManagedPasswordModules: with manage_admin_password / manage_password
// the modules output the id of the secret mycloud keeps and no password, the
// state holds no password, a second plan is empty, and destroy deletes the
// secret with the instance.
func TestManagedPasswordModules(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 200 * time.Millisecond})
	cloud.MustAdmin(http.MethodPost, "seed", map[string]any{
		"vpcs":    []map[string]any{{"id": "vpc-managed01", "name": "managed", "cidr": "10.60.0.0/16"}},
		"subnets": []map[string]any{{"id": "subnet-managed01", "name": "managed", "vpc_id": "vpc-managed01", "cidr": "10.60.1.0/24"}},
	}, nil)
	cli := client.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	for module, c := range map[string]struct{ flag, secretID, password string }{
		"mysql": {"manage_admin_password", "admin_password_secret_id", "admin_password"},
		"redis": {"manage_password", "password_secret_id", "password"},
	} {
		t.Run(module, func(t *testing.T) {
			vars := []string{"-var", "name=managed-" + module, "-var", "subnet_id=subnet-managed01", "-var", c.flag + "=true"}
			w := workspace(t, cloud, module, nil)
			w.MustRun("init", "-input=false")
			w.MustRun(append([]string{"apply", "-input=false", "-auto-approve"}, vars...)...)
			o := outputs(t, w)
			id := o[c.secretID]
			if !strings.HasPrefix(id, "secret-") {
				t.Fatalf("output %s = %q, want a secret id; outputs %v", c.secretID, id, o)
			}
			if _, ok := o[c.password]; ok {
				t.Fatalf("output %s is set for a managed password: %v", c.password, o)
			}
			value, err := cli.SecretValue(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			state := w.MustRun("state", "pull")
			if !strings.Contains(state, id) || strings.Contains(state, value) {
				t.Fatalf("the state should hold the secret id %s and not the password (holds the id: %v)", id, strings.Contains(state, id))
			}
			// terraform-controller copies the state's outputs into the
			// Configuration's status and connection Secret: a null output
			// must not be there at all.
			var st struct {
				Outputs map[string]json.RawMessage `json:"outputs"`
			}
			if err := json.Unmarshal([]byte(state), &st); err != nil {
				t.Fatal(err)
			}
			if _, ok := st.Outputs[c.password]; ok {
				t.Fatalf("the state's outputs hold %s for a managed password", c.password)
			}
			plan := w.MustRun(append([]string{"plan", "-input=false", "-detailed-exitcode"}, vars...)...)
			if !strings.Contains(plan, "No changes") {
				t.Fatalf("second plan is not empty:\n%s", plan)
			}
			w.MustRun(append([]string{"destroy", "-input=false", "-auto-approve"}, vars...)...)
			if _, err := cli.SecretValue(context.Background(), id); !client.IsNotFound(err) {
				t.Fatalf("the secret outlives its instance: %v", err)
			}
		})
	}
}

// TestKeepExistingPasswordModules: an instance whose password its owners
// set is adopted with keep_existing_password: the import plan changes
// nothing, apply sends the cloud nothing but reads, neither the state nor
// the outputs hold a password, and a second plan is empty. A change that
// would replace the instance needs a password, and the plan says so.
func TestKeepExistingPasswordModules(t *testing.T) {
	t.Parallel()
	const pw = "Sentinel-Owners-Passw0rd"
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	cloud.MustAdmin(http.MethodPost, "seed", map[string]any{
		"vpcs":            []map[string]any{{"id": "vpc-kept01", "name": "kept", "cidr": "10.70.0.0/16"}},
		"subnets":         []map[string]any{{"id": "subnet-kept01", "name": "kept", "vpc_id": "vpc-kept01", "cidr": "10.70.1.0/24"}},
		"mysql-instances": []map[string]any{{"id": "mysql-kept01", "name": "kept-db", "subnet_id": "subnet-kept01", "admin_password": pw}},
		"redis-instances": []map[string]any{{"id": "redis-kept01", "name": "kept-cache", "subnet_id": "subnet-kept01", "password": pw}},
	}, nil)
	for module, c := range map[string]struct{ id, name, password, secretID, replace, missing string }{
		"mysql": {"mysql-kept01", "kept-db", "admin_password", "admin_password_secret_id", "engine_version=5.7", "Missing admin_password or manage_admin_password"},
		"redis": {"redis-kept01", "kept-cache", "password", "password_secret_id", "redis_version=6.2", "Missing password or manage_password"},
	} {
		t.Run(module, func(t *testing.T) {
			w := workspace(t, cloud, module, map[string]string{"import.tf": "import {\n  to = mycloud_" + module + ".this\n  id = \"" + c.id + "\"\n}\n"})
			w.MustRun("init", "-input=false")
			vars := []string{"-var", "name=" + c.name, "-var", "subnet_id=subnet-kept01", "-var", "keep_existing_password=true"}
			plan := w.MustRun(append([]string{"plan", "-input=false"}, vars...)...)
			if !strings.Contains(plan, "1 to import, 0 to add, 0 to change, 0 to destroy") {
				t.Fatalf("import plan:\n%s", plan)
			}
			w.MustRun(append([]string{"apply", "-input=false", "-auto-approve"}, vars...)...)
			for _, r := range cloud.Requests() {
				if r.Method != http.MethodGet && strings.HasPrefix(r.Path, "/v1/") {
					t.Fatalf("adopting the instance sent %s %s", r.Method, r.Path)
				}
			}
			o := outputs(t, w)
			if o["id"] != c.id {
				t.Fatalf("output id %q, want %q", o["id"], c.id)
			}
			for _, name := range []string{c.password, c.secretID} {
				if _, ok := o[name]; ok {
					t.Fatalf("output %s is set for a kept password: %v", name, o)
				}
			}
			if strings.Contains(w.MustRun("state", "pull"), pw) {
				t.Fatal("the owners' password is in the state")
			}
			plan = w.MustRun(append([]string{"plan", "-input=false", "-detailed-exitcode"}, vars...)...)
			if !strings.Contains(plan, "No changes") {
				t.Fatalf("second plan is not empty:\n%s", plan)
			}
			out, err := w.Run(append([]string{"plan", "-input=false", "-var", c.replace}, vars...)...)
			if err == nil || !strings.Contains(out, c.missing) {
				t.Fatalf("a plan that replaces the instance: want an error naming %s, got err=%v\n%s", c.missing, err, out)
			}
		})
	}
}

func TestImportBlockAdoptsWithoutRecreate(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{})
	cloud.MustAdmin(http.MethodPost, "seed", map[string]any{
		"vpcs": []map[string]any{{"id": "vpc-legacy01", "name": "legacy", "cidr": "10.30.0.0/16", "tags": map[string]string{"owner": "ops"}}},
	}, nil)
	w := workspace(t, cloud, "vpc", map[string]string{"import.tf": "import {\n  to = mycloud_vpc.this\n  id = \"vpc-legacy01\"\n}\n"})
	w.MustRun("init", "-input=false")
	vars := []string{"-var", "name=legacy", "-var", "cidr=10.30.0.0/16", "-var", `tags={"owner":"ops"}`}
	plan := w.MustRun(append([]string{"plan", "-input=false"}, vars...)...)
	if !strings.Contains(plan, "1 to import, 0 to add, 0 to change, 0 to destroy") {
		t.Fatalf("import plan:\n%s", plan)
	}
	w.MustRun(append([]string{"apply", "-input=false", "-auto-approve"}, vars...)...)
	if got := outputs(t, w)["id"]; got != "vpc-legacy01" {
		t.Fatalf("imported id %q", got)
	}
	if n := cloud.CountRequests(http.MethodPost, "/v1/vpcs") + cloud.CountRequests(http.MethodDelete, "/v1/vpcs"); n != 0 {
		t.Fatalf("import created or deleted %d VPCs", n)
	}
	// Generated configuration for an import without a resource block.
	gen := mycloudtest.NewWorkspace(t, cloud, map[string]string{"main.tf": "import {\n  to = mycloud_vpc.legacy\n  id = \"vpc-legacy01\"\n}\nterraform {\n  required_providers {\n    mycloud = { source = \"vela-infra/mycloud\" }\n  }\n}\n"})
	gen.MustRun("init", "-input=false")
	gen.MustRun("plan", "-input=false", "-generate-config-out=generated.tf")
	data, err := os.ReadFile(filepath.Join(gen.Dir, "generated.tf"))
	if err != nil || !regexp.MustCompile(`cidr\s+= "10.30.0.0/16"`).Match(data) {
		t.Fatalf("generated config: %v\n%s", err, data)
	}
}

func TestInterruptDuringCreateStopsPollingAndKeepsTheResource(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 10 * time.Minute})
	w := workspace(t, cloud, "vpc", nil)
	w.MustRun("init", "-input=false")
	cmd := w.Command(context.Background(), "apply", "-input=false", "-auto-approve", "-var", "name=slow", "-var", "cidr=10.0.0.0/16")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for cloud.CountRequests(http.MethodPost, "/v1/vpcs") == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("terraform never created the VPC:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let the provider start polling
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("interrupted apply succeeded:\n%s", out.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("terraform did not stop within 20s of SIGINT: the provider kept polling\n%s", out.String())
	}
	// The VPC exists in the cloud; the state must know it, so that nothing is
	// orphaned.
	list, err := w.Run("state", "list")
	if err != nil || !strings.Contains(list, "mycloud_vpc.this") {
		t.Fatalf("state after interrupt does not hold the created VPC: %v\n%s\napply output:\n%s", err, list, out.String())
	}
}
