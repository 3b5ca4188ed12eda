// Package e2e drives the real vela CLI against a real API server running the
// real vela-core and the real step-runner binary, with the project's
// definitions applied and mycloud as the cloud.
//
// This is the fast end-to-end suite that `make test` runs: the API server is
// envtest's (no kubelet), so terraform-controller's Job pods do not run here;
// the workflows use only the infra-* steps, which the step-runner carries out
// itself. The round trip through terraform-controller's Jobs needs the local
// cluster (README, "Status").
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"

	"github.com/vela-infra/vela-infra/pkg/mycloud/mycloudtest"
	"github.com/vela-infra/vela-infra/pkg/testenv"
)

var (
	env        *testenv.Env
	kubeconfig string
	root       string
	procs      []*exec.Cmd
	procLogs   = map[string]*bytes.Buffer{}
	setupOnce  sync.Once
	setupErr   error
	cloud      *mycloudtest.Cloud
)

func TestMain(m *testing.M) {
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	for _, p := range procs {
		_ = p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
		}
	}
	_ = env.Stop()
	os.Exit(code)
}

// bin returns a tool from bin/, failing when `make tools` has not built it.
func bin(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found at %s: run `make tools`", name, p)
	}
	return p
}

// start runs a long-lived process for the whole package.
func start(name string, args []string, extraEnv ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig), extraEnv...)
	buf := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	procs = append(procs, cmd)
	procLogs[name] = buf
	return nil
}

// setup starts mycloud, vela-core and the step-runner, and applies the
// definitions and the mycloud Provider, once.
func setup(t *testing.T) {
	t.Helper()
	setupOnce.Do(func() { setupErr = doSetup(t) })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

func doSetup(t *testing.T) error {
	dir, err := os.MkdirTemp("", "vela-infra-e2e-")
	if err != nil {
		return err
	}
	kubeconfig = filepath.Join(dir, "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	cfg.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: env.Config.CertData, ClientKeyData: env.Config.KeyData}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest", Namespace: "default"}
	cfg.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		return err
	}
	c := k8s(t)
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vela-system"}}); err != nil {
		return err
	}

	// mycloud lives as long as the package's tests.
	cloud = mycloudtest.Start(&packageTB{T: t}, mycloudtest.Options{CreateDelay: 200 * time.Millisecond})

	stepRunner := filepath.Join(dir, "step-runner")
	build := exec.Command("go", "build", "-o", stepRunner, "./cmd/step-runner")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build step-runner: %v\n%s", err, out)
	}
	if err := start("vela-core", []string{bin(t, "vela-core"), "--use-webhook=false", "--metrics-addr=0", "--health-addr=127.0.0.1:0", "--enable-leader-election=false"}); err != nil {
		return err
	}
	if err := start("step-runner", []string{stepRunner,
		"--terraform", bin(t, "terraform"), "--terraform-cli-config", mycloudtest.CLIConfig(t),
		"--work-dir", filepath.Join(dir, "ws"), "--plugin-cache-dir", filepath.Join(dir, "plugins"),
		"--backend-kubeconfig", kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:0",
	}); err != nil {
		return err
	}

	// The mycloud Provider and credentials, as the terraform-mycloud addon
	// installs them.
	creds := fmt.Sprintf("MYCLOUD_ENDPOINT: %s\nMYCLOUD_ACCESS_KEY: %s\nMYCLOUD_SECRET_KEY: %s\n", cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "mycloud-credentials"}, StringData: map[string]string{"credentials": creds}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &tfv1beta1.Provider{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "mycloud"},
		Spec: tfv1beta1.ProviderSpec{Provider: "custom", Credentials: tfv1beta1.ProviderCredentials{
			Source:    crossplane.CredentialsSourceSecret,
			SecretRef: &crossplane.SecretKeySelector{SecretReference: crossplane.SecretReference{Namespace: "default", Name: "mycloud-credentials"}, Key: "credentials"},
		}},
	}); err != nil {
		return err
	}

	defs, _ := filepath.Glob(filepath.Join(root, "definitions", "workflowsteps", "*.cue"))
	comps, _ := filepath.Glob(filepath.Join(root, "definitions", "components", "*.cue"))
	for _, def := range append(defs, comps...) {
		if out, err := vela(t, "def", "apply", def); err != nil {
			return fmt.Errorf("vela def apply %s: %v\n%s", def, err, out)
		}
	}
	return nil
}

// packageTB lets package-lifetime helpers fail the first test that uses
// them, without tying their cleanup to that test.
type packageTB struct{ *testing.T }

func (p *packageTB) Cleanup(func()) {}
func (p *packageTB) TempDir() string {
	d, _ := os.MkdirTemp("", "vela-infra-e2e-")
	return d
}

func k8s(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// vela runs the real vela CLI against the test cluster.
func vela(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin(t, "vela"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// eventually runs vela args until the output contains want.
func eventually(t *testing.T, timeout time.Duration, want string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var out string
	for time.Now().Before(deadline) {
		out, _ = vela(t, args...)
		if strings.Contains(out, want) {
			return out
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("vela %s never showed %q; last output:\n%s\nstep-runner log tail:\n%s\nvela-core log tail:\n%s",
		strings.Join(args, " "), want, out, tailOf(procLogs["step-runner"]), tailOf(procLogs["vela-core"]))
	return ""
}

func tailOf(b *bytes.Buffer) string {
	if b == nil {
		return ""
	}
	s := b.String()
	if len(s) > 3000 {
		s = s[len(s)-3000:]
	}
	return s
}

func up(t *testing.T, name, yaml string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := vela(t, "up", "-f", f); err != nil {
		t.Fatalf("vela up: %v\n%s", err, out)
	}
}

func TestApproveHoldsTheDiffAndAppliesOnResume(t *testing.T) {
	setup(t)
	up(t, "assets", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: assets
spec:
  components:
    - name: assets-bucket
      type: mycloud-bucket
      properties:
        name: team-assets
        acl: private
  workflow:
    steps:
      - name: plan
        type: infra-plan
        properties:
          component: assets-bucket
      - name: approve
        type: infra-approve
        properties:
          component: assets-bucket
`)
	status := eventually(t, 3*time.Minute, "suspending", "status", "assets")
	for _, want := range []string{"+ mycloud_bucket.this (create)", `name = "team-assets"`, "awaits approval"} {
		if !strings.Contains(status, want) {
			t.Errorf("vela status lacks %q while approval is pending:\n%s", want, status)
		}
	}
	t.Logf("vela status while the approval is held:\n%s", status)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != 0 {
		t.Fatalf("the bucket was created before approval (%d)", n)
	}
	if out, err := vela(t, "workflow", "resume", "assets"); err != nil {
		t.Fatalf("vela workflow resume: %v\n%s", err, out)
	}
	status = eventually(t, 3*time.Minute, "applied the approved plan", "status", "assets")
	t.Logf("vela status after resume:\n%s", status)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != 1 {
		t.Fatalf("want exactly one bucket created, got %d", n)
	}
}

func TestTerminateRejectsAndLeavesTheCloudAlone(t *testing.T) {
	setup(t)
	up(t, "rejected", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: rejected
spec:
  components:
    - name: rejected-bucket
      type: mycloud-bucket
      properties:
        name: never-created
  workflow:
    steps:
      - name: plan
        type: infra-plan
        properties:
          component: rejected-bucket
      - name: approve
        type: infra-approve
        properties:
          component: rejected-bucket
`)
	eventually(t, 3*time.Minute, "suspending", "status", "rejected")
	before := cloud.CountRequests(http.MethodPost, "/v1/buckets")
	if before != 1 { // the assets test's bucket only
		t.Fatalf("a bucket was created while the approval was held: %d creates", before)
	}
	if out, err := vela(t, "workflow", "terminate", "rejected"); err != nil {
		t.Fatalf("vela workflow terminate: %v\n%s", err, out)
	}
	eventually(t, time.Minute, "Terminated: true", "status", "rejected")
	time.Sleep(3 * time.Second)
	if n := cloud.CountRequests(http.MethodPost, "/v1/buckets"); n != before {
		t.Fatal("a rejected plan created the bucket")
	}
}

func TestImportThenDriftThroughWorkflowSteps(t *testing.T) {
	setup(t)
	cloud.MustAdmin(http.MethodPost, "seed", map[string]any{
		"vpcs": []map[string]any{{"id": "vpc-legacy01", "name": "legacy-network", "cidr": "10.40.0.0/16", "tags": map[string]string{"owner": "ops"}}},
	}, nil)
	posts := cloud.CountRequests(http.MethodPost, "/v1/vpcs")
	up(t, "network", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: network
spec:
  components:
    - name: network
      type: mycloud-vpc
      properties:
        name: legacy-network
        cidr: 10.40.0.0/16
        tags:
          owner: ops
  workflow:
    steps:
      - name: adopt
        type: infra-import
        properties:
          component: network
          resources:
            - address: mycloud_vpc.this
              id: vpc-legacy01
      - name: drift
        type: infra-drift
        properties:
          component: network
`)
	status := eventually(t, 3*time.Minute, "has no drift", "status", "network")
	t.Logf("vela status after infra-import and infra-drift:\n%s", status)
	if !strings.Contains(status, "adopted 1 resource") {
		t.Errorf("import step message missing:\n%s", status)
	}
	if n := cloud.CountRequests(http.MethodPost, "/v1/vpcs"); n != posts {
		t.Fatalf("infra-import created a VPC")
	}

	// Someone edits the VPC in the console; the next run reports the drift.
	cloud.MustAdmin(http.MethodPatch, "resources/vpcs/vpc-legacy01", map[string]any{"tags": map[string]string{"owner": "someone-else"}}, nil)
	if out, err := vela(t, "workflow", "restart", "network"); err != nil {
		t.Fatalf("vela workflow restart: %v\n%s", err, out)
	}
	status = eventually(t, 3*time.Minute, `tags.owner: "ops" -> "someone-else"`, "status", "network")
	t.Logf("vela status after an out-of-band edit:\n%s", status)
}
