package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFakeIdempotencyScope: Terraform runs with the mycloud provider's
// idempotency scope of its target, whatever the Provider's credentials say,
// next to the credentials.
func TestFakeIdempotencyScope(t *testing.T) {
	obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
		Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
	e := newFakeEnv(t, obj)
	var creds corev1.Secret
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: fakeNS, Name: "creds"}, &creds); err != nil {
		t.Fatal(err)
	}
	creds.Data["credentials"] = []byte("MYCLOUD_ENDPOINT: http://127.0.0.1:8480\nMYCLOUD_ACCESS_KEY: AKFAKE\nMYCLOUD_SECRET_KEY: fake-secret-key\nMYCLOUD_IDEMPOTENCY_SCOPE: vela-infra/other-team/their-network\n")
	if err := e.c.Update(context.Background(), &creds); err != nil {
		t.Fatal(err)
	}
	e.ws.plans = []planReply{{}}
	e.reconcile(&DriftReconciler{Runtime: e.rt}, obj)
	if e.opener.opened != 1 {
		t.Fatalf("the workspace was opened %d times, want 1", e.opener.opened)
	}
	env := e.opener.target.Env
	if got, want := env[envIdempotencyScope], "vela-infra/"+fakeNS+"/"+fakeCfg; got != want {
		t.Errorf("%s = %q, want %q (the target's, not the credentials')", envIdempotencyScope, got, want)
	}
	if env["MYCLOUD_ACCESS_KEY"] != "AKFAKE" {
		t.Errorf("the credentials are lost: %v", env)
	}
}
