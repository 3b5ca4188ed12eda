package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

// The step-runner's metrics Service, as the vela-infra addon and the chart
// install it (the chart's <name>-metrics, port name metrics).
const (
	stepRunnerNamespace = "vela-system"
	metricsService      = "vela-infra-step-runner-metrics"
)

// testDriftMetrics scrapes the step-runner's /metrics after the revert of
// testDeclaredDrift (InfraDrift drift, bucket id, edited: when the
// reverted edit was made): the drift is gone, the revert counted. Then the
// bucket is renamed in the console: its name cannot change in place, so
// the revert remedy holds the replacement for a person and the drift
// stands; the scrape shows the standing drift and the held plan waiting
// for approval, the series the alerts read.
func testDriftMetrics(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud, drift, id string, edited time.Time) {
	t.Helper()
	checkDriftMetrics(ctx, t, c, driftSeries{Namespace: "default", Name: drift, Remedy: "revert", Result: "Reverted", Since: edited})

	renamed := time.Now()
	cloud.MustAdmin(http.MethodPatch, "resources/buckets/"+id, map[string]any{"name": "declared-assets-renamed"}, nil)
	remedyUntil(ctx, t, c, drift, "Held", "the console rename of the bucket held for a person")
	checkDriftMetrics(ctx, t, c, driftSeries{Namespace: "default", Name: drift, Drifted: 1, Remedy: "revert", Result: "Held", Since: renamed, Held: true})
}

// driftSeries is what the step-runner's /metrics must show for one
// InfraDrift after a drift.
type driftSeries struct {
	Namespace, Name string
	// Drifted is vela_infra_drift_resources: the drifted resources that
	// stand; 0 once a remedy put them back. vela_infra_drifted_since_*
	// exists exactly when it is not 0.
	Drifted int
	// Remedy and Result: vela_infra_drift_remedies_total counted this.
	Remedy, Result string
	// Since: the last successful check is not older (the drift's time).
	Since time.Time
	// Held: a corrective plan waits for a person, so
	// vela_infra_approval_pending_since_timestamp_seconds has a series of
	// kind InfraDrift, from after Since.
	Held bool
}

// checkDriftMetrics scrapes the step-runner's /metrics through the API
// server's service proxy, the way a person or a Prometheus outside the
// cluster network would reach it, and checks the drift series of want's
// InfraDrift, the drift remedies and the InfraDrift run durations. With
// one step-runner replica (the addon's default) the Service has one
// endpoint, the leader, which holds the series.
func checkDriftMetrics(ctx context.Context, t *testing.T, c *localcluster.Cluster, want driftSeries) {
	t.Helper()
	families, raw, err := scrapeStepRunner(ctx, c)
	if err != nil {
		t.Fatalf("scraping the step-runner's /metrics through the API server: %v", err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("/metrics of the step-runner: "+format, args...)
	}
	obj := map[string]string{"namespace": want.Namespace, "name": want.Name}
	defer func() {
		if t.Failed() {
			t.Logf("vela_infra_ series scraped:\n%s", grepContaining(raw, "vela_infra_"))
		}
	}()

	resources := metricsWith(families["vela_infra_drift_resources"], obj)
	if len(resources) != 1 {
		fail("want one vela_infra_drift_resources series of InfraDrift %s/%s, got %d", want.Namespace, want.Name, len(resources))
	} else if got := resources[0].GetGauge().GetValue(); got != float64(want.Drifted) {
		fail("vela_infra_drift_resources of InfraDrift %s/%s = %v, want %d", want.Namespace, want.Name, got, want.Drifted)
	}

	since := metricsWith(families["vela_infra_drifted_since_timestamp_seconds"], obj)
	switch {
	case want.Drifted > 0 && len(since) != 1:
		fail("want one vela_infra_drifted_since_timestamp_seconds series of InfraDrift %s/%s while its drift stands, got %d", want.Namespace, want.Name, len(since))
	case want.Drifted > 0 && since[0].GetGauge().GetValue() < float64(want.Since.Unix()-1):
		fail("vela_infra_drifted_since_timestamp_seconds of InfraDrift %s/%s = %v, before the drift (%d)", want.Namespace, want.Name, since[0].GetGauge().GetValue(), want.Since.Unix())
	case want.Drifted == 0 && len(since) != 0:
		fail("InfraDrift %s/%s has no standing drift but still a vela_infra_drifted_since_timestamp_seconds series", want.Namespace, want.Name)
	}

	last := metricsWith(families["vela_infra_drift_last_success_timestamp_seconds"], obj)
	if len(last) != 1 {
		fail("want one vela_infra_drift_last_success_timestamp_seconds series of InfraDrift %s/%s, got %d", want.Namespace, want.Name, len(last))
	} else if v := last[0].GetGauge().GetValue(); v < float64(want.Since.Unix()-1) || v > float64(time.Now().Unix()+60) {
		fail("vela_infra_drift_last_success_timestamp_seconds of InfraDrift %s/%s = %v, want a time after the drift (%d) and not in the future",
			want.Namespace, want.Name, v, want.Since.Unix())
	}

	remedies := metricsWith(families["vela_infra_drift_remedies_total"], map[string]string{"remedy": want.Remedy, "result": want.Result})
	if len(remedies) != 1 || remedies[0].GetCounter().GetValue() < 1 {
		fail("vela_infra_drift_remedies_total{remedy=%q,result=%q} did not count the remedy", want.Remedy, want.Result)
	}

	pending := metricsWith(families["vela_infra_approval_pending_since_timestamp_seconds"],
		map[string]string{"kind": "InfraDrift", "namespace": want.Namespace, "name": want.Name})
	switch {
	case want.Held && len(pending) != 1:
		fail("want one vela_infra_approval_pending_since_timestamp_seconds series of InfraDrift %s/%s while its plan is held, got %d", want.Namespace, want.Name, len(pending))
	case want.Held && pending[0].GetGauge().GetValue() < float64(want.Since.Unix()-1):
		fail("vela_infra_approval_pending_since_timestamp_seconds of InfraDrift %s/%s = %v, before the drift (%d)", want.Namespace, want.Name, pending[0].GetGauge().GetValue(), want.Since.Unix())
	case !want.Held && len(pending) != 0:
		fail("InfraDrift %s/%s holds no plan but has a vela_infra_approval_pending_since_timestamp_seconds series", want.Namespace, want.Name)
	}

	var runs uint64
	for _, m := range metricsWith(families["vela_infra_run_duration_seconds"], map[string]string{"kind": "InfraDrift"}) {
		runs += m.GetHistogram().GetSampleCount()
	}
	if runs == 0 {
		fail("vela_infra_run_duration_seconds{kind=\"InfraDrift\"} counts no run")
	}
	if !t.Failed() {
		t.Logf("/metrics of the step-runner, InfraDrift %s/%s: %d drifted resources, %d drifted_since series, %d approval_pending series, last check %s after the drift, remedy %s %s counted, %d InfraDrift runs",
			want.Namespace, want.Name, want.Drifted, len(since), len(pending), time.Unix(int64(last[0].GetGauge().GetValue()), 0).Sub(want.Since.Truncate(time.Second)),
			want.Remedy, want.Result, runs)
	}
}

// scrapeStepRunner reads the step-runner's /metrics through the API
// server's proxy of its metrics Service, with the admin kubeconfig, and
// parses the Prometheus text format.
func scrapeStepRunner(ctx context.Context, c *localcluster.Cluster) (map[string]*dto.MetricFamily, string, error) {
	cs, err := c.Clientset()
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	raw, err := cs.CoreV1().Services(stepRunnerNamespace).ProxyGet("http", metricsService, "metrics", "metrics", nil).DoRaw(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("GET /api/v1/namespaces/%s/services/%s:metrics/proxy/metrics: %w", stepRunnerNamespace, metricsService, err)
	}
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, string(raw), fmt.Errorf("parsing the exposition format: %w", err)
	}
	return families, string(raw), nil
}

// metricsWith returns the metrics of f that carry every label of want.
func metricsWith(f *dto.MetricFamily, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range f.GetMetric() {
		n := 0
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
				n++
			}
		}
		if n == len(want) {
			out = append(out, m)
		}
	}
	return out
}
