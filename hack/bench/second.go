package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// secondFigure drift-checks fresh targets twice: the first check
// initialises the workspace, the second re-uses it.
func (b *bench) secondFigure() error {
	firsts, seconds := []float64{}, []float64{}
	bareFirsts, bareSeconds := []float64{}, []float64{}
	for i := 0; i < b.runs; i++ {
		name := fmt.Sprintf("fresh-%d", i)
		if err := b.configuration(name, bucketsHCL(name, 1)); err != nil {
			return err
		}
		d1, err := b.driftCheck(name)
		if err != nil {
			return err
		}
		d2, err := b.driftCheck(name)
		if err != nil {
			return err
		}
		firsts, seconds = append(firsts, d1.Seconds()), append(seconds, d2.Seconds())
		b1, b2, err := b.bareFirstSecond(name)
		if err != nil {
			return err
		}
		bareFirsts, bareSeconds = append(bareFirsts, b1.Seconds()), append(bareSeconds, b2.Seconds())
	}
	b.raw.record("fresh/first", firsts)
	b.raw.record("fresh/second", seconds)
	b.raw.record("fresh/bare-first", bareFirsts)
	b.raw.record("fresh/bare-second", bareSeconds)
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
func (b *bench) bareFirstSecond(target string) (first, second time.Duration, err error) {
	dir, err := os.MkdirTemp("", "bench-fresh-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	if err := copyModule(b.workspace(target), dir); err != nil {
		return 0, 0, err
	}
	tf := func(args ...string) error {
		cmd := exec.Command(b.bin("terraform"), args...)
		cmd.Dir = dir
		cmd.Env = b.terraformEnv(false)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("terraform %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
		return nil
	}
	start := time.Now()
	if err := tf("init", "-input=false", "-backend-config=config_path="+b.stack.Kubeconfig, "-backend-config=in_cluster_config=false"); err != nil {
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

// copyModule copies a workspace's module and variables into dir.
func copyModule(ws, dir string) error {
	for _, f := range []string{"main.tf", "terraform.tfvars.json"} {
		data, err := os.ReadFile(filepath.Join(ws, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
