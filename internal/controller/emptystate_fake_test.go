package controller

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crossplane "github.com/oam-dev/terraform-controller/api/types/crossplane-runtime"
	tfv1beta2 "github.com/oam-dev/terraform-controller/api/v1beta2"

	"github.com/vela-infra/vela-infra/internal/statelock"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFakeEmptyStateOfAFailedRun: a failed import of a component that is not
// deployed yet leaves no state Secret and no lock Lease behind when the
// state is empty and unlocked; anything else is kept.
func TestFakeEmptyStateOfAFailedRun(t *testing.T) {
	var (
		stateKey = types.NamespacedName{Namespace: fakeNS, Name: "tfstate-default-" + fakeCfg}
		lockKey  = types.NamespacedName{Namespace: fakeNS, Name: "lock-tfstate-default-" + fakeCfg}
	)
	state := func(resources ...any) *corev1.Secret {
		raw, _ := json.Marshal(map[string]any{"version": 4, "serial": 1, "lineage": "l", "resources": append([]any{}, resources...)})
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: stateKey.Namespace, Name: stateKey.Name}, Data: map[string][]byte{"tfstate": b.Bytes()}}
	}
	lease := func(holder string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: lockKey.Namespace, Name: lockKey.Name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}
	}
	notFound := tfErr(terraform.ReasonNotFound, "mycloud: 404 NotFound: vpc vpc-legacy01 does not exist")
	cases := map[string]struct {
		objs []client.Object
		// deployed keeps the Configuration in the cluster.
		deployed bool
		plan     planReply
		wantKept bool
		// wantReason is the reason the import ends with.
		wantReason string
	}{
		"not deployed, empty and unlocked: both deleted": {objs: []client.Object{state(), lease("")}, plan: planReply{err: notFound}, wantReason: v1alpha1.ReasonCloudNotFound},
		"not deployed, a Secret with no state: deleted":  {objs: []client.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: stateKey.Namespace, Name: stateKey.Name}}, lease("")}, plan: planReply{err: notFound}, wantReason: v1alpha1.ReasonCloudNotFound},
		"not deployed, a resource in the state: kept": {objs: []client.Object{state(map[string]any{"type": "mycloud_vpc", "name": "this"}), lease("")},
			plan: planReply{err: notFound}, wantKept: true, wantReason: v1alpha1.ReasonCloudNotFound},
		"not deployed, the lock held: kept":        {objs: []client.Object{state(), lease("4b0b2c3e")}, plan: planReply{err: notFound}, wantKept: true, wantReason: v1alpha1.ReasonCloudNotFound},
		"deployed: terraform-controller's to keep": {objs: []client.Object{state(), lease("")}, deployed: true, plan: planReply{err: notFound}, wantKept: true, wantReason: v1alpha1.ReasonCloudNotFound},
		"not deployed, waiting for the lock: kept": {objs: []client.Object{state(), lease("")},
			plan: planReply{err: tfErr(terraform.ReasonLockHeld, "Error acquiring the state lock")}, wantKept: true, wantReason: v1alpha1.ReasonLockHeld},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec, _ := json.Marshal(tfv1beta2.ConfigurationSpec{HCL: `resource "mycloud_vpc" "this" {}`,
				ProviderReference: &crossplane.Reference{Namespace: fakeNS, Name: "mycloud"}})
			obj := &v1alpha1.InfraImport{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "adopt", Generation: 1},
				Spec: v1alpha1.InfraImportSpec{
					Target:    v1alpha1.Target{ConfigurationName: fakeCfg, Spec: &runtime.RawExtension{Raw: spec}},
					Resources: []v1alpha1.ImportResource{{Address: fakeAddr, ID: fakeID}},
				}}
			e := newFakeEnv(t, append([]client.Object{obj}, tc.objs...)...)
			ctx := context.Background()
			if !tc.deployed {
				if err := e.c.Delete(ctx, &tfv1beta2.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: fakeCfg}}); err != nil {
					t.Fatal(err)
				}
			}
			e.rt.Locks = &statelock.Locks{Client: e.c}
			e.ws.plans = []planReply{tc.plan}
			got := e.reconcile(&ImportReconciler{Runtime: e.rt}, obj)
			if !strings.Contains(got.Conditions[v1alpha1.ConditionReady], tc.wantReason) || got.Err != "" {
				t.Fatalf("the import did not report: %+v", got)
			}
			secretErr := e.c.Get(ctx, stateKey, &corev1.Secret{})
			leaseErr := e.c.Get(ctx, lockKey, &coordinationv1.Lease{})
			if tc.wantKept {
				if secretErr != nil || leaseErr != nil {
					t.Errorf("state Secret (%v) and Lease (%v) should have been kept", secretErr, leaseErr)
				}
				return
			}
			if !apierrors.IsNotFound(secretErr) || !apierrors.IsNotFound(leaseErr) {
				t.Errorf("state Secret (%v) and Lease (%v) should have been deleted", secretErr, leaseErr)
			}
		})
	}
}
