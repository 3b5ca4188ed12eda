package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mcclient "github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// The crash suite's settings: how many times the step-runner is killed
// (VELA_INFRA_CRASH_KILLS, default 20) and the seed of the kill points
// (VELA_INFRA_CRASH_SEED, default: the time; the log names it, to repeat a
// run).
const (
	crashKillsEnv = "VELA_INFRA_CRASH_KILLS"
	crashSeedEnv  = "VELA_INFRA_CRASH_SEED"
	// crashRecoveryBound is how long every step may take to finish after a
	// kill before the suite fails.
	crashRecoveryBound = 3 * time.Minute
)

// testCrashes kills the step-runner with SIGKILL (its container's PID 1,
// from the host, through containerd) at seeded random points while it runs
// an import, a drift check and an approved apply at once, with mycloud
// slowed down so each run lasts seconds. Every other kill also deletes the
// pod, as a node would lose it; the others let the kubelet restart the
// container in place. After each kill every step must finish within
// crashRecoveryBound, no state lock may stay held, and the cloud must hold
// exactly one VPC per name, each in its target's state: no orphan, no
// duplicate.
func testCrashes(ctx context.Context, t *testing.T, c *localcluster.Cluster, cloud *mycloudtest.Cloud) {
	kills := envInt(t, crashKillsEnv, 20)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("crash suite: %d kills, seed %d (repeat with %s=%d)", kills, seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	k := crashKube(t, c)
	mc := mcclient.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	hcl, err := os.ReadFile(filepath.Join(root, "definitions", "modules", "vpc", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	s := &crashSuite{t: t, ctx: ctx, c: c, k: k, mc: mc, cloud: cloud, hcl: string(hcl)}

	// Each call on a VPC takes its time: a create 2 s, a read 0.5 s.
	for _, f := range []map[string]any{
		{"method": "POST", "path": "/v1/vpcs", "latency_ms": 2000},
		{"method": "GET", "path": "/v1/vpcs/", "latency_ms": 500},
	} {
		cloud.MustAdmin(http.MethodPost, "faults", f, nil)
	}
	defer cloud.MustAdmin(http.MethodDelete, "faults", nil, nil)

	// Round 0, without a kill, imports the VPC the drift checks look at
	// and measures how long a round's runs take: the kills land at a
	// uniformly random point of that span.
	span := s.round(0, nil)
	t.Logf("crash suite: a round without a kill takes %s; the kills land 0.1 s to %s after its start", span.Round(100*time.Millisecond), span.Round(100*time.Millisecond))

	var recoveries []time.Duration
	midRun := 0
	for r := 1; midRun < kills; r++ {
		if r > 2*kills {
			t.Fatalf("only %d of %d kills landed while a step was running", midRun, r-1)
		}
		at := 100*time.Millisecond + time.Duration(rng.Int64N(int64(span)))
		deletePod := r%2 == 0
		var landed bool
		took := s.round(r, func() time.Time {
			time.Sleep(at)
			landed = s.running()
			return s.kill(deletePod)
		})
		recoveries = append(recoveries, took)
		if landed {
			midRun++
		}
		t.Logf("kill %d (%s after the start, mid-run: %v, pod deleted: %v): every step done %s after the kill", r, at.Round(100*time.Millisecond), landed, deletePod, took.Round(100*time.Millisecond))
	}
	orphans, duplicates := s.cloudMatchesStates(len(recoveries))
	replays, aborted := 0, 0
	for _, req := range cloud.Requests() {
		if req.Method == http.MethodPost && req.Path == "/v1/vpcs" {
			if req.Replayed {
				replays++
			}
			if req.Status == 499 {
				aborted++
			}
		}
	}
	slices.Sort(recoveries)
	t.Logf("crash suite: %d kills, %d of them while steps ran, %d recovered within %s, max recovery %s, median %s; orphans %d, duplicates %d; "+
		"%d VPC creates cut off by a kill, %d repeated creates adopted through their idempotency key; seed %d",
		len(recoveries), midRun, len(recoveries), crashRecoveryBound, recoveries[len(recoveries)-1].Round(100*time.Millisecond),
		recoveries[len(recoveries)/2].Round(100*time.Millisecond), orphans, duplicates, aborted, replays, seed)
}

// round r runs an approved apply (crash-new-<r>), an import (crash-imp-<r>)
// and, from round 1, a drift check of crash-imp-0 at once; kill, when set,
// kills the step-runner during them and returns when. It waits until every
// step is done and checks the locks, the states and the cloud, and returns
// how long the steps took after the kill (after their start, without one).
func (s *crashSuite) round(r int, kill func() time.Time) time.Duration {
	s.t.Helper()
	imp, nw := fmt.Sprintf("crash-imp-%d", r), fmt.Sprintf("crash-new-%d", r)
	impID := fmt.Sprintf("vpc-crashimp%d", r)
	impCIDR := fmt.Sprintf("10.%d.0.0/16", 100+r)
	s.cloud.MustAdmin(http.MethodPost, "seed", map[string]any{"vpcs": []map[string]any{{"id": impID, "name": imp, "cidr": impCIDR}}}, nil)
	appr := s.approvalObj(nw, fmt.Sprintf("10.%d.0.0/16", 20+r))
	s.create(appr)
	planID := s.waitPlanned(appr)

	start := time.Now()
	s.approve(appr, planID)
	objs := []client.Object{appr, s.importObj(imp, impID, impCIDR)}
	if r > 0 {
		objs = append(objs, s.driftObj(fmt.Sprintf("crash-drift-%d", r), "crash-imp-0", "10.100.0.0/16"))
	}
	for _, obj := range objs[1:] {
		s.create(obj)
	}
	s.inFlight = objs
	since := start
	if kill != nil {
		since = kill()
	}
	took := s.waitDone(objs, since)
	s.noLockHeld()
	s.inState(imp, impID)
	s.inState(nw, s.onlyVPC(nw))
	return took
}

// running reports whether a step of the round in flight is not done yet.
func (s *crashSuite) running() bool {
	for _, obj := range s.inFlight {
		o := obj.DeepCopyObject().(client.Object)
		if err := s.k.Get(s.ctx, client.ObjectKeyFromObject(o), o); err != nil {
			return true
		}
		ready := meta(o.(v1alpha1.StepRun).GetRunStatus().Conditions, v1alpha1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != o.GetGeneration() {
			return true
		}
	}
	return false
}

// crashSuite is what the crash suite's steps share.
type crashSuite struct {
	t     *testing.T
	ctx   context.Context
	c     *localcluster.Cluster
	k     client.Client
	mc    *mcclient.Client
	cloud *mycloudtest.Cloud
	hcl   string
	// inFlight are the steps of the round running now.
	inFlight []client.Object
}

func crashKube(t *testing.T, c *localcluster.Cluster) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	return typedClient(t, cfg)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// target is a not yet deployed VPC component: its Configuration spec is in
// the step-run object, its state is tfstate-default-<name>.
func (s *crashSuite) target(name, vpcName, cidr string) v1alpha1.Target {
	spec, err := json.Marshal(map[string]any{
		"hcl":         s.hcl,
		"providerRef": map[string]string{"name": "mycloud", "namespace": "default"},
		"variable":    map[string]string{"name": vpcName, "cidr": cidr},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return v1alpha1.Target{ConfigurationName: name, Spec: &runtime.RawExtension{Raw: spec}}
}

func (s *crashSuite) importObj(name, id, cidr string) *v1alpha1.InfraImport {
	return &v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: v1alpha1.InfraImportSpec{
		Target: s.target(name, name, cidr), Resources: []v1alpha1.ImportResource{{Address: "mycloud_vpc.this", ID: id}},
	}}
}

func (s *crashSuite) driftObj(name, target, cidr string) *v1alpha1.InfraDrift {
	return &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: v1alpha1.InfraDriftSpec{
		Target: s.target(target, target, cidr),
	}}
}

func (s *crashSuite) approvalObj(name, cidr string) *v1alpha1.InfraApproval {
	return &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: v1alpha1.InfraApprovalSpec{
		Target: s.target(name, name, cidr), Request: "crash-suite",
	}}
}

func (s *crashSuite) create(obj client.Object) {
	s.t.Helper()
	if err := s.k.Create(s.ctx, obj); err != nil {
		s.t.Fatalf("create %s: %v", obj.GetName(), err)
	}
}

// waitPlanned waits for the approval's plan and returns its id.
func (s *crashSuite) waitPlanned(obj *v1alpha1.InfraApproval) string {
	s.t.Helper()
	deadline := time.Now().Add(crashRecoveryBound)
	for time.Now().Before(deadline) {
		if err := s.k.Get(s.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			s.t.Fatal(err)
		}
		if ready := meta(obj.Status.Conditions, v1alpha1.ConditionReady); obj.Status.Plan != nil && ready != nil && ready.Reason == v1alpha1.ReasonAwaitingApproval {
			return obj.Status.Plan.ID
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.t.Fatalf("InfraApproval %s shows no plan after %s: %+v\n%s", obj.Name, crashRecoveryBound, obj.Status, diagnose(s.ctx, s.c))
	return ""
}

// approve approves planID as the infra-approve step does on resume. The
// approvals webhook fails closed, so right after a kill (no step-runner
// serving it) the API server refuses the write; like a person, approve tries
// again until the restarted step-runner answers.
func (s *crashSuite) approve(obj *v1alpha1.InfraApproval, planID string) {
	s.t.Helper()
	patch := fmt.Sprintf(`{"spec":{"approval":{"planID":%q,"request":%q,"by":"crash-suite"}}}`, planID, obj.Spec.Request)
	deadline := time.Now().Add(crashRecoveryBound)
	for {
		err := s.k.Patch(s.ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch)))
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "failed calling webhook") || time.Now().After(deadline) {
			s.t.Fatalf("approve %s: %v", obj.Name, err)
		}
		time.Sleep(time.Second)
	}
}

// kill sends SIGKILL to the step-runner and, when deletePod, deletes its pod
// right after (the Deployment makes a new one). It returns when it killed.
func (s *crashSuite) kill(deletePod bool) time.Time {
	s.t.Helper()
	pod := s.stepRunnerPod()
	if _, err := s.c.KillContainer(s.ctx, "vela-system", pod, "step-runner"); err != nil {
		s.t.Fatal(err)
	}
	killed := time.Now()
	if deletePod {
		if out, err := s.c.Kubectl(s.ctx, "-n", "vela-system", "delete", "pod", pod, "--wait=false"); err != nil {
			s.t.Fatalf("delete pod %s: %v\n%s", pod, err, out)
		}
	}
	return killed
}

// stepRunnerPod is the running step-runner pod's name.
func (s *crashSuite) stepRunnerPod() string {
	s.t.Helper()
	deadline := time.Now().Add(crashRecoveryBound)
	for time.Now().Before(deadline) {
		var pods corev1.PodList
		if err := s.k.List(s.ctx, &pods, client.InNamespace("vela-system"), client.MatchingLabels{"app.kubernetes.io/name": "vela-infra-step-runner"}); err != nil {
			s.t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Name == "step-runner" && cs.State.Running != nil {
					return p.Name
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("no running step-runner pod after %s\n%s", crashRecoveryBound, diagnose(s.ctx, s.c))
	return ""
}

// waitDone waits until every object is Ready=True on its generation, and
// returns how long after since that took. A step that fails instead fails
// the suite with its message: nothing here should.
func (s *crashSuite) waitDone(objs []client.Object, since time.Time) time.Duration {
	s.t.Helper()
	deadline := since.Add(crashRecoveryBound)
	// seen are the distinct reasons and messages the steps went through,
	// logged when they took long.
	var seen []string
	defer func() {
		if took := time.Since(since); took > 20*time.Second {
			s.t.Logf("the steps took %s; on the way they showed:\n  %s", took.Round(100*time.Millisecond), strings.Join(seen, "\n  "))
		}
	}()
	for {
		pending := ""
		for _, obj := range objs {
			if err := s.k.Get(s.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				s.t.Fatal(err)
			}
			run := obj.(v1alpha1.StepRun).GetRunStatus()
			ready := meta(run.Conditions, v1alpha1.ConditionReady)
			switch {
			case ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == obj.GetGeneration():
			case ready != nil && meta(run.Conditions, v1alpha1.ConditionStalled) != nil && meta(run.Conditions, v1alpha1.ConditionStalled).Status == metav1.ConditionTrue:
				s.t.Fatalf("%s failed after the kill: %s: %s", obj.GetName(), ready.Reason, ready.Message)
			default:
				if ready != nil {
					if m := obj.GetName() + ": " + ready.Reason + ": " + ready.Message; !slices.Contains(seen, m) {
						seen = append(seen, m)
					}
				}
				if pending == "" {
					pending = obj.GetName()
					if ready != nil {
						pending += " (" + ready.Reason + ": " + ready.Message + ")"
					}
				}
			}
		}
		if pending == "" {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not done %s after the kill\n%s", pending, crashRecoveryBound, diagnose(s.ctx, s.c))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func meta(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// noLockHeld checks that no state lock in the backend namespace is held.
func (s *crashSuite) noLockHeld() {
	s.t.Helper()
	var leases coordinationv1.LeaseList
	if err := s.k.List(s.ctx, &leases, client.InNamespace("vela-system")); err != nil {
		s.t.Fatal(err)
	}
	for _, l := range leases.Items {
		if strings.HasPrefix(l.Name, "lock-tfstate-") && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			s.t.Errorf("state lock %s still held by %s (%s) after every step finished", l.Name, *l.Spec.HolderIdentity, l.Annotations)
		}
	}
}

// stateIDs decodes the state of target and returns its resources' ids.
func (s *crashSuite) stateIDs(target string) []string {
	s.t.Helper()
	var secret corev1.Secret
	if err := s.k.Get(s.ctx, types.NamespacedName{Namespace: "vela-system", Name: "tfstate-default-" + target}, &secret); err != nil {
		s.t.Fatalf("state of %s: %v", target, err)
	}
	raw := gunzipBase64(s.t, base64.StdEncoding.EncodeToString(secret.Data["tfstate"]))
	var st struct {
		Resources []struct {
			Type      string `json:"type"`
			Instances []struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		s.t.Fatalf("the state of %s does not decode: %v", target, err)
	}
	var ids []string
	for _, r := range st.Resources {
		for _, i := range r.Instances {
			ids = append(ids, fmt.Sprint(i.Attributes["id"]))
		}
	}
	return ids
}

// inState checks that the state of target holds exactly the VPC id.
func (s *crashSuite) inState(target, id string) {
	s.t.Helper()
	if got := s.stateIDs(target); !slices.Equal(got, []string{id}) {
		s.t.Errorf("the state of %s holds %v, want exactly [%s]", target, got, id)
	}
}

// onlyVPC returns the id of the one VPC named name, failing on none or more.
func (s *crashSuite) onlyVPC(name string) string {
	s.t.Helper()
	vpcs, err := s.mc.List(s.ctx, "vpcs", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, v := range vpcs {
		if v.String("name") == name {
			ids = append(ids, v.String("id"))
		}
	}
	if len(ids) != 1 {
		s.t.Fatalf("the cloud has %d VPCs named %s (%v), want exactly 1", len(ids), name, ids)
	}
	return ids[0]
}

// cloudMatchesStates counts the suite's VPCs in the cloud that no state
// holds (orphans) and the names the cloud has more than once (duplicates),
// failing on either.
func (s *crashSuite) cloudMatchesStates(rounds int) (orphans, duplicates int) {
	s.t.Helper()
	managed := map[string]bool{}
	for r := 0; r <= rounds; r++ {
		for _, target := range []string{fmt.Sprintf("crash-imp-%d", r), fmt.Sprintf("crash-new-%d", r)} {
			for _, id := range s.stateIDs(target) {
				managed[id] = true
			}
		}
	}
	vpcs, err := s.mc.List(s.ctx, "vpcs", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	names := map[string]int{}
	for _, v := range vpcs {
		name := v.String("name")
		if !strings.HasPrefix(name, "crash-") {
			continue
		}
		if names[name]++; names[name] == 2 {
			duplicates++
			s.t.Errorf("duplicate: the cloud has more than one VPC named %s", name)
		}
		if !managed[v.String("id")] {
			orphans++
			s.t.Errorf("orphan: VPC %s (%s) is in no state", v.String("id"), name)
		}
	}
	return orphans, duplicates
}
