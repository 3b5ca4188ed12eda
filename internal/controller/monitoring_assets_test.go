package controller_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/vela-infra/vela-infra/internal/controller"
)

// The chart's generated monitoring assets (hack/monitoring, make generate).
var (
	dashboardFile = filepath.Join("..", "..", "charts", "vela-infra", "files", "dashboard.json")
	ruleFile      = filepath.Join("..", "..", "charts", "vela-infra", "files", "prometheusrule.yaml")
)

// TestMonitoringAssets: every metric the dashboard's queries and the
// alerts' expressions use is one the step-runner registers, every label
// they select on, group by or print is one that metric has, and every
// registered metric has a panel on the dashboard.
func TestMonitoringAssets(t *testing.T) {
	series := exportedSeries(t)
	exprs := append(dashboardExprs(t), ruleExprs(t)...)
	if len(exprs) < 10 {
		t.Fatalf("found only %d expressions in %s and %s: is the parsing here out of date?", len(exprs), dashboardFile, ruleFile)
	}
	shown := map[string]bool{}
	for _, e := range exprs {
		refs, err := scanPromQL(e.expr)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		if len(refs.selectors) == 0 {
			t.Errorf("%s: no metric in %q", e.where, e.expr)
		}
		var all []string // labels of every metric of the expression
		for _, s := range refs.selectors {
			info, ok := series[s.metric]
			if !ok {
				t.Errorf("%s: metric %s is not one the step-runner exports (internal/controller/metrics.go); exported: %s",
					e.where, s.metric, strings.Join(slices.Sorted(maps.Keys(series)), ", "))
				continue
			}
			shown[info.metric] = true
			labels := info.labels
			all = append(all, labels...)
			for _, l := range s.labels {
				if !slices.Contains(labels, l) {
					t.Errorf("%s: %s has no label %q (it has %v)", e.where, s.metric, l, labels)
				}
			}
		}
		for _, l := range refs.grouping {
			for _, s := range refs.selectors {
				if info, ok := series[s.metric]; ok && !slices.Contains(info.labels, l) {
					t.Errorf("%s: groups or matches on %q, which %s does not have (it has %v)", e.where, l, s.metric, info.labels)
				}
			}
		}
		for _, l := range e.printed {
			if !slices.Contains(all, l) {
				t.Errorf("%s: prints label %q, which no metric of %q has", e.where, l, e.expr)
			}
		}
	}
	for _, c := range controller.Metrics() {
		for _, d := range describe(t, c) {
			if !shown[d.name] {
				t.Errorf("metric %s has no panel on the dashboard (hack/monitoring/dashboard.go)", d.name)
			}
		}
	}
}

// TestScanPromQL: the scanner TestMonitoringAssets relies on finds the
// metrics and labels of PromQL as the dashboard and alerts write it.
func TestScanPromQL(t *testing.T) {
	cases := map[string]struct {
		expr string
		want promRefs
	}{
		"bare metric": {expr: "up", want: promRefs{selectors: []promSelector{{metric: "up"}}}},
		"matchers, strings with braces and commas": {
			expr: `count(vela_infra_drift_resources{namespace=~"$namespace", name!="a,b}"} > 0) or vector(0)`,
			want: promRefs{selectors: []promSelector{{metric: "vela_infra_drift_resources", labels: []string{"namespace", "name"}}}},
		},
		"aggregation, range, functions": {
			expr: `histogram_quantile(0.95, sum by (kind, le) (rate(vela_infra_run_duration_seconds_bucket[$__rate_interval])))`,
			want: promRefs{
				selectors: []promSelector{{metric: "vela_infra_run_duration_seconds_bucket"}},
				grouping:  []string{"kind", "le"},
			},
		},
		"aggregation modifier after the body, offset, numbers": {
			expr: `sum(rate(a_total[5m] offset 1h)) without (pod) / on (kind) group_left (reason) b_total > 1.5e3`,
			want: promRefs{
				selectors: []promSelector{{metric: "a_total"}, {metric: "b_total"}},
				grouping:  []string{"pod", "kind", "reason"},
			},
		},
		"time and arithmetic": {
			expr: `time() - max by (namespace, name) (x_seconds) > 3600`,
			want: promRefs{selectors: []promSelector{{metric: "x_seconds"}}, grouping: []string{"namespace", "name"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := scanPromQL(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(promRefs{}, promSelector{})); diff != "" {
				t.Errorf("scanPromQL(%q) (-want +got):\n%s", tc.expr, diff)
			}
		})
	}
	for _, bad := range []string{`x{a="b"`, `sum by kind (x)`, `x[5m`, `"open`} {
		if _, err := scanPromQL(bad); err == nil {
			t.Errorf("scanPromQL(%q): want an error", bad)
		}
	}
}

// seriesInfo is the metric a series name belongs to, and its labels.
type seriesInfo struct {
	metric string
	labels []string
}

// exportedSeries maps every series name the step-runner exports to its
// metric and labels: a histogram has _bucket (with le), _sum and _count.
func exportedSeries(t *testing.T) map[string]seriesInfo {
	t.Helper()
	series := map[string]seriesInfo{}
	for _, c := range controller.Metrics() {
		for _, d := range describe(t, c) {
			if _, ok := c.(*prometheus.HistogramVec); ok {
				series[d.name+"_bucket"] = seriesInfo{d.name, append(slices.Clone(d.labels), "le")}
				series[d.name+"_sum"] = seriesInfo{d.name, d.labels}
				series[d.name+"_count"] = seriesInfo{d.name, d.labels}
				continue
			}
			series[d.name] = seriesInfo{d.name, d.labels}
		}
	}
	return series
}

type desc struct {
	name   string
	labels []string
}

// descPattern reads a prometheus.Desc's String(), the only place
// client_golang shows its name and variable labels.
var descPattern = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", help: .*, variableLabels: \{([^}]*)\}\}$`)

func describe(t *testing.T, c prometheus.Collector) []desc {
	t.Helper()
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	var out []desc
	for d := range ch {
		m := descPattern.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name and labels of %s: has client_golang's Desc.String changed?", d)
		}
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		out = append(out, desc{name: m[1], labels: labels})
	}
	return out
}

// promExpr is one PromQL expression of an asset, where it is, and the
// labels its legend or annotations print.
type promExpr struct {
	where, expr string
	printed     []string
}

var (
	legendLabel    = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	annotationLbl  = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	labelValuesVar = regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	helmAction     = regexp.MustCompile(`\{\{.*?\}\}`)
)

func submatches(re *regexp.Regexp, s string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// grafanaPanel is the part of a dashboard panel (or row) read here.
type grafanaPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

func dashboardExprs(t *testing.T) []promExpr {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatalf("%v: run make generate", err)
	}
	var d struct {
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []promExpr
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			for i, q := range p.Targets {
				out = append(out, promExpr{
					where: fmt.Sprintf("dashboard panel %q query %d", p.Title, i+1), expr: q.Expr,
					printed: submatches(legendLabel, q.LegendFormat),
				})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		// label_values(metric, label) is Grafana's, not PromQL: the
		// metric is checked as a selector on that label.
		m := labelValuesVar.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("dashboard variable %s: query %q is not label_values(metric, label)", v.Name, q)
			continue
		}
		out = append(out, promExpr{where: "dashboard variable " + v.Name, expr: m[1] + "{" + m[2] + `=""}`})
	}
	return out
}

func ruleExprs(t *testing.T) []promExpr {
	t.Helper()
	data, err := os.ReadFile(ruleFile)
	if err != nil {
		t.Fatalf("%v: run make generate", err)
	}
	var r struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert       string            `json:"alert"`
					Expr        string            `json:"expr"`
					Annotations map[string]string `json:"annotations"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", ruleFile, err)
	}
	if r.Kind != "PrometheusRule" {
		t.Fatalf("%s: kind %q, want PrometheusRule", ruleFile, r.Kind)
	}
	var out []promExpr
	for _, g := range r.Spec.Groups {
		for _, rule := range g.Rules {
			var printed []string
			for _, a := range rule.Annotations {
				printed = append(printed, submatches(annotationLbl, a)...)
			}
			// The thresholds are Helm actions on the chart's values
			// (templates/prometheusrule.yaml): a number here.
			out = append(out, promExpr{where: "alert " + rule.Alert, expr: helmAction.ReplaceAllString(rule.Expr, "1"), printed: printed})
		}
	}
	return out
}

// promRefs is what an expression refers to: its selectors, and the labels
// it groups or matches by (by, without, on, ignoring, group_left/right).
type promRefs struct {
	selectors []promSelector
	grouping  []string
}

// promSelector is a metric and the labels of its matchers.
type promSelector struct {
	metric string
	labels []string
}

// promKeywords are PromQL's words that are not metrics and may stand
// without a "(" after them: operators, literals, and the aggregations
// (sum by (kind) (x)).
var promKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "Inf": true, "NaN": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
	"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
}

// promGrouping are the modifiers followed by a list of labels.
var promGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// scanPromQL finds the metric names and label names of expr. It is a
// scanner, not a parser: enough for the expressions hack/monitoring
// writes, and strict where it is unsure (an unclosed string, bracket or
// brace, a matcher block without a metric).
func scanPromQL(expr string) (promRefs, error) {
	var refs promRefs
	s := expr
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(s) && strings.ContainsRune(" \t\n\r", rune(s[i])) {
			i++
		}
		return i
	}
	// quoted returns the index after the string starting at i.
	quoted := func(i int) (int, error) {
		q := s[i]
		for j := i + 1; j < len(s); j++ {
			switch {
			case s[j] == '\\' && q != '`':
				j++
			case s[j] == q:
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unclosed string in %q", expr)
	}
	ident := func(i int) (string, int) {
		j := i
		for j < len(s) && isIdent(s[j]) {
			j++
		}
		return s[i:j], j
	}
	lastMetric := -1 // index in refs.selectors of a metric just read
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '"' || c == '\'' || c == '`':
			j, err := quoted(i)
			if err != nil {
				return refs, err
			}
			i = j
		case c == '[': // a range or subquery: durations and Grafana's $__ variables
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return refs, fmt.Errorf("unclosed [ in %q", expr)
			}
			i += j + 1
			continue // a range keeps the metric it follows
		case c == '{':
			if lastMetric < 0 {
				return refs, fmt.Errorf("matchers without a metric name at %d in %q", i, expr)
			}
			i++
			for {
				i = skipSpace(i)
				if i >= len(s) {
					return refs, fmt.Errorf("unclosed { in %q", expr)
				}
				if s[i] == '}' {
					i++
					break
				}
				if s[i] == ',' {
					i++
					continue
				}
				if !isIdentStart(s[i]) {
					return refs, fmt.Errorf("unexpected %q in the matchers of %q", s[i], expr)
				}
				var name string
				name, i = ident(i)
				refs.selectors[lastMetric].labels = append(refs.selectors[lastMetric].labels, name)
				i = skipSpace(i)
				for i < len(s) && strings.ContainsRune("=!~", rune(s[i])) {
					i++
				}
				i = skipSpace(i)
				if i >= len(s) || s[i] != '"' && s[i] != '\'' && s[i] != '`' {
					return refs, fmt.Errorf("matcher %s without a quoted value in %q", name, expr)
				}
				j, err := quoted(i)
				if err != nil {
					return refs, err
				}
				i = j
			}
		case c == '$': // a Grafana variable outside a string
			_, i = ident(i + 1)
		case '0' <= c && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.' || (s[i] == '+' || s[i] == '-') && (s[i-1] == 'e' || s[i-1] == 'E')) {
				i++
			}
		case isIdentStart(c):
			var word string
			word, i = ident(i)
			next := skipSpace(i)
			switch {
			case promGrouping[word]:
				if next >= len(s) || s[next] != '(' {
					return refs, fmt.Errorf("%s without a label list in %q", word, expr)
				}
				end := strings.IndexByte(s[next:], ')')
				if end < 0 {
					return refs, fmt.Errorf("unclosed %s ( in %q", word, expr)
				}
				for _, l := range strings.Split(s[next+1:next+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						refs.grouping = append(refs.grouping, l)
					}
				}
				i = next + end + 1
			case word == "offset":
				_, i = ident(next) // its duration
			case promKeywords[word]:
			case next < len(s) && s[next] == '(':
				// A function or an aggregation.
			default:
				refs.selectors = append(refs.selectors, promSelector{metric: word})
				lastMetric = len(refs.selectors) - 1
				continue
			}
		default: // operators, parentheses, commas
			i++
		}
		lastMetric = -1
	}
	return refs, nil
}
