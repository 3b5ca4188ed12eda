package main

import (
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
)

// results are the raw timings of every figure, by name, kept in
// bin/bench/raw.json.
type results struct {
	mu   sync.Mutex
	vals map[string][]float64
}

func (r *results) record(name string, vals []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vals[name] = append(r.vals[name], vals...)
}

func (b *bench) rawPath() string { return filepath.Join(b.out, "raw.json") }

func (b *bench) writeRaw() error {
	data, _ := json.MarshalIndent(b.raw.vals, "", "  ")
	return os.WriteFile(b.rawPath(), data, 0o644)
}

// printHeader prints the machine, the runs and the table's header.
func (b *bench) printHeader() {
	fmt.Printf("machine: %d cores; %d runs per figure (median); raw timings in %s\n\n", numCPU(), b.runs, b.rawPath())
	fmt.Printf("%-58s %12s %12s %8s %10s %s\n", "figure", "baseline", "ours", "ratio", "goal", "")
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

func med(vals []float64) float64 {
	v := append([]float64{}, vals...)
	sort.Float64s(v)
	return v[len(v)/2]
}

// median runs fn n times and returns the median duration.
func (b *bench) median(name string, n int, fn func() (time.Duration, error)) time.Duration {
	var vals []float64
	for i := 0; i < n; i++ {
		d, err := fn()
		if err != nil {
			b.fatal("%s: %v", name, err)
		}
		vals = append(vals, d.Seconds())
	}
	b.raw.record(name, vals)
	return time.Duration(med(vals) * float64(time.Second))
}
