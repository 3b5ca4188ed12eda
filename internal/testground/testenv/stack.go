package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
)

// Stack is KubeVela on a test API server: the real vela-core and the real
// step-runner binary running against it, the project's definitions applied
// with the real vela CLI, and a mycloud Provider. terraform-controller's
// Job pods cannot run here (there is no kubelet); the infra-* steps run.
type Stack struct {
	Env        *Env
	Kubeconfig string
	Dir        string
	procs      []*exec.Cmd
	names      []string
	mu         sync.Mutex
	logs       map[string]*bytes.Buffer
	opts       StackOptions
}

// StackOptions are the binaries and the cloud of a stack.
type StackOptions struct {
	VelaCore, Vela, StepRunner, Terraform string
	// TerraformCLIConfig installs the mycloud provider from its mirror.
	TerraformCLIConfig string
	// Cloud endpoint and keys the mycloud Provider is given.
	Endpoint, AccessKey, SecretKey string
	// Bare leaves out the definitions and the mycloud Provider, for tests
	// that install them with `vela addon enable`.
	Bare bool
}

// StartStack starts vela-core and the step-runner against env and applies
// the definitions found under root.
func StartStack(env *Env, root string, o StackOptions) (*Stack, error) {
	dir, err := os.MkdirTemp("", "vela-infra-stack-")
	if err != nil {
		return nil, err
	}
	s := &Stack{Env: env, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), logs: map[string]*bytes.Buffer{}, opts: o}
	if err := env.WriteKubeconfig(s.Kubeconfig); err != nil {
		return nil, err
	}
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vela-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	if err := s.start("vela-core", o.VelaCore, "--use-webhook=false", "--metrics-addr=0", "--health-addr=127.0.0.1:0", "--enable-leader-election=false"); err != nil {
		return nil, err
	}
	if err := s.StartStepRunner("step-runner"); err != nil {
		s.Stop()
		return nil, err
	}
	if o.Bare {
		return s, nil
	}
	// The mycloud Provider and its credentials, as terraform-mycloud installs them.
	creds := fmt.Sprintf("MYCLOUD_ENDPOINT: %s\nMYCLOUD_ACCESS_KEY: %s\nMYCLOUD_SECRET_KEY: %s\n", o.Endpoint, o.AccessKey, o.SecretKey)
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "mycloud-credentials"}, StringData: map[string]string{"credentials": creds}},
		&tfv1beta1.Provider{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "mycloud"},
			Spec: tfv1beta1.ProviderSpec{Provider: "custom", Credentials: tfv1beta1.ProviderCredentials{
				Source:    crossplane.CredentialsSourceSecret,
				SecretRef: &crossplane.SecretKeySelector{SecretReference: crossplane.SecretReference{Namespace: "default", Name: "mycloud-credentials"}, Key: "credentials"},
			}},
		},
	}
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			s.Stop()
			return nil, err
		}
	}
	defs, _ := filepath.Glob(filepath.Join(root, "addons", "vela-infra", "definitions", "*.cue"))
	comps, _ := filepath.Glob(filepath.Join(root, "addons", "terraform-mycloud", "definitions", "*.cue"))
	for _, def := range append(defs, comps...) {
		if out, err := s.Vela(o.Vela, "def", "apply", def); err != nil {
			s.Stop()
			return nil, fmt.Errorf("vela def apply %s: %v\n%s", def, err, out)
		}
	}
	return s, nil
}

// EnableAddons installs the addons from root/addons with `vela addon
// enable`, offline, as a user would: terraform (terraform-mycloud's declared
// dependency; its Deployment never runs here, the stack runs
// terraform-controller as a process), terraform-mycloud pointed at the
// cloud, then vela-infra. The test API server's own copies of our CRDs are removed
// first (the addon installs them), and kubevela's built-in k8s-objects
// definition, which vela-core's chart would install, is applied.
func (s *Stack) EnableAddons(root, vela, endpoint, accessKey, secretKey string) error {
	c, err := client.New(s.Env.Config, client.Options{Scheme: s.Env.Scheme})
	if err != nil {
		return err
	}
	var crds apiextensionsv1.CustomResourceDefinitionList
	if err := c.List(context.Background(), &crds); err != nil {
		return err
	}
	for i := range crds.Items {
		if crds.Items[i].Spec.Group != "infra.vela-infra.io" {
			continue
		}
		if err := c.Delete(context.Background(), &crds.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	kubevela, err := ModuleDir("github.com/oam-dev/kubevela")
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		{"def", "apply", filepath.Join(kubevela, "vela-templates", "definitions", "internal", "component", "k8s-objects.cue")},
		{"addon", "enable", filepath.Join(root, "addons", "terraform")},
		{"addon", "enable", filepath.Join(root, "addons", "terraform-mycloud"), "endpoint=" + endpoint, "accessKey=" + accessKey, "secretKey=" + secretKey},
		{"addon", "enable", filepath.Join(root, "addons", "vela-infra")},
	} {
		if out, err := s.Vela(vela, args...); err != nil {
			return fmt.Errorf("vela %s: %v\n%s", args[0]+" "+args[1], err, out)
		}
	}
	return nil
}

// WriteKubeconfig writes a kubeconfig for the API server (admin
// credentials, namespace default), for the CLIs and Terraform's kubernetes
// backend.
func (e *Env) WriteKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos["local"] = &clientcmdapi.AuthInfo{ClientCertificateData: e.Config.CertData, ClientKeyData: e.Config.KeyData}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "local", Namespace: "default"}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, path)
}

func (s *Stack) start(name, bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig)
	buf := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &s.mu, w: buf}, &lockedWriter{mu: &s.mu, w: buf}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs = append(s.procs, cmd)
	s.names = append(s.names, name)
	s.logs[name] = buf
	return nil
}

// StartStepRunner starts a step-runner process of the stack, name, with
// extra flags (a shard of its own, say): "step-runner" is the stack's own;
// another has a work and plugin cache directory of its own, since
// Terraform's plugin cache is not safe for two processes at once.
func (s *Stack) StartStepRunner(name string, extra ...string) error {
	work, plugins := "workspaces", "plugins"
	if name != "step-runner" {
		work, plugins = name+"-workspaces", name+"-plugins"
	}
	o := s.opts
	return s.start(name, o.StepRunner, append([]string{
		"--terraform", o.Terraform, "--terraform-cli-config", o.TerraformCLIConfig,
		"--work-dir", filepath.Join(s.Dir, work), "--plugin-cache-dir", filepath.Join(s.Dir, plugins),
		"--backend-kubeconfig", s.Kubeconfig, "--plan-namespace", "vela-system", "--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:0"},
		extra...)...)
}

// StopProcess interrupts the stack process name, as Stop does, and
// forgets it: StartStepRunner may start it again.
func (s *Stack) StopProcess(name string) {
	for i, p := range s.procs {
		if s.names[i] == name {
			stop(p)
			s.procs = append(s.procs[:i:i], s.procs[i+1:]...)
			s.names = append(s.names[:i:i], s.names[i+1:]...)
			return
		}
	}
}

// Vela runs the vela CLI against the stack.
func (s *Stack) Vela(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.Kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Pid returns the process id of a stack process ("vela-core", "step-runner").
func (s *Stack) Pid(name string) int {
	for i, p := range s.procs {
		if s.names[i] == name {
			return p.Process.Pid
		}
	}
	return 0
}

// LogTail returns the last n bytes a process printed.
func (s *Stack) LogTail(name string, n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.logs[name]
	if b == nil {
		return ""
	}
	out := b.String()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// Stop interrupts the processes (the step-runner lets Terraform release its
// lock) and kills what has not stopped after 10s.
func (s *Stack) Stop() {
	for _, p := range s.procs {
		stop(p)
	}
	s.procs, s.names = nil, nil
}

// stop interrupts p and kills it when it has not ended after 10s.
func stop(p *exec.Cmd) {
	_ = p.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Process.Kill()
		<-done
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
