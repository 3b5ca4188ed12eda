package joblogs

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/terraform"
)

func TestTerraformJobNames(t *testing.T) {
	for job, want := range map[string][2]string{
		"network-apply":           {"network", "apply"},
		"app-db-destroy":          {"app-db", "destroy"},
		"1b2c-uid-apply":          {"1b2c-uid", "apply"},
		"-apply":                  {},
		"nightly-backup":          {},
		"network-apply-something": {},
	} {
		base, kind, ok := terraformJob(job)
		if ok != (want[0] != "") || base != want[0] || kind != want[1] {
			t.Errorf("terraformJob(%q) = %q, %q, %v; want %q, %q", job, base, kind, ok, want[0], want[1])
		}
	}
}

func TestCollectListsFinishedRunsInitFirst(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	pod := &corev1.Pod{Status: corev1.PodStatus{
		InitContainerStatuses: []corev1.ContainerStatus{
			{Name: "terraform-init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: at}}},
		},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "terraform-executor", RestartCount: 1,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: at}},
		}},
	}}
	run := collect(pod)
	if len(run) != 2 || run[0].key() != "terraform-init.log" || run[1].key() != "terraform-executor.previous.log" || run[1].exitCode != 1 {
		t.Fatalf("collect = %+v", run)
	}
	if s := summary(run); !strings.Contains(s, "terraform-executor.previous: exit code 1 (Error) at 2026-11-23T10:00:00Z") {
		t.Errorf("summary = %q", s)
	}
	if !runFailed(run) {
		t.Error("a container restarting after a failed attempt is a failed run")
	}
	pod.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: at}}
	if run := collect(pod); runFailed(run) || len(run) != 3 {
		t.Errorf("a retry that succeeded: failed=%v, runs %+v", runFailed(run), run)
	}
	if run := collect(&corev1.Pod{}); len(run) != 0 {
		t.Errorf("a pod with nothing finished gave %+v", run)
	}
}

func TestCapTailKeepsTheEndFromALine(t *testing.T) {
	if got := capTail("short", 10); got != "short" {
		t.Errorf("capTail of a short log changed it: %q", got)
	}
	log := strings.Repeat("line of output\n", 100) + "Error: the end\n"
	got := capTail(log, 64)
	if !strings.HasSuffix(got, "Error: the end\n") || !strings.HasPrefix(got, "[... first ") {
		t.Fatalf("capTail = %q", got)
	}
	if body := got[strings.Index(got, "\n")+1:]; !strings.HasPrefix(body, "line of output") && !strings.HasPrefix(body, "Error") {
		t.Errorf("the kept tail does not start at a line: %q", body)
	}
}

func TestANSIColorsAreStripped(t *testing.T) {
	in := "\x1b[31m│\x1b[0m \x1b[0m\x1b[1m\x1b[31mError: \x1b[0mCould not create"
	if got := ansiColor.ReplaceAllString(in, ""); got != "│ Error: Could not create" {
		t.Errorf("stripped = %q", got)
	}
}

func TestJobOutputIsRedacted(t *testing.T) {
	got := terraform.Redact("Error: auth failed for key sentinel-secret-5ec7e7 (id AKMYCLOUDTEST)", []string{"sentinel-secret-5ec7e7", "AKMYCLOUDTEST", "ab"})
	if strings.Contains(got, "sentinel") || strings.Contains(got, "AKMYCLOUDTEST") || !strings.Contains(got, "(sensitive)") {
		t.Errorf("redacted = %q", got)
	}
}

// TestNoteApply: a failed apply puts Terraform's first error (one line,
// with where the full output is) on the Configuration, a failure without
// one the exit codes; a successful apply removes it.
func TestNoteApply(t *testing.T) {
	s := runtime.NewScheme()
	if err := tfv1beta2.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	cfg := &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "orphan"}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(cfg).Build()
	r := &Reconciler{Client: c}
	executor := finished{name: "terraform-executor", exitCode: 1, reason: "Error", at: time.Unix(0, 0)}
	log := "mycloud_subnet.this: Creating...\n╷\n│ Error: mycloud: 404 Not Found\n│ \n│   with mycloud_subnet.this,\n│   on main.tf line 40:\n│ \n│ vpc vpc-doesnotexist does not exist\n╵\n"
	for _, step := range []struct {
		failed bool
		run    []finished
		data   map[string]string
		want   string
	}{
		{true, []finished{executor}, map[string]string{executor.key(): log},
			"mycloud: 404 Not Found: vpc vpc-doesnotexist does not exist (full output: ConfigMap run-terraform-log)"},
		{true, []finished{executor}, map[string]string{executor.key(): "(log not available: gone)"},
			"terraform-executor: exit code 1 (Error) at 1970-01-01T00:00:00Z (full output: ConfigMap run-terraform-log)"},
		{false, []finished{{name: "terraform-executor"}}, map[string]string{}, ""},
	} {
		var current tfv1beta2.Configuration
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(cfg), &current); err != nil {
			t.Fatal(err)
		}
		if err := r.noteApply(context.Background(), &current, step.failed, step.run, step.data, "run-terraform-log"); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(cfg), &current); err != nil {
			t.Fatal(err)
		}
		if got := current.Annotations[AnnotationApplyError]; got != step.want {
			t.Errorf("annotation %q, want %q", got, step.want)
		}
	}
}
