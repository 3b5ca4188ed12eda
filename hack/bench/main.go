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
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
	"github.com/vela-infra/vela-infra/pkg/testenv"
)

const (
	accessKey  = "bench-access-key"
	secretKey  = "bench-secret-key"
	adminToken = "bench-admin-token"
)

var (
	root   string
	runs   = envInt("RUNS", 5)
	fleet  = envInt("FLEET", 200)
	c      client.WithWatch
	stack  *testenv.Stack
	raw    = map[string][]float64{}
	rawMu  sync.Mutex
	cloud  string
	figOut []string
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
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
	if err := mc.Start(); err != nil {
		return err
	}
	defer func() { _ = mc.Process.Kill(); _ = mc.Wait() }()
	time.Sleep(500 * time.Millisecond)

	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	stack, err = testenv.StartStack(env, root, testenv.StackOptions{
		VelaCore: bin("vela-core"), Vela: bin("vela"), StepRunner: bin("step-runner"), Terraform: bin("terraform"),
		TerraformCLIConfig: bin("terraformrc"), Endpoint: cloud, AccessKey: accessKey, SecretKey: secretKey,
	})
	if err != nil {
		return err
	}
	defer stack.Stop()
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
	for _, n := range []int{1, 10, 50} {
		name := fmt.Sprintf("grow-%d", n)
		if err := provision(name, n); err != nil {
			return err
		}
		bare := median(name+"/bare", runs, func() (time.Duration, error) { return bareRefreshOnly(name) })
		ours := median(name+"/ours", runs, func() (time.Duration, error) { return driftCheck(name) })
		if n == 1 {
			ours1 = ours
			figure("drift check, 1 target (object created -> Ready) vs bare refresh-only plan", bare, ours, "<= 1.15", ours.Seconds()/bare.Seconds() <= 1.15)
		}
		figure(fmt.Sprintf("  growth: module of %d resource(s)", n), bare, ours, "-", true)
	}
	jobPodFigure("grow-1", ours1, "18480")

	firsts, seconds := []float64{}, []float64{}
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
	}
	record("fresh/first", firsts)
	record("fresh/second", seconds)
	f, s2 := med(firsts), med(seconds)
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", "second drift check of a target / first (no re-init)", sec(f), sec(s2), s2/f, "<= 0.5", pass(s2/f <= 0.5))

	if err := fleetFigure(); err != nil {
		return err
	}
	if err := workflowFigure(); err != nil {
		return err
	}

	loaded, err := memoryWithObjects(1000)
	if err != nil {
		return err
	}
	fmt.Printf("%-58s %12s %12s %8s %10s %s\n", "step-runner RSS idle / with 1,000 step-run objects", "-",
		fmt.Sprintf("%.0f/%.0f MiB", idle, loaded), "-", "<= 60/200", pass(idle <= 60 && loaded <= 200))

	data, _ := json.MarshalIndent(raw, "", "  ")
	return os.WriteFile(filepath.Join(out, "raw.json"), data, 0o644)
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
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", name, err)
			os.Exit(1)
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
	case *v1alpha1.InfraDrift:
		list = &v1alpha1.InfraDriftList{}
	case *v1alpha1.InfraApproval:
		list = &v1alpha1.InfraApprovalList{}
	default:
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

var driftSeq int

// driftCheck times an InfraDrift from creation to Ready.
func driftCheck(target string) (time.Duration, error) {
	driftSeq++
	d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("d%d-%s", driftSeq, target)},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: target}}}
	start := time.Now()
	if err := c.Create(context.Background(), d); err != nil {
		return 0, err
	}
	err := waitFor(d, 5*time.Minute, func() bool {
		r := reason(&d.Status.RunStatus)
		return d.Status.ObservedGeneration == d.Generation && (r == v1alpha1.ReasonNoDrift || r == v1alpha1.ReasonDriftFound)
	})
	return time.Since(start), err
}

// bareRefreshOnly times `terraform plan -refresh-only` in the target's
// already-initialised workspace, with the same state, credentials and lock.
func bareRefreshOnly(target string) (time.Duration, error) {
	dir := filepath.Join(stack.Dir, "workspaces", "default", target)
	cmd := exec.Command(bin("terraform"), "plan", "-refresh-only", "-input=false", "-lock=true")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+bin("terraformrc"), "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
		"MYCLOUD_ENDPOINT="+cloud, "MYCLOUD_ACCESS_KEY="+accessKey, "MYCLOUD_SECRET_KEY="+secretKey,
		"TF_PLUGIN_CACHE_DIR="+filepath.Join(stack.Dir, "plugins"))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("terraform plan -refresh-only in %s: %v\n%s", dir, err, out)
	}
	return time.Since(start), nil
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
	start := time.Now()
	if err := parallel(names, 4, func(n string) error { _, err := bareRefreshOnly(n); return err }); err != nil {
		return err
	}
	bare := time.Since(start)
	start = time.Now()
	if err := parallel(names, 4, func(n string) error { _, err := driftCheck(n); return err }); err != nil {
		return err
	}
	ours := time.Since(start)
	record("fleet/bare", []float64{bare.Seconds()})
	record("fleet/ours", []float64{ours.Seconds()})
	ratio := bare.Seconds() / ours.Seconds() // throughput ratio: ours / bare
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", fmt.Sprintf("fleet: %d targets, 4 at once (throughput ours/bare)", fleet), sec(bare.Seconds()), sec(ours.Seconds()), ratio, ">= 0.9", pass(ratio >= 0.9))
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
	for i := 0; i < n; i++ {
		d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("mem-%d", i)},
			Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: "missing"}}}
		if err := c.Create(context.Background(), d); err != nil {
			return 0, err
		}
	}
	last := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("mem-%d", n-1)}}
	if err := waitFor(last, 5*time.Minute, func() bool { return reason(&last.Status.RunStatus) == v1alpha1.ReasonConfigurationNotFound }); err != nil {
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
