package main_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta1 "github.com/oam-dev/terraform-controller/api/v1beta1"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/testground/mycloudtest"
	"github.com/vela-infra/vela-infra/internal/testground/testenv"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestSIGTERMInterruptsTerraformAndReleasesTheLock runs the real binary,
// stops it with SIGTERM in the middle of an apply, and checks that Terraform
// was interrupted in time, the state lock was released and the resource
// being created is in the state, not orphaned.
func TestSIGTERMInterruptsTerraformAndReleasesTheLock(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cloud := mycloudtest.Start(t, mycloudtest.Options{CreateDelay: 10 * time.Minute})
	scheme := env.Scheme
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	dir := t.TempDir()
	stack := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(stack); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "step-runner")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--terraform", mycloudtest.TerraformPath(t), "--terraform-cli-config", mycloudtest.CLIConfig(t),
		"--work-dir", filepath.Join(dir, "ws"), "--plugin-cache-dir", filepath.Join(dir, "plugins"),
		"--backend-kubeconfig", stack, "--kubeconfig", stack, "--metrics-bind-address", "0",
		"--health-probe-bind-address", "127.0.0.1:0", "--grace-period", "15s")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	creds := fmt.Sprintf("MYCLOUD_ENDPOINT: %s\nMYCLOUD_ACCESS_KEY: %s\nMYCLOUD_SECRET_KEY: %s\n", cloud.URL, mycloudtest.AccessKey, mycloudtest.SecretKey)
	hcl, err := os.ReadFile(filepath.Join(root, "definitions", "modules", "bucket", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "creds"}, StringData: map[string]string{"credentials": creds}},
		&tfv1beta1.Provider{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "mycloud"}, Spec: tfv1beta1.ProviderSpec{Provider: "custom",
			Credentials: tfv1beta1.ProviderCredentials{Source: crossplane.CredentialsSourceSecret,
				SecretRef: &crossplane.SecretKeySelector{SecretReference: crossplane.SecretReference{Namespace: "default", Name: "creds"}, Key: "credentials"}}}},
		&tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "slow"}, Spec: tfv1beta2.ConfigurationSpec{
			HCL: string(hcl), Variable: &runtime.RawExtension{Raw: []byte(`{"name":"slow-bucket"}`)},
			ProviderReference: &crossplane.Reference{Name: "mycloud", Namespace: "default"}}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	a := &v1alpha1.InfraApproval{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "slow"}, Spec: v1alpha1.InfraApprovalSpec{Target: v1alpha1.Target{ConfigurationName: "slow"}}}
	if err := c.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &logs, 2*time.Minute, "the plan", func() bool {
		_ = c.Get(ctx, client.ObjectKeyFromObject(a), a)
		r := apimeta.FindStatusCondition(a.Status.Conditions, v1alpha1.ConditionReady)
		return r != nil && r.Reason == v1alpha1.ReasonAwaitingApproval
	})
	patch := client.MergeFrom(a.DeepCopy())
	a.Spec.Approval = &v1alpha1.Approval{PlanID: a.Status.Plan.ID, By: "test"}
	if err := c.Patch(ctx, a, patch); err != nil {
		t.Fatal(err)
	}
	// The apply is under way once the bucket was created (it stays
	// "creating" for 10 minutes) and the lock is held.
	waitFor(t, &logs, 2*time.Minute, "the create call", func() bool { return cloud.CountRequests(http.MethodPost, "/v1/buckets") > 0 })
	time.Sleep(time.Second)

	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the step-runner did not stop within 30s of SIGTERM:\n%s", tail(logs.String()))
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("stopping took %s: Terraform was not interrupted", d)
	}

	// The lock is released: the Lease has no holder (or is gone).
	var lease coordinationv1.Lease
	err = c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "lock-tfstate-default-slow"}, &lease)
	if err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
		t.Fatalf("the state lock is still held by %q after shutdown:\n%s", *lease.Spec.HolderIdentity, tail(logs.String()))
	}
	// The bucket the interrupted apply created is in the state.
	var state corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "tfstate-default-slow"}, &state); err != nil {
		t.Fatalf("no state after the interrupted apply: %v", err)
	}
	if !bytes.Contains(gunzip(t, state.Data["tfstate"]), []byte("bucket-")) {
		t.Fatalf("the bucket being created is not in the state: orphaned")
	}
}

func waitFor(t *testing.T, logs *bytes.Buffer, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; step-runner log:\n%s", what, tail(logs.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
