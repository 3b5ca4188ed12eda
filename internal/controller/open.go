package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vela-infra/vela-infra/internal/target"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// open resolves p's target, waits while terraform-controller applies it,
// and opens its workspace into p.ws; without a workspace, the outcome or
// error says why.
func (rt *Runtime) open(ctx context.Context, p *pass) (outcome, error) {
	vars, waiting, err := rt.variables(ctx, p)
	if waiting != nil || err != nil {
		if err != nil {
			return p.fail("reading the variables", err)
		}
		return *waiting, nil
	}
	res, err := rt.Resolver.Resolve(ctx, p.obj.GetNamespace(), p.obj.GetTarget(), vars)
	if err == nil {
		err = rt.Resolver.OwnState(ctx, res)
	}
	if err != nil {
		return p.fail("resolving the target", err)
	}
	p.res = res
	running, err := rt.applyJobRunning(ctx, p.obj.GetNamespace(), res)
	if err != nil {
		return outcome{}, err
	}
	if running {
		return notReady(v1alpha1.ReasonWaitingForApply, fmt.Sprintf("%s waits for terraform-controller's running apply Job %s of Configuration %s",
			p.name(), res.ApplyJob, res.Configuration.Name)), nil
	}
	rt.releaseStaleFirst(ctx, p)
	p.prog.start(ctx, rt.Client, p.obj, "running Terraform for Configuration "+res.Configuration.Name, rt.progressAfter())
	return rt.openWorkspace(ctx, p, withIdempotencyScope(res.Target))
}

// openWorkspace opens t's workspace into p.ws; a failed terraform init
// keeps its output, as a failed run does.
func (rt *Runtime) openWorkspace(ctx context.Context, p *pass, t terraform.Target) (outcome, error) {
	ws, err := rt.Workspaces.Open(ctx, t)
	if err != nil {
		var te *terraform.Error
		if errors.As(err, &te) {
			if saveErr := rt.saveOutput(ctx, p, te.Output); saveErr != nil {
				return outcome{}, saveErr
			}
		}
		return p.fail("terraform init", err)
	}
	p.ws = ws
	return outcome{}, nil
}

// applyJobRunning reports whether terraform-controller is applying the
// target right now. Its Jobs run without the state lock, so the step-runner
// waits for them instead of racing them. A Job is running while one of its
// pods is (Job.status.active counts exactly those); the pods of Jobs are in
// the cache already, for the Job-log keeper, so this costs no API request.
func (rt *Runtime) applyJobRunning(ctx context.Context, namespace string, res *target.Resolved) (bool, error) {
	ns := namespace
	if rt.Resolver.ControllerNamespace != "" {
		ns = rt.Resolver.ControllerNamespace
	}
	var pods corev1.PodList
	if err := rt.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{batchv1.JobNameLabel: res.ApplyJob}); err != nil {
		return false, fmt.Errorf("list the pods of Job %s/%s: %w", ns, res.ApplyJob, err)
	}
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			return true, nil
		}
	}
	return false, nil
}

func (rt *Runtime) progressAfter() time.Duration {
	switch {
	case rt.ProgressAfter < 0:
		return 0
	case rt.ProgressAfter == 0:
		return 2 * time.Second
	}
	return rt.ProgressAfter
}

// envIdempotencyScope is the mycloud provider's MYCLOUD_IDEMPOTENCY_SCOPE
// (internal/mycloud/provider, EnvIdempotencyScope).
const envIdempotencyScope = "MYCLOUD_IDEMPOTENCY_SCOPE"

// withIdempotencyScope gives Terraform the scope of the mycloud provider's
// idempotent creates: one per target state (its Configuration's namespace
// and name), so a run after a crash adopts what the crashed run created
// instead of creating it twice. It replaces any such entry of the Provider's
// credentials: a tenant cannot choose another target's scope.
func withIdempotencyScope(t terraform.Target) terraform.Target {
	env := make(map[string]string, len(t.Env)+1)
	for k, v := range t.Env {
		env[k] = v
	}
	env[envIdempotencyScope] = "vela-infra/" + t.Key
	t.Env = env
	return t
}
