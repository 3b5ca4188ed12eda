// Command bench measures what the step-runner costs beyond Terraform itself:
// each figure side by side with its baseline, in the same run, on the same
// module, state and mycloud, as the median of repeated runs. It prints one
// line per figure and keeps the raw timings in bin/bench/. It exits non-zero
// only when it cannot run. `make bench` runs it.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/testground/testenv"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

const (
	accessKey  = "bench-access-key"
	secretKey  = "bench-secret-key"
	adminToken = "bench-admin-token"
)

var (
	root  string
	runs  = envInt("RUNS", 5)
	fleet = envInt("FLEET", 200)
	c     client.WithWatch
	stack *testenv.Stack
	raw   = map[string][]float64{}
	rawMu sync.Mutex
	cloud string
	mcPid int
	// only, from ONLY (comma-separated: single, jobpod, second, fleet,
	// workflow, memory), runs just those figures; all when empty.
	only = map[string]bool{}
)

func want(figure string) bool { return len(only) == 0 || only[figure] }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// cleanups stop what the bench started (mycloud, the API server, the
// stack), last first; fatal and a signal run them too, so an aborted bench
// leaves no process behind to hold mycloud's port.
var (
	cleanups  []func()
	cleanupMu sync.Mutex
)

func atExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func cleanup() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	cleanup()
	os.Exit(1)
}

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "bench: %v: stopping what it started\n", s)
		cleanup()
		os.Exit(130)
	}()
	err := run()
	if err != nil {
		fatal("%v", err)
	}
	cleanup()
}

func bin(name string) string { return filepath.Join(root, "bin", name) }

func run() error {
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		return err
	}
	out := filepath.Join(root, "bin", "bench")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	// On every interface: the Job-pod baseline's pods reach it at the host IP.
	addr := "0.0.0.0:18480"
	cloud = "http://127.0.0.1:18480"
	mc := exec.Command(bin("mycloud"), "-addr", addr, "-data-dir", filepath.Join(out, "mycloud"), "-access-key", accessKey, "-create-delay", "0s", "-log-format", "text")
	mc.Env = append(os.Environ(), "MYCLOUD_SECRET_KEY="+secretKey, "MYCLOUD_ADMIN_TOKEN="+adminToken)
	_ = os.RemoveAll(filepath.Join(out, "mycloud"))
	mcLog, err := os.Create(filepath.Join(out, "mycloud.log"))
	if err != nil {
		return err
	}
	defer mcLog.Close()
	mc.Stdout, mc.Stderr = mcLog, mcLog
	if err := mc.Start(); err != nil {
		return err
	}
	mcPid = mc.Process.Pid
	mcDone := make(chan struct{})
	go func() { _ = mc.Wait(); close(mcDone) }()
	atExit(func() { _ = mc.Process.Kill(); <-mcDone })
	for _, f := range strings.Split(os.Getenv("ONLY"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			only[f] = true
		}
	}
	select {
	case <-mcDone:
		logged, _ := os.ReadFile(mcLog.Name())
		return fmt.Errorf("mycloud did not start (is %s in use? a bench stopped by SIGKILL leaves its mycloud behind):\n%s", addr, logged)
	case <-time.After(500 * time.Millisecond):
	}

	env, err := testenv.Start()
	if err != nil {
		return err
	}
	atExit(func() { _ = env.Stop() })
	atExit(func() { close(drifts.done) })
	stack, err = testenv.StartStack(env, root, testenv.StackOptions{
		VelaCore: bin("vela-core"), Vela: bin("vela"), StepRunner: bin("step-runner"), Terraform: bin("terraform"),
		TerraformCLIConfig: bin("terraformrc"), Endpoint: cloud, AccessKey: accessKey, SecretKey: secretKey,
	})
	if err != nil {
		return err
	}
	atExit(stack.Stop)
	s := env.Scheme
	_ = v1alpha1.AddToScheme(s)
	if c, err = client.NewWithWatch(env.Config, client.Options{Scheme: s}); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	idle := rssMiB(stack.Pid("step-runner"))

	fmt.Printf("machine: %d cores; %d runs per figure (median); raw timings in %s\n\n", numCPU(), runs, filepath.Join(out, "raw.json"))
	fmt.Printf("%-58s %12s %12s %8s %10s %s\n", "figure", "baseline", "ours", "ratio", "goal", "")

	// Figure 1 and 3, and the growth table: one target per module size.
	var ours1 time.Duration
	sizes := []int{1, 10, 50}
	if !want("single") && !want("jobpod") && !want("workflow") {
		sizes = nil
	} else if !want("single") {
		sizes = []int{1} // the Job-pod and workflow figures run on grow-1
	}
	for _, n := range sizes {
		name := fmt.Sprintf("grow-%d", n)
		if err := provision(name, n); err != nil {
			return err
		}
		bare := median(name+"/bare", runs, func() (time.Duration, error) { return bareRefreshOnly(name) })
		ours := median(name+"/ours", runs, func() (time.Duration, error) { return driftCheck(name) })
		if n == 1 {
			ours1 = ours
			figure("drift check, 1 target (object created -> Ready) vs bare refresh-only plan", bare, ours, "<= 1.15", ours.Seconds()/bare.Seconds() <= 1.15)
			same := median(name+"/bare-no-provider-tls", runs, func() (time.Duration, error) { return bareRefresh(name, false) })
			fmt.Printf("%-58s %12s %12s %8.2f %10s\n", "  vs the same plan by hand with TF_DISABLE_PLUGIN_TLS=1", sec(same.Seconds()), sec(ours.Seconds()), ours.Seconds()/same.Seconds(), "-")
		}
		figure(fmt.Sprintf("  growth: module of %d resource(s)", n), bare, ours, "-", true)
	}
	if want("jobpod") {
		jobPodFigure("grow-1", ours1, "18480")
	}
	if want("second") {
		if err := secondFigure(); err != nil {
			return err
		}
	}
	if want("fleet") {
		if err := fleetFigure(); err != nil {
			return err
		}
	}
	if want("workflow") {
		if err := workflowFigure(); err != nil {
			return err
		}
	}
	if want("memory") {
		loaded, err := memoryWithObjects(1000)
		if err != nil {
			return err
		}
		fmt.Printf("%-58s %12s %12s %8s %10s %s\n", "step-runner RSS idle / with 1,000 step-run objects", "-",
			fmt.Sprintf("%.0f/%.0f MiB", idle, loaded), "-", "<= 60/200", pass(idle <= 60 && loaded <= 200))
	}

	data, _ := json.MarshalIndent(raw, "", "  ")
	return os.WriteFile(filepath.Join(out, "raw.json"), data, 0o644)
}

// secondFigure drift-checks fresh targets twice: the first check
// initialises the workspace, the second re-uses it.
func secondFigure() error {
	firsts, seconds := []float64{}, []float64{}
	bareFirsts, bareSeconds := []float64{}, []float64{}
	for i := 0; i < runs; i++ {
		name := fmt.Sprintf("fresh-%d", i)
		if err := configuration(name, bucketsHCL(name, 1)); err != nil {
			return err
		}
		d1, err := driftCheck(name)
		if err != nil {
			return err
		}
		d2, err := driftCheck(name)
		if err != nil {
			return err
		}
		firsts, seconds = append(firsts, d1.Seconds()), append(seconds, d2.Seconds())
		b1, b2, err := bareFirstSecond(name)
		if err != nil {
			return err
		}
		bareFirsts, bareSeconds = append(bareFirsts, b1.Seconds()), append(bareSeconds, b2.Seconds())
	}
	record("fresh/first", firsts)
	record("fresh/second", seconds)
	record("fresh/bare-first", bareFirsts)
	record("fresh/bare-second", bareSeconds)
	f, s2 := med(firsts), med(seconds)
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", "second drift check of a target / first (no re-init)", sec(f), sec(s2), s2/f, "<= 0.5", pass(s2/f <= 0.5))
	bf, bs := med(bareFirsts), med(bareSeconds)
	fmt.Printf("%-58s %12s %12s %8.2f %10s\n", "  by hand, same settings: plan / (init + plan), fresh dir", sec(bf), sec(bs), bs/bf, "-")
	return nil
}

// bareFirstSecond is the second figure by hand: the target's module in a
// fresh directory, `terraform init` and a refresh-only plan (the first
// check), then the plan again (the second), with the same backend, state,
// plugin cache and mycloud.
func bareFirstSecond(target string) (first, second time.Duration, err error) {
	ws := filepath.Join(stack.Dir, "workspaces", "default", target)
	dir, err := os.MkdirTemp("", "bench-fresh-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	for _, f := range []string{"main.tf", "terraform.tfvars.json"} {
		data, err := os.ReadFile(filepath.Join(ws, f))
		if err != nil {
			return 0, 0, err
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			return 0, 0, err
		}
	}
	tf := func(args ...string) error {
		cmd := exec.Command(bin("terraform"), args...)
		cmd.Dir = dir
		cmd.Env = terraformEnv(false)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("terraform %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
		return nil
	}
	start := time.Now()
	if err := tf("init", "-input=false", "-backend-config=config_path="+stack.Kubeconfig, "-backend-config=in_cluster_config=false"); err != nil {
		return 0, 0, err
	}
	if err := tf("plan", "-refresh-only", "-input=false", "-lock=true"); err != nil {
		return 0, 0, err
	}
	first = time.Since(start)
	start = time.Now()
	if err := tf("plan", "-refresh-only", "-input=false", "-lock=true"); err != nil {
		return 0, 0, err
	}
	return first, time.Since(start), nil
}

func figure(name string, base, ours time.Duration, goal string, ok bool) {
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", name, sec(base.Seconds()), sec(ours.Seconds()), ours.Seconds()/base.Seconds(), goal, pass(ok))
}

func pass(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

func sec(s float64) string { return fmt.Sprintf("%.3fs", s) }

func numCPU() int {
	out, _ := exec.Command("nproc").Output()
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func record(name string, vals []float64) {
	rawMu.Lock()
	defer rawMu.Unlock()
	raw[name] = append(raw[name], vals...)
}

func med(vals []float64) float64 {
	v := append([]float64{}, vals...)
	sort.Float64s(v)
	return v[len(v)/2]
}

// median runs fn n times and returns the median duration.
func median(name string, n int, fn func() (time.Duration, error)) time.Duration {
	var vals []float64
	for i := 0; i < n; i++ {
		d, err := fn()
		if err != nil {
			fatal("%s: %v", name, err)
		}
		vals = append(vals, d.Seconds())
	}
	record(name, vals)
	return time.Duration(med(vals) * float64(time.Second))
}

func bucketsHCL(prefix string, n int) string {
	return fmt.Sprintf(`terraform {
  required_providers {
    mycloud = { source = "vela-infra/mycloud" }
  }
}
resource "mycloud_bucket" "b" {
  count = %d
  name  = "%s-${count.index}"
}
`, n, prefix)
}

func configuration(name, hcl string) error {
	return c.Create(context.Background(), &tfv1beta2.Configuration{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: tfv1beta2.ConfigurationSpec{HCL: hcl, ProviderReference: &crossplane.Reference{Name: "mycloud", Namespace: "default"},
			Variable: &runtime.RawExtension{Raw: []byte("{}")}},
	})
}

// provision creates a Configuration of n buckets and applies it through an
// approved InfraApproval, so the state exists.
func provision(name string, n int) error {
	if err := configuration(name, bucketsHCL(name, n)); err != nil {
		return err
	}
	a := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: v1alpha1.InfraApprovalSpec{Target: v1alpha1.Target{ConfigurationName: name}}}
	if err := c.Create(context.Background(), a); err != nil {
		return err
	}
	if err := waitFor(a, 5*time.Minute, func() bool { return reason(&a.Status.RunStatus) == v1alpha1.ReasonAwaitingApproval }); err != nil {
		return err
	}
	patch := client.MergeFrom(a.DeepCopy())
	a.Spec.Approval = &v1alpha1.Approval{PlanID: a.Status.Plan.ID, By: "bench"}
	if err := c.Patch(context.Background(), a, patch); err != nil {
		return err
	}
	return waitFor(a, 10*time.Minute, func() bool { return reason(&a.Status.RunStatus) == v1alpha1.ReasonApplied })
}

func reason(rs *v1alpha1.RunStatus) string {
	if cond := apimeta.FindStatusCondition(rs.Conditions, v1alpha1.ConditionReady); cond != nil {
		return cond.Reason
	}
	return ""
}

// waitFor watches obj until cond holds. A watch, not polling: four
// concurrent pollers would load the API server the step-runner shares and
// add their poll interval to every figure.
func waitFor(obj client.Object, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var list client.ObjectList
	switch obj.(type) {
	case *v1alpha1.InfraApproval:
		list = &v1alpha1.InfraApprovalList{}
	default: // InfraDrifts: expectDrift
		return fmt.Errorf("waitFor: no list type for %T", obj)
	}
	w, err := c.Watch(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{"metadata.name": obj.GetName()})
	if err != nil {
		return err
	}
	defer w.Stop()
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err == nil && cond() {
		return nil
	}
	for ev := range w.ResultChan() {
		got, ok := ev.Object.(client.Object)
		if !ok || ev.Type == watch.Error {
			continue
		}
		data, err := json.Marshal(got)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, obj); err != nil {
			return err
		}
		if cond() {
			return nil
		}
	}
	data, _ := json.Marshal(obj)
	return fmt.Errorf("timed out: %s\nstep-runner log:\n%s", data, stack.LogTail("step-runner", 2000))
}

var (
	driftSeq int
	seqMu    sync.Mutex
)

// drifts follows every InfraDrift of the bench through one watch, as a
// client with many step-run objects (vela-core) does: a watch per check
// would load the API server the step-runner shares, and count against it.
var drifts = struct {
	sync.Mutex
	waiters map[string]func(*v1alpha1.InfraDrift) bool
	started bool
	// done is closed when the bench ends: the watch ends with it.
	done chan struct{}
}{waiters: map[string]func(*v1alpha1.InfraDrift) bool{}, done: make(chan struct{})}

func followDrifts() error {
	drifts.Lock()
	defer drifts.Unlock()
	if drifts.started {
		return nil
	}
	w, err := c.Watch(context.Background(), &v1alpha1.InfraDriftList{}, client.InNamespace("default"))
	if err != nil {
		return err
	}
	drifts.started = true
	go func() {
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*v1alpha1.InfraDrift)
			if !ok {
				continue
			}
			drifts.Lock()
			if done := drifts.waiters[d.Name]; done != nil && done(d) {
				delete(drifts.waiters, d.Name)
			}
			drifts.Unlock()
		}
		select {
		case <-drifts.done:
			return
		default:
		}
		// The API server ended the watch: follow again, re-reading what
		// the waiters wait for.
		drifts.Lock()
		drifts.started = false
		names := make([]string, 0, len(drifts.waiters))
		for n := range drifts.waiters {
			names = append(names, n)
		}
		drifts.Unlock()
		if err := followDrifts(); err != nil {
			fatal("watch InfraDrifts: %v", err)
		}
		for _, n := range names {
			d := &v1alpha1.InfraDrift{}
			if c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: n}, d) == nil {
				drifts.Lock()
				if done := drifts.waiters[n]; done != nil && done(d) {
					delete(drifts.waiters, n)
				}
				drifts.Unlock()
			}
		}
	}()
	return nil
}

// expectDrift registers, before the InfraDrift name is created or changed,
// a wait for cond on it; the returned func waits.
func expectDrift(name string, cond func(*v1alpha1.InfraDrift) bool) (func(time.Duration) error, error) {
	if err := followDrifts(); err != nil {
		return nil, err
	}
	met := make(chan struct{})
	drifts.Lock()
	drifts.waiters[name] = func(got *v1alpha1.InfraDrift) bool {
		if cond(got) {
			close(met)
			return true
		}
		return false
	}
	drifts.Unlock()
	return func(timeout time.Duration) error {
		select {
		case <-met:
			return nil
		case <-time.After(timeout):
			drifts.Lock()
			delete(drifts.waiters, name)
			drifts.Unlock()
			d := &v1alpha1.InfraDrift{}
			_ = c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, d)
			data, _ := json.Marshal(d)
			return fmt.Errorf("timed out: %s\nstep-runner log:\n%s", data, stack.LogTail("step-runner", 2000))
		}
	}, nil
}

// driftCheck times an InfraDrift from creation to Ready.
func driftCheck(target string) (time.Duration, error) {
	seqMu.Lock()
	driftSeq++
	name := fmt.Sprintf("d%d-%s", driftSeq, target)
	seqMu.Unlock()
	wait, err := expectDrift(name, func(got *v1alpha1.InfraDrift) bool {
		r := reason(&got.Status.RunStatus)
		return got.Status.ObservedGeneration == got.Generation && (r == v1alpha1.ReasonNoDrift || r == v1alpha1.ReasonDriftFound)
	})
	if err != nil {
		return 0, err
	}
	d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: target}}}
	start := time.Now()
	if err := c.Create(context.Background(), d); err != nil {
		return 0, err
	}
	if err := wait(5 * time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// bareRefreshOnly times `terraform plan -refresh-only` in the target's
// already-initialised workspace, with the same state, credentials and lock.
func bareRefreshOnly(target string) (time.Duration, error) { return bareRefresh(target, true) }

// bareRefresh is bareRefreshOnly, with or without go-plugin's provider TLS.
func bareRefresh(target string, providerTLS bool) (time.Duration, error) {
	dir := filepath.Join(stack.Dir, "workspaces", "default", target)
	cmd := exec.Command(bin("terraform"), "plan", "-refresh-only", "-input=false", "-lock=true")
	cmd.Dir = dir
	cmd.Env = terraformEnv(providerTLS)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("terraform plan -refresh-only in %s: %v\n%s", dir, err, out)
	}
	return time.Since(start), nil
}

// terraformEnv is the environment of a hand-run Terraform: the step-runner's
// CLI config, plugin cache and credentials; without providerTLS, also the
// step-runner's default TF_DISABLE_PLUGIN_TLS=1.
func terraformEnv(providerTLS bool) []string {
	env := os.Environ()
	if !providerTLS {
		env = append(env, "TF_DISABLE_PLUGIN_TLS=1")
	}
	return append(env, "TF_CLI_CONFIG_FILE="+bin("terraformrc"), "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
		"MYCLOUD_ENDPOINT="+cloud, "MYCLOUD_ACCESS_KEY="+accessKey, "MYCLOUD_SECRET_KEY="+secretKey,
		"TF_PLUGIN_CACHE_DIR="+filepath.Join(stack.Dir, "plugins"))
}

// fleetFigure drift-checks many targets through the step-runner (4 at
// once, its default) against a bare loop at the same concurrency.
func fleetFigure() error {
	names := make([]string, fleet)
	for i := range names {
		names[i] = fmt.Sprintf("fleet-%d", i)
		if err := configuration(names[i], bucketsHCL(names[i], 1)); err != nil {
			return err
		}
	}
	// First pass initialises every workspace (not timed).
	if err := parallel(names, 4, func(n string) error { _, err := driftCheck(n); return err }); err != nil {
		return err
	}
	cpu0 := cpuTimes(mcPid)
	start := time.Now()
	if err := parallel(names, 4, func(n string) error { _, err := bareRefreshOnly(n); return err }); err != nil {
		return err
	}
	bare := time.Since(start)
	cpu1 := cpuTimes(mcPid)
	start = time.Now()
	if err := parallel(names, 4, func(n string) error { _, err := driftCheck(n); return err }); err != nil {
		return err
	}
	ours := time.Since(start)
	cpu2 := cpuTimes(mcPid)
	start = time.Now()
	if err := parallel(names, 4, func(n string) error { _, err := bareRefresh(n, false); return err }); err != nil {
		return err
	}
	same := time.Since(start)
	cpu3 := cpuTimes(mcPid)
	record("fleet/bare-no-provider-tls", []float64{same.Seconds()})
	record("fleet/bare", []float64{bare.Seconds()})
	record("fleet/ours", []float64{ours.Seconds()})
	ratio := bare.Seconds() / ours.Seconds() // throughput ratio: ours / bare
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", fmt.Sprintf("fleet: %d targets, 4 at once (throughput ours/bare)", fleet), sec(bare.Seconds()), sec(ours.Seconds()), ratio, ">= 0.9", pass(ratio >= 0.9))
	fmt.Println(cpuLine("fleet", cpuDelta(cpu0, cpu1), cpuDelta(cpu1, cpu2)))
	fmt.Printf("%-58s %12s %12s %8.2f %10s\n", "  vs the same loop with TF_DISABLE_PLUGIN_TLS=1", sec(same.Seconds()), sec(ours.Seconds()), same.Seconds()/ours.Seconds(), "-")
	fmt.Println(cpuLine("fleet, same settings,", cpuDelta(cpu2, cpu3), cpuDelta(cpu1, cpu2)))
	return nil
}

func parallel(items []string, n int, fn func(string) error) error {
	sem := make(chan struct{}, n)
	errs := make(chan error, len(items))
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func(it string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(it); err != nil {
				errs <- err
			}
		}(it)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// workflowFigure times an infra-drift step through vela-core (vela up ->
// step succeeded in vela status) against the bare plan of the same target.
func workflowFigure() error {
	var diffs []float64
	bare := median("workflow/bare", runs, func() (time.Duration, error) { return bareRefreshOnly("grow-1") })
	for i := 0; i < runs; i++ {
		app := fmt.Sprintf("wf-%d", i)
		yaml := fmt.Sprintf(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: %s
spec:
  components:
    - name: grow-1
      type: mycloud-bucket
      properties:
        name: grow-1-0
  workflow:
    steps:
      - name: drift
        type: infra-drift
        properties:
          component: grow-1
`, app)
		f := filepath.Join(stack.Dir, app+".yaml")
		if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
			return err
		}
		start := time.Now()
		if out, err := stack.Vela(bin("vela"), "up", "-f", f); err != nil {
			return fmt.Errorf("vela up: %v\n%s", err, out)
		}
		for {
			out, _ := stack.Vela(bin("vela"), "status", app)
			if strings.Contains(out, "phase: succeeded") {
				break
			}
			if time.Since(start) > 3*time.Minute {
				return fmt.Errorf("workflow %s did not finish:\n%s", app, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		diffs = append(diffs, time.Since(start).Seconds())
	}
	record("workflow/ours", diffs)
	m := med(diffs)
	d := m - bare.Seconds()
	fmt.Printf("%-58s %12s %12s %8s %10s %s\n", "infra-drift step via vela-core (vela up -> succeeded) - bare plan", sec(bare.Seconds()), sec(m), fmt.Sprintf("+%.1fs", d), "<= +2s", pass(d <= 2))
	return nil
}

// memoryWithObjects creates n InfraDrift objects (of a missing
// Configuration, so they settle fast) and returns the step-runner's RSS.
func memoryWithObjects(n int) (float64, error) {
	wait, err := expectDrift(fmt.Sprintf("mem-%d", n-1), func(d *v1alpha1.InfraDrift) bool {
		return reason(&d.Status.RunStatus) == v1alpha1.ReasonConfigurationNotFound
	})
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("mem-%d", i)},
			Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: "missing"}}}
		if err := c.Create(context.Background(), d); err != nil {
			return 0, err
		}
	}
	if err := wait(5 * time.Minute); err != nil {
		return 0, err
	}
	time.Sleep(3 * time.Second)
	return rssMiB(stack.Pid("step-runner")), nil
}

func rssMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}
