package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// scheduleFigure declares SCHEDULE_TARGETS scheduled InfraDrifts (default
// 1,000), one per Configuration, at SCHEDULE_INTERVAL (default 5m), all
// created at once as a trait on every component would, and follows them
// for the start-up interval and one full interval after it: how the first
// checks spread, then the sustained rate, the CPU and API requests per
// check, and the step-runner's peak RSS.
func (b *bench) scheduleFigure() error {
	n, interval := envInt("SCHEDULE_TARGETS", 1000), envDuration("SCHEDULE_INTERVAL", 5*time.Minute)
	api, err := newAPIMetrics(b)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("sched-%d", i)
		if err := b.configuration(name, bucketsHCL(name, 1)); err != nil {
			return err
		}
	}
	// What the API server serves with nobody checking: subtracted below.
	time.Sleep(5 * time.Second)
	idleFrom := time.Now()
	idle0, _, err := api.requests()
	if err != nil {
		return err
	}
	time.Sleep(20 * time.Second)
	idle1, _, err := api.requests()
	if err != nil {
		return err
	}
	idleRate := (idle1 - idle0) / time.Since(idleFrom).Seconds()
	rss0 := procStatusMiB(b.stack.Pid("step-runner"), "VmRSS:")

	checks := newCheckLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.followChecks(ctx, checks); err != nil {
		return err
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("sched-%d", i)
		d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"bench": "schedule"}},
			Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: name}, Interval: &metav1.Duration{Duration: interval}}}
		if err := b.c.Create(context.Background(), d); err != nil {
			return err
		}
		checks.created(name, d.CreationTimestamp.Time)
	}
	created := time.Since(start)

	// The start-up interval, then one full interval after it.
	time.Sleep(time.Until(start.Add(interval)))
	cpu0 := b.cpuTimes()
	req0, byRes0, err := api.requests()
	if err != nil {
		return err
	}
	steadyFrom := time.Now()
	time.Sleep(time.Until(start.Add(2 * interval)))
	cpu1 := b.cpuTimes()
	req1, byRes1, err := api.requests()
	if err != nil {
		return err
	}
	steady := time.Since(steadyFrom)
	hwm, rss := procStatusMiB(b.stack.Pid("step-runner"), "VmHWM:"), procStatusMiB(b.stack.Pid("step-runner"), "VmRSS:")
	cancel()

	s := checks.summary(steadyFrom, steadyFrom.Add(steady), interval)
	if s.steady == 0 || len(s.rechecks) == 0 {
		return fmt.Errorf("schedule: no check ran in the interval after start-up (%d objects checked once)", s.firsts)
	}
	cpu := cpuDelta(cpu0, cpu1)
	ours := cpu["step-runner"] + cpu["step-runner's terraform"]
	reqs := req1 - req0 - idleRate*steady.Seconds()
	b.raw.record("schedule/first-check-after-creation", s.firstAfter)
	b.raw.record("schedule/recheck-interval", s.rechecks)
	b.raw.record("schedule/steady-checks", []float64{float64(s.steady)})

	perMin := float64(s.steady) / steady.Minutes()
	want := float64(n) / interval.Minutes()
	fmt.Printf("%-58s %12s %12s %8s %10s\n", fmt.Sprintf("schedule: %d InfraDrifts at %v, created at once (%.1fs)", n, interval, created.Seconds()), "-", "-", "-", "-")
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", "  start-up: most first checks in a 10s window / the mean",
		fmt.Sprintf("%.1f", s.mean10), fmt.Sprintf("%d", s.max10), float64(s.max10)/s.mean10, "<= 3", pass(float64(s.max10) <= 3*s.mean10))
	fmt.Printf("%-58s %12s %12s %8s %10s %s\n", "  start-up: first checks run / latest after its creation",
		fmt.Sprintf("%d/%d", s.firsts, n), sec(s.latestFirst.Seconds()), "-", "<= "+interval.String(), pass(s.firsts == n && s.latestFirst <= interval+10*time.Second))
	fmt.Printf("%-58s %12s %12s %8.2f %10s %s\n", "  sustained checks/minute (one interval after start-up)",
		fmt.Sprintf("%.0f", want), fmt.Sprintf("%.1f", perMin), perMin/want, ">= 0.95", pass(perMin >= 0.95*want))
	fmt.Printf("%-58s %12s %12s %8s %10s\n", "  re-check interval: median / max", interval.String(),
		fmt.Sprintf("%s/%s", sec(med(s.rechecks)), sec(maxOf(s.rechecks))), "-", "-")
	fmt.Printf("%-58s %12s %12s %8s %10s\n", "  CPU seconds per check (step-runner + its terraform)", "-",
		fmt.Sprintf("%.3f", ours/float64(s.steady)), "-", "-")
	fmt.Printf("    %s; %.2f of %d cores busy in all\n", cpuPerCheck(cpu, s.steady), sumOf(cpu)/steady.Seconds(), numCPU())
	fmt.Printf("%-58s %12s %12s %8s %10s\n", "  API server requests per check (all clients, idle rate out)", "-",
		fmt.Sprintf("%.1f", reqs/float64(s.steady)), "-", "-")
	fmt.Printf("    %s; idle %.2f/s\n", perCheckBy(byRes0, byRes1, s.steady), idleRate)
	fmt.Printf("%-58s %12s %12s %8s %10s %s\n", "  step-runner peak RSS (VmHWM) / RSS at the end",
		fmt.Sprintf("%.0f MiB", rss0), fmt.Sprintf("%.0f/%.0f MiB", hwm, rss), "-", "<= 200", pass(hwm <= 200))
	if s.failed > 0 {
		fmt.Printf("    %d InfraDrift(s) not Ready at the end: %v\n", s.failed, s.reasons)
	}
	return nil
}

// checkLog is every check the bench saw end: an InfraDrift's
// status.lastRunTime changing, with the time the watch delivered it.
type checkLog struct {
	mu       sync.Mutex
	creation map[string]time.Time
	last     map[string]time.Time // lastRunTime last seen
	runs     map[string][]time.Time
	reason   map[string]string
}

func newCheckLog() *checkLog {
	return &checkLog{creation: map[string]time.Time{}, last: map[string]time.Time{}, runs: map[string][]time.Time{}, reason: map[string]string{}}
}

func (l *checkLog) created(name string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.creation[name] = at
}

func (l *checkLog) seen(d *v1alpha1.InfraDrift, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := apimeta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		l.reason[d.Name] = c.Reason
	}
	if d.Status.LastRunTime == nil || d.Status.LastRunTime.Time.Equal(l.last[d.Name]) {
		return
	}
	l.last[d.Name] = d.Status.LastRunTime.Time
	l.runs[d.Name] = append(l.runs[d.Name], at)
}

// scheduleSummary is what scheduleFigure prints.
type scheduleSummary struct {
	firsts      int           // objects checked at least once
	latestFirst time.Duration // the longest from creation to first check
	firstAfter  []float64     // seconds from creation to first check
	mean10      float64       // first checks in 10s, were they even
	max10       int           // most first checks in any 10s window
	steady      int           // checks that ended in [from, to)
	rechecks    []float64     // seconds between an object's checks
	failed      int           // objects not Ready at the end
	reasons     map[string]int
}

func (l *checkLog) summary(from, to time.Time, interval time.Duration) scheduleSummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := scheduleSummary{reasons: map[string]int{}}
	var firsts []time.Time
	for name, runs := range l.runs {
		firsts = append(firsts, runs[0])
		after := runs[0].Sub(l.creation[name])
		s.firstAfter = append(s.firstAfter, after.Seconds())
		s.latestFirst = max(s.latestFirst, after)
		for i, r := range runs {
			if !r.Before(from) && r.Before(to) {
				s.steady++
			}
			if i > 0 {
				s.rechecks = append(s.rechecks, r.Sub(runs[i-1]).Seconds())
			}
		}
	}
	s.firsts = len(firsts)
	s.mean10 = float64(len(l.creation)) * (10 * time.Second).Seconds() / interval.Seconds()
	s.max10 = mostWithin(firsts, 10*time.Second)
	for name := range l.creation {
		if r := l.reason[name]; r != v1alpha1.ReasonNoDrift && r != v1alpha1.ReasonDriftFound {
			s.failed++
			s.reasons[r]++
		}
	}
	return s
}

// mostWithin is the most instants of ts in any window of width w.
func mostWithin(ts []time.Time, w time.Duration) int {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	most, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= w {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

// followChecks watches the bench's scheduled InfraDrifts until ctx ends,
// watching again when the API server ends the watch.
func (b *bench) followChecks(ctx context.Context, l *checkLog) error {
	watch := func() error {
		w, err := b.c.Watch(ctx, &v1alpha1.InfraDriftList{}, client.InNamespace("default"), client.MatchingLabels{"bench": "schedule"})
		if err != nil {
			return err
		}
		go func() {
			defer w.Stop()
			for ev := range w.ResultChan() {
				if d, ok := ev.Object.(*v1alpha1.InfraDrift); ok {
					l.seen(d, time.Now())
				}
			}
		}()
		return nil
	}
	if err := watch(); err != nil {
		return err
	}
	// The API server ends a watch after a while (5-10 minutes): a second
	// one, started half way, covers the end of the first; a check is
	// counted once (by its lastRunTime).
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(4 * time.Minute):
				if err := watch(); err != nil && ctx.Err() == nil {
					fmt.Fprintf(os.Stderr, "bench: watch InfraDrifts again: %v\n", err)
				}
			}
		}
	}()
	return nil
}

// apiMetrics reads apiserver_request_total from the API server's /metrics.
type apiMetrics struct{ cs *kubernetes.Clientset }

func newAPIMetrics(b *bench) (*apiMetrics, error) {
	cs, err := kubernetes.NewForConfig(b.stack.Env.Config)
	if err != nil {
		return nil, err
	}
	return &apiMetrics{cs: cs}, nil
}

// requests returns the requests the API server has served (watches left
// out: they are counted when they end), in all and by verb and resource.
func (a *apiMetrics) requests() (float64, map[string]float64, error) {
	data, err := a.cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		return 0, nil, fmt.Errorf("read the API server's metrics: %w", err)
	}
	total, by := 0.0, map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		labels := line[:i]
		verb := label(labels, "verb")
		if verb == "WATCH" || verb == "CONNECT" {
			continue
		}
		key := verb + " " + label(labels, "resource")
		if sub := label(labels, "subresource"); sub != "" {
			key += "/" + sub
		}
		total += v
		by[key] += v
	}
	return total, by, nil
}

func label(labels, name string) string {
	i := strings.Index(labels, name+`="`)
	if i < 0 {
		return ""
	}
	rest := labels[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}

// perCheckBy prints the requests per check by verb and resource, most
// first.
func perCheckBy(before, after map[string]float64, checks int) string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	for k, v := range after {
		if d := (v - before[k]) / float64(checks); d >= 0.05 {
			all = append(all, kv{k, d})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
	parts := make([]string, 0, len(all))
	for _, e := range all {
		parts = append(parts, fmt.Sprintf("%s %.2f", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}

// cpuPerCheck prints the CPU seconds per check of each process, most first.
func cpuPerCheck(cpu map[string]float64, checks int) string {
	keys := make([]string, 0, len(cpu))
	for k := range cpu {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return cpu[keys[i]] > cpu[keys[j]] })
	var parts []string
	for _, k := range keys {
		if v := cpu[k] / float64(checks); v >= 0.0005 {
			parts = append(parts, fmt.Sprintf("%s %.3f", k, v))
		}
	}
	return "CPU s/check: " + strings.Join(parts, ", ")
}

func sumOf(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}

func maxOf(vals []float64) float64 {
	m := 0.0
	for _, v := range vals {
		m = max(m, v)
	}
	return m
}

// procStatusMiB reads a kB field of /proc/<pid>/status (VmRSS:, VmHWM:) in
// MiB; -1 when it cannot.
func procStatusMiB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
