// Package testenv starts a real kube-apiserver and etcd for tests
// (controller-runtime's envtest, with the binaries `make tools` builds from
// Go modules) and installs the CRDs this project works with: KubeVela's,
// kubevela/workflow's WorkflowRun, terraform-controller's and vela-infra's
// own. The CRDs come from the Go module cache, never from the network.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	workflowv1alpha1 "github.com/kubevela/workflow/api/v1alpha1"
	coreoam "github.com/oam-dev/kubevela/apis/core.oam.dev"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"
)

// Env is a running API server.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	Scheme *runtime.Scheme
}

// RepoRoot returns the root of this repository (the directory of go.mod).
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the vela-infra module")
	}
	return filepath.Dir(mod), nil
}

// ModuleDir returns the directory of a required module in the module cache.
func ModuleDir(path string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", path, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("module %s is not downloaded: run go mod download", path)
	}
	return dir, nil
}

// CRDPaths lists the CRD files and directories installed into the API server.
func CRDPaths() ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	vela, err := ModuleDir("github.com/oam-dev/kubevela")
	if err != nil {
		return nil, err
	}
	workflow, err := ModuleDir("github.com/kubevela/workflow")
	if err != nil {
		return nil, err
	}
	tf, err := ModuleDir("github.com/oam-dev/terraform-controller")
	if err != nil {
		return nil, err
	}
	paths := []string{
		filepath.Join(vela, "charts", "vela-core", "crds"),
		filepath.Join(workflow, "charts", "vela-workflow", "crds", "core.oam.dev_workflowruns.yaml"),
		filepath.Join(tf, "chart", "crds"),
	}
	if own := filepath.Join(root, "charts", "vela-infra", "crds"); dirExists(own) {
		paths = append(paths, own)
	}
	return paths, nil
}

// Start starts the API server. The binaries come from KUBEBUILDER_ASSETS
// (the Makefile sets it to bin/) or else from the repository's bin/.
func Start() (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		root, err := RepoRoot()
		if err != nil {
			return nil, err
		}
		assets = filepath.Join(root, "bin")
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make tools` (or `make test`, which builds it)", name, assets)
		}
	}
	crds, err := CRDPaths()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme,
		coreoam.AddToScheme, workflowv1alpha1.AddToScheme, tfv1beta1.AddToScheme, tfv1beta2.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	// The scheme knows every API group whose CRDs are installed, so tests
	// use typed clients for Applications, WorkflowRuns and Configurations.
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crds,
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err)
	}
	return &Env{Environment: env, Config: cfg, Scheme: scheme}, nil
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
