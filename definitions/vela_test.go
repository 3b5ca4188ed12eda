package definitions_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// The tests run the real vela CLI (KubeVela v1.10.9, built by `make tools`)
// and read the real files: the modules, the generated definitions, the addon.

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// repoRoot is the directory of go.mod, from `go env GOMOD`.
func repoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			rootErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		mod := strings.TrimSpace(string(out))
		if mod == "" || mod == os.DevNull {
			rootErr = fmt.Errorf("go env GOMOD: not inside the vela-infra module")
			return
		}
		rootDir = filepath.Dir(mod)
	})
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return rootDir
}

// repoPath joins slash-separated elements to the repository root.
func repoPath(t testing.TB, rel string) string {
	return filepath.Join(repoRoot(t), filepath.FromSlash(rel))
}

// velaPath is bin/vela; the test fails, never skips, when it is missing.
func velaPath(t testing.TB) string {
	t.Helper()
	p := repoPath(t, "bin/vela")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("vela not found at %s: run make tools", p)
	}
	return p
}

// offlineKubeconfig points at an address where nothing listens: vela
// dry-run --offline and vela def vet need a kubeconfig file to exist but
// must not reach a cluster.
const offlineKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: offline
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: offline
  context:
    cluster: offline
    user: offline
current-context: offline
users:
- name: offline
  user:
    token: offline
`

// vela runs bin/vela with args against the kubeconfig (offline when empty)
// and returns its stdout and stderr.
func vela(t testing.TB, kubeconfig string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	if kubeconfig == "" {
		kubeconfig = offlineKubeconfig
	}
	kc := filepath.Join(home, "kubeconfig")
	if err := os.WriteFile(kc, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, velaPath(t), args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc, "HOME="+home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("vela %s: timed out\n%s%s", strings.Join(args, " "), out.String(), errb.String())
	}
	return out.String(), errb.String(), err
}

// dryRun renders app (an Application as YAML) with the definitions in
// defsDir through `vela dry-run --offline` and returns the rendered objects,
// or the error vela printed.
func dryRun(t testing.TB, defsDir string, app []byte) ([]map[string]any, error) {
	t.Helper()
	// Not t.TempDir: its name holds the test's, and vela splits -f on commas.
	dir, err := os.MkdirTemp("", "vela-dry-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	f := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(f, app, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := vela(t, "", "dry-run", "--offline", "-f", f, "-d", defsDir)
	if err != nil {
		return nil, fmt.Errorf("%s", velaError(stdout+stderr))
	}
	var objs []map[string]any
	for _, doc := range strings.Split(stdout, "\n---\n") {
		doc = strings.TrimSpace(strings.TrimPrefix(doc, "---"))
		// A trait's objects follow a comment line ("## From the trait x").
		for strings.HasPrefix(doc, "#") {
			_, rest, _ := strings.Cut(doc, "\n")
			doc = strings.TrimSpace(rest)
		}
		if doc == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("vela dry-run printed something that is not YAML: %v\n%s", err, doc)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// velaError is vela's error message without the log lines of a CLI that
// found no cluster (it tries to load external CUE packages first).
func velaError(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "Failed to load external packages") || strings.TrimSpace(l) == "" {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}
