package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// onboardFigure times a project's onboarding: per run, a legacy project
// of eight resources of all five types is seeded into mycloud, imported by
// hand with import blocks in a fresh directory (the baseline, with
// Terraform's defaults, then the same with the step-runner's
// TF_DISABLE_PLUGIN_TLS=1), then discovered and adopted through the
// step-runner (ours): InfraDiscovery, `vela up` of the Application it
// wrote, until its adopt step succeeded. Each side imports the same eight
// resources: the baseline keeps its state in its directory, which nothing
// on the cluster sees.
func (b *bench) onboardFigure() error {
	var bare, same, ours []float64
	phases := map[string][]float64{}
	bareCPU, oursCPU := map[string]float64{}, map[string]float64{}
	var each []float64 // seconds of every InfraImport
	for i := 0; i < b.runs; i++ {
		p := shopProject(i)
		if err := b.admin(http.MethodPost, "seed", p.seed(), nil); err != nil {
			return fmt.Errorf("onboard: seed project %s: %w", p.tag(), err)
		}
		cpu0 := b.cpuTimes()
		d, err := b.bareImport(p, true)
		if err != nil {
			return err
		}
		addCPU(bareCPU, cpuDelta(cpu0, b.cpuTimes()), b.runs)
		d2, err := b.bareImport(p, false)
		if err != nil {
			return err
		}
		o, err := b.onboardRun(p)
		if err != nil {
			return err
		}
		addCPU(oursCPU, o.cpu, b.runs)
		for _, n := range onboardPhases {
			phases[n] = append(phases[n], o.phases[n].Seconds())
		}
		each = append(each, o.each...)
		bare, same, ours = append(bare, d.Seconds()), append(same, d2.Seconds()), append(ours, o.took.Seconds())
	}
	b.raw.record("onboard/bare", bare)
	b.raw.record("onboard/bare-no-provider-tls", same)
	b.raw.record("onboard/ours", ours)
	b.raw.record("onboard/ours-each-import", each)
	parts := make([]string, 0, len(onboardPhases))
	for _, n := range onboardPhases {
		b.raw.record("onboard/ours-"+strings.ReplaceAll(n, " ", "-"), phases[n])
		parts = append(parts, fmt.Sprintf("%s %s", n, sec(med(phases[n]))))
	}
	mb, ms, mo := med(bare), med(same), med(ours)
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", "discovery + bulk import of 8 resources (step-runner) / terraform import blocks", sec(mb), sec(mo), mo/mb, "<= 1.5", pass(mo/mb <= 1.5))
	fmt.Printf("%-58s %12s %12s %8.2f %10s\n", "  vs the same import by hand with TF_DISABLE_PLUGIN_TLS=1", sec(ms), sec(mo), mo/ms, "-")
	fmt.Printf("    ours, medians: %s; each InfraImport (created -> Ready) %s\n", strings.Join(parts, ", "), sec(med(each)))
	fmt.Println(cpuLine("onboard, mean per run,", bareCPU, oursCPU))
	return nil
}

// addCPU adds cpu, divided by runs, to sum.
func addCPU(sum, cpu map[string]float64, runs int) {
	for k, v := range cpu {
		sum[k] += v / float64(runs)
	}
}

// shopProject is run i's legacy project: e2e's legacyShop with ids, names
// and CIDRs of its own, tagged project=bench-shop-<i>.
type shopProject int

func (p shopProject) tag() string { return fmt.Sprintf("bench-shop-%d", int(p)) }

// id is the id of the project's resource short of kind, such as
// vpc-bench0net.
func (p shopProject) id(kind, short string) string {
	return fmt.Sprintf("%s-bench%d%s", kind, int(p), short)
}

// name is the name of the project's resource short, such as
// bench-shop0-net: its component's name too.
func (p shopProject) name(short string) string { return fmt.Sprintf("bench-shop%d-%s", int(p), short) }

// cidr is the VPC's CIDR, or with a third octet one of its subnets'.
func (p shopProject) cidr(subnet int) string {
	if subnet == 0 {
		return fmt.Sprintf("10.%d.0.0/16", 100+int(p)%150)
	}
	return fmt.Sprintf("10.%d.%d.0/24", 100+int(p)%150, subnet)
}

func (p shopProject) tags(extra ...string) map[string]string {
	t := map[string]string{"project": p.tag()}
	for i := 0; i+1 < len(extra); i += 2 {
		t[extra[i]] = extra[i+1]
	}
	return t
}

// seed is the admin API's seed body: one VPC, two subnets in it, two
// MySQL instances (one whose password the cloud manages, one whose owners
// set it) and a Redis in the subnets, two buckets. Every attribute a
// module variable takes is given, so the hand-written module below can say
// what the cloud has.
func (p shopProject) seed() map[string]any {
	return map[string]any{
		"vpcs": []map[string]any{{"id": p.id("vpc", "net"), "name": p.name("net"), "cidr": p.cidr(0), "tags": p.tags()}},
		"subnets": []map[string]any{
			{"id": p.id("subnet", "app"), "name": p.name("app"), "vpc_id": p.id("vpc", "net"), "cidr": p.cidr(1), "zone": "zone-a", "tags": p.tags()},
			{"id": p.id("subnet", "data"), "name": p.name("data"), "vpc_id": p.id("vpc", "net"), "cidr": p.cidr(2), "zone": "zone-b", "tags": p.tags()},
		},
		"mysql-instances": []map[string]any{
			{"id": p.id("mysql", "orders"), "name": p.name("orders"), "subnet_id": p.id("subnet", "data"), "engine_version": "8.0",
				"instance_class": "db.medium", "storage_gib": 50, "manage_admin_password": true, "tags": p.tags()},
			{"id": p.id("mysql", "users"), "name": p.name("users"), "subnet_id": p.id("subnet", "data"), "engine_version": "8.0",
				"instance_class": "db.small", "storage_gib": 20, "admin_password": "Legacy-Passw0rd-42", "tags": p.tags("tier", "gold")},
		},
		"redis-instances": []map[string]any{
			{"id": p.id("redis", "sessions"), "name": p.name("sessions"), "subnet_id": p.id("subnet", "app"), "version": "7.0",
				"memory_mib": 2048, "manage_password": true, "tags": p.tags()},
		},
		"buckets": []map[string]any{
			{"id": p.id("bucket", "assets"), "name": p.name("assets"), "acl": "public-read", "versioning": true, "tags": p.tags()},
			{"id": p.id("bucket", "logs"), "name": p.name("logs"), "acl": "private", "versioning": false, "tags": p.tags()},
		},
	}
}

// module is the root module a person writes to import the project: the
// eight resources as the cloud has them, parents referenced by address,
// and an import block for each. The instance whose password its owners
// set has no admin_password: the cloud never returns one, and Terraform is
// not told it (as keep_existing_password does in the mysql module).
func (p shopProject) module() string {
	tags := fmt.Sprintf("{ project = %q }", p.tag())
	var m strings.Builder
	m.WriteString(`terraform {
  required_providers {
    mycloud = { source = "vela-infra/mycloud" }
  }
}
`)
	res := func(typ, local, id, body string) {
		fmt.Fprintf(&m, "\nresource %q %q {\n%s}\n\nimport {\n  to = %s.%s\n  id = %q\n}\n", typ, local, body, typ, local, id)
	}
	res("mycloud_vpc", "net", p.id("vpc", "net"), fmt.Sprintf("  name = %q\n  cidr = %q\n  tags = %s\n", p.name("net"), p.cidr(0), tags))
	for _, s := range []struct {
		short, zone string
		n           int
	}{{"app", "zone-a", 1}, {"data", "zone-b", 2}} {
		res("mycloud_subnet", s.short, p.id("subnet", s.short), fmt.Sprintf("  name   = %q\n  vpc_id = mycloud_vpc.net.id\n  cidr   = %q\n  zone   = %q\n  tags   = %s\n",
			p.name(s.short), p.cidr(s.n), s.zone, tags))
	}
	res("mycloud_mysql", "orders", p.id("mysql", "orders"), fmt.Sprintf(`  name                  = %q
  subnet_id             = mycloud_subnet.data.id
  engine_version        = "8.0"
  instance_class        = "db.medium"
  storage_gib           = 50
  manage_admin_password = true
  tags                  = %s
`, p.name("orders"), tags))
	res("mycloud_mysql", "users", p.id("mysql", "users"), fmt.Sprintf(`  name                  = %q
  subnet_id             = mycloud_subnet.data.id
  engine_version        = "8.0"
  instance_class        = "db.small"
  storage_gib           = 20
  manage_admin_password = false
  tags                  = { project = %q, tier = "gold" }
`, p.name("users"), p.tag()))
	res("mycloud_redis", "sessions", p.id("redis", "sessions"), fmt.Sprintf(`  name            = %q
  subnet_id       = mycloud_subnet.app.id
  version         = "7.0"
  memory_mib      = 2048
  manage_password = true
  tags            = %s
`, p.name("sessions"), tags))
	res("mycloud_bucket", "assets", p.id("bucket", "assets"), fmt.Sprintf("  name       = %q\n  acl        = \"public-read\"\n  versioning = true\n  tags       = %s\n", p.name("assets"), tags))
	res("mycloud_bucket", "logs", p.id("bucket", "logs"), fmt.Sprintf("  name       = %q\n  acl        = \"private\"\n  versioning = false\n  tags       = %s\n", p.name("logs"), tags))
	return m.String()
}

// bareImport times the baseline: p's module in a fresh directory,
// `terraform init`, `terraform plan -out` and `terraform apply` of that
// plan, with the step-runner's CLI config, plugin cache and credentials,
// local state. It fails unless the apply imported the eight resources and
// changed nothing.
func (b *bench) bareImport(p shopProject, providerTLS bool) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "bench-onboard-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(p.module()), 0o600); err != nil {
		return 0, err
	}
	tf := func(args ...string) (string, error) {
		cmd := exec.Command(b.bin("terraform"), args...)
		cmd.Dir = dir
		cmd.Env = b.terraformEnv(providerTLS)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("onboard: terraform %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
		return string(out), nil
	}
	start := time.Now()
	if _, err := tf("init", "-input=false"); err != nil {
		return 0, err
	}
	if _, err := tf("plan", "-input=false", "-out=plan"); err != nil {
		return 0, err
	}
	out, err := tf("apply", "-input=false", "plan")
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	if want := "Resources: 8 imported, 0 added, 0 changed, 0 destroyed."; !strings.Contains(out, want) {
		return 0, fmt.Errorf("onboard: the hand-written import of %s did not say %q:\n%s\n%s", p.tag(), want, p.module(), out)
	}
	return took, nil
}

// onboardPhases are the parts of ours, in order: the discovery (creation
// to Ready), `vela up`, until vela-core created the first InfraImport, until
// the last of the eight was Ready, until the Application's status said the
// step succeeded.
var onboardPhases = []string{"discovery", "vela up", "first import created", "imports done", "step marked done"}

// onboardResult is one run of ours.
type onboardResult struct {
	took   time.Duration
	phases map[string]time.Duration // by onboardPhases
	cpu    map[string]float64       // CPU seconds by process
	each   []float64                // seconds of each InfraImport, created -> Ready
}

// onboardRun times ours: from the InfraDiscovery's creation, through its
// Ready/Discovered, reading the Application it wrote and `vela up` of it,
// until the Application's status (what `vela status` prints) says the adopt
// step succeeded, with its phases and CPU; `vela status` must then show the
// step succeeded with all eight adopted. The apply-component steps after it need terraform-controller,
// which this stack does not run: the workflow is terminated once the step
// is timed. It fails when mycloud saw any create, change or delete from the
// creation to the end.
func (b *bench) onboardRun(p shopProject) (onboardResult, error) {
	name := fmt.Sprintf("onboard-%d", int(p))
	d := &v1alpha1.InfraDiscovery{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.InfraDiscoverySpec{
			Selector: v1alpha1.DiscoverySelector{Tags: map[string]string{"project": p.tag()}},
			// The stack's Provider (testenv.StartStack), not default/default.
			ProviderRef: &v1alpha1.ProviderRef{Namespace: "default", Name: "mycloud"},
			Application: name,
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	imports, err := b.watchImports(ctx, name)
	if err != nil {
		return onboardResult{}, err
	}
	cpu0 := b.cpuTimes()
	start := time.Now()
	if err := b.c.Create(ctx, d); err != nil {
		return onboardResult{}, err
	}
	if err := b.waitFor(d, 3*time.Minute, func() bool {
		return apimeta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady) ||
			apimeta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionStalled)
	}); err != nil {
		return onboardResult{}, err
	}
	discovered := time.Now()
	if r := reason(&d.Status.RunStatus); r != v1alpha1.ReasonDiscovered || d.Status.Found != 8 || d.Status.ApplicationRef == nil {
		data, _ := json.Marshal(d.Status)
		return onboardResult{}, fmt.Errorf("onboard: InfraDiscovery %s: want Ready/%s with 8 resources found, got %s\nstep-runner log:\n%s", name, v1alpha1.ReasonDiscovered, data, b.stack.LogTail("step-runner", 2000))
	}
	cm := &corev1.ConfigMap{}
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: "default", Name: d.Status.ApplicationRef.ConfigMap}, cm); err != nil {
		return onboardResult{}, err
	}
	f := filepath.Join(b.stack.Dir, name+".yaml")
	if err := os.WriteFile(f, []byte(cm.Data[d.Status.ApplicationRef.Key]), 0o644); err != nil {
		return onboardResult{}, err
	}
	up := time.Now()
	if out, err := b.stack.Vela(b.bin("vela"), "up", "-f", f); err != nil {
		return onboardResult{}, fmt.Errorf("onboard: vela up -f %s: %v\n%s", f, err, out)
	}
	upDone := time.Now()
	if err := b.waitStep(ctx, name, "adopt"); err != nil {
		return onboardResult{}, err
	}
	end := time.Now()
	cpu := cpuDelta(cpu0, b.cpuTimes())
	// The bench's children here are the vela CLI's runs, not Terraform.
	cpu["vela CLI"], cpu["bare terraform"] = cpu["bare terraform"], 0
	status, _ := b.stack.Vela(b.bin("vela"), "status", name)
	if phase, msg := stepPhase(status, "adopt"); phase != "succeeded" || !strings.Contains(msg, "8 adopted, 0 already managed, 0 refused") {
		return onboardResult{}, fmt.Errorf("onboard: vela status %s does not show the adopt step succeeded with all 8 resources adopted:\n%s\nstep-runner log:\n%s", name, status, b.stack.LogTail("step-runner", 2000))
	}
	first, last, each := imports.times()
	if len(each) != 8 {
		return onboardResult{}, fmt.Errorf("onboard: the adopt step of %s succeeded with %d of its 8 InfraImports seen Ready", name, len(each))
	}
	if err := b.noCloudWrites(start, "discovering and adopting "+p.tag()); err != nil {
		return onboardResult{}, err
	}
	if out, err := b.stack.Vela(b.bin("vela"), "workflow", "terminate", name); err != nil {
		return onboardResult{}, fmt.Errorf("onboard: vela workflow terminate %s: %v\n%s", name, err, out)
	}
	return onboardResult{took: end.Sub(start), cpu: cpu, each: each, phases: map[string]time.Duration{
		"discovery": discovered.Sub(start), "vela up": upDone.Sub(up), "first import created": first.Sub(upDone),
		"imports done": last.Sub(first), "step marked done": end.Sub(last),
	}}, nil
}

// importLog is when the bench saw an Application's InfraImports: the first
// created and each Ready.
type importLog struct {
	mu      sync.Mutex
	first   time.Time
	created map[string]time.Time
	ready   map[string]time.Time
}

// times returns when the first InfraImport was seen, when the last was
// seen Ready, and how long each Ready one took from when it was first seen.
func (l *importLog) times() (first, last time.Time, each []float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, t := range l.ready {
		if t.After(last) {
			last = t
		}
		each = append(each, t.Sub(l.created[name]).Seconds())
	}
	return l.first, last, each
}

// watchImports follows the InfraImports of Application app until ctx ends.
func (b *bench) watchImports(ctx context.Context, app string) (*importLog, error) {
	w, err := b.c.Watch(ctx, &v1alpha1.InfraImportList{}, client.InNamespace("default"), client.MatchingLabels{"app.oam.dev/name": app})
	if err != nil {
		return nil, err
	}
	l := &importLog{created: map[string]time.Time{}, ready: map[string]time.Time{}}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			imp, ok := ev.Object.(*v1alpha1.InfraImport)
			if !ok {
				continue
			}
			now := time.Now()
			l.mu.Lock()
			if l.first.IsZero() {
				l.first = now
			}
			if _, ok := l.created[imp.Name]; !ok {
				l.created[imp.Name] = now
			}
			_, seen := l.ready[imp.Name]
			if !seen && imp.Status.ObservedGeneration == imp.Generation && apimeta.IsStatusConditionTrue(imp.Status.Conditions, v1alpha1.ConditionReady) {
				l.ready[imp.Name] = now
			}
			l.mu.Unlock()
		}
	}()
	return l, nil
}

// stepPhase reads a workflow step's phase and message from `vela status`.
func stepPhase(status, step string) (phase, message string) {
	lines := strings.Split(status, "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) != "name: "+step {
			continue
		}
		for _, next := range lines[i+1:] {
			t := strings.TrimSpace(next)
			switch {
			case strings.HasPrefix(t, "- id:"):
				return phase, message
			case strings.HasPrefix(t, "phase:"):
				phase = strings.TrimSpace(strings.TrimPrefix(t, "phase:"))
			case strings.HasPrefix(t, "message:"):
				message = strings.TrimSpace(strings.TrimPrefix(t, "message:"))
			}
		}
		return phase, message
	}
	return "", ""
}

// cloudRequest is an entry of mycloud's request log.
type cloudRequest struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
}

// noCloudWrites fails when mycloud's request log holds any API call but a
// read since from, or no read at all.
func (b *bench) noCloudWrites(from time.Time, what string) error {
	var log struct {
		Items []cloudRequest `json:"items"`
	}
	if err := b.admin(http.MethodGet, "requests", nil, &log); err != nil {
		return fmt.Errorf("onboard: read mycloud's request log: %w", err)
	}
	var reads int
	var writes []string
	for _, r := range log.Items {
		switch {
		case r.Time.Before(from) || !strings.HasPrefix(r.Path, "/v1/"):
		case r.Method == http.MethodGet:
			reads++
		default:
			writes = append(writes, fmt.Sprintf("%s %s (%d)", r.Method, r.Path, r.Status))
		}
	}
	// Discovery and import read the cloud: a log without those reads is
	// not the log of this run, and would prove nothing.
	if reads == 0 {
		return fmt.Errorf("onboard: mycloud's request log holds no read since %s while %s: cannot check for writes", from.Format(time.RFC3339Nano), what)
	}
	if len(writes) > 0 {
		return fmt.Errorf("onboard: mycloud got %d create, change or delete call(s) while %s, want none: %s", len(writes), what, strings.Join(writes, ", "))
	}
	return nil
}

// admin calls mycloud's admin API and decodes the JSON answer into out
// (if not nil).
func (b *bench) admin(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.cloud+"/admin/v1/"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("mycloud admin %s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// waitStep watches Application app until its workflow step ended
// (succeeded or failed): the status `vela status` prints, seen when it is
// written. Not `vela status` in a loop, as workflowRun does: on 2 cores the
// CLI's own CPU, run back to back for the ~10 s this takes, slowed the
// step-runner it measures by ~2 s.
func (b *bench) waitStep(ctx context.Context, app, step string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("core.oam.dev/v1beta1")
	list.SetKind("ApplicationList")
	w, err := b.c.Watch(ctx, list, client.InNamespace("default"), client.MatchingFields{"metadata.name": app})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		steps, _, _ := unstructured.NestedSlice(u.Object, "status", "workflow", "steps")
		for _, s := range steps {
			if m, _ := s.(map[string]any); m["name"] == step && (m["phase"] == "succeeded" || m["phase"] == "failed") {
				return nil
			}
		}
	}
	return fmt.Errorf("onboard: step %s of Application %s did not end in 5 minutes", step, app)
}
