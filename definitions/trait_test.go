package definitions_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// traitFile is the trait drift-detection, as the addon vela-infra installs it.
const traitFile = stepsDir + "/drift-detection.cue"

// driftApp is an Application with a mycloud-vpc component carrying the
// trait drift-detection with props.
func driftApp(t *testing.T, props map[string]any) []byte {
	t.Helper()
	b, err := yaml.Marshal(map[string]any{
		"apiVersion": "core.oam.dev/v1beta1",
		"kind":       "Application",
		"metadata":   map[string]any{"name": "shop", "namespace": "shop-ns"},
		"spec": map[string]any{"components": []any{map[string]any{
			"name": "net", "type": "mycloud-vpc", "properties": map[string]any{"name": "net", "cidr": "10.40.0.0/16"},
			"traits": []any{map[string]any{"type": "drift-detection", "properties": props}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// traitDefs is a directory with the trait and the component it goes on.
func traitDefs(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vela-trait-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for _, f := range []string{traitFile, componentsDir + "/mycloud-vpc.cue"} {
		b, err := os.ReadFile(repoPath(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDriftDetectionTrait renders the trait with bin/vela: an InfraDrift of
// the component's Configuration for good properties, and an error naming
// the property for bad ones.
func TestDriftDetectionTrait(t *testing.T) {
	t.Parallel()
	defs := traitDefs(t)
	good := map[string]struct {
		props map[string]any
		spec  map[string]any
	}{
		"defaults": {props: map[string]any{}, spec: map[string]any{
			"target": map[string]any{"configurationName": "net"}, "interval": "5m", "remedy": "report"}},
		"revert every 10m": {props: map[string]any{"interval": "10m", "remedy": "revert"}, spec: map[string]any{
			"target": map[string]any{"configurationName": "net"}, "interval": "10m", "remedy": "revert"}},
		"approve a held plan": {props: map[string]any{"interval": "1h30m", "remedy": "approve", "approvePlan": "0123abcd"}, spec: map[string]any{
			"target": map[string]any{"configurationName": "net"}, "interval": "1h30m", "remedy": "approve",
			"approval": map[string]any{"planID": "0123abcd", "by": "application shop-ns/shop"}}},
		"the minimum": {props: map[string]any{"interval": "30s"}, spec: map[string]any{
			"target": map[string]any{"configurationName": "net"}, "interval": "30s", "remedy": "report"}},
	}
	for name, tc := range good {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs, err := dryRun(t, defs, driftApp(t, tc.props))
			if err != nil {
				t.Fatal(err)
			}
			var drift map[string]any
			for _, o := range objs {
				if o["kind"] == "InfraDrift" {
					drift = o
				}
			}
			if drift == nil {
				t.Fatalf("no InfraDrift rendered: %v", objs)
			}
			meta := drift["metadata"].(map[string]any)
			if meta["name"] != "net-drift-detection" || meta["namespace"] != "shop-ns" || drift["apiVersion"] != "infra.vela-infra.io/v1alpha1" {
				t.Errorf("InfraDrift %v %s/%s, want infra.vela-infra.io/v1alpha1 shop-ns/net-drift-detection", drift["apiVersion"], meta["namespace"], meta["name"])
			}
			if diff := cmp.Diff(tc.spec, drift["spec"]); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
	bad := map[string]struct {
		props map[string]any
		want  string
	}{
		"not a duration":    {map[string]any{"interval": "5x"}, `check.interval: conflicting values "The interval \"5x\" is not a duration: write it like 30s, 5m or 1h30m."`},
		"a number":          {map[string]any{"interval": "300"}, `check.interval: conflicting values "The interval \"300\" is not a duration`},
		"under the minimum": {map[string]any{"interval": "10s"}, `check.interval: conflicting values "The interval 10s is under the minimum of 30s that InfraDrift's spec.interval allows."`},
		"unknown remedy":    {map[string]any{"remedy": "fix"}, `check.remedy: conflicting values "The remedy \"fix\" is unknown: use report, revert or approve."`},
		"approval with report": {map[string]any{"approvePlan": "0123abcd"},
			`check.approvePlan: conflicting values "approvePlan approves a corrective plan held by the remedy approve or revert; the remedy is report."`},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := dryRun(t, defs, driftApp(t, tc.props))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %s", err, tc.want)
			}
		})
	}
}
