package controller

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// dropEmptyState deletes the state Secret and lock Lease that a failed run
// left behind for a target whose Configuration does not exist (an
// infra-import or infra-plan of a component not deployed yet).
//
// Terraform's kubernetes backend creates both as soon as it is initialised,
// with an empty state, and never deletes them; a workflow that then fails
// would leave one pair per attempted component. They are deleted only while
// they are provably unused: the Configuration does not exist (a Configuration
// that does is terraform-controller's to keep), the state holds no
// resources, the lock is free, and neither object changed since it was read
// (resourceVersion preconditions, so a run that locks or writes the state
// meanwhile wins and the objects stay).
func (rt *Runtime) dropEmptyState(ctx context.Context, p *pass) {
	if p.res == nil || p.res.Exists || p.res.StateLock.Name == "" || rt.Locks == nil {
		return
	}
	lockKey := p.res.StateLock
	stateKey := types.NamespacedName{Namespace: lockKey.Namespace, Name: strings.TrimPrefix(lockKey.Name, "lock-")}
	if err := rt.dropIfEmpty(ctx, stateKey, lockKey); err != nil {
		log.FromContext(ctx).Error(err, "could not delete the empty Terraform state a failed run left", "secret", stateKey, "lease", lockKey)
	}
}

func (rt *Runtime) dropIfEmpty(ctx context.Context, stateKey, lockKey types.NamespacedName) error {
	var lease coordinationv1.Lease
	switch err := rt.Locks.Client.Get(ctx, lockKey, &lease); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	case lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "":
		return nil // someone holds the state: not ours to judge
	}
	var secret corev1.Secret
	switch err := rt.Client.Get(ctx, stateKey, &secret); {
	case apierrors.IsNotFound(err):
		secret = corev1.Secret{}
	case err != nil:
		return err
	default:
		empty, err := stateIsEmpty(secret.Data["tfstate"])
		if err != nil || !empty {
			return err
		}
	}
	if secret.Name != "" {
		if err := deleteAt(ctx, rt.Client, &secret); err != nil {
			return err
		}
	}
	if lease.Name != "" {
		return deleteAt(ctx, rt.Locks.Client, &lease)
	}
	return nil
}

// deleteAt deletes obj if it is still at the resourceVersion it was read at;
// an object changed or deleted meanwhile is left to whoever changed it.
func deleteAt(ctx context.Context, c client.Client, obj client.Object) error {
	rv := obj.GetResourceVersion()
	err := c.Delete(ctx, obj, client.Preconditions{ResourceVersion: &rv})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// stateIsEmpty reports whether data, a state as Terraform's kubernetes
// backend keeps it (gzip-compressed JSON), holds no resource. A state that
// cannot be read is never called empty.
func stateIsEmpty(data []byte) (bool, error) {
	if len(data) == 0 {
		return true, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return false, fmt.Errorf("read state: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return false, fmt.Errorf("read state: %w", err)
	}
	var st struct {
		Resources []json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return false, fmt.Errorf("decode state: %w", err)
	}
	return len(st.Resources) == 0, nil
}
