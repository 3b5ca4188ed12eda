package controller

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// patchStatus writes obj's status as changed since before. A failed write
// is retried a few times: the run it reports is done, and a reconcile that
// does not see it would run the step again.
func (rt *Runtime) patchStatus(ctx context.Context, obj, before client.Object) error {
	patch := client.MergeFrom(before)
	err := retry.OnError(retry.DefaultBackoff, func(err error) bool {
		return !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) && ctx.Err() == nil
	}, func() error {
		return rt.Client.Status().Patch(ctx, obj, patch)
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
