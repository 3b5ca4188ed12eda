package statelock

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

const (
	runnerNS = "vela-infra"
	self     = "vela-infra-step-runner-7d9f8b6c5-self1"
	other    = "vela-infra-step-runner-7d9f8b6c5-other"
	lockID   = "4b0b2c3e-1f2a-4c5d-8e9f-0a1b2c3d4e5f"
)

var (
	started = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	now     = started.Add(time.Hour)
	key     = types.NamespacedName{Namespace: "team", Name: "lock-tfstate-default-network"}
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: runnerNS, Name: name}}
}

// heldBy is the lock Lease as Terraform leaves it, held by who since
// created.
func heldBy(who string, created time.Time) *coordinationv1.Lease {
	info, _ := json.Marshal(Info{ID: lockID, Operation: "OperationTypePlan", Who: who, Version: "1.5.7", Created: created})
	return withInfo(string(info))
}

func withInfo(info string) *coordinationv1.Lease {
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{"tfstate": "true"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: strPtr(lockID)},
	}
	if info != "" {
		lease.Annotations = map[string]string{InfoAnnotation: info}
	}
	return lease
}

func newLocks(t *testing.T, id Identity, funcs interceptor.Funcs, objs ...client.Object) (*Locks, client.Client) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).WithInterceptorFuncs(funcs).Build()
	return &Locks{Client: c, World: Cluster{Client: c, Identity: id}, Now: func() time.Time { return now }}, c
}

// judged is what a test compares of a Lock.
type judged struct {
	State     State
	Pod, Gone string
	Describe  string
}

func TestInspect(t *testing.T) {
	inPod := Identity{Namespace: runnerNS, PodName: self, Started: started}
	before, after := started.Add(-10*time.Minute), started.Add(20*time.Minute)
	cases := map[string]struct {
		id    Identity
		objs  []client.Object
		want  judged
		noPod bool // reading pods fails
	}{
		"own previous incarnation: stale": {objs: []client.Object{heldBy("root@"+self, before)}, want: judged{
			State: Stale, Pod: self, Gone: "its holder, this pod's step-runner before it restarted at 2025-03-01T12:00:00Z, no longer runs",
			Describe: "step-runner pod " + self + " for 1h10m0s (operation OperationTypePlan)",
		}},
		"own current lock: held": {objs: []client.Object{heldBy("root@"+self, after)}, want: judged{
			State: Held, Pod: self, Describe: "step-runner pod " + self + " for 40m0s (operation OperationTypePlan)",
		}},
		"own lock without a creation time: held": {objs: []client.Object{withInfo(`{"ID":"` + lockID + `","Who":"root@` + self + `"}`)}, want: judged{
			State: Held, Pod: self, Describe: "step-runner pod " + self,
		}},
		"other pod gone: stale": {objs: []client.Object{heldBy("@"+other, before)}, want: judged{
			State: Stale, Pod: other, Gone: "its holder, pod vela-infra/" + other + ", no longer exists",
			Describe: "step-runner pod " + other + " for 1h10m0s (operation OperationTypePlan)",
		}},
		"other pod of another ReplicaSet gone: stale": {objs: []client.Object{heldBy("root@vela-infra-step-runner-5c4b3a291-zzzzz", before)}, want: judged{
			State: Stale, Pod: "vela-infra-step-runner-5c4b3a291-zzzzz", Gone: "its holder, pod vela-infra/vela-infra-step-runner-5c4b3a291-zzzzz, no longer exists",
			Describe: "step-runner pod vela-infra-step-runner-5c4b3a291-zzzzz for 1h10m0s (operation OperationTypePlan)",
		}},
		"other pod exists: held": {objs: []client.Object{heldBy("root@"+other, before), pod(other)}, want: judged{
			State: Held, Pod: other, Describe: "step-runner pod " + other + " for 1h10m0s (operation OperationTypePlan)",
		}},
		"another Deployment with the same start: held": {objs: []client.Object{heldBy("root@vela-infra-step-runner-shard-7d9f8b6c5-abcde", before)}, want: judged{
			State: Held, Describe: "root@vela-infra-step-runner-shard-7d9f8b6c5-abcde for 1h10m0s (operation OperationTypePlan, lock ID " + lockID + ")",
		}},
		"prefix mismatch: held": {objs: []client.Object{heldBy("root@terraform-controller-6b5d4c3b2-abcde", before)}, want: judged{
			State: Held, Describe: "root@terraform-controller-6b5d4c3b2-abcde for 1h10m0s (operation OperationTypePlan, lock ID " + lockID + ")",
		}},
		"a person's laptop: held": {objs: []client.Object{heldBy("alice@alice-laptop", before)}, want: judged{
			State: Held, Describe: "alice@alice-laptop for 1h10m0s (operation OperationTypePlan, lock ID " + lockID + ")",
		}},
		"no hostname: held": {objs: []client.Object{heldBy("someone", before)}, want: judged{
			State: Held, Describe: "someone for 1h10m0s (operation OperationTypePlan, lock ID " + lockID + ")",
		}},
		"no lock info: held":  {objs: []client.Object{withInfo("")}, want: judged{State: Held, Describe: "another run"}},
		"bad lock info: held": {objs: []client.Object{withInfo("{not json")}, want: judged{State: Held, Describe: "another run"}},
		"lock info of another lock: held": {objs: []client.Object{withInfo(`{"ID":"other-id","Who":"root@` + other + `"}`)}, want: judged{
			State: Held, Describe: "root@" + other + " (lock ID other-id)",
		}},
		"outside a pod: nothing is proven": {id: Identity{PodName: self, Started: started}, objs: []client.Object{heldBy("root@"+other, before)}, want: judged{
			State: Held, Describe: "root@" + other + " for 1h10m0s (operation OperationTypePlan, lock ID " + lockID + ")",
		}},
		"hostname is not this pod's (host network): nothing is proven": {noPod: true, objs: []client.Object{heldBy("root@"+self, before)}, want: judged{
			State: Held, Describe: "root@" + self + " for 1h10m0s (operation OperationTypePlan, lock ID " + lockID + ")",
		}},
		"not held": {objs: []client.Object{func() client.Object { l := withInfo(""); l.Spec.HolderIdentity = nil; return l }()}, want: judged{State: Free, Describe: "another run"}},
		"no Lease": {want: judged{State: Free, Describe: "another run"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			id := tc.id
			if id == (Identity{}) {
				id = inPod
			}
			objs := tc.objs
			if !tc.noPod {
				objs = append(objs, pod(self))
			}
			locks, _ := newLocks(t, id, interceptor.Funcs{}, objs...)
			lock, err := locks.Inspect(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			got := judged{State: lock.State, Pod: lock.Pod, Gone: lock.Gone, Describe: lock.Describe(now)}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestInspectPodReadFails: a holder that cannot be judged is an error, not
// a release.
func TestInspectPodReadFails(t *testing.T) {
	forbidden := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if k.Name == other {
			return apierrors.NewForbidden(corev1.Resource("pods"), k.Name, errors.New("no RBAC"))
		}
		return c.Get(ctx, k, obj, opts...)
	}}
	locks, _ := newLocks(t, Identity{Namespace: runnerNS, PodName: self, Started: started}, forbidden, heldBy("root@"+other, started), pod(self))
	if lock, err := locks.Inspect(context.Background(), key); !apierrors.IsForbidden(err) {
		t.Fatalf("Inspect = %+v, %v; want a Forbidden error", lock, err)
	}
}

func TestPrefix(t *testing.T) {
	for pod, want := range map[string]string{
		"vela-infra-step-runner-7d9f8b6c5-x2x9q": "vela-infra-step-runner-",
		"runner-7d9f8b6c5-x2x9q":                 "runner-",
		"7d9f8b6c5-x2x9q":                        "",
		"laptop":                                 "",
		"":                                       "",
	} {
		if got := Prefix(pod); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", pod, got, want)
		}
	}
}

func TestRelease(t *testing.T) {
	id := Identity{Namespace: runnerNS, PodName: self, Started: started}
	t.Run("stale: released as Terraform's Unlock does", func(t *testing.T) {
		locks, c := newLocks(t, id, interceptor.Funcs{}, heldBy("root@"+other, started), pod(self))
		lock, err := locks.Inspect(context.Background(), key)
		if err != nil || lock.State != Stale {
			t.Fatalf("Inspect = %+v, %v", lock, err)
		}
		if err := locks.Release(context.Background(), lock); err != nil {
			t.Fatal(err)
		}
		var lease coordinationv1.Lease
		if err := c.Get(context.Background(), key, &lease); err != nil {
			t.Fatal(err)
		}
		if lease.Spec.HolderIdentity != nil || lease.Annotations[InfoAnnotation] != "" || lease.Labels["tfstate"] != "true" {
			t.Errorf("released Lease: holder %v, annotations %v, labels %v", lease.Spec.HolderIdentity, lease.Annotations, lease.Labels)
		}
		if again, err := locks.Inspect(context.Background(), key); err != nil || again.State != Free {
			t.Errorf("after the release: %+v, %v", again, err)
		}
	})
	t.Run("changed since it was read: conflict, nothing broken", func(t *testing.T) {
		locks, c := newLocks(t, id, interceptor.Funcs{}, heldBy("root@"+other, started), pod(self))
		lock, err := locks.Inspect(context.Background(), key)
		if err != nil || lock.State != Stale {
			t.Fatalf("Inspect = %+v, %v", lock, err)
		}
		// Meanwhile the lock is released and taken by a live run.
		var lease coordinationv1.Lease
		if err := c.Get(context.Background(), key, &lease); err != nil {
			t.Fatal(err)
		}
		taken := heldBy("root@"+self, now)
		lease.Spec.HolderIdentity, lease.Annotations = strPtr("new-id"), taken.Annotations
		if err := c.Update(context.Background(), &lease); err != nil {
			t.Fatal(err)
		}
		if err := locks.Release(context.Background(), lock); !apierrors.IsConflict(err) {
			t.Fatalf("Release = %v, want a conflict", err)
		}
		if err := c.Get(context.Background(), key, &lease); err != nil {
			t.Fatal(err)
		}
		if h := lease.Spec.HolderIdentity; h == nil || *h != "new-id" || lease.Annotations[InfoAnnotation] != taken.Annotations[InfoAnnotation] {
			t.Errorf("the new holder's lock was touched: holder %v, annotations %v", h, lease.Annotations)
		}
	})
	t.Run("live: refused", func(t *testing.T) {
		locks, c := newLocks(t, id, interceptor.Funcs{}, heldBy("root@"+other, started), pod(self), pod(other))
		lock, err := locks.Inspect(context.Background(), key)
		if err != nil || lock.State != Held {
			t.Fatalf("Inspect = %+v, %v", lock, err)
		}
		if err := locks.Release(context.Background(), lock); err == nil {
			t.Fatal("a live holder's lock was released")
		}
		var lease coordinationv1.Lease
		if err := c.Get(context.Background(), key, &lease); err != nil || lease.Spec.HolderIdentity == nil {
			t.Errorf("the lock is gone: %v %v", lease.Spec.HolderIdentity, err)
		}
	})
}

func strPtr(s string) *string { return &s }
