package controller

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vela-infra/vela-infra/internal/statelock"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// TestFakeStateLockHeld: a drift check that finds the state lock held looks
// at the holder: one that provably no longer exists loses the lock (an
// Event, and the check runs again at once); any other is named in the
// message, and the lock is left alone.
func TestFakeStateLockHeld(t *testing.T) {
	const (
		runnerNS = "vela-infra"
		self     = "vela-infra-step-runner-7d9f8b6c5-self1"
		other    = "vela-infra-step-runner-7d9f8b6c5-other"
		lockID   = "4b0b2c3e-1f2a-4c5d-8e9f-0a1b2c3d4e5f"
		where    = "InfraDrift team/check: drift check of Configuration network"
	)
	var (
		now     = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		created = now.Add(-2*time.Minute - 10*time.Second)
		key     = types.NamespacedName{Namespace: fakeNS, Name: "lock-tfstate-default-" + fakeCfg}
		me      = statelock.Identity{Namespace: runnerNS, PodName: self, Started: now.Add(-time.Hour)}
	)
	lease := func(who string) *coordinationv1.Lease {
		info, _ := json.Marshal(statelock.Info{ID: lockID, Operation: "OperationTypePlan", Who: who, Version: "1.5.7", Created: created})
		holder := lockID
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Annotations: map[string]string{statelock.InfoAnnotation: string(info)}}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: runnerNS, Name: name}}
	}
	conflict := interceptor.Funcs{Update: func(context.Context, client.WithWatch, client.Object, ...client.UpdateOption) error {
		return apierrors.NewConflict(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, key.Name, errors.New("changed"))
	}}
	forbidden := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if _, ok := obj.(*coordinationv1.Lease); ok {
			return apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, k.Name, errors.New("no RBAC"))
		}
		return c.Get(ctx, k, obj, opts...)
	}}
	generic := waitingWith(v1alpha1.ReasonLockHeld, where+" waits for the state lock, held by another run; retrying")
	cases := map[string]struct {
		objs         []client.Object
		self         statelock.Identity
		funcs        interceptor.Funcs
		want         observed
		wantReleased bool
	}{
		"holder pod gone: released, retried at once": {objs: []client.Object{lease("root@" + other)}, wantReleased: true, want: observed{
			Result: after(immediately),
			Conditions: waitingWith(v1alpha1.ReasonLockHeld, where+" found the state lock held by step-runner pod "+other+
				" for 2m10s (operation OperationTypePlan) and released it: its holder, pod vela-infra/"+other+", no longer exists; retrying now"),
			Events: []string{"Normal StateLockReleased released the state lock of Configuration team/network held by root@" + other +
				" since 2025-03-01T11:57:50Z (operation OperationTypePlan): its holder, pod vela-infra/" + other + ", no longer exists"},
		}},
		"held by this pod before it restarted: released, retried at once": {objs: []client.Object{lease("root@" + self)},
			self: statelock.Identity{Namespace: runnerNS, PodName: self, Started: now.Add(-time.Minute)}, wantReleased: true, want: observed{
				Result: after(immediately),
				Conditions: waitingWith(v1alpha1.ReasonLockHeld, where+" found the state lock held by step-runner pod "+self+
					" for 2m10s (operation OperationTypePlan) and released it: its holder, this pod's step-runner before it restarted at 2025-03-01T11:59:00Z, no longer runs; retrying now"),
				Events: []string{"Normal StateLockReleased released the state lock of Configuration team/network held by root@" + self +
					" since 2025-03-01T11:57:50Z (operation OperationTypePlan): its holder, this pod's step-runner before it restarted at 2025-03-01T11:59:00Z, no longer runs"},
			}},
		"live holder pod: named with its age": {objs: []client.Object{lease("root@" + other), pod(other)}, want: observed{
			Result:     after(time.Second),
			Conditions: waitingWith(v1alpha1.ReasonLockHeld, where+" waits for the state lock, held by step-runner pod "+other+" for 2m10s (operation OperationTypePlan); retrying"),
		}},
		"held by this process: named": {objs: []client.Object{lease("root@" + self)}, want: observed{
			Result:     after(time.Second),
			Conditions: waitingWith(v1alpha1.ReasonLockHeld, where+" waits for the state lock, held by step-runner pod "+self+" for 2m10s (operation OperationTypePlan); retrying"),
		}},
		"a person's run: named with the lock ID": {objs: []client.Object{lease("alice@alice-laptop")}, want: observed{
			Result: after(time.Second),
			Conditions: waitingWith(v1alpha1.ReasonLockHeld, where+" waits for the state lock, held by alice@alice-laptop for 2m10s (operation OperationTypePlan, lock ID "+
				lockID+"); retrying"),
		}},
		"the Lease cannot be read: as before": {objs: []client.Object{lease("root@" + other)}, funcs: forbidden, want: observed{
			Result: after(time.Second), Conditions: generic,
		}},
		"the Lease changed before the release: left alone": {objs: []client.Object{lease("root@" + other)}, funcs: conflict, want: observed{
			Result: after(time.Second), Conditions: generic,
		}},
		"no Lease: as before": {want: observed{Result: after(time.Second), Conditions: generic}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
				Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
			e := newFakeEnv(t, append(tc.objs, obj, pod(self))...)
			id := tc.self
			if id == (statelock.Identity{}) {
				id = me
			}
			e.rt.Locks = &statelock.Locks{Client: interceptor.NewClient(e.c.(client.WithWatch), tc.funcs),
				World: statelock.Cluster{Client: e.c, Identity: id}, Now: func() time.Time { return now }}
			// Not the first run of the target since the step-runner started:
			// the lock is looked at once Terraform finds it held.
			e.rt.lockChecked.Store(key, struct{}{})
			e.ws.plans = []planReply{{err: tfErr(terraform.ReasonLockHeld, "Error acquiring the state lock")}}
			tc.want.Calls = []string{"plan drift.tfplan -refresh-only"}
			got := e.reconcile(&DriftReconciler{Runtime: e.rt}, obj)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var after coordinationv1.Lease
			if err := e.c.Get(context.Background(), key, &after); err != nil {
				if len(tc.objs) > 0 {
					t.Fatal(err)
				}
				return
			}
			released := after.Spec.HolderIdentity == nil && after.Annotations[statelock.InfoAnnotation] == ""
			if released != tc.wantReleased {
				t.Errorf("lock released %v, want %v: holder %v", released, tc.wantReleased, after.Spec.HolderIdentity)
			}
			if !tc.wantReleased {
				return
			}
			// The retry runs the check, now with the lock free.
			e.ws.plans = []planReply{{}}
			if got := e.reconcile(&DriftReconciler{Runtime: e.rt}, obj); !got.Done || got.Conditions[v1alpha1.ConditionReady] == "" {
				t.Errorf("the retry: %+v", got)
			}
		})
	}
}

// TestFakeStaleLockReleasedBeforeTheFirstRun: the first run of a target
// after the step-runner started releases a lock its previous incarnation
// left before Terraform runs (no wait of --lock-timeout), with an Event; a
// live holder's lock is left for Terraform to wait on.
func TestFakeStaleLockReleasedBeforeTheFirstRun(t *testing.T) {
	const (
		runnerNS = "vela-infra"
		self     = "vela-infra-step-runner-7d9f8b6c5-self1"
		lockID   = "4b0b2c3e-1f2a-4c5d-8e9f-0a1b2c3d4e5f"
	)
	var (
		now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		key = types.NamespacedName{Namespace: fakeNS, Name: "lock-tfstate-default-" + fakeCfg}
	)
	for name, tc := range map[string]struct {
		started      time.Time
		wantReleased bool
	}{
		"held by this pod before it restarted: released first": {started: now.Add(-time.Minute), wantReleased: true},
		"held by this process: left alone":                     {started: now.Add(-time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			info, _ := json.Marshal(statelock.Info{ID: lockID, Operation: "OperationTypeApply", Who: "nonroot@" + self, Version: "1.5.7", Created: now.Add(-2 * time.Minute)})
			holder := lockID
			lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
				Annotations: map[string]string{statelock.InfoAnnotation: string(info)}}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}
			obj := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: fakeNS, Name: "check", Generation: 1},
				Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: fakeCfg}}}
			e := newFakeEnv(t, lease, obj, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: runnerNS, Name: self}})
			e.rt.Locks = &statelock.Locks{Client: e.c, Now: func() time.Time { return now },
				World: statelock.Cluster{Client: e.c, Identity: statelock.Identity{Namespace: runnerNS, PodName: self, Started: tc.started}}}
			released := func() bool {
				var l coordinationv1.Lease
				if err := e.c.Get(context.Background(), key, &l); err != nil {
					t.Fatal(err)
				}
				return l.Spec.HolderIdentity == nil
			}
			e.ws.during = func() {
				if got := released(); got != tc.wantReleased {
					t.Errorf("when Terraform ran, the lock was released: %v, want %v", got, tc.wantReleased)
				}
			}
			e.ws.plans = []planReply{{}}
			got := e.reconcile(&DriftReconciler{Runtime: e.rt}, obj)
			if !got.Done {
				t.Errorf("the drift check did not finish: %+v", got)
			}
			wantEvents := 0
			if tc.wantReleased {
				wantEvents = 1
			}
			if n := len(got.Events); n != wantEvents || (n == 1 && !strings.HasPrefix(got.Events[0], "Normal StateLockReleased released the state lock of Configuration team/network held by nonroot@"+self)) {
				t.Errorf("events %q, want %d StateLockReleased", got.Events, wantEvents)
			}
		})
	}
}
