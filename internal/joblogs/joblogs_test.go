package joblogs

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
