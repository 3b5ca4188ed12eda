package e2e

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
)

// testSharding runs the step-runner as KubeVela shards its controllers:
// the vela-infra addon enabled again with sharding.enabled and one shard,
// shard-1, runs the master Deployment vela-infra-step-runner and
// vela-infra-step-runner-shard-1. An Application labeled
// controller.core.oam.dev/scheduled-shard-id=shard-1 has its infra-drift
// step run by the shard-1 replica only, an unlabeled one by the master
// only (their logs, their /metrics, the objects each replica's cache
// holds). With shard-1's Lease held by a dead replica, shard-1's replica
// restarts and waits, naming the holder, and the Application scheduled to
// it waits while the master's still runs its steps; re-scheduled to
// master, its next steps run there. Released, shard-1 leads again; a
// second replica started with the same shard id waits on the Lease and
// names the one that holds it.
func testSharding(ctx context.Context, t *testing.T, c *localcluster.Cluster) {
	const (
		shard   = "shard-1"
		master  = "vela-infra-step-runner"
		shardRS = "vela-infra-step-runner-" + shard
		label   = "controller.core.oam.dev/scheduled-shard-id"
	)
	if out, err := c.Vela(ctx, "addon", "enable", filepath.Join(root, "addons", "vela-infra"),
		"sharding.enabled=true", "sharding.shards={"+shard+"}"); err != nil {
		t.Fatalf("vela addon enable vela-infra with sharding: %v\n%s", err, out)
	}
	for _, d := range []string{master, shardRS} {
		if err := c.WaitDeployment(ctx, stepRunnerNamespace, d, 3*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if args, _ := c.Kubectl(ctx, "-n", stepRunnerNamespace, "get", "deploy", master, "-o", "jsonpath={.spec.template.spec.containers[0].args}"); !strings.Contains(args, "--shard-id=master") {
		t.Fatalf("the master Deployment runs without --shard-id=master: %s", args)
	}

	// Two Applications, one scheduled to shard-1, one to no shard.
	app := func(name, shardLabel string) string {
		labels := ""
		if shardLabel != "" {
			labels = "\n  labels:\n    " + label + ": " + shardLabel
		}
		return `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: ` + name + labels + `
spec:
  components:
    - name: ` + name + `-bucket
      type: mycloud-bucket
      properties:
        name: ` + name + `-assets
        acl: private
  workflow:
    steps:
      - name: apply
        type: apply-component
        properties:
          component: ` + name + `-bucket
      - name: drift
        type: infra-drift
        properties:
          component: ` + name + `-bucket
          onDrift: report
`
	}
	const onShard, onMaster = "sharding-s1", "sharding-m"
	driftOf := func(app string) string { return app + "-drift" }
	upApp(ctx, t, c, onShard, app(onShard, shard))
	upApp(ctx, t, c, onMaster, app(onMaster, ""))
	statusUntil(ctx, t, c, onShard, "finished: true", 4*time.Minute)
	statusUntil(ctx, t, c, onMaster, "finished: true", 4*time.Minute)
	if got, _ := c.Kubectl(ctx, "get", "infradrift", driftOf(onShard), "-o", "jsonpath={.metadata.labels."+strings.ReplaceAll(label, ".", `\.`)+"}"); got != shard {
		t.Errorf("the InfraDrift of the Application scheduled to %s is labeled %q, want %q", shard, got, shard)
	}

	// Each replica checked its own Application's bucket and not the other's.
	checkedBy := func(deploy string) string {
		out, _ := c.Kubectl(ctx, "-n", stepRunnerNamespace, "logs", "deploy/"+deploy)
		return grepContaining(out, "drift checked")
	}
	shardLog, masterLog := checkedBy(shardRS), checkedBy(master)
	if !strings.Contains(shardLog, driftOf(onShard)) || strings.Contains(shardLog, driftOf(onMaster)) {
		t.Errorf("%s's drift checks should be of %s only:\n%s", shardRS, driftOf(onShard), shardLog)
	}
	if !strings.Contains(masterLog, driftOf(onMaster)) || strings.Contains(masterLog, driftOf(onShard)) {
		t.Errorf("%s's drift checks should include %s and not %s:\n%s", master, driftOf(onMaster), driftOf(onShard), masterLog)
	}
	// Their /metrics: the checks and the objects each cache holds.
	all, _ := c.Kubectl(ctx, "get", "infradrift", "-A", "-o", "name")
	drifts := len(strings.Fields(all))
	shardM, masterM := scrapeShard(ctx, t, c, shardRS), scrapeShard(ctx, t, c, master)
	checkServed(t, shardRS, shardM, "InfraDrift", 1)
	checkServed(t, master, masterM, "InfraDrift", drifts-1)
	checkServed(t, shardRS, shardM, "InfraImport", 0)
	if !hasDriftCheck(shardM, driftOf(onShard)) || hasDriftCheck(shardM, driftOf(onMaster)) {
		t.Errorf("%s's /metrics should have the last check of %s only", shardRS, driftOf(onShard))
	}
	if !hasDriftCheck(masterM, driftOf(onMaster)) || hasDriftCheck(masterM, driftOf(onShard)) {
		t.Errorf("%s's /metrics should have the last check of %s, not of %s", master, driftOf(onMaster), driftOf(onShard))
	}

	// shard-1 loses its leader: its Lease is held by a replica that died
	// without releasing it (as when its node goes away). Its replica loses
	// the Lease, restarts and waits, saying who holds it; only the
	// Application scheduled to shard-1 waits.
	const lease = shardRS // the Lease of a shard is named as its Deployment
	if out, err := c.Kubectl(ctx, "-n", stepRunnerNamespace, "patch", "lease", lease, "--type", "merge",
		"-p", `{"spec":{"holderIdentity":"a-dead-replica","leaseDurationSeconds":3600}}`); err != nil {
		t.Fatalf("kubectl patch lease %s: %v\n%s", lease, err, out)
	}
	waitLog(ctx, t, c, "deploy/"+shardRS, "waiting: shard "+shard+" is served by a-dead-replica, which holds the Lease "+stepRunnerNamespace+"/"+lease)
	for _, a := range []string{onShard, onMaster} {
		if out, err := c.Vela(ctx, "workflow", "restart", a); err != nil {
			t.Fatalf("vela workflow restart %s: %v\n%s", a, err, out)
		}
	}
	statusUntil(ctx, t, c, onMaster, "finished: true", 3*time.Minute)
	time.Sleep(10 * time.Second)
	if gen, _ := c.Kubectl(ctx, "get", "infradrift", driftOf(onShard), "-o", "jsonpath={.metadata.generation}/{.status.observedGeneration}"); !strings.Contains(gen, "/") || strings.Split(gen, "/")[0] == strings.Split(gen, "/")[1] {
		t.Errorf("with no leader in %s, %s was checked (generation/observedGeneration %s)", shard, driftOf(onShard), gen)
	}
	if out, _ := c.Vela(ctx, "status", onShard); strings.Contains(out, "finished: true") {
		t.Fatalf("with no leader in %s, the Application scheduled to it should wait at its drift step; vela status %s:\n%s", shard, onShard, out)
	}

	// Re-scheduled to master, its next steps run there.
	if out, err := c.Kubectl(ctx, "label", "application", onShard, label+"=master", "--overwrite"); err != nil {
		t.Fatalf("kubectl label application %s: %v\n%s", onShard, err, out)
	}
	if out, err := c.Vela(ctx, "workflow", "restart", onShard); err != nil {
		t.Fatalf("vela workflow restart %s: %v\n%s", onShard, err, out)
	}
	statusUntil(ctx, t, c, onShard, "finished: true", 3*time.Minute)
	if log := checkedBy(master); !strings.Contains(log, driftOf(onShard)) {
		t.Errorf("re-scheduled to master, %s was not checked by %s:\n%s", driftOf(onShard), master, log)
	}

	// The dead replica's Lease released, shard-1's replica leads again and
	// no longer holds the object that moved away.
	if out, err := c.Kubectl(ctx, "-n", stepRunnerNamespace, "delete", "lease", lease); err != nil {
		t.Fatalf("kubectl delete lease %s: %v\n%s", lease, err, out)
	}
	waitLog(ctx, t, c, "deploy/"+shardRS, "this replica leads: it runs the steps of shard "+shard)
	checkServed(t, shardRS, scrapeShard(ctx, t, c, shardRS), "InfraDrift", 0)

	// A second replica started with the same shard id (a bare pod of the
	// Deployment's template, which no Deployment owns) waits on the Lease
	// and names the replica that holds it.
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments(stepRunnerNamespace).Get(ctx, shardRS, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: shardRS + "-second", Namespace: stepRunnerNamespace, Labels: map[string]string{"vela-infra.io/e2e": "second-replica"}},
		Spec:       d.Spec.Template.Spec,
	}
	if _, err := cs.CoreV1().Pods(stepRunnerNamespace).Create(ctx, second, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		zero := int64(0)
		_ = cs.CoreV1().Pods(stepRunnerNamespace).Delete(context.WithoutCancel(ctx), second.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	said := waitLog(ctx, t, c, "pod/"+second.Name, "waiting: shard "+shard+" is served by "+shardRS+"-")
	t.Logf("the second replica of %s: %s", shard, strings.TrimSpace(said))
}

// waitLog waits up to 2m until the logs of what (deploy/name, pod/name)
// have a line containing want, and returns those lines.
func waitLog(ctx context.Context, t *testing.T, c *localcluster.Cluster, what, want string) string {
	t.Helper()
	var out string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(3 * time.Second) {
		out, _ = c.Kubectl(ctx, "-n", stepRunnerNamespace, "logs", what)
		if lines := grepContaining(out, want); lines != "" {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("the logs of %s never said %q within 2m; their last lines:\n%s", what, want, lastLines(out, 15))
		}
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// scrapeShard reads /metrics of the running pods of a step-runner
// Deployment (each through the API server's pod proxy) and returns the
// leader's: the one with a vela_infra_run_duration_seconds series, else
// the first.
func scrapeShard(ctx context.Context, t *testing.T, c *localcluster.Cluster, deploy string) map[string]*dto.MetricFamily {
	t.Helper()
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cs.CoreV1().Pods(stepRunnerNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + deploy})
	if err != nil {
		t.Fatal(err)
	}
	var first map[string]*dto.MetricFamily
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		port := ""
		for _, cp := range p.Spec.Containers[0].Ports {
			if cp.Name == "metrics" {
				port = strconv.Itoa(int(cp.ContainerPort))
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		raw, err := cs.CoreV1().Pods(stepRunnerNamespace).ProxyGet("http", p.Name, port, "metrics", nil).DoRaw(pctx)
		cancel()
		if err != nil {
			t.Fatalf("GET /api/v1/namespaces/%s/pods/%s:%s/proxy/metrics: %v", stepRunnerNamespace, p.Name, port, err)
		}
		var parser expfmt.TextParser
		families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("/metrics of %s: %v", p.Name, err)
		}
		if _, ok := families["vela_infra_run_duration_seconds"]; ok {
			return families
		}
		if first == nil {
			first = families
		}
	}
	if first == nil {
		t.Fatalf("no running pod of %s", deploy)
	}
	return first
}

// checkServed checks vela_infra_served_objects{kind} of a replica.
func checkServed(t *testing.T, deploy string, families map[string]*dto.MetricFamily, kind string, want int) {
	t.Helper()
	f := families["vela_infra_served_objects"]
	series := metricsWith(f, map[string]string{"kind": kind})
	if len(series) == 0 {
		t.Errorf("%s: no vela_infra_served_objects{kind=%q} series", deploy, kind)
		return
	}
	if got := int(series[0].GetGauge().GetValue()); got != want {
		t.Errorf("%s: vela_infra_served_objects{kind=%q} = %d, want %d", deploy, kind, got, want)
	}
}

// hasDriftCheck says whether a replica's /metrics has the last successful
// check of the InfraDrift name (namespace default).
func hasDriftCheck(families map[string]*dto.MetricFamily, name string) bool {
	f := families["vela_infra_drift_last_success_timestamp_seconds"]
	return len(metricsWith(f, map[string]string{"namespace": "default", "name": name})) > 0
}

// grepContaining returns the lines of s that contain sub.
func grepContaining(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
