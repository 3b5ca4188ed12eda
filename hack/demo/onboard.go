package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Stage 7, onboarding a project (docs/onboarding.md), the way e2e
// TestCluster/Onboarding takes it: a project that runs in mycloud before
// the platform knows it is discovered by its tags, the Application written
// for it is reviewed, and vela up adopts all of it with no create, change or
// delete in the cloud.

const (
	discoveryName = "shop"
	legacyApp     = "shop-legacy"
)

// legacyShop is the project's seed, e2e's: eight resources of all five
// types, tagged project=shop, in 10.60.0.0/16 (the platform's VPC is
// 10.40.0.0/16); one database's password was set by its owners.
func (d *demo) legacyShop() string {
	return filepath.Join(d.root, "e2e", "testdata", "legacy-shop.yaml")
}

// discoveryYAML is the InfraDiscovery of stage 7.
const discoveryYAML = `apiVersion: infra.vela-infra.io/v1alpha1
kind: InfraDiscovery
metadata:
  name: ` + discoveryName + `
  namespace: default
spec:
  application: ` + legacyApp + `
  selector:
    tags:
      project: shop
`

// onboard seeds the legacy project, discovers it, shows the Application
// written for it, adopts it with vela up and shows from mycloud's request
// log that nothing was written to the cloud meanwhile.
func (d *demo) onboard() error {
	d.step("7. onboard a legacy project: shop's 8 resources (a VPC, 2 subnets, 2 MySQL, a Redis, 2 buckets, tagged project=shop) exist in mycloud, unknown to the platform; an InfraDiscovery finds them and writes an Application that adopts them")
	start := time.Now()
	raw, err := os.ReadFile(d.legacyShop())
	if err != nil {
		return err
	}
	seed, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", d.legacyShop(), err)
	}
	if err := d.admin(http.MethodPost, "seed", string(seed)); err != nil {
		return err
	}
	fmt.Println("seeded through mycloud's admin API: vpc-shop0001 (shop-net, 10.60.0.0/16), subnet-shop0001/0002, mysql-shop0001/0002 (shop-users' password set by its owners), redis-shop0001, bucket-shop0001/0002")

	f := filepath.Join(d.root, ".demo", "shop-discovery.yaml")
	if err := os.WriteFile(f, []byte(discoveryYAML), 0o644); err != nil {
		return err
	}
	fmt.Print("$ kubectl apply -f .demo/shop-discovery.yaml\n" + discoveryYAML)
	if out, err := d.c.Kubectl(d.ctx, "apply", "-f", f); err != nil {
		return fmt.Errorf("kubectl apply -f %s: %v\n%s", f, err, out)
	}
	ready, err := d.kubectlUntil("InfraDiscovery "+discoveryName+" Ready with reason Discovered", 3*time.Minute,
		func(out string) bool { // done, or refused for good (a transient failure is retried)
			return strings.HasPrefix(out, "True ") || strings.HasPrefix(out, "False ManagedElsewhere ") || strings.HasPrefix(out, "False InvalidSpec ")
		},
		"get", "infradiscovery", discoveryName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason} {.status.conditions[?(@.type=="Ready")].message}`)
	if err != nil {
		return err
	}
	msg, ok := strings.CutPrefix(ready, "True Discovered ")
	if !ok {
		return fmt.Errorf("InfraDiscovery %s is not Ready: %s", discoveryName, ready)
	}
	fmt.Printf("discovered in %.0fs; its Ready condition: %s\n", time.Since(start).Seconds(), msg)
	if err := d.printKubectl("get", "infradiscovery", discoveryName); err != nil {
		return err
	}

	app, err := d.c.Kubectl(d.ctx, "get", "configmap", discoveryName+"-application", "-o", `jsonpath={.data.application\.yaml}`)
	if err != nil || !strings.Contains(app, "type: infra-bulk-import") {
		return fmt.Errorf("the Application in ConfigMap %s-application: %v\n%s", discoveryName, err, app)
	}
	appFile := filepath.Join(d.root, ".demo", legacyApp+".yaml")
	if err := os.WriteFile(appFile, []byte(app), 0o644); err != nil {
		return err
	}
	fmt.Printf("$ kubectl get configmap %s-application -o jsonpath='{.data.application\\.yaml}' > .demo/%s.yaml   (%d lines; an excerpt)\n%s",
		discoveryName, legacyApp, strings.Count(app, "\n"), appExcerpt(app, "shop-net", "shop-users"))

	d.step("reviewed: vela up -f .demo/shop-legacy.yaml; step adopt imports the 8 resources at once, then one apply-component step per component")
	adopting := time.Now()
	if err := d.velaUp(appFile); err != nil {
		return err
	}
	out, err := d.statusUntil(legacyApp, "finished: true")
	if err != nil {
		return err
	}
	if strings.Contains(out, "phase: failed") {
		return fmt.Errorf("vela status %s: a step failed\n%s", legacyApp, out)
	}
	fmt.Printf("adopted in %.0fs\n", time.Since(adopting).Seconds())
	showApp(legacyApp, out)
	if err := d.printKubectl("get", "configurations", "-l", "app.oam.dev/name="+legacyApp); err != nil {
		return err
	}

	log, err := d.requestLog()
	if err != nil {
		return err
	}
	var reads int
	var writes []string
	for _, r := range log {
		if r.Time.Before(start) || !strings.HasPrefix(r.Path, "/v1/") {
			continue
		}
		if r.Method == http.MethodGet {
			reads++
		} else {
			writes = append(writes, r.Method+" "+r.Path)
		}
	}
	written := "none"
	if len(writes) > 0 {
		written = strings.Join(writes, ", ")
	}
	fmt.Printf("mycloud's request log during stage 7 (%.0fs): %d reads (GET /v1/...), writes (POST, PATCH, DELETE /v1/...): %s\n",
		time.Since(start).Seconds(), reads, written)
	if len(writes) > 0 {
		return fmt.Errorf("onboarding wrote to the cloud %d time(s), want none: %s", len(writes), written)
	}
	return nil
}

// appExcerpt shortens the Application discovery wrote: its header and
// metadata, the components named in keep, the adopt step with its first two
// imports, and the names of the rest, as YAML comments.
func appExcerpt(app string, keep ...string) string {
	lines := strings.Split(strings.TrimRight(app, "\n"), "\n")
	comps, workflow, steps := -1, -1, -1
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case "components:":
			comps = i
		case "workflow:":
			workflow = i
		case "steps:":
			steps = i
		}
	}
	if comps < 0 || workflow < comps || steps < workflow {
		return app // not the shape expected: all of it
	}
	out := append([]string{}, lines[:comps+1]...)

	var others []string
	for _, b := range items(lines[comps+1 : workflow]) {
		name, typ := field(b, "name"), field(b, "type")
		if slices.Contains(keep, name) {
			out = append(out, b...)
		} else {
			others = append(others, name+" ("+typ+")")
		}
	}
	if len(others) > 0 {
		out = append(out, indentOf(lines[comps+1])+"# … "+fmt.Sprint(len(others))+" more: "+strings.Join(others, ", "))
	}
	out = append(out, lines[workflow:steps+1]...)

	stepItems := items(lines[steps+1:])
	if len(stepItems) == 0 {
		return app
	}
	adopt := stepItems[0]
	imports := -1
	for i, l := range adopt {
		if strings.TrimSpace(l) == "imports:" {
			imports = i
		}
	}
	if imports < 0 {
		out = append(out, adopt...)
	} else {
		out = append(out, adopt[:imports+1]...)
		all := items(adopt[imports+1:])
		for _, b := range all[:min(2, len(all))] {
			out = append(out, b...)
		}
		if len(all) > 2 {
			out = append(out, indentOf(adopt[imports+1])+fmt.Sprintf("# … %d more, one per component", len(all)-2))
		}
	}
	var rest []string
	for _, b := range stepItems[1:] {
		rest = append(rest, field(b, "name"))
	}
	if len(rest) > 0 {
		out = append(out, indentOf(lines[steps+1])+fmt.Sprintf("# … then %d apply-component steps: %s", len(rest), strings.Join(rest, ", ")))
	}
	return strings.Join(out, "\n") + "\n"
}

// items splits the lines of a YAML sequence into its items: each starts
// with "- " at the indentation of the first.
func items(lines []string) [][]string {
	if len(lines) == 0 {
		return nil
	}
	start := indentOf(lines[0]) + "- "
	var out [][]string
	for _, l := range lines {
		if strings.HasPrefix(l, start) || len(out) == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], l)
	}
	return out
}

// field is the value of key at the top of an item ("- name: x" or
// "  type: y"), or "".
func field(item []string, key string) string {
	ind := indentOf(item[0])
	for i, l := range item {
		prefix := ind + "  "
		if i == 0 {
			prefix = ind + "- "
		}
		if v, ok := strings.CutPrefix(l, prefix+key+": "); ok {
			return v
		}
	}
	return ""
}

func indentOf(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " "))] }
