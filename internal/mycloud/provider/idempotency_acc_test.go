package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vela-infra/vela-infra/internal/mycloud/client"
	"github.com/vela-infra/vela-infra/internal/mycloud/provider"
	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
)

// vpcModule is a root module with one VPC, configured from the environment
// as the step-runner configures the provider.
func vpcModule(cidr string) map[string]string {
	return map[string]string{"main.tf": `terraform {
  required_providers {
    mycloud = { source = "vela-infra/mycloud" }
  }
}
resource "mycloud_vpc" "main" {
  name = "main"
  cidr = "` + cidr + `"
}
`}
}

// scoped runs terraform in w with the idempotency scope (none when empty).
type scoped struct {
	w     *mycloudtest.Workspace
	scope string
}

func (s scoped) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := s.w.Command(ctx, args...)
	cmd.Env = append(cmd.Env, provider.EnvIdempotencyScope+"="+s.scope)
	return cmd
}

func (s scoped) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := s.command(context.Background(), args...).CombinedOutput()
	return string(out), err
}

func (s scoped) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.run(t, args...)
	if err != nil {
		t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// stateIDs returns the ids of the resources in the workspace's state.
func (s scoped) stateIDs(t *testing.T) []string {
	t.Helper()
	var state struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Values map[string]any `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(s.mustRun(t, "show", "-json")), &state); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range state.Values.RootModule.Resources {
		id, _ := r.Values["id"].(string)
		ids = append(ids, id)
	}
	return ids
}

func cloudVPCs(t *testing.T, cloud *mycloudtest.Cloud) []string {
	t.Helper()
	items, err := client.New(cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey).List(context.Background(), "vpcs", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.String("id"))
	}
	return ids
}

// loggedCreates counts the request log's answered POST /v1/vpcs: creates and
// replays.
func loggedCreates(t *testing.T, cloud *mycloudtest.Cloud) (created, replayed int) {
	t.Helper()
	var out struct {
		Items []struct {
			Method   string `json:"method"`
			Path     string `json:"path"`
			Status   int    `json:"status"`
			Replayed bool   `json:"replayed"`
		} `json:"items"`
	}
	cloud.MustAdmin(http.MethodGet, "requests", nil, &out)
	for _, r := range out.Items {
		if r.Method != http.MethodPost || r.Path != "/v1/vpcs" || r.Status != http.StatusCreated {
			continue
		}
		if r.Replayed {
			replayed++
		} else {
			created++
		}
	}
	return created, replayed
}

// TestAccIdempotencyScopeAdoptsAfterStateRm: with a scope, a create the
// state forgot is adopted by the next apply, and a changed body is refused
// naming the resource; without a scope, the next apply makes a second VPC.
func TestAccIdempotencyScopeAdoptsAfterStateRm(t *testing.T) {
	t.Parallel()
	t.Run("with a scope", func(t *testing.T) {
		t.Parallel()
		cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 200 * time.Millisecond})
		tf := scoped{mycloudtest.NewWorkspace(t, cloud, vpcModule("10.0.0.0/16")), "team-a/network"}
		tf.mustRun(t, "init", "-input=false")
		tf.mustRun(t, "apply", "-input=false", "-auto-approve")
		first := cloudVPCs(t, cloud)
		tf.mustRun(t, "state", "rm", "mycloud_vpc.main")
		out := tf.mustRun(t, "apply", "-input=false", "-auto-approve")
		if vpcs := cloudVPCs(t, cloud); len(vpcs) != 1 || vpcs[0] != first[0] {
			t.Fatalf("after state rm and apply: VPCs %v, want only %v", vpcs, first)
		}
		if ids := tf.stateIDs(t); len(ids) != 1 || ids[0] != first[0] {
			t.Fatalf("state holds %v, want %v", ids, first)
		}
		if !strings.Contains(out, "Adopted mycloud_vpc \"main\": "+first[0]) {
			t.Fatalf("the apply does not say it adopted %s:\n%s", first[0], out)
		}
		if created, replayed := loggedCreates(t, cloud); created != 1 || replayed != 1 {
			t.Fatalf("request log: %d creates and %d replays of POST /v1/vpcs, want 1 and 1", created, replayed)
		}

		// Forgotten again, and the configuration changed meanwhile: the
		// apply fails naming the VPC instead of making a second one.
		tf.mustRun(t, "state", "rm", "mycloud_vpc.main")
		if err := os.WriteFile(filepath.Join(tf.w.Dir, "main.tf"), []byte(vpcModule("10.1.0.0/16")["main.tf"]), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := tf.run(t, "apply", "-input=false", "-auto-approve")
		if err == nil || !strings.Contains(out, `mycloud_vpc "main" already exists as `+first[0]) || !strings.Contains(out, "import "+first[0]) {
			t.Fatalf("apply of a changed VPC over a forgotten one: want an error naming %s, got %v:\n%s", first[0], err, out)
		}
		if vpcs := cloudVPCs(t, cloud); len(vpcs) != 1 {
			t.Fatalf("the refused apply left VPCs %v", vpcs)
		}
	})
	t.Run("without a scope", func(t *testing.T) {
		t.Parallel()
		cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 200 * time.Millisecond})
		tf := scoped{mycloudtest.NewWorkspace(t, cloud, vpcModule("10.0.0.0/16")), ""}
		tf.mustRun(t, "init", "-input=false")
		tf.mustRun(t, "apply", "-input=false", "-auto-approve")
		tf.mustRun(t, "state", "rm", "mycloud_vpc.main")
		tf.mustRun(t, "apply", "-input=false", "-auto-approve")
		if vpcs := cloudVPCs(t, cloud); len(vpcs) != 2 {
			t.Fatalf("without a scope a forgotten VPC is not adopted: want 2 VPCs, got %v", vpcs)
		}
	})
}

// TestAccIdempotencyScopeSurvivesSIGKILL: Terraform (and its provider) are
// killed after mycloud answered the POST, while the provider waits for the
// VPC to become available, so the state never learns its id. The next apply
// with the same scope adopts it: one VPC, in the state.
func TestAccIdempotencyScopeSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 6 * time.Second})
	tf := scoped{mycloudtest.NewWorkspace(t, cloud, vpcModule("10.0.0.0/16")), "team-a/network"}
	tf.mustRun(t, "init", "-input=false")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	apply := tf.command(ctx, "apply", "-input=false", "-auto-approve")
	apply.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var output strings.Builder
	apply.Stdout, apply.Stderr = &output, &output
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the cloud has answered the POST and the provider polls
	// the new VPC.
	deadline := time.Now().Add(60 * time.Second)
	for {
		created, _ := loggedCreates(t, cloud)
		if created == 1 && cloud.CountRequests(http.MethodGet, "/v1/vpcs/vpc-") > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-apply.Process.Pid, syscall.SIGKILL)
			_ = apply.Wait()
			t.Fatalf("the provider never waited for a created VPC; terraform's output:\n%s", output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(-apply.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = apply.Wait()
	orphan := cloudVPCs(t, cloud)
	if len(orphan) != 1 {
		t.Fatalf("after the kill: VPCs %v, want the one being created", orphan)
	}
	if ids := tf.stateIDs(t); len(ids) != 0 {
		t.Fatalf("the killed apply recorded %v in the state; the test needs a create the state never learned of", ids)
	}

	out := tf.mustRun(t, "apply", "-input=false", "-auto-approve")
	if vpcs := cloudVPCs(t, cloud); len(vpcs) != 1 || vpcs[0] != orphan[0] {
		t.Fatalf("after the second apply: VPCs %v, want only %v", vpcs, orphan)
	}
	if ids := tf.stateIDs(t); len(ids) != 1 || ids[0] != orphan[0] {
		t.Fatalf("state holds %v, want %v\n%s", ids, orphan, out)
	}
	if created, replayed := loggedCreates(t, cloud); created != 1 || replayed != 1 {
		t.Fatalf("request log: %d creates and %d replays of POST /v1/vpcs, want 1 and 1", created, replayed)
	}
	if out := tf.mustRun(t, "plan", "-input=false", "-detailed-exitcode"); !strings.Contains(out, "No changes") {
		t.Fatalf("after adopting, the plan is not empty:\n%s", out)
	}
}
