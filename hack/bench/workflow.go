package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// workflowFigure times an infra-drift step through vela-core (vela up ->
// step succeeded in vela status) against the bare plan of the same target.
func (b *bench) workflowFigure() error {
	var diffs []float64
	bare := b.median("workflow/bare", b.runs, func() (time.Duration, error) { return b.bareRefreshOnly("grow-1") })
	for i := 0; i < b.runs; i++ {
		d, err := b.workflowRun(fmt.Sprintf("wf-%d", i))
		if err != nil {
			return err
		}
		diffs = append(diffs, d.Seconds())
	}
	b.raw.record("workflow/ours", diffs)
	m := med(diffs)
	d := m - bare.Seconds()
	fmt.Printf("%-58s %12s %12s %8s %10s %s\n", "infra-drift step via vela-core (vela up -> succeeded) - bare plan", sec(bare.Seconds()), sec(m), fmt.Sprintf("+%.1fs", d), "<= +2s", pass(d <= 2))
	return nil
}

// workflowRun times one Application app with an infra-drift step on
// grow-1, from vela up until vela status shows its workflow succeeded.
func (b *bench) workflowRun(app string) (time.Duration, error) {
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
	f := filepath.Join(b.stack.Dir, app+".yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		return 0, err
	}
	start := time.Now()
	if out, err := b.stack.Vela(b.bin("vela"), "up", "-f", f); err != nil {
		return 0, fmt.Errorf("vela up: %v\n%s", err, out)
	}
	for {
		out, _ := b.stack.Vela(b.bin("vela"), "status", app)
		if strings.Contains(out, "phase: succeeded") {
			break
		}
		if time.Since(start) > 3*time.Minute {
			return 0, fmt.Errorf("workflow %s did not finish:\n%s", app, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start), nil
}
