package definitions_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/oam-dev/kubevela/apis/core.oam.dev/common"
	corev1beta1 "github.com/oam-dev/kubevela/apis/core.oam.dev/v1beta1"

	"github.com/vela-infra/vela-infra/internal/testground/testenv"
)

// TestAgainstAPIServer runs the vela commands that need a cluster against a
// real kube-apiserver with KubeVela's and terraform-controller's CRDs (no
// vela-core: these commands only read and write objects).
func TestAgainstAPIServer(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := string(kc)
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vela-system"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}

	// The vela-infra addon renders the chart's manifests and the step
	// definitions, offline.
	t.Run("vela addon enable vela-infra --dry-run", func(t *testing.T) {
		out, errOut, err := vela(t, kubeconfig, "addon", "enable", "./addons/vela-infra", "--dry-run")
		if err != nil {
			t.Fatalf("vela addon enable ./addons/vela-infra --dry-run: %v\n%s%s", err, out, errOut)
		}
		kinds := map[string]bool{}
		steps := map[string]bool{}
		for _, doc := range strings.Split(out, "\n---\n") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
				continue
			}
			if obj["kind"] == "WorkflowStepDefinition" {
				md, _ := obj["metadata"].(map[string]any)
				steps[md["name"].(string)] = true
			}
			if obj["kind"] == "Application" {
				spec, _ := obj["spec"].(map[string]any)
				comps, _ := spec["components"].([]any)
				for _, c := range comps {
					props, _ := c.(map[string]any)["properties"].(map[string]any)
					objs, _ := props["objects"].([]any)
					for _, o := range objs {
						kinds[o.(map[string]any)["kind"].(string)] = true
					}
				}
			}
		}
		for _, k := range []string{"Deployment", "ServiceAccount", "ClusterRole", "CustomResourceDefinition"} {
			if !kinds[k] {
				t.Errorf("the addon does not install a %s: %v", k, kinds)
			}
		}
		for _, s := range []string{"infra-import", "infra-drift", "infra-plan", "infra-approve"} {
			if !steps[s] {
				t.Errorf("the addon does not install the step %s", s)
			}
		}
	})

	// What `vela addon enable <dir>` does with a dependency of a local addon
	// (pkg/addon EnableAddonByLocalDir): it never fetches one. The addon's
	// Application addon-<dependency> must already exist in vela-system, and
	// carry the addon name and version labels that enabling an addon (from
	// a local directory too) puts there. terraform-mycloud depends on the
	// terraform addon (addons/terraform); the subtests after this one run
	// with it enabled.
	t.Run("a local addon's dependency must be enabled first", func(t *testing.T) {
		args := []string{"addon", "enable", "./addons/terraform-mycloud", "--dry-run", "endpoint=http://10.0.0.5:8480", "accessKey=AK", "secretKey=SK"}
		out, errOut, err := vela(t, kubeconfig, args...)
		if err == nil || !strings.Contains(out+errOut, "you must first enable dependencies: [terraform]") {
			t.Fatalf("with the terraform addon missing: err %v, want \"you must first enable dependencies: [terraform]\"\n%s", err, velaError(out+errOut))
		}
		// An Application of that name alone does not do.
		dep := &corev1beta1.Application{
			ObjectMeta: metav1.ObjectMeta{Name: "addon-terraform", Namespace: "vela-system"},
			Spec:       corev1beta1.ApplicationSpec{Components: []common.ApplicationComponent{}},
		}
		if err := c.Create(context.Background(), dep); err != nil {
			t.Fatal(err)
		}
		out, errOut, err = vela(t, kubeconfig, args...)
		if err == nil || !strings.Contains(out+errOut, "has unresolvable dependency terraform: no available addon with name terraform") {
			t.Fatalf("with an unlabelled addon-terraform: err %v, want an unresolvable dependency\n%s", err, velaError(out+errOut))
		}
		// What `vela addon enable ./addons/terraform` (a local addon)
		// leaves behind.
		dep.Labels = map[string]string{"addons.oam.dev/name": "terraform", "addons.oam.dev/version": "1.1.0", "addons.oam.dev/registry": "local"}
		if err := c.Update(context.Background(), dep); err != nil {
			t.Fatal(err)
		}
		if out, errOut, err := vela(t, kubeconfig, args...); err != nil {
			t.Fatalf("with the terraform addon enabled: %v\n%s", err, velaError(out+errOut))
		}
	})

	// `vela addon enable <dir> --dry-run` renders the addon exactly as an
	// enable would (local reader, dependency check, CUE templates, the
	// definitions) and prints the objects instead of applying them.
	t.Run("vela addon enable --dry-run", func(t *testing.T) {
		out, errOut, err := vela(t, kubeconfig, "addon", "enable", "./addons/terraform-mycloud", "--dry-run",
			"endpoint=http://10.0.0.5:8480", "accessKey=AKEXAMPLE", "secretKey=sentinel-Secret-Key")
		if err != nil {
			t.Fatalf("vela addon enable --dry-run: %v\n%s%s", err, out, errOut)
		}
		var app struct {
			Metadata struct{ Name, Namespace string }
			Spec     struct {
				Components []struct {
					Name       string
					Type       string
					Properties struct{ Objects []map[string]any }
				}
			}
		}
		defs := map[string]bool{}
		for _, doc := range strings.Split(out, "\n---\n") {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
				continue
			}
			switch obj["kind"] {
			case "Application":
				if err := yaml.Unmarshal([]byte(doc), &app); err != nil {
					t.Fatal(err)
				}
			case "ComponentDefinition":
				md, _ := obj["metadata"].(map[string]any)
				name, _ := md["name"].(string)
				defs[name] = true
			}
		}
		if app.Metadata.Name != "addon-terraform-mycloud" || app.Metadata.Namespace != "vela-system" {
			t.Fatalf("no addon Application in the output:\n%s", out)
		}
		for _, typ := range types {
			if !defs["mycloud-"+typ] {
				t.Errorf("the addon does not install the ComponentDefinition mycloud-%s", typ)
			}
		}
		if len(app.Spec.Components) != 1 || app.Spec.Components[0].Type != "k8s-objects" || len(app.Spec.Components[0].Properties.Objects) != 2 {
			t.Fatalf("want one k8s-objects component with the Secret and the Provider, got %+v", app.Spec.Components)
		}
		objs := map[string]map[string]any{}
		for _, o := range app.Spec.Components[0].Properties.Objects {
			objs[o["kind"].(string)] = o
		}
		secret, provider := objs["Secret"], objs["Provider"]
		if secret == nil || provider == nil {
			t.Fatalf("want a Secret and a Provider, got %v", objs)
		}
		raw, err := yaml.Marshal(secret)
		if err != nil {
			t.Fatal(err)
		}
		var s corev1.Secret
		if err := yaml.UnmarshalStrict(raw, &s); err != nil {
			t.Fatalf("the credentials are not a Secret: %v", err)
		}
		if s.Name != "mycloud-credentials" || s.Namespace != "vela-system" {
			t.Errorf("Secret %s/%s, want vela-system/mycloud-credentials", s.Namespace, s.Name)
		}
		// terraform-controller's custom provider decodes this key as a YAML
		// map of strings, one environment variable per entry.
		var creds map[string]string
		if err := yaml.UnmarshalStrict([]byte(s.StringData["credentials"]), &creds); err != nil {
			t.Fatalf("the credentials key is not a YAML map of strings: %v", err)
		}
		want := map[string]string{"MYCLOUD_ENDPOINT": "http://10.0.0.5:8480", "MYCLOUD_ACCESS_KEY": "AKEXAMPLE", "MYCLOUD_SECRET_KEY": "sentinel-Secret-Key"}
		for k, v := range want {
			if creds[k] != v {
				t.Errorf("credentials %s = %q, want %q", k, creds[k], v)
			}
		}
		if len(creds) != len(want) {
			t.Errorf("credentials hold %v, want exactly %v", creds, want)
		}
		rawProvider, err := yaml.Marshal(provider)
		if err != nil {
			t.Fatal(err)
		}
		wantProvider := `apiVersion: terraform.core.oam.dev/v1beta1
kind: Provider
metadata:
  name: mycloud
  namespace: default
spec:
  credentials:
    secretRef:
      key: credentials
      name: mycloud-credentials
      namespace: vela-system
    source: Secret
  provider: custom
`
		if string(rawProvider) != wantProvider {
			t.Errorf("Provider:\n%s\nwant:\n%s", rawProvider, wantProvider)
		}
	})

	t.Run("vela addon enable without credentials", func(t *testing.T) {
		out, errOut, err := vela(t, kubeconfig, "addon", "enable", "./addons/terraform-mycloud", "--dry-run", "endpoint=http://10.0.0.5:8480")
		if err == nil {
			t.Fatalf("enabled without accessKey and secretKey:\n%s", out)
		}
		if msg := out + errOut; !strings.Contains(msg, "missing or invalid addon parameters accessKey, secretKey") {
			t.Errorf("the error does not name accessKey:\n%s", velaError(msg))
		}
	})

	// vela parses key=value with Helm's strvals: a key that reads as a
	// number becomes one, and the addon's parameter refuses it, by name.
	t.Run("vela addon enable with a numeric key", func(t *testing.T) {
		out, errOut, err := vela(t, kubeconfig, "addon", "enable", "./addons/terraform-mycloud", "--dry-run",
			"endpoint=http://10.0.0.5:8480", "accessKey=12345", "secretKey=SK")
		if err == nil || !strings.Contains(out+errOut, "missing or invalid addon parameters accessKey:") {
			t.Fatalf("err %v, want an error naming accessKey\n%s", err, velaError(out+errOut))
		}
	})

	// `vela show <name>` documents a definition applied to the cluster; it
	// must list every parameter (module variables and the added ones). Last:
	// the addon refuses to take over a definition applied by hand.
	t.Run("vela show mycloud-mysql", func(t *testing.T) {
		def := repoPath(t, componentsDir+"/mycloud-mysql.cue")
		if out, errOut, err := vela(t, kubeconfig, "def", "apply", def); err != nil {
			t.Fatalf("vela def apply: %v\n%s%s", err, out, errOut)
		}
		out, errOut, err := vela(t, kubeconfig, "show", "mycloud-mysql")
		if err != nil {
			t.Fatalf("vela show mycloud-mysql: %v\n%s%s", err, out, errOut)
		}
		for _, p := range []string{"name", "subnet_id", "engine_version", "instance_class", "storage_gib", "admin_password", "manage_admin_password", "tags",
			"writeConnectionSecretToRef", "providerRef", "deleteResource"} {
			if !strings.Contains(out, "| "+p+" ") {
				t.Errorf("vela show mycloud-mysql does not list %s:\n%s", p, out)
			}
		}
		for _, usage := range []string{"MySQL version: 5.7 or 8.0.", "Storage in GiB, 20 to 16384."} {
			if !strings.Contains(out, usage) {
				t.Errorf("vela show mycloud-mysql lacks the module's description %q:\n%s", usage, out)
			}
		}
	})
}
