package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud"
	mcclient "github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/testground/localcluster"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

// faultyComponents are the components testFaultyCloudApplies deploys: a
// VPC and five buckets, each its own Configuration and apply Job.
var faultyComponents = []struct{ name, kind string }{
	{"faulty-net", mycloud.KindVPC},
	{"faulty-b1", mycloud.KindBucket}, {"faulty-b2", mycloud.KindBucket}, {"faulty-b3", mycloud.KindBucket},
	{"faulty-b4", mycloud.KindBucket}, {"faulty-b5", mycloud.KindBucket},
}

// faultyApp is the Application of testFaultyCloudApplies; round is a tag
// on every resource, so a new round changes them all in place.
func faultyApp(round int) string {
	var b strings.Builder
	b.WriteString("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: faulty\nspec:\n  components:\n")
	for _, comp := range faultyComponents {
		fmt.Fprintf(&b, "    - name: %s\n      properties:\n        name: %s\n        tags:\n          round: %q\n        providerRef:\n          name: mycloud-faulty\n", comp.name, comp.name, fmt.Sprint(round))
		if comp.kind == mycloud.KindVPC {
			b.WriteString("        cidr: 10.120.0.0/16\n      type: mycloud-vpc\n")
		} else {
			b.WriteString("      type: mycloud-bucket\n")
		}
	}
	return b.String()
}

// testFaultyCloudApplies: terraform-controller's applies (its Job pods)
// against a cloud that faults 20% of its calls the way the fast tier's
// TestFaults does (500, 503, 429 with Retry-After: 1, 300 ms of latency).
// The cloud is one of its own on the host, reached through a Provider of
// its own (mycloud-faulty in default, where the step-runner keeps apply
// errors), so the faults and the calls it counts touch no other subtest.
// Two rounds, creates then in-place updates of six components: every
// component ends healthy, or unhealthy with the cloud's reason in vela
// status, within a bound; each resource was created once, is in its
// component's state and nothing else is in the cloud, and the last round's
// tags are in the cloud.
func testFaultyCloudApplies(ctx context.Context, t *testing.T, c *localcluster.Cluster) {
	start := time.Now()
	cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 200 * time.Millisecond, Host: c.HostIP().String()})
	creds := fmt.Sprintf("MYCLOUD_ENDPOINT: %s\nMYCLOUD_ACCESS_KEY: %s\nMYCLOUD_SECRET_KEY: %s\n", cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	provider, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{
		map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "mycloud-faulty-credentials", "namespace": "default"},
			"stringData": map[string]string{"credentials": creds}},
		map[string]any{"apiVersion": "terraform.core.oam.dev/v1beta1", "kind": "Provider", "metadata": map[string]any{"name": "mycloud-faulty", "namespace": "default"},
			"spec": map[string]any{"provider": "custom", "credentials": map[string]any{"source": "Secret",
				"secretRef": map[string]any{"namespace": "default", "name": "mycloud-faulty-credentials", "key": "credentials"}}}},
	}})
	providerFile := filepath.Join(t.TempDir(), "provider.json")
	if err := os.WriteFile(providerFile, provider, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Kubectl(ctx, "apply", "-f", providerFile); err != nil {
		t.Fatalf("kubectl apply the mycloud-faulty Provider: %v\n%s", err, out)
	}
	// Registered after the cloud started, so it runs before the cloud
	// stops: terraform-controller's destroy Jobs still reach it.
	t.Cleanup(func() {
		_ = cloud.Admin(http.MethodDelete, "faults", nil, nil)
		if out, err := c.Vela(ctx, "delete", "-n", "default", "faulty", "-y"); err != nil {
			t.Logf("vela delete faulty: %v\n%s", err, out)
		}
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(3 * time.Second) {
			if out, _ := c.Kubectl(ctx, "get", "configurations", "-n", "default", "-l", "app.oam.dev/name=faulty", "-o", "name"); strings.TrimSpace(out) == "" {
				break
			}
		}
		_, _ = c.Kubectl(ctx, "delete", "-f", providerFile, "--ignore-not-found")
	})
	for _, f := range faultMix() {
		cloud.MustAdmin(http.MethodPost, "faults", f, nil)
	}

	healthy, failed := 0, 0
	for round := 1; round <= 2; round++ {
		upApp(ctx, t, c, "faulty", faultyApp(round))
		services := faultyUntilSettled(ctx, t, c, round, 6*time.Minute)
		for _, s := range services {
			if s.Healthy {
				healthy++
				continue
			}
			failed++
			t.Logf("round %d: component %s failed: %s", round, s.Name, s.Message)
		}
	}
	wall := time.Since(start)

	// Figures before anything else calls the cloud.
	var log struct {
		Items []mycloud.RequestLogEntry `json:"items"`
	}
	cloud.MustAdmin(http.MethodGet, "requests", nil, &log)
	var faults mycloud.FaultList
	cloud.MustAdmin(http.MethodGet, "faults", nil, &faults)
	errs, absorbed, creates := 0, 0, map[string]int{}
	for i, e := range log.Items {
		if e.Method == http.MethodPost && e.Status == http.StatusCreated {
			creates[strings.TrimPrefix(e.Path, "/v1/")]++
		}
		if e.Fault == "" || e.Status < 400 {
			continue
		}
		errs++
		for _, later := range log.Items[i+1:] {
			if later.Method == e.Method && later.Path == e.Path && later.Query == e.Query && later.Status < 400 {
				absorbed++
				break
			}
		}
	}
	t.Logf("terraform-controller under faults: %d cloud calls, %d faults injected (%.1f%%); of the %d error answers, %d were absorbed by the provider's retry; "+
		"%d component applies healthy, %d failed with a reason; wall time %s",
		len(log.Items), faults.Injected, 100*float64(faults.Injected)/float64(max(len(log.Items), 1)), errs, absorbed, healthy, failed, wall.Round(time.Second))
	if faults.Injected == 0 {
		t.Errorf("no fault was injected in %d calls", len(log.Items))
	}

	// Each resource created once, in its component's state, nothing else in
	// the cloud.
	want := map[string]int{}
	for _, comp := range faultyComponents {
		want[comp.kind]++
	}
	for kind, n := range want {
		if creates[kind] != n {
			t.Errorf("%d %s created, want %d (one per component)", creates[kind], kind, n)
		}
	}
	_ = cloud.Admin(http.MethodDelete, "faults", nil, nil)
	cli := mcclient.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	inCloud := map[string]string{} // id -> name
	for kind := range want {
		objs, err := cli.List(ctx, kind, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, o := range objs {
			if seen[o.String("name")] {
				t.Errorf("%s %s exists twice", kind, o.String("name"))
			}
			seen[o.String("name")] = true
			inCloud[o.String("id")] = o.String("name")
			if failed == 0 && o.Tags()["round"] != "2" {
				t.Errorf("%s %s has tags %v after round 2", kind, o.String("name"), o.Tags())
			}
		}
	}
	for _, comp := range faultyComponents {
		b64, err := c.Kubectl(ctx, "-n", "vela-system", "get", "secret", "tfstate-default-"+comp.name, "-o", "jsonpath={.data.tfstate}")
		if err != nil {
			t.Errorf("the state of %s: %v\n%s", comp.name, err, b64)
			continue
		}
		var state struct {
			Resources []struct {
				Instances []struct {
					Attributes struct {
						ID   string `json:"id"`
						Name string `json:"name"`
					} `json:"attributes"`
				} `json:"instances"`
			} `json:"resources"`
		}
		if err := json.Unmarshal([]byte(gunzipBase64(t, b64)), &state); err != nil {
			t.Errorf("the state of %s does not decode: %v", comp.name, err)
			continue
		}
		for _, r := range state.Resources {
			for _, in := range r.Instances {
				if inCloud[in.Attributes.ID] != comp.name {
					t.Errorf("the state of %s holds %s (%s), which the cloud does not have under that name", comp.name, in.Attributes.ID, in.Attributes.Name)
				}
				delete(inCloud, in.Attributes.ID)
			}
		}
	}
	for id, name := range inCloud {
		t.Errorf("cloud resource %s (%s) is in no state: an orphan", id, name)
	}
}

// faultyService is a component as vela status reports it (the
// Application's status.services).
type faultyService struct {
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	Message string `json:"message"`
}

// faultyConfiguration is what faultyUntilSettled reads of a Configuration.
type faultyConfiguration struct {
	Metadata struct {
		Name       string `json:"name"`
		Generation int64  `json:"generation"`
	} `json:"metadata"`
	Spec struct {
		Variable struct {
			Tags map[string]string `json:"tags"`
		} `json:"variable"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64 `json:"observedGeneration"`
		Apply              struct {
			State string `json:"state"`
		} `json:"apply"`
	} `json:"status"`
}

// faultyUntilSettled waits until terraform-controller has applied this
// round's spec of every component (its Configuration has the round's tag,
// its generation observed, Available) and vela status shows every
// component healthy, and returns the components as vela status shows
// them. At the timeout, a component that is not healthy must show
// terraform-controller's failed apply with the cloud's reason; one that
// only waits fails the test. It reads the cluster only: the cloud's calls
// are all terraform-controller's.
func faultyUntilSettled(ctx context.Context, t *testing.T, c *localcluster.Cluster, round int, timeout time.Duration) []faultyService {
	t.Helper()
	var services []faultyService
	applied := func() bool {
		out, err := c.Kubectl(ctx, "get", "configurations", "-n", "default", "-l", "app.oam.dev/name=faulty", "-o", "json")
		var list struct {
			Items []faultyConfiguration `json:"items"`
		}
		if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != len(faultyComponents) {
			return false
		}
		for _, cfg := range list.Items {
			if cfg.Spec.Variable.Tags["round"] != fmt.Sprint(round) || cfg.Status.ObservedGeneration < cfg.Metadata.Generation || cfg.Status.Apply.State != "Available" {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(timeout); ; time.Sleep(3 * time.Second) {
		out, err := c.Kubectl(ctx, "get", "application", "faulty", "-n", "default", "-o", "jsonpath={.status.services}")
		services = nil
		if err == nil && strings.TrimSpace(out) != "" {
			if err := json.Unmarshal([]byte(out), &services); err != nil {
				t.Fatalf("the faulty application's services: %v\n%s", err, out)
			}
		}
		if len(services) == len(faultyComponents) && allHealthy(services) && applied() {
			return services
		}
		if time.Now().After(deadline) {
			break
		}
	}
	status, _ := c.Vela(ctx, "status", "faulty")
	if len(services) != len(faultyComponents) {
		t.Fatalf("round %d: vela status shows %d of %d components after %s:\n%s\n%s", round, len(services), len(faultyComponents), timeout, status, diagnose(ctx, c))
	}
	for _, s := range services {
		if !s.Healthy && !strings.Contains(s.Message, "the last terraform apply failed: ") {
			t.Errorf("round %d: component %s is neither healthy nor failed with a reason after %s: %q", round, s.Name, timeout, s.Message)
		}
	}
	if allHealthy(services) {
		t.Errorf("round %d: vela status shows every component healthy, but terraform-controller has not applied the round's spec of all of them after %s", round, timeout)
	}
	if t.Failed() {
		t.Logf("vela status faulty:\n%s\n%s", status, diagnose(ctx, c))
	}
	return services
}

func allHealthy(services []faultyService) bool {
	for _, s := range services {
		if !s.Healthy {
			return false
		}
	}
	return true
}
