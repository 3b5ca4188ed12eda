package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// cpuTimes returns the CPU seconds used so far by each process that takes
// part in a figure, so a figure can say where its time went: the bench
// itself, the Terraform it ran (its reaped children), the step-runner and
// the Terraform it ran, and the API server, etcd, vela-core and mycloud.
func (b *bench) cpuTimes() map[string]float64 {
	out := map[string]float64{}
	add := func(name string, pid int, children bool) {
		u, s, cu, cs, ok := procCPU(pid)
		if !ok {
			return
		}
		if children {
			out[name] += cu + cs
		} else {
			out[name] += u + s
		}
	}
	self := os.Getpid()
	add("bench client", self, false)
	add("bare terraform", self, true)
	// The shards figure's second step-runner counts as the step-runner.
	for _, name := range []string{"step-runner", "step-runner-shard-1"} {
		if p := b.stack.Pid(name); p > 0 {
			add("step-runner", p, false)
			add("step-runner's terraform", p, true)
		}
	}
	if p := b.stack.Pid("vela-core"); p > 0 {
		add("vela-core", p, false)
	}
	add("mycloud", b.mcPid, false)
	for _, pid := range childrenOf(self) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		switch c := strings.TrimSpace(string(comm)); c {
		case "kube-apiserver", "etcd":
			add(c, pid, false)
		}
	}
	return out
}

// procCPU reads utime, stime, cutime and cstime of pid in seconds.
func procCPU(pid int) (u, s, cu, cs float64, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, 0, false
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, 0, 0, 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 15 {
		return 0, 0, 0, 0, false
	}
	tick := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v / 100 } // USER_HZ is 100 on Linux
	// f[0] is the state (field 3); utime is field 14, so f[11].
	return tick(f[11]), tick(f[12]), tick(f[13]), tick(f[14]), true
}

func childrenOf(parent int) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		data, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(data), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(parent) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuDelta is after - before, per process.
func cpuDelta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}

// cpuLine prints where the CPU of two runs of the same work went, largest
// first: "name bare/ours".
func cpuLine(label string, bare, ours map[string]float64) string {
	names := map[string]bool{}
	for k := range bare {
		names[k] = true
	}
	for k := range ours {
		names[k] = true
	}
	var keys []string
	var tb, to float64
	for k := range names {
		keys = append(keys, k)
		tb += bare[k]
		to += ours[k]
	}
	sort.Slice(keys, func(i, j int) bool { return bare[keys[i]]+ours[keys[i]] > bare[keys[j]]+ours[keys[j]] })
	var parts []string
	for _, k := range keys {
		if bare[k] < 0.05 && ours[k] < 0.05 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1f/%.1f", k, bare[k], ours[k]))
	}
	return fmt.Sprintf("  %s CPU seconds, baseline/ours: total %.1f/%.1f; %s", label, tb, to, strings.Join(parts, ", "))
}
