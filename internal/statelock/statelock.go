// Package statelock looks after the state lock of Terraform's kubernetes
// backend, the one terraform-controller's Configurations use: the Lease
// lock-tfstate-default-<suffix> next to the state Secret, whose
// spec.holderIdentity is the lock's ID and whose annotation
// app.terraform.io/lock-info is Terraform's lock info (who, since when,
// doing what). It says who holds a lock and releases one whose holder
// provably no longer exists.
//
// Only the step-runner takes this lock, or a person running terraform by
// hand: terraform-controller's own Jobs do not (they disable Terraform's
// locking, which the step-runner never does; it waits while one of their
// apply Jobs runs instead). A step-runner killed
// during a run (SIGKILL, OOM, a lost node) leaves its lock held for good,
// and every later run on that state waits on it. Terraform records
// "user@hostname" as the holder, and in a pod the hostname is the pod's
// name, so a lock's holder is provably gone when
//
//   - it was taken from this very pod before this process started: by an
//     earlier incarnation of its container, whose processes all died with
//     it; or
//   - it was taken from another pod of the step-runner's Deployment (a pod
//     of its namespace whose name has the Deployment's prefix), and that
//     pod does not exist.
//
// Anything else (a live pod, a host that is not one of the step-runner's
// pods, such as a person's laptop, a lock whose info cannot be read) is
// left alone: a run waits for it.
package statelock

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// InfoAnnotation is the Lease annotation in which Terraform's kubernetes
// backend keeps the lock info of the holder.
const InfoAnnotation = "app.terraform.io/lock-info"

// Info is Terraform's lock info (statemgr.LockInfo) as the backend writes
// it into InfoAnnotation.
type Info struct {
	// ID is the lock's ID, also the Lease's spec.holderIdentity.
	ID string
	// Operation is what the holder does, such as "OperationTypePlan".
	Operation string
	Info      string
	// Who is "user@hostname" of the holder's process.
	Who     string
	Version string
	// Created is when the lock was taken.
	Created time.Time
	Path    string
}

// Host is the hostname in Who, "" when Who has none.
func (i *Info) Host() string {
	at := strings.LastIndex(i.Who, "@")
	if at < 0 {
		return ""
	}
	return i.Who[at+1:]
}

// Identity is this step-runner process, which holders are judged against.
type Identity struct {
	// Namespace is the step-runner's own namespace (in a pod, from the
	// downward API), where its pods are. Empty outside a pod: no lock is
	// then released.
	Namespace string
	// PodName is this process's hostname: what Terraform writes into Who,
	// and in a pod the pod's name.
	PodName string
	// Started is when this process started: a lock taken from this pod
	// before then was taken by an earlier incarnation of its container.
	Started time.Time
}

// Prefix is the name prefix the pods of a Deployment share, from the name
// of one of them: the name without its last two dash-separated parts (the
// ReplicaSet's pod-template hash and the pod's random suffix), such as
// "vela-infra-step-runner-" of "vela-infra-step-runner-7d9f8b6c5-x2x9q".
// It is "" for a name of fewer than three parts, which is no Deployment's.
func Prefix(pod string) string {
	parts := strings.Split(pod, "-")
	if len(parts) < 3 {
		return ""
	}
	return strings.Join(parts[:len(parts)-2], "-") + "-"
}

// sibling reports whether host names a pod of this process's Deployment:
// its prefix, then exactly a hash and a suffix (a longer rest is another
// Deployment whose name starts like this one's).
func (id Identity) sibling(host string) bool {
	prefix := Prefix(id.PodName)
	rest, ok := strings.CutPrefix(host, prefix)
	if prefix == "" || !ok {
		return false
	}
	hash, suffix, ok := strings.Cut(rest, "-")
	return ok && hash != "" && suffix != "" && !strings.Contains(suffix, "-")
}

// World is what judging a holder needs to know besides the lock: who this
// process is, and whether a pod exists.
type World interface {
	Self() Identity
	// PodExists reads, live, whether the pod exists.
	PodExists(ctx context.Context, namespace, name string) (bool, error)
}

// Cluster is the World of a step-runner running in a cluster.
type Cluster struct {
	// Client reads pods; it must read live: a cache may trail a deletion.
	Client   client.Client
	Identity Identity
}

// Self returns c.Identity.
func (c Cluster) Self() Identity { return c.Identity }

// PodExists reads the pod's metadata only.
func (c Cluster) PodExists(ctx context.Context, namespace, name string) (bool, error) {
	pod := &metav1.PartialObjectMetadata{}
	pod.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	err := c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, pod)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	return true, nil
}

// State is what a lock's holder is known to be.
type State int

const (
	// Free: the Lease does not exist, or nobody holds it.
	Free State = iota
	// Held by a holder that is alive, or not provably gone.
	Held
	// Stale: held by a holder that provably no longer exists.
	Stale
)

// Lock is a state lock as read.
type Lock struct {
	// Key is the Lease's.
	Key   types.NamespacedName
	State State
	// Info is the holder's lock info; nil when the Lease has none or it
	// does not parse.
	Info *Info
	// Pod is the step-runner pod that holds the lock; "" for any other
	// holder.
	Pod string
	// Gone, of a Stale lock, says how its holder is known to be gone.
	Gone string
	// lease is the Lease as read: a release carries its resourceVersion.
	lease *coordinationv1.Lease
}

// Describe names the holder, how long it has held the lock and what for,
// for a message: "step-runner pod x for 2m10s (operation
// OperationTypePlan)". A holder that is not a step-runner pod is named as
// Terraform recorded it, with the lock's ID for a person to force-unlock;
// one the Lease does not name is "another run".
func (l *Lock) Describe(now time.Time) string {
	if l.Info == nil || l.Info.Who == "" {
		return "another run"
	}
	var b strings.Builder
	if l.Pod != "" {
		b.WriteString("step-runner pod " + l.Pod)
	} else {
		b.WriteString(l.Info.Who)
	}
	if !l.Info.Created.IsZero() {
		fmt.Fprintf(&b, " for %s", max(now.Sub(l.Info.Created), 0).Round(time.Second))
	}
	var about []string
	if l.Info.Operation != "" {
		about = append(about, "operation "+l.Info.Operation)
	}
	if l.Pod == "" {
		about = append(about, "lock ID "+l.Info.ID)
	}
	if len(about) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(about, ", "))
	}
	return b.String()
}

// Locks reads state locks and releases stale ones.
type Locks struct {
	// Client reads and updates Leases; it must read live.
	Client client.Client
	World  World
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Clock is the time now by l's clock.
func (l *Locks) Clock() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Inspect reads the lock Lease key and judges its holder.
func (l *Locks) Inspect(ctx context.Context, key types.NamespacedName) (*Lock, error) {
	lock := &Lock{Key: key}
	lease := &coordinationv1.Lease{}
	if err := l.Client.Get(ctx, key, lease); apierrors.IsNotFound(err) {
		return lock, nil
	} else if err != nil {
		return nil, fmt.Errorf("get state lock Lease %s: %w", key, err)
	}
	lock.lease = lease
	holder := lease.Spec.HolderIdentity
	if holder == nil || *holder == "" {
		return lock, nil
	}
	lock.State = Held
	var info Info
	if err := json.Unmarshal([]byte(lease.Annotations[InfoAnnotation]), &info); err != nil {
		return lock, nil
	}
	lock.Info = &info
	if info.ID != *holder {
		// The Lease contradicts itself: nothing is proven by it.
		return lock, nil
	}
	pod, gone, err := judge(ctx, l.World, &info)
	if err != nil {
		return nil, fmt.Errorf("state lock Lease %s: %w", key, err)
	}
	lock.Pod, lock.Gone = pod, gone
	if gone != "" {
		lock.State = Stale
	}
	return lock, nil
}

// judge says which step-runner pod holds the lock of info ("" when none
// does) and, when its holder provably no longer exists, how that is known.
func judge(ctx context.Context, w World, info *Info) (pod, gone string, err error) {
	self := w.Self()
	host := info.Host()
	own := host != "" && host == self.PodName
	if self.Namespace == "" || (!own && !self.sibling(host)) {
		return "", "", nil
	}
	// A hostname is a pod's name only when this process's own is: a pod
	// on the host network has the node's, shared by every process there.
	if exists, err := w.PodExists(ctx, self.Namespace, self.PodName); err != nil || !exists {
		return "", "", err
	}
	if own {
		if info.Created.IsZero() || !info.Created.Before(self.Started) {
			return host, "", nil
		}
		return host, fmt.Sprintf("its holder, this pod's step-runner before it restarted at %s, no longer runs",
			self.Started.UTC().Format(time.RFC3339)), nil
	}
	exists, err := w.PodExists(ctx, self.Namespace, host)
	if err != nil || exists {
		return host, "", err
	}
	return host, fmt.Sprintf("its holder, pod %s/%s, no longer exists", self.Namespace, host), nil
}

// Release releases a Stale lock the way Terraform's Unlock does: it clears
// the holder and its info, with an Update that carries the resourceVersion
// Inspect read, so that any change since (the lock released and taken
// again) wins and the release fails with a Conflict.
func (l *Locks) Release(ctx context.Context, lock *Lock) error {
	if lock.State != Stale || lock.lease == nil {
		return fmt.Errorf("state lock Lease %s: its holder is not known to be gone, not releasing it", lock.Key)
	}
	lease := lock.lease.DeepCopy()
	lease.Spec.HolderIdentity = nil
	delete(lease.Annotations, InfoAnnotation)
	if err := l.Client.Update(ctx, lease); err != nil {
		return fmt.Errorf("release state lock Lease %s: %w", lock.Key, err)
	}
	return nil
}
