package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vela-infra/vela-infra/internal/mycloud/auth"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// badInput is one entry of the bad-input catalogue: something a user gets
// wrong, and what they must be told where they look.
type badInput struct {
	class, name string
	// run feeds the input in and returns the text the user reads: `vela
	// status` of the application, the step-run object's Ready condition
	// message, the API server's refusal, or mycloud's HTTP error body.
	run func(t *testing.T) string
	// want must all be in that text: the field named, what is wrong.
	want []string
	// never must not be in it (a password, a misleading word).
	never []string
}

// biNS is the namespace of the step-run objects and Providers the
// catalogue creates directly.
const biNS = "badinput"

// biPassword is a password the catalogue gives in a bad input: no message
// may echo it.
const biPassword = "weakpassword"

// TestBadInput is the bad-input catalogue (issue 14, item 6): each bad
// component property, workflow step parameter, step-run object,
// credential/Provider and mycloud API call gives a clear message that names
// the field where the user looks, creates nothing in mycloud and leaves the
// Terraform state of an adopted VPC as it was. The cases run in parallel.
func TestBadInput(t *testing.T) {
	setup(t)
	start := time.Now()
	// A cloud of its own: its request log must show every write a bad
	// input causes, and the calls of its API cases must not count in the
	// other tests' request logs.
	biCloud = mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 200 * time.Millisecond, Seed: filepath.Join(root, "e2e", "testdata", "mycloud-seed.yaml")})
	bi := newBadInputFixture(t)
	writes := biCloudWrites(t)
	stateVersion := bi.stateVersion(t)

	cases := bi.catalogue()
	classes := map[string]int{}
	for _, c := range cases {
		classes[c.class]++
	}
	var named atomic.Int32
	// The cases run 16 at a time whatever -parallel says (t.Run from
	// several goroutines): most of them wait on vela-core or the
	// step-runner, not on this machine's CPUs.
	t.Run("case", func(t *testing.T) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, c := range cases {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				t.Run(c.class+"/"+c.name, func(t *testing.T) { runBadInput(t, c, &named) })
			}()
		}
		wg.Wait()
	})

	// Nothing was created, changed or deleted in the cloud, and the state
	// of the adopted VPC, which many cases target, is untouched.
	if n := biCloudWrites(t); n != writes {
		t.Errorf("bad input wrote to mycloud: %d successful POST/PUT/PATCH/DELETE calls on /v1/", n-writes)
	}
	if v := bi.stateVersion(t); v != stateVersion {
		t.Errorf("bad input changed the state Secret tfstate-default-bi-net: resourceVersion %s -> %s", stateVersion, v)
	}
	var byClass []string
	for class, n := range classes {
		byClass = append(byClass, fmt.Sprintf("%s %d", class, n))
	}
	sort.Strings(byClass)
	t.Logf("bad-input catalogue: %d inputs tried, %d named the field where the user looks (%s), in %s",
		len(cases), named.Load(), strings.Join(byClass, ", "), time.Since(start).Round(time.Second))
	if len(cases) < 60 {
		t.Errorf("the catalogue has %d cases, want at least 60", len(cases))
	}
}

// runBadInput feeds one bad input in and checks what the user is told;
// named counts the cases whose message names the field as it should.
func runBadInput(t *testing.T, c badInput, named *atomic.Int32) {
	got := c.run(t)
	for _, w := range c.want {
		if !strings.Contains(got, w) {
			t.Errorf("the message lacks %q:\n%s", w, got)
		}
	}
	for _, n := range c.never {
		if strings.Contains(got, n) {
			t.Errorf("the message has %q:\n%s", n, got)
		}
	}
	if !t.Failed() {
		named.Add(1)
	}
}

// biCloud is the catalogue's own mycloud, which its Providers point at.
var biCloud *mycloudtest.Cloud

// biCloudWrites counts the calls of mycloud's request log that could
// have changed the cloud: POST, PUT, PATCH and DELETE on the API (/v1/)
// that it answered with a success.
func biCloudWrites(t *testing.T) int {
	t.Helper()
	n := 0
	for _, r := range biCloud.Requests() {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			if strings.HasPrefix(r.Path, "/v1/") && r.Status < 400 {
				n++
			}
		}
	}
	return n
}

type badInputFixture struct {
	c      client.Client
	vpcHCL string
}

// newBadInputFixture creates the namespace badinput with a good Provider
// and several broken ones, and adopts a seeded VPC into the state of
// Configuration bi-net, which the step-run cases target.
func newBadInputFixture(t *testing.T) *badInputFixture {
	t.Helper()
	c := typedClient(t, env.Config)
	hcl, err := os.ReadFile(filepath.Join(root, "definitions", "modules", "vpc", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	bi := &badInputFixture{c: c, vpcHCL: string(hcl)}
	creds := func(endpoint, secret string) string {
		return fmt.Sprintf("MYCLOUD_ENDPOINT: %s\nMYCLOUD_ACCESS_KEY: %s\nMYCLOUD_SECRET_KEY: %s\n", endpoint, mycloudtest.AccessKey, secret)
	}
	bi.apply(t, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", biNS))
	for name, data := range map[string]map[string]string{
		"mycloud-credentials": {"credentials": creds(biCloud.URL, mycloudtest.SecretKey)},
		"wrong-key":           {"credentials": creds(biCloud.URL, "not-the-secret-key")},
		"unreachable":         {"credentials": creds("http://127.0.0.1:1", mycloudtest.SecretKey)},
		"not-yaml":            {"credentials": "MYCLOUD_ENDPOINT: [unclosed\n"},
		"other-key":           {"creds": creds(biCloud.URL, mycloudtest.SecretKey)},
		"no-endpoint":         {"credentials": fmt.Sprintf("MYCLOUD_ACCESS_KEY: %s\nMYCLOUD_SECRET_KEY: %s\n", mycloudtest.AccessKey, mycloudtest.SecretKey)},
	} {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: biNS, Name: name}, StringData: data}
		if err := c.Create(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
	}
	for provider, secret := range map[string]string{"mycloud": "mycloud-credentials", "wrong-key": "wrong-key", "unreachable": "unreachable",
		"not-yaml": "not-yaml", "other-key": "other-key", "no-secret": "does-not-exist", "no-endpoint": "no-endpoint"} {
		bi.apply(t, fmt.Sprintf(`apiVersion: terraform.core.oam.dev/v1beta1
kind: Provider
metadata:
  namespace: %s
  name: %s
spec:
  provider: custom
  credentials:
    source: Secret
    secretRef:
      namespace: %s
      name: %s
      key: credentials
`, biNS, provider, biNS, secret))
	}

	// KubeVela's own webservice, which the stack does not install, for the
	// infra-* steps named on a component that is not a mycloud-* one.
	kubevela, err := testenv.ModuleDir("github.com/oam-dev/kubevela")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := vela(t, "def", "apply", filepath.Join(kubevela, "vela-templates", "definitions", "internal", "component", "webservice.cue")); err != nil {
		t.Fatalf("vela def apply webservice: %v\n%s", err, out)
	}

	biCloud.MustAdmin(http.MethodPost, "seed", map[string]any{"vpcs": []map[string]any{{"id": "vpc-badinput1", "name": "bi-net", "cidr": "10.61.0.0/16"}}}, nil)
	adopt := bi.stepRun(t, "InfraImport", "bi-adopt", bi.target("bi-net", bi.vpcHCL, biVPCVars(), "mycloud"),
		"resources:\n    - address: mycloud_vpc.this\n      id: vpc-badinput1\n")
	bi.apply(t, adopt)
	if msg, ready := bi.await(t, "InfraImport", "bi-adopt"); !ready {
		t.Fatalf("the baseline import did not succeed: %s", msg)
	}
	return bi
}

func biVPCVars() map[string]any {
	return map[string]any{"name": "bi-net", "cidr": "10.61.0.0/16", "tags": map[string]string{}}
}

// stateVersion is the resourceVersion of bi-net's state Secret.
func (bi *badInputFixture) stateVersion(t *testing.T) string {
	t.Helper()
	var s corev1.Secret
	if err := bi.c.Get(context.Background(), types.NamespacedName{Namespace: biNS, Name: "tfstate-default-bi-net"}, &s); err != nil {
		t.Fatalf("the state Secret of bi-net: %v", err)
	}
	return s.ResourceVersion
}

// apply creates the objects of a YAML document and returns the API
// server's refusal, if any.
func (bi *badInputFixture) create(doc string) error {
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
		return fmt.Errorf("not YAML: %v\n%s", err, doc)
	}
	return bi.c.Create(context.Background(), &obj)
}

func (bi *badInputFixture) apply(t *testing.T, doc string) {
	t.Helper()
	if err := bi.create(doc); err != nil {
		t.Fatalf("create: %v\n%s", err, doc)
	}
}

// target is a step-run target: Configuration cfg, with the given HCL,
// variables and Provider (in biNS) inline. An empty hcl leaves the spec
// out.
func (bi *badInputFixture) target(cfg, hcl string, vars map[string]any, provider string) map[string]any {
	tg := map[string]any{"configurationName": cfg}
	if hcl != "" {
		spec := map[string]any{"hcl": hcl, "providerRef": map[string]any{"name": provider, "namespace": biNS}}
		if vars != nil {
			spec["variable"] = vars
		}
		tg["spec"] = spec
	}
	return tg
}

// stepRun is a step-run object of kind in biNS as YAML, with target and
// the rest of its spec (YAML, indented by four spaces).
func (bi *badInputFixture) stepRun(t *testing.T, kind, name string, target map[string]any, rest string) string {
	t.Helper()
	tg, err := yaml.Marshal(map[string]any{"target": target})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("apiVersion: infra.vela-infra.io/v1alpha1\nkind: %s\nmetadata:\n  namespace: %s\n  name: %s\nspec:\n%s  %s",
		kind, biNS, name, biIndent(string(tg), "  "), rest)
}

func biIndent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return by + strings.Join(lines, "\n"+by) + "\n"
}

// await polls a step-run object until its run of the current generation has
// ended (Ready or Stalled) and returns its Ready message, and whether it
// succeeded.
func (bi *badInputFixture) await(t *testing.T, kind, name string) (string, bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var msg string
	for time.Now().Before(deadline) {
		obj := &unstructured.Unstructured{}
		obj.SetAPIVersion("infra.vela-infra.io/v1alpha1")
		obj.SetKind(kind)
		if err := bi.c.Get(context.Background(), types.NamespacedName{Namespace: biNS, Name: name}, obj); err == nil {
			var st struct {
				ObservedGeneration int64              `json:"observedGeneration"`
				Conditions         []metav1.Condition `json:"conditions"`
			}
			if raw, ok := obj.Object["status"]; ok {
				b, _ := yaml.Marshal(raw)
				_ = yaml.Unmarshal(b, &st)
			}
			if ready := apimeta.FindStatusCondition(st.Conditions, "Ready"); ready != nil {
				msg = ready.Reason + ": " + ready.Message
				if st.ObservedGeneration == obj.GetGeneration() && (ready.Status == metav1.ConditionTrue || apimeta.IsStatusConditionTrue(st.Conditions, "Stalled")) {
					return msg, ready.Status == metav1.ConditionTrue
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s %s/%s did not end within 90s; last Ready: %s\nstep-runner log tail:\n%s", kind, biNS, name, msg, stack.LogTail("step-runner", 3000))
	return "", false
}

// stepRunCase creates a step-run object and returns the message its Ready
// condition ends with.
func (bi *badInputFixture) stepRunCase(kind, name string, target map[string]any, rest string) func(t *testing.T) string {
	return func(t *testing.T) string {
		bi.apply(t, bi.stepRun(t, kind, name, target, rest))
		msg, ready := bi.await(t, kind, name)
		if ready {
			t.Errorf("%s %s succeeded", kind, name)
		}
		return msg
	}
}

// refusedCase creates an object the API server must refuse, and returns
// the refusal, as kubectl would print it.
func (bi *badInputFixture) refusedCase(kind, name string, target map[string]any, rest string) func(t *testing.T) string {
	return func(t *testing.T) string {
		err := bi.create(bi.stepRun(t, kind, name, target, rest))
		if err == nil {
			t.Fatalf("the API server accepted %s %s", kind, name)
		}
		return err.Error()
	}
}

// appCase deploys an application with vela up and returns `vela status`
// once the application shows every want: while it waits it reads the
// Application's status through the API (cheaper than running vela), then
// it runs `vela status` once and returns what it prints.
func biAppCase(name string, components []map[string]any, steps []map[string]any, want ...string) func(t *testing.T) string {
	return func(t *testing.T) string {
		spec := map[string]any{"components": components}
		if steps != nil {
			spec["workflow"] = map[string]any{"steps": steps}
		}
		if out, refused := biUp(t, name, spec); refused {
			return out // vela up itself refused it
		}
		biWaitApp(t, name, func(app *unstructured.Unstructured) bool {
			return biContainsAll(strings.Join(biStrings(app.Object["status"]), "\n"), want)
		})
		out, _ := vela(t, "status", name)
		return out
	}
}

// biParsedCase deploys an application with vela up and returns the
// message of its Parsed condition once it is False: where vela-core says
// that it could not read the application (kubectl describe application).
func biParsedCase(name string, components []map[string]any) func(t *testing.T) string {
	return func(t *testing.T) string {
		if out, refused := biUp(t, name, map[string]any{"components": components}); refused {
			return out // vela up itself refused it
		}
		var msg string
		biWaitApp(t, name, func(app *unstructured.Unstructured) bool {
			conds, _, _ := unstructured.NestedSlice(app.Object, "status", "conditions")
			for _, x := range conds {
				if cond, _ := x.(map[string]any); cond["type"] == "Parsed" && cond["status"] == "False" {
					msg = fmt.Sprintf("Parsed: %v", cond["message"])
					return true
				}
			}
			return false
		})
		if msg == "" {
			t.Fatalf("application %s has no Parsed condition that is False within 90s", name)
		}
		t.Log(msg)
		return msg
	}
}

// biUp runs vela up on the Application name in namespace default with spec,
// returning its output and whether vela up refused it.
func biUp(t *testing.T, name string, spec map[string]any) (string, bool) {
	t.Helper()
	doc, err := yaml.Marshal(map[string]any{"apiVersion": "core.oam.dev/v1beta1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": "default"}, "spec": spec})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := vela(t, "up", "-f", f)
	return out, err != nil
}

// biWaitApp reads the Application name in namespace default every second
// until done holds of it, for at most 90 s.
func biWaitApp(t *testing.T, name string, done func(*unstructured.Unstructured) bool) {
	t.Helper()
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		app := &unstructured.Unstructured{}
		app.SetAPIVersion("core.oam.dev/v1beta1")
		app.SetKind("Application")
		if err := c.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: name}, app); err == nil && done(app) {
			return
		}
	}
}

// biNoStepRun runs run and then checks that no step-run object of kind
// named name was created in namespace default: the step failed before
// anything reached the step-runner, and so the cloud.
func biNoStepRun(app, kind, name string, run func(t *testing.T) string) func(t *testing.T) string {
	return func(t *testing.T) string {
		out := run(t)
		c, err := client.New(env.Config, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		obj.SetAPIVersion("infra.vela-infra.io/v1alpha1")
		obj.SetKind(kind)
		if err := c.Get(context.Background(), types.NamespacedName{Namespace: "default", Name: name}, obj); err == nil {
			t.Errorf("application %s created %s default/%s for the step-runner", app, kind, name)
		} else if client.IgnoreNotFound(err) != nil {
			t.Fatal(err)
		}
		return out
	}
}

func biContainsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// stringsIn lists the strings in a decoded JSON value.
func biStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for _, x := range v {
			out = append(out, biStrings(x)...)
		}
		return out
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, biStrings(x)...)
		}
		return out
	}
	return nil
}

// apiCase sends a signed request to mycloud's API and returns its status
// line and body; wantStatus is the HTTP status it must answer.
func biAPICase(method, path, contentType, body string, wantStatus int, sign func(*http.Request, []byte)) func(t *testing.T) string {
	return func(t *testing.T) string {
		req, err := http.NewRequest(method, biCloud.URL+path, bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		sign(req, []byte(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantStatus {
			t.Errorf("HTTP %d, want %d", resp.StatusCode, wantStatus)
		}
		return fmt.Sprintf("HTTP %d %s", resp.StatusCode, data)
	}
}

func biSigned(req *http.Request, body []byte) {
	auth.Sign(req, body, mycloudtest.AccessKey, mycloudtest.SecretKey, time.Now())
}

func biComponent(name, typ string, props map[string]any) map[string]any {
	return map[string]any{"name": name, "type": typ, "properties": props}
}

func biStep(typ string, props map[string]any) map[string]any {
	return map[string]any{"name": "s", "type": typ, "properties": props}
}

// manyTags is n distinct tags.
func biTags(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[fmt.Sprintf("k%03d", i)] = "v"
	}
	return m
}

func (bi *badInputFixture) catalogue() []badInput {
	var cases []badInput
	add := func(class, name string, run func(t *testing.T) string, want []string, never ...string) {
		cases = append(cases, badInput{class: class, name: name, run: run, want: want, never: never})
	}

	// Component properties: vela-core renders the component when the
	// workflow deploys it, and `vela status` shows why it could not. n is
	// the number of the application (bi-c<n>).
	n := 0
	prop := func(name, typ string, props map[string]any, want ...string) {
		n++
		app := fmt.Sprintf("bi-c%02d", n)
		add("component property", name, biAppCase(app, []map[string]any{biComponent(app, typ, props)}, nil, want...), want, biPassword)
	}
	vpc := func(k string, v any) map[string]any {
		p := map[string]any{"name": "bi-vpc", "cidr": "10.62.0.0/16"}
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
		return p
	}
	subnet := func(k string, v any) map[string]any {
		p := map[string]any{"name": "bi-subnet", "vpc_id": "vpc-1a2b", "cidr": "10.62.1.0/24"}
		p[k] = v
		return p
	}
	redis := func(k string, v any) map[string]any {
		p := map[string]any{"name": "bi-cache", "subnet_id": "subnet-1a2b", "manage_password": true}
		p[k] = v
		return p
	}
	mysql := func(k string, v any) map[string]any {
		p := map[string]any{"name": "bi-db", "subnet_id": "subnet-1a2b", "manage_admin_password": true}
		p[k] = v
		return p
	}
	bucket := func(k string, v any) map[string]any {
		p := map[string]any{"name": "bi-bucket"}
		p[k] = v
		return p
	}
	prop("vpc name with upper case", "mycloud-vpc", vpc("name", "Main"), "check.name", "The name must be 2-63 lower-case letters")
	// Not refused at admission (inputs may fill it in): the workflow's
	// render names it.
	prop("vpc name missing", "mycloud-vpc", vpc("name", nil), "output.spec.variable.name", "incomplete value string")
	prop("vpc cidr /8", "mycloud-vpc", vpc("cidr", "10.0.0.0/8"), "check.cidr", "with a prefix length from /16 to /28")
	prop("vpc cidr public", "mycloud-vpc", vpc("cidr", "8.8.0.0/16"), "check.cidr", "8.8.0.0/16 is not a private IPv4 block")
	prop("vpc cidr with host bits", "mycloud-vpc", vpc("cidr", "10.62.0.1/16"), "check.cidr", "has host bits set", "10.62.0.0/16")
	prop("vpc cidr a word", "mycloud-vpc", vpc("cidr", "default"), "check.cidr", "must be an IPv4 CIDR block")
	prop("vpc cidr a number", "mycloud-vpc", vpc("cidr", 10), "cidr", "conflicting values")
	prop("vpc 100 tags", "mycloud-vpc", vpc("tags", biTags(100)), "check.tags", "The tags hold 100 tags: mycloud allows at most 50.")
	prop("vpc empty tag key", "mycloud-vpc", vpc("tags", map[string]any{"": "x"}), "check.tags", "must be 1-128 characters")
	prop("vpc tag value too long", "mycloud-vpc", vpc("tags", map[string]any{"note": strings.Repeat("x", 257)}), "check.tags", "is longer than 256 characters")
	prop("vpc tag value a number", "mycloud-vpc", vpc("tags", map[string]any{"n": 1}), "parameter.tags.n", "conflicting values 1 and string")
	prop("vpc misspelt property", "mycloud-vpc", vpc("cidr_block", "10.0.0.0/16"), "cidr_block", "field not allowed")
	prop("subnet zone-z", "mycloud-subnet", subnet("zone", "zone-z"), "check.zone", "The zone must be one of zone-a, zone-b, zone-c")
	prop("subnet zone with two letters", "mycloud-subnet", subnet("zone", "zone-ab"), "check.zone", "The zone must look like zone-a.")
	prop("subnet cidr /30", "mycloud-subnet", subnet("cidr", "10.62.1.0/30"), "check.cidr", "prefix length from /16 to /29")
	prop("subnet cidr with host bits", "mycloud-subnet", subnet("cidr", "10.62.1.1/24"), "check.cidr", "has host bits set", "10.62.1.0/24")
	prop("subnet vpc_id of a subnet", "mycloud-subnet", subnet("vpc_id", "subnet-1a2b"), "check.vpc_id", "The vpc_id must be a VPC id")
	prop("redis memory_mib a string", "mycloud-redis", redis("memory_mib", "lots"), "memory_mib", `conflicting values number and "lots"`)
	prop("redis redis_version a number", "mycloud-redis", redis("redis_version", 1), "redis_version", "conflicting values string and 1")
	prop("redis memory not a multiple of 256", "mycloud-redis", redis("memory_mib", 300), "check.memory_mib", "a multiple of 256")
	prop("redis weak password", "mycloud-redis", map[string]any{"name": "bi-cache", "subnet_id": "subnet-1a2b", "password": biPassword}, "check.password", "must be 12-128 characters")
	prop("redis password and manage_password", "mycloud-redis", redis("password", "Cache-Passw0rd-1"), "check.manage_password", "both are set")
	prop("redis neither password nor manage_password", "mycloud-redis", map[string]any{"name": "bi-cache", "subnet_id": "subnet-1a2b"}, "check.password", "none is set")
	prop("mysql storage too small", "mycloud-mysql", mysql("storage_gib", 10), "check.storage_gib", "from 20 to 16384")
	prop("mysql storage a string", "mycloud-mysql", mysql("storage_gib", "big"), "storage_gib", `conflicting values number and "big"`)
	prop("mysql engine_version not offered", "mycloud-mysql", mysql("engine_version", "9.0"), "check.engine_version", "5.7 or 8.0")
	prop("mysql instance_class not offered", "mycloud-mysql", mysql("instance_class", "db.huge"), "check.instance_class", "db.small, db.medium or db.large")
	prop("mysql manage flag a string", "mycloud-mysql", mysql("manage_admin_password", "yes"), "manage_admin_password", `conflicting values bool and "yes"`)
	prop("bucket name of two characters", "mycloud-bucket", bucket("name", "ab"), "check.name", "3-63 lower-case letters")
	prop("bucket acl not offered", "mycloud-bucket", bucket("acl", "public"), "check.acl", "private or public-read")
	prop("bucket versioning a string", "mycloud-bucket", bucket("versioning", "yes"), "versioning", `conflicting values bool and "yes"`)
	prop("vpc-ref id of a subnet", "mycloud-vpc-ref", map[string]any{"id": "subnet-1a2b"}, "check.id", "The id must be a VPC id")
	prop("connection secret name", "mycloud-bucket", bucket("writeConnectionSecretToRef", map[string]any{"name": "Bad_Name"}), "check.writeConnectionSecretToRef.name", "must be a Secret name")
	prop("providerRef with a field it lacks", "mycloud-bucket", bucket("providerRef", map[string]any{"name": "mycloud", "region": "eu"}), "providerRef.region", "field not allowed")

	// An unknown component type: vela-core's admission webhook (on in a
	// default install, off in this tier) refuses it at vela up; with it off,
	// vela-core parks the Application in phase rendering, and `vela status`
	// says only "rendering": the reason is in the Application's Parsed
	// condition (kubectl describe application, and its FailedParse Event).
	add("application", "unknown component type", biParsedCase("bi-a01", []map[string]any{biComponent("bi-a01", "mycloud-vcp", map[string]any{"name": "bi-a"})}),
		[]string{"Parsed", "fetch component/policy type of bi-a01", "mycloud-vcp"})

	// Workflow step parameters: the step fails naming the parameter, and
	// `vela status` shows it.
	s := 0
	param := func(name string, comps []map[string]any, st map[string]any, want ...string) {
		s++
		app := fmt.Sprintf("bi-s%02d", s)
		for i := range comps {
			comps[i] = biWith(comps[i], "name", app+"-"+comps[i]["name"].(string))
		}
		if c, ok := st["properties"].(map[string]any)["component"].(string); ok && c != "" && c != "nope" {
			st["properties"].(map[string]any)["component"] = app + "-" + c
		}
		add("step parameter", name, biAppCase(app, comps, []map[string]any{st}, want...), want, biPassword)
	}
	goodVPC := func() map[string]any {
		return biComponent("net", "mycloud-vpc", map[string]any{"name": "bi-step", "cidr": "10.63.0.0/16"})
	}
	web := func() map[string]any {
		return biComponent("web", "webservice", map[string]any{"image": "nginx"})
	}
	param("infra-drift onDrift: explode", []map[string]any{goodVPC()}, biStep("infra-drift", map[string]any{"component": "net", "onDrift": "explode"}),
		`onDrift must be one of "report", "fail", "suspend"`)
	param("infra-drift on a missing component", []map[string]any{goodVPC()}, biStep("infra-drift", map[string]any{"component": "nope"}),
		`component "nope" is not a component of application`)
	param("infra-drift on a webservice", []map[string]any{web()}, biStep("infra-drift", map[string]any{"component": "web"}),
		`component "bi-s03-web" is of type webservice, which renders a Deployment, not a terraform-controller Configuration`)
	param("infra-plan on a webservice", []map[string]any{web()}, biStep("infra-plan", map[string]any{"component": "web"}),
		`component "bi-s04-web" is of type webservice`, "name a mycloud-* component")
	param("infra-import on a webservice", []map[string]any{web()}, biStep("infra-import", map[string]any{"component": "web",
		"resources": []any{map[string]any{"address": "mycloud_vpc.this", "id": "vpc-1"}}}), `component "bi-s05-web" is of type webservice`)
	param("infra-import resources: []", []map[string]any{goodVPC()}, biStep("infra-import", map[string]any{"component": "net", "resources": []any{}}),
		"resources must list at least one {address, id}")
	param("infra-import address not an address", []map[string]any{goodVPC()}, biStep("infra-import", map[string]any{"component": "net",
		"resources": []any{map[string]any{"address": "not an address", "id": "vpc-1"}}}), "parameter.resources.0.address", `invalid value "not an address"`)
	param("infra-import id with a space", []map[string]any{goodVPC()}, biStep("infra-import", map[string]any{"component": "net",
		"resources": []any{map[string]any{"address": "mycloud_vpc.this", "id": "vpc 1"}}}), "parameter.resources.0.id", `invalid value "vpc 1"`)
	param("infra-import on a component with a bad property", []map[string]any{biComponent("net", "mycloud-vpc", map[string]any{"name": "bi-step", "cidr": "8.8.0.0/16"})},
		biStep("infra-import", map[string]any{"component": "net", "resources": []any{map[string]any{"address": "mycloud_vpc.this", "id": "vpc-1"}}}),
		"cidr", "is not a private IPv4 block")
	// The step fails before it creates its step-run object, so the
	// step-runner never calls the cloud for it (was
	// TestBadPropertiesAreRejectedNamingTheProperty).
	s++
	badDrift := fmt.Sprintf("bi-s%02d", s)
	add("step parameter", "infra-drift on a component with a bad property", biNoStepRun(badDrift, "InfraDrift", badDrift+"-s",
		biAppCase(badDrift, []map[string]any{biComponent(badDrift+"-net", "mycloud-vpc", map[string]any{"name": "bi-step", "cidr": "10.0.0.0/8"})},
			[]map[string]any{biStep("infra-drift", map[string]any{"component": badDrift + "-net"})}, "prefix length from /16 to /28")),
		[]string{"check.cidr", "prefix length from /16 to /28"}, biPassword)
	param("infra-drift without component", []map[string]any{goodVPC()}, biStep("infra-drift", map[string]any{}),
		"parameter component is missing", "name the mycloud-* component of application")
	param("infra-approve without infra-plan", []map[string]any{goodVPC()}, biStep("infra-approve", map[string]any{"component": "net"}),
		"No plan to approve for component", "put an infra-plan step for it before this step")
	param("infra-drift with a Provider that does not exist", []map[string]any{biComponent("net", "mycloud-vpc",
		map[string]any{"name": "bi-step", "cidr": "10.63.0.0/16", "providerRef": map[string]any{"name": "nope"}})},
		biStep("infra-drift", map[string]any{"component": "net"}), "Provider default/nope", "does not exist")

	// Step-run objects created directly: the API server refuses what the
	// CRD schema rules out; the step-runner stalls on the rest with its
	// Ready condition naming the field.
	good := bi.target("bi-net", bi.vpcHCL, biVPCVars(), "mycloud")
	vpcRes := "resources:\n    - address: mycloud_vpc.this\n      id: vpc-badinput1\n"
	obj := func(name, kind, objName string, target map[string]any, rest string, want ...string) {
		add("step-run object", name, bi.stepRunCase(kind, objName, target, rest), want)
	}
	refused := func(name, kind, objName string, target map[string]any, rest string, want ...string) {
		add("step-run object", name, bi.refusedCase(kind, objName, target, rest), want)
	}
	refused("InfraDrift onDrift: explode", "InfraDrift", "bi-r1", good, "onDrift: explode\n", "spec.onDrift", `Unsupported value: "explode"`)
	refused("InfraImport resources: []", "InfraImport", "bi-r2", good, "resources: []\n", "spec.resources", "should have at least 1 items")
	refused("InfraImport without resources", "InfraImport", "bi-r3", good, "request: x\n", "spec.resources", "Required value")
	refused("InfraDrift without configurationName", "InfraDrift", "bi-r4", map[string]any{"spec": map[string]any{"hcl": "x"}}, "request: x\n", "spec.target.configurationName", "Required value")
	refused("InfraDrift variablesFrom ConfigMap", "InfraDrift", "bi-r5", biWith(good, "variablesFrom", "ConfigMap"), "request: x\n", "spec.target.variablesFrom", `Unsupported value: "ConfigMap"`)
	refused("InfraImport resource without an id", "InfraImport", "bi-r6", good, "resources:\n    - address: mycloud_vpc.this\n", "spec.resources[0].id", "Required value")
	refused("InfraApproval approval without planID", "InfraApproval", "bi-r7", good, "approval:\n    by: someone\n", "spec.approval.planID", "Required value")
	obj("InfraDrift interval 5s", "InfraDrift", "bi-o1", good, "interval: 5s\n", "spec.interval 5s is shorter than the minimum 30s")
	obj("InfraDrift of a Configuration that does not exist", "InfraDrift", "bi-o2", bi.target("bi-nothing", "", nil, ""), "request: x\n",
		"ConfigurationNotFound", "Configuration badinput/bi-nothing does not exist")
	obj("unparseable HCL", "InfraDrift", "bi-o3", bi.target("bi-net", "resource \"mycloud_vpc\" \"this\" {\n  name = \n}\n", nil, "mycloud"), "request: x\n",
		"spec.target.spec.hcl", "line 2")
	obj("unknown field in the spec", "InfraDrift", "bi-o4", biWith(good, "spec", biWith(good["spec"].(map[string]any), "colour", "red")), "request: x\n",
		`unknown field "colour"`)
	obj("spec.remote instead of HCL", "InfraDrift", "bi-o5", map[string]any{"configurationName": "bi-net", "spec": map[string]any{"remote": "https://example.com/module.git"}}, "request: x\n",
		"spec.remote")
	obj("a required variable missing", "InfraDrift", "bi-o7", bi.target("bi-net", bi.vpcHCL, map[string]any{"name": "bi-net"}, "mycloud"), "request: x\n",
		"cidr")
	obj("a variable the module refuses", "InfraDrift", "bi-o8", bi.target("bi-net", bi.vpcHCL, biWith(biVPCVars(), "cidr", "10.0.0.0/8"), "mycloud"), "request: x\n",
		"cidr", "prefix length from /16 to /28")
	obj("InfraImport address not in the module", "InfraImport", "bi-o9", good, "resources:\n    - address: mycloud_vpc.other\n      id: vpc-badinput1\n",
		"mycloud_vpc.other")
	obj("InfraImport bad address", "InfraImport", "bi-o10", good, "resources:\n    - address: \"mycloud_vpc this\"\n      id: vpc-badinput1\n",
		"spec.resources[0].address", "is not a Terraform resource address")
	obj("InfraImport bad id", "InfraImport", "bi-o11", good, "resources:\n    - address: mycloud_vpc.this\n      id: \"vpc 1\"\n",
		"spec.resources[0].id", "is not a cloud id")
	obj("InfraImport the same address twice", "InfraImport", "bi-o12", good, vpcRes+"    - address: mycloud_vpc.this\n      id: vpc-other\n",
		"spec.resources[1].address", "repeats spec.resources[0]")
	obj("InfraImport an address managed with another id", "InfraImport", "bi-o13", good, "resources:\n    - address: mycloud_vpc.this\n      id: vpc-missing99\n",
		"spec.resources[0]", "already manages vpc-badinput1", "not vpc-missing99")
	obj("InfraImport an id not in the cloud", "InfraImport", "bi-o14", bi.target("bi-empty", bi.vpcHCL, biVPCVars(), "mycloud"),
		"resources:\n    - address: mycloud_vpc.this\n      id: vpc-missing99\n", "vpc-missing99")
	obj("inline variables and variablesFrom: Secret", "InfraDrift", "bi-o16", biWith(good, "variablesFrom", "Secret"), "request: x\n",
		"InvalidSpec", "spec.target.spec.variable must be empty when spec.target.variablesFrom is Secret")
	obj("InfraApproval of a Configuration that does not exist", "InfraApproval", "bi-o15", bi.target("bi-nothing", "", nil, ""), "request: x\n",
		"Configuration badinput/bi-nothing does not exist")

	// Credentials and Providers.
	cred := func(name, objName, provider string, want []string, never ...string) {
		add("credentials", name, bi.stepRunCase("InfraDrift", objName, bi.target("bi-net", bi.vpcHCL, biVPCVars(), provider), "request: x\n"), want, never...)
	}
	cred("Provider that does not exist", "bi-p1", "nope", []string{"ProviderNotFound", "Provider badinput/nope"})
	cred("Provider whose Secret does not exist", "bi-p2", "no-secret", []string{"CredentialsInvalid", "Provider badinput/no-secret", `secrets "does-not-exist" not found`})
	cred("Provider Secret without the key", "bi-p3", "other-key", []string{"credentials"})
	cred("wrong secret key", "bi-p4", "wrong-key", []string{"AuthFailed"}, "not-the-secret-key")
	cred("unreachable endpoint", "bi-p5", "unreachable", []string{"CloudUnreachable", "http://127.0.0.1:1"}, "(sensitive)", "retrying")
	cred("credentials that are not YAML", "bi-p7", "not-yaml", []string{"credentials"}, mycloudtest.SecretKey)
	cred("credentials without MYCLOUD_ENDPOINT", "bi-p8", "no-endpoint", []string{"CredentialsInvalid", "Provider badinput/no-endpoint", "have no MYCLOUD_ENDPOINT",
		"Secret badinput/no-endpoint (key credentials)"}, "requires explicit configuration", "AuthFailed")

	// The mycloud API.
	api := func(name, method, path, contentType, body string, status int, want ...string) {
		add("mycloud API", name, biAPICase(method, path, contentType, body, status, biSigned), want)
	}
	const ct = "application/json"
	api("text/plain body", http.MethodPost, "/v1/vpcs", "text/plain", `{"name":"bi-api","cidr":"10.64.0.0/16"}`, 415, "Content-Type", "application/json")
	api("no Content-Type", http.MethodPost, "/v1/vpcs", "", `{"name":"bi-api","cidr":"10.64.0.0/16"}`, 415, "Content-Type")
	api("body not JSON", http.MethodPost, "/v1/vpcs", ct, `{"name":`, 400, "not a JSON object")
	api("unknown field", http.MethodPost, "/v1/vpcs", ct, `{"name":"bi-api","cidr":"10.64.0.0/16","colour":"red"}`, 400, "colour", "is not a field of vpcs")
	api("name missing", http.MethodPost, "/v1/vpcs", ct, `{"cidr":"10.64.0.0/16"}`, 400, "name is required")
	api("public CIDR", http.MethodPost, "/v1/vpcs", ct, `{"name":"bi-api","cidr":"8.8.0.0/16"}`, 400, "cidr", "not a private range")
	api("CIDR with host bits", http.MethodPost, "/v1/vpcs", ct, `{"name":"bi-api","cidr":"10.64.0.1/16"}`, 400, "cidr", "host bits set", "10.64.0.0/16")
	api("CIDR /8", http.MethodPost, "/v1/vpcs", ct, `{"name":"bi-api","cidr":"10.0.0.0/8"}`, 400, "cidr", "outside /16 to /28")
	api("100 tags", http.MethodPost, "/v1/vpcs", ct, fmt.Sprintf(`{"name":"bi-api","cidr":"10.64.0.0/16","tags":%s}`, biJSON(biTags(100))), 400, "tags has 100 tags; at most 50 are allowed")
	api("empty tag key", http.MethodPost, "/v1/vpcs", ct, `{"name":"bi-api","cidr":"10.64.0.0/16","tags":{"":"x"}}`, 400, `"field":"tags"`, "must be 1-128 characters")
	api("tags not strings", http.MethodPost, "/v1/vpcs", ct, `{"name":"bi-api","cidr":"10.64.0.0/16","tags":{"n":1}}`, 400, "tags must be an object of string values")
	api("zone-z", http.MethodPost, "/v1/subnets", ct, `{"name":"bi-api","vpc_id":"vpc-badinput1","cidr":"10.61.1.0/24","zone":"zone-z"}`, 400, "zone", "is not a mycloud zone")
	api("subnet in a VPC that does not exist", http.MethodPost, "/v1/subnets", ct, `{"name":"bi-api","vpc_id":"vpc-doesnotexist","cidr":"10.61.1.0/24"}`, 400, "vpc_id", "vpc-doesnotexist")
	api("subnet CIDR outside its VPC", http.MethodPost, "/v1/subnets", ct, `{"name":"bi-api","vpc_id":"vpc-badinput1","cidr":"10.99.1.0/24"}`, 400, "cidr", "10.61.0.0/16")
	api("bucket name taken", http.MethodPost, "/v1/buckets", ct, `{"name":"legacy-assets"}`, 409, "name", "legacy-assets")
	api("memory_mib a string", http.MethodPost, "/v1/redis-instances", ct, `{"name":"bi-api","subnet_id":"subnet-x","memory_mib":"lots","manage_password":true}`, 400, "memory_mib must be an integer")
	api("password too weak", http.MethodPost, "/v1/mysql-instances", ct, `{"name":"bi-api","subnet_id":"subnet-x","admin_password":"`+biPassword+`"}`, 400, "admin_password must be 12-128 characters")
	api("change of an immutable attribute", http.MethodPatch, "/v1/vpcs/vpc-badinput1", ct, `{"cidr":"10.65.0.0/16"}`, 400, "cidr")
	add("mycloud API", "unsigned request", biAPICase(http.MethodPost, "/v1/vpcs", ct, `{"name":"bi-api","cidr":"10.64.0.0/16"}`, 401, func(*http.Request, []byte) {}), []string{"not signed", "access key and secret key"})
	add("mycloud API", "wrong secret key", biAPICase(http.MethodPost, "/v1/vpcs", ct, `{"name":"bi-api","cidr":"10.64.0.0/16"}`, 401, func(r *http.Request, b []byte) {
		auth.Sign(r, b, mycloudtest.AccessKey, "not-the-secret-key", time.Now())
	}), []string{"signature"})
	return cases
}

// maps returns a copy of m with k set to v.
func biWith(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

func biJSON(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		panic(err)
	}
	return string(j)
}
