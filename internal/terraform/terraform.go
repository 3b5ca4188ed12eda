// Package terraform runs the Terraform CLI (through terraform-exec) in
// per-target workspaces with a shared plugin cache. It knows Terraform and
// nothing of Kubernetes: controllers give it HCL, variables, environment and
// backend settings, and get back typed results and typed errors.
package terraform

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

// Files the runner writes into a workspace.
const (
	mainFile    = "main.tf"
	varsFile    = "terraform.tfvars.json"
	importsFile = "vela_infra_imports.tf"
	initStamp   = ".vela-infra-init"
)

// Runner prepares workspaces and runs Terraform in them.
type Runner struct {
	// Bin is the terraform executable.
	Bin string
	// WorkDir holds one workspace directory per target.
	WorkDir string
	// PluginCacheDir is shared by every workspace, so a provider is
	// unpacked once per machine.
	PluginCacheDir string
	// CLIConfigFile is the Terraform CLI config (provider mirror); optional.
	CLIConfigFile string
	// LockTimeout is how long a run waits for a held state lock.
	LockTimeout time.Duration
	// GracePeriod is how long an interrupted run may take to stop and
	// release its lock.
	GracePeriod time.Duration
	// MaxOutput caps the output kept per run.
	MaxOutput int
	// ProviderTLS keeps go-plugin's automatic mTLS on the Unix socket
	// between Terraform and each provider it launches. Off by default
	// (TF_DISABLE_PLUGIN_TLS=1, as HashiCorp's terraform-plugin-testing
	// runs Terraform): each launch then skips generating two P-521
	// certificates, ~40 ms, and Terraform launches every provider three
	// times per plan. The socket is the provider's, in the temp directory,
	// writable (umask 022) by this process's user only, which can read
	// the provider's credentials from its environment anyway.
	ProviderTLS bool

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	// initMu serialises terraform init across workspaces (Open).
	initMu sync.Mutex
	// tfs keeps one terraform-exec handle per workspace: a handle checks
	// the Terraform version (`terraform version -json`, ~50 ms here) before
	// its first command and caches it, so a fresh handle per run would pay
	// that on every run.
	tfs map[string]*tfexec.Terraform
}

// Target is what to run: the configuration of one Terraform root module.
type Target struct {
	// Key names the workspace, such as "<namespace>/<name>".
	Key string
	// HCL is the whole root module, backend block included.
	HCL string
	// Variables are the module's input variables.
	Variables map[string]any
	// Env is extra environment, such as provider credentials.
	Env map[string]string
	// BackendConfig overrides backend settings at init (key=value).
	BackendConfig []string
	// Secrets are values never to show in output or errors.
	Secrets []string
}

// Workspace is an initialised workspace of one target, held exclusively
// until Close.
type Workspace struct {
	Dir    string
	target Target
	tf     *tfexec.Terraform
	out    *cappedBuffer
	unlock func()
	runner *Runner
}

// Open writes the target's files and initialises the workspace when its
// configuration changed since the last init (a second run re-uses it).
func (r *Runner) Open(ctx context.Context, t Target) (*Workspace, error) {
	unlock := r.lockKey(t.Key)
	ws, err := r.open(ctx, t)
	if err != nil {
		unlock()
		return nil, err
	}
	ws.unlock = unlock
	return ws, nil
}

func (r *Runner) open(ctx context.Context, t Target) (*Workspace, error) {
	dir, err := filepath.Abs(filepath.Join(r.WorkDir, filepath.FromSlash(t.Key)))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.PluginCacheDir, 0o700); err != nil {
		return nil, err
	}
	// A previous run's import blocks must not leak into this one.
	if err := os.Remove(filepath.Join(dir, importsFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove a previous run's import blocks: %w", err)
	}
	if err := writeIfChanged(filepath.Join(dir, mainFile), []byte(t.HCL)); err != nil {
		return nil, err
	}
	vars, err := json.Marshal(t.Variables)
	if err != nil {
		return nil, fmt.Errorf("encode variables: %w", err)
	}
	if t.Variables == nil {
		vars = []byte("{}")
	}
	if err := writeIfChanged(filepath.Join(dir, varsFile), vars); err != nil {
		return nil, err
	}
	tf, err := r.handle(dir)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for k, v := range t.Env {
		env[k] = v
	}
	env["TF_PLUGIN_CACHE_DIR"] = r.PluginCacheDir
	// A new workspace has no dependency lock file, and without this
	// Terraform (1.4+) installs every provider into the cache again on
	// init: it removes the cache entry and copies it back, while runs in
	// other workspaces are reading it through their links ("could not read
	// package directory"), and an init killed half-way leaves it gone. With
	// it, an init links a provider the cache holds, and records its hash
	// in the new lock file. The cache is this pod's own, filled only by its
	// Terraform from the configured sources (the provider mirror).
	env["TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE"] = "1"
	env["CHECKPOINT_DISABLE"] = "1"
	if r.CLIConfigFile != "" {
		env["TF_CLI_CONFIG_FILE"] = r.CLIConfigFile
	}
	if err := tf.SetEnv(tfexec.CleanEnv(env)); err != nil {
		return nil, err
	}
	if err := tf.SetDisablePluginTLS(!r.ProviderTLS); err != nil {
		return nil, err
	}
	// If Terraform ignores the interrupt for the whole grace period, the
	// cancelled command is killed after this delay.
	_ = tf.SetWaitDelay(5 * time.Second)
	out := &cappedBuffer{max: r.maxOutput()}
	tf.SetStdout(out)
	tf.SetStderr(out)
	ws := &Workspace{Dir: dir, target: t, tf: tf, out: out, runner: r}

	stamp := initHash(t)
	if old, err := os.ReadFile(filepath.Join(dir, initStamp)); err == nil && string(old) == stamp && providersInstalled(dir) {
		return ws, nil
	}
	// One init at a time: Terraform's plugin cache is not safe for
	// concurrent use (an init re-installing a provider into the cache
	// removes the directory other workspaces link to), and an init killed
	// half-way leaves the cache entry gone, which providersInstalled then
	// notices in every workspace that links to it.
	r.initMu.Lock()
	defer r.initMu.Unlock()
	opts := []tfexec.InitOption{tfexec.Upgrade(false)}
	for _, bc := range t.BackendConfig {
		opts = append(opts, tfexec.BackendConfig(bc))
	}
	if err := ws.run(ctx, "init", func(ctx context.Context) error { return tf.Init(ctx, append(opts, tfexec.Reconfigure(true))...) }); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, initStamp), []byte(stamp), 0o600); err != nil {
		return nil, err
	}
	return ws, nil
}

func (r *Runner) maxOutput() int {
	if r.MaxOutput > 0 {
		return r.MaxOutput
	}
	return 256 << 10
}

func (r *Runner) gracePeriod() time.Duration {
	if r.GracePeriod > 0 {
		return r.GracePeriod
	}
	return 30 * time.Second
}

func (r *Runner) lockTimeout() string {
	if r.LockTimeout > 0 {
		return r.LockTimeout.String()
	}
	return "60s"
}

// handle returns the workspace's terraform-exec handle, made on first use.
// Callers hold the workspace's lock, so a handle is used by one run at a time.
func (r *Runner) handle(dir string) (*tfexec.Terraform, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tf, ok := r.tfs[dir]; ok {
		return tf, nil
	}
	tf, err := tfexec.NewTerraform(dir, r.Bin)
	if err != nil {
		return nil, fmt.Errorf("terraform binary %s: %w", r.Bin, err)
	}
	if r.tfs == nil {
		r.tfs = map[string]*tfexec.Terraform{}
	}
	r.tfs[dir] = tf
	return tf, nil
}

// lockKey serialises runs on one workspace.
func (r *Runner) lockKey(key string) func() {
	r.mu.Lock()
	if r.locks == nil {
		r.locks = map[string]*sync.Mutex{}
	}
	m, ok := r.locks[key]
	if !ok {
		m = &sync.Mutex{}
		r.locks[key] = m
	}
	r.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// providersInstalled reports whether the providers the workspace's last
// init installed are all still there: with a plugin cache, each is a link
// into the cache, which an interrupted init elsewhere may have emptied. A
// workspace with no dependency lock file installed no provider.
func providersInstalled(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ".terraform")); err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, ".terraform.lock.hcl")); errors.Is(err, fs.ErrNotExist) {
		return true
	}
	providers := filepath.Join(dir, ".terraform", "providers")
	found := false
	err := filepath.WalkDir(providers, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// host/namespace/type/version/os_arch: a package directory, or a
		// link to one in the cache.
		if rel, _ := filepath.Rel(providers, path); strings.Count(rel, string(filepath.Separator)) == 4 {
			if _, err := os.Stat(path); err != nil {
				return err
			}
			found = true
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	return err == nil && found
}

// initHash changes when init must run again: the HCL (providers, backend)
// or the backend overrides.
func initHash(t Target) string {
	h := sha256.New()
	h.Write([]byte(t.HCL))
	for _, bc := range t.BackendConfig {
		h.Write([]byte{0})
		h.Write([]byte(bc))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return os.WriteFile(path, data, 0o600)
}

// Close releases the workspace.
func (w *Workspace) Close() {
	if w.unlock != nil {
		w.unlock()
		w.unlock = nil
	}
}

// Output returns everything Terraform printed in this workspace since Open,
// with secrets redacted and capped.
func (w *Workspace) Output() string { return w.redact(w.out.String()) }

func (w *Workspace) redact(s string) string { return Redact(s, w.target.Secrets) }

// Redact replaces every secret (of 4 characters or more, longest first) in s
// with "(sensitive)".
func Redact(s string, secrets []string) string {
	secrets = append([]string{}, secrets...)
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "(sensitive)")
		}
	}
	return s
}

// run runs one Terraform command and classifies its failure.
//
// When ctx is cancelled (the step-runner is shutting down) Terraform gets an
// interrupt and GracePeriod to stop, write the state and release its lock.
// terraform-exec's own cancellation closes Terraform's output pipes at the
// same moment, which kills it by SIGPIPE before it can unlock; so the
// command runs on a context cancelled only after the grace period, and the
// interrupt is sent here.
func (w *Workspace) run(ctx context.Context, op string, fn func(context.Context) error) error {
	start := w.out.Len()
	fmt.Fprintf(w.out, "\n$ terraform %s\n", op)
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	finished := make(chan struct{})
	go func() {
		select {
		case <-finished:
		case <-ctx.Done():
			interruptTerraform(w.Dir)
			select {
			case <-finished:
			case <-time.After(w.runner.gracePeriod()):
				cancelRun()
			}
		}
	}()
	err := fn(runCtx)
	close(finished)
	if err == nil {
		return nil
	}
	output := w.out.Since(start)
	if ctx.Err() != nil {
		return &Error{Op: op, Reason: ReasonInterrupted, Summary: "interrupted: " + ctx.Err().Error(), Output: w.redact(output)}
	}
	return classify(op, w.redact(output+"\n"+err.Error()))
}

// PlanResult is a saved plan and its JSON form.
type PlanResult struct {
	// File is the saved plan in the workspace.
	File string
	// Plan is the plan as terraform-json reads it.
	Plan *tfjson.Plan
	// Changes is false when the plan changes nothing.
	Changes bool
}

// PlanOptions tune a plan.
type PlanOptions struct {
	// RefreshOnly plans only to update the state from the cloud.
	RefreshOnly bool
	// Imports adds import blocks (address → id) to the plan.
	Imports map[string]string
	// Out names the plan file in the workspace (default plan.tfplan).
	Out string
	// SkipShowWhenEmpty leaves PlanResult.Plan nil when the plan changes
	// nothing, saving the `terraform show -json` run (it loads every
	// provider's schema).
	SkipShowWhenEmpty bool
}

// Plan runs terraform plan -out and reads the plan back as JSON.
func (w *Workspace) Plan(ctx context.Context, o PlanOptions) (*PlanResult, error) {
	if o.Out == "" {
		o.Out = "plan.tfplan"
	}
	if len(o.Imports) > 0 {
		if err := os.WriteFile(filepath.Join(w.Dir, importsFile), []byte(importBlocks(o.Imports)), 0o600); err != nil {
			return nil, err
		}
		defer os.Remove(filepath.Join(w.Dir, importsFile))
	}
	path := filepath.Join(w.Dir, o.Out)
	opts := []tfexec.PlanOption{tfexec.Out(path), tfexec.Lock(true), tfexec.LockTimeout(w.runner.lockTimeout())}
	if o.RefreshOnly {
		opts = append(opts, tfexec.RefreshOnly(true))
	}
	var changes bool
	err := w.run(ctx, "plan", func(ctx context.Context) (err error) {
		changes, err = w.tf.Plan(ctx, opts...)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !changes && o.SkipShowWhenEmpty {
		return &PlanResult{File: path}, nil
	}
	return w.ShowPlan(ctx, path, changes)
}

// ShowPlan reads a saved plan file as JSON.
func (w *Workspace) ShowPlan(ctx context.Context, path string, changes bool) (*PlanResult, error) {
	var p *tfjson.Plan
	err := w.run(ctx, "show -json", func(ctx context.Context) (err error) {
		p, err = w.tf.ShowPlanFile(ctx, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &PlanResult{File: path, Plan: p, Changes: changes}, nil
}

func importBlocks(imports map[string]string) string {
	addrs := make([]string, 0, len(imports))
	for a := range imports {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	var b strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&b, "import {\n  to = %s\n  id = %s\n}\n", a, hclString(imports[a]))
	}
	return b.String()
}

// hclString quotes s as an HCL string literal that evaluates to exactly s:
// HCL's escapes (not Go's: %q writes \x01, which HCL rejects), and "${" and
// "%{" doubled so that an id cannot be a template that Terraform evaluates.
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case (r == '$' || r == '%') && strings.HasPrefix(s[i+1:], "{"):
			b.WriteRune(r)
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Apply applies a saved plan file, and only that.
func (w *Workspace) Apply(ctx context.Context, planFile string) error {
	return w.run(ctx, "apply", func(ctx context.Context) error {
		return w.tf.Apply(ctx, tfexec.DirOrPlan(planFile), tfexec.Lock(true), tfexec.LockTimeout(w.runner.lockTimeout()))
	})
}

// Import adopts one existing resource into the state.
func (w *Workspace) Import(ctx context.Context, address, id string) error {
	return w.run(ctx, "import "+address, func(ctx context.Context) error {
		return w.tf.Import(ctx, address, id, tfexec.Lock(true), tfexec.LockTimeout(w.runner.lockTimeout()))
	})
}

// State returns the current state.
func (w *Workspace) State(ctx context.Context) (*tfjson.State, error) {
	var s *tfjson.State
	err := w.run(ctx, "show -json (state)", func(ctx context.Context) (err error) {
		s, err = w.tf.Show(ctx)
		return err
	})
	return s, err
}

// PullState returns the raw state, for a backup.
func (w *Workspace) PullState(ctx context.Context) (string, error) {
	var s string
	err := w.run(ctx, "state pull", func(ctx context.Context) (err error) {
		s, err = w.tf.StatePull(ctx)
		return err
	})
	return s, err
}

// PushState restores a raw state taken with PullState. The copy it pushes
// from is removed afterwards; failing to remove it is an error even after a
// good push, since a state holds sensitive values and the workspace stays.
func (w *Workspace) PushState(ctx context.Context, state string) (err error) {
	path := filepath.Join(w.Dir, "restore.tfstate")
	if err := os.WriteFile(path, []byte(state), 0o600); err != nil {
		return err
	}
	defer func() {
		if rmErr := os.Remove(path); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove the copy of the state pushed (delete %s by hand: it may hold sensitive values): %w", path, rmErr))
		}
	}()
	return w.run(ctx, "state push", func(ctx context.Context) error {
		return w.tf.StatePush(ctx, path, tfexec.Force(true), tfexec.Lock(true), tfexec.LockTimeout(w.runner.lockTimeout()))
	})
}

// ResourceIDs maps each managed resource address in s to its id attribute.
func ResourceIDs(s *tfjson.State) map[string]string {
	out := map[string]string{}
	if s == nil || s.Values == nil {
		return out
	}
	var walk func(m *tfjson.StateModule)
	walk = func(m *tfjson.StateModule) {
		if m == nil {
			return
		}
		for _, r := range m.Resources {
			if r.Mode != tfjson.ManagedResourceMode {
				continue
			}
			id, _ := r.AttributeValues["id"].(string)
			out[r.Address] = id
		}
		for _, c := range m.ChildModules {
			walk(c)
		}
	}
	walk(s.Values.RootModule)
	return out
}

// cappedBuffer keeps the first and the last bytes of a long output.
type cappedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	max     int
	dropped int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		// Keep the head (what ran) and the tail (how it ended).
		data := b.buf.Bytes()
		head := b.max / 4
		kept := append(append([]byte{}, data[:head]...), data[head+over:]...)
		b.dropped += over
		b.buf.Reset()
		b.buf.Write(kept)
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped > 0 {
		head := b.max / 4
		data := b.buf.String()
		return data[:head] + fmt.Sprintf("\n[... %d bytes cut ...]\n", b.dropped) + data[head:]
	}
	return b.buf.String()
}

func (b *cappedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len() + b.dropped
}

// Since returns what was written after the total length was n.
func (b *cappedBuffer) Since(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	data := b.buf.String()
	start := n - b.dropped
	if start < 0 || start > len(data) {
		start = 0
	}
	return data[start:]
}
