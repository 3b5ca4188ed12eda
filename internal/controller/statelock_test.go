package controller_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/statelock"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// The test step-runner's identity (suite_test.go gives it to the manager):
// a pod of the Deployment "vela-infra-step-runner" in runnerNS. The tests'
// own Terraform runs record this machine's hostname, which is no pod of
// it: their locks are never released.
const (
	runnerNS  = "vela-infra-system"
	runnerPod = "vela-infra-step-runner-5d8f7c9b6-self1"
)

var runnerOnce sync.Once

// runnerPodExists creates the namespace and the Pod object of the test
// step-runner (envtest runs no kubelet: the object is all there is), which
// a lock's holder is judged against.
func (f *fixture) runnerPodExists() {
	f.t.Helper()
	var err error
	runnerOnce.Do(func() {
		for _, obj := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: runnerNS}}, runnerPodObject(runnerPod)} {
			if cerr := f.c.Create(context.Background(), obj); cerr != nil && !apierrors.IsAlreadyExists(cerr) {
				err = cerr
			}
		}
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func runnerPodObject(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: runnerNS, Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "step-runner", Image: "vela-infra/step-runner"}}}}
}

// holdStateLock makes the Configuration's state lock held as Terraform
// would hold it, by who since created, and returns the lock's ID.
func (f *fixture) holdStateLock(cfg, who string, created time.Time) string {
	f.t.Helper()
	id := "5e0c1d2f-" + f.ns + "-4a5b-8c9d-0e1f2a3b4c5d"
	info, err := json.Marshal(statelock.Info{ID: id, Operation: "OperationTypeApply", Who: who, Version: "1.5.7", Created: created.UTC()})
	if err != nil {
		f.t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: f.ns, Name: "lock-tfstate-default-" + cfg}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var lease coordinationv1.Lease
		if err := f.c.Get(context.Background(), key, &lease); err != nil {
			return err
		}
		lease.Spec.HolderIdentity = &id
		if lease.Annotations == nil {
			lease.Annotations = map[string]string{}
		}
		lease.Annotations[statelock.InfoAnnotation] = string(info)
		return f.c.Update(context.Background(), &lease)
	})
	if err != nil {
		f.t.Fatalf("hold the state lock of %s: %v", cfg, err)
	}
	return id
}

// stateLockHolder is the ID of who holds the Configuration's state lock,
// "" when nobody does.
func (f *fixture) stateLockHolder(cfg string) string {
	f.t.Helper()
	var lease coordinationv1.Lease
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: "lock-tfstate-default-" + cfg}, &lease); err != nil {
		f.t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// TestStateLockOfAGonePodIsReleased: a step-runner pod killed during a run
// left the state lock held; the next drift check finds its holder gone,
// releases the lock with an Event, and completes.
func TestStateLockOfAGonePodIsReleased(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.runnerPodExists()
	f.adoptLegacyVPC()
	gone := "vela-infra-step-runner-5d8f7c9b6-gone" + f.ns
	f.holdStateLock("network", "root@"+gone, time.Now().Add(-10*time.Minute))

	d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "after-crash"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: "network"}}}
	f.create(d)
	await(f, d, "the check done", func(o *v1alpha1.InfraDrift) bool { return readyIs(metav1.ConditionTrue, v1alpha1.ReasonNoDrift)(o) })
	if holder := f.stateLockHolder("network"); holder != "" {
		t.Errorf("the state lock is still held by %s", holder)
	}
	want := "released the state lock of Configuration " + f.ns + "/network held by root@" + gone
	var events corev1.EventList
	if err := f.c.List(context.Background(), &events, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.Reason == v1alpha1.ReasonStateLockReleased && e.InvolvedObject.Name == d.Name && e.Type == corev1.EventTypeNormal &&
			strings.HasPrefix(e.Message, want) && strings.HasSuffix(e.Message, "(operation OperationTypeApply): its holder, pod "+runnerNS+"/"+gone+", no longer exists") {
			return
		}
	}
	t.Errorf("no Event %q...; events: %+v", want, events.Items)
}

// TestStateLockOfALivePodIsKept: a lock held by a pod of the step-runner
// that exists is never released; the check waits, naming the holder and how
// long it has held the lock.
func TestStateLockOfALivePodIsKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.runnerPodExists()
	f.adoptLegacyVPC()
	live := "vela-infra-step-runner-5d8f7c9b6-live" + f.ns
	f.create(runnerPodObject(live))
	id := f.holdStateLock("network", "root@"+live, time.Now().Add(-2*time.Minute))

	d := &v1alpha1.InfraDrift{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "blocked"}, Spec: v1alpha1.InfraDriftSpec{Target: v1alpha1.Target{ConfigurationName: "network"}}}
	f.create(d)
	prefix := "InfraDrift " + f.ns + "/blocked: drift check of Configuration network waits for the state lock, held by step-runner pod " + live + " for 2m"
	d = await(f, d, "waiting for the lock, its holder named", func(o *v1alpha1.InfraDrift) bool {
		c := condition(&o.Status.RunStatus, v1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonLockHeld && strings.HasPrefix(c.Message, prefix)
	})
	if msg := condition(&d.Status.RunStatus, v1alpha1.ConditionReady).Message; !strings.HasSuffix(msg, "(operation OperationTypeApply); retrying") {
		t.Errorf("message: %s", msg)
	}
	if holder := f.stateLockHolder("network"); holder != id {
		t.Errorf("the state lock is held by %q, want the live pod's %q", holder, id)
	}
	// Nothing more to see: stop the retries.
	if err := f.c.Delete(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}
