// Command addongen writes the generated parts of the vela-infra addon from
// the Helm chart, so that the two have one source:
//   - addons/vela-infra/resources/chart.cue: the step-runner's RBAC rules by
//     scope, from charts/vela-infra/rbac/role.yaml (controller-gen's output
//     from the markers in internal/controller/rbac.go), and the chart's
//     appVersion, as CUE data for the addon's hand-written CUE
//     (resources/step-runner.cue), which builds the chart's objects from the
//     addon's parameters;
//   - addons/vela-infra/resources/crds/*.yaml: symbolic links to the chart's
//     CRDs (charts/vela-infra/crds, controller-gen's output), so that they
//     have one copy. `vela addon enable <dir>` reads a linked file as the
//     file it points to.
//
// The step definitions (addons/vela-infra/definitions) are not generated
// here: they are the source. Run by `make generate`; `make verify` fails
// when the files are stale.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
	"k8s.io/apimachinery/pkg/util/yaml"
)

const (
	chartDir = "charts/vela-infra"
	resDir   = "addons/vela-infra/resources"
)

// scopes maps the namespace of a Role in role.yaml (a placeholder, see
// internal/controller/rbac.go; none for the ClusterRole) to its field in
// chart.cue's _rules.
var scopes = map[string]string{"": "cluster", "served": "served", "state": "state", "release": "release", "webhook": "webhook"}

// scopeOrder is the order of the fields of _rules.
var scopeOrder = []string{"cluster", "served", "state", "release", "webhook"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "addongen:", err)
		os.Exit(1)
	}
}

func run() error {
	rules, err := readRules(filepath.Join(chartDir, "rbac", "role.yaml"))
	if err != nil {
		return err
	}
	appVersion, err := readAppVersion(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	src, err := chartCUE(rules, appVersion)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(resDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(resDir, "chart.cue"), src, 0o644); err != nil {
		return err
	}
	return linkCRDs(filepath.Join(chartDir, "crds"), filepath.Join(resDir, "crds"))
}

// readRules returns the rules of role.yaml by scope ("" for the
// ClusterRole), each exactly as controller-gen wrote it.
func readRules(file string) (map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	rules := map[string]any{}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var role struct {
			Kind     string
			Metadata struct{ Namespace string }
			Rules    []any
		}
		if err := dec.Decode(&role); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if role.Kind == "" {
			continue
		}
		scope, ok := scopes[role.Metadata.Namespace]
		if !ok {
			return nil, fmt.Errorf("%s: a %s in the namespace %q, which is no scope the addon knows (see internal/controller/rbac.go)", file, role.Kind, role.Metadata.Namespace)
		}
		rules[scope] = role.Rules
	}
	for ns, scope := range scopes {
		if rules[scope] == nil {
			return nil, fmt.Errorf("%s has no rules for the scope %q: run controller-gen (make generate) first", file, ns)
		}
	}
	return rules, nil
}

func readAppVersion(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &chart); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	if chart.AppVersion == "" {
		return "", fmt.Errorf("%s has no appVersion", file)
	}
	return chart.AppVersion, nil
}

// chartCUE is the source of chart.cue: the rules by scope and the
// appVersion, formatted as cue fmt does.
func chartCUE(rules map[string]any, appVersion string) ([]byte, error) {
	ctx := cuecontext.New()
	byScope := &ast.StructLit{}
	for _, scope := range scopeOrder {
		v := ctx.Encode(rules[scope])
		if v.Err() != nil {
			return nil, v.Err()
		}
		byScope.Elts = append(byScope.Elts, &ast.Field{Label: ast.NewIdent(scope), Value: v.Syntax().(ast.Expr)})
	}
	rulesField := &ast.Field{Label: ast.NewIdent("_rules"), Value: byScope}
	ast.AddComment(rulesField, &ast.CommentGroup{Doc: true, List: []*ast.Comment{
		{Text: "// The step-runner's RBAC rules by scope, as controller-gen generates"},
		{Text: "// them (charts/vela-infra/rbac/role.yaml) from the markers in"},
		{Text: "// internal/controller/rbac.go: cluster (the ClusterRole everywhere),"},
		{Text: "// served (the namespaces it serves), state (where Terraform state and"},
		{Text: "// shared credentials live), release (its own namespace: leader election)."},
	}})
	file := &ast.File{Decls: []ast.Decl{&ast.Package{Name: ast.NewIdent("main")}, rulesField}}
	out, err := format.Node(file)
	if err != nil {
		return nil, err
	}
	header := "// Generated by hack/addongen from charts/vela-infra (rbac/role.yaml, Chart.yaml);\n// DO NOT EDIT. Run: make generate\n"
	version := fmt.Sprintf("\n// The chart's appVersion: the label app.kubernetes.io/version.\n_appVersion: %s\n", ast.NewString(appVersion).Value)
	return []byte(header + string(out) + version), nil
}

// linkCRDs makes dst hold, for each CRD file of src, a relative symbolic
// link to it, and nothing else.
func linkCRDs(src, dst string) error {
	crds, err := filepath.Glob(filepath.Join(src, "*.yaml"))
	if err != nil {
		return err
	}
	if len(crds) == 0 {
		return fmt.Errorf("no CRDs in %s: run controller-gen (make generate) first", src)
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, crd := range crds {
		target, err := filepath.Rel(dst, crd)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, filepath.Join(dst, filepath.Base(crd))); err != nil {
			return err
		}
	}
	return nil
}
