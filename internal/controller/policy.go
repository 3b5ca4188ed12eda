package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/vela-infra/vela-infra/internal/statelock"
	"github.com/vela-infra/vela-infra/internal/target"
	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// policy is what a run that ends not ready, for one reason, means.
type policy struct {
	// stall marks the object Stalled: it cannot proceed until something
	// outside the run changes. Otherwise it is waiting (Reconciling) for
	// something that passes by itself or for a person.
	stall bool
	// retry is when the step-runner looks again, in units of RetryAfter;
	// 0 waits for a change of the object's spec.
	retry int
}

// policies is the failure policy: every reason a run ends not ready for,
// with what it means. setConditions, the requeue of a run and done (whether
// a Stalled object is run again) all read it.
var policies = map[string]policy{
	// Bad input: only a change of the spec (or of the component it
	// renders) can fix it.
	v1alpha1.ReasonInvalidSpec:          {stall: true},
	v1alpha1.ReasonInvalidConfiguration: {stall: true},
	v1alpha1.ReasonCloudNotFound:        {stall: true},
	v1alpha1.ReasonWouldReplace:         {stall: true},
	// Another application owns what a discovery found: only a new
	// selector, or that owner letting go and a new request, helps.
	v1alpha1.ReasonManagedElsewhere: {stall: true},

	// Fixed outside this object (a component deployed, an addon enabled,
	// a Secret corrected), or by the cloud, the provider or Terraform
	// recovering: looked at again now and then.
	v1alpha1.ReasonConfigurationNotFound: {stall: true, retry: 4},
	v1alpha1.ReasonProviderNotFound:      {stall: true, retry: 4},
	v1alpha1.ReasonCredentialsInvalid:    {stall: true, retry: 4},
	v1alpha1.ReasonStateShared:           {stall: true, retry: 4},
	v1alpha1.ReasonAuthFailed:            {stall: true, retry: 4},
	v1alpha1.ReasonCloudUnreachable:      {stall: true, retry: 4},
	v1alpha1.ReasonProviderCrashed:       {stall: true, retry: 4},
	v1alpha1.ReasonTerraformFailed:       {stall: true, retry: 4},

	// Passes by itself soon.
	v1alpha1.ReasonLockHeld:        {retry: 1},
	v1alpha1.ReasonThrottled:       {retry: 1},
	v1alpha1.ReasonWaitingForApply: {retry: 1},
	// The workflow step writes the variables Secret as soon as the
	// object names it; its watch (variables.go) runs the object then, the
	// retry is for a step-runner that cannot watch it.
	v1alpha1.ReasonAwaitingVariables: {retry: 1},

	// Waits for a person: an approval in the spec.
	v1alpha1.ReasonAwaitingApproval: {},
	v1alpha1.ReasonPlanChanged:      {},
	// A person rejected the plan, or no person was recorded behind the
	// approval: only a new run (spec.request) plans again.
	v1alpha1.ReasonRejected:           {stall: true},
	v1alpha1.ReasonApprovalUnverified: {stall: true},
	// An InfraPolicy stops the plan: only a new run (after the application
	// or the policy changed) plans again.
	v1alpha1.ReasonPolicyDenied: {stall: true},
	// The policies pass the plan: the infra-approve step approves it.
	v1alpha1.ReasonPolicyApproved: {},
}

// policyOf returns reason's policy; a reason missing from the table (a
// bug) is treated as an unclassified Terraform failure.
func policyOf(reason string) policy {
	if p, ok := policies[reason]; ok {
		return p
	}
	return policies[v1alpha1.ReasonTerraformFailed]
}

// immediately is the wait of a run whose blocker is gone (outcome.retryNow).
const immediately = 10 * time.Millisecond

// requeueAfter is when to look at an object again after a run ended with o.
func (rt *Runtime) requeueAfter(o outcome) time.Duration {
	switch {
	case !o.reported() || o.ready:
		return 0
	case o.retryNow:
		return immediately
	}
	return time.Duration(policyOf(o.reason).retry) * rt.retryAfter()
}

func (rt *Runtime) retryAfter() time.Duration {
	if rt.RetryAfter > 0 {
		return rt.RetryAfter
	}
	return 15 * time.Second
}

// terraformFailures maps each reason internal/terraform classifies a failed
// command as to the step's reason and message format: %[1]s is the step and
// what it was doing, %[2]s Terraform's error, %[3]s where its full output
// is, %[4]s who holds the state lock. An interrupted command is not here:
// it is the step-runner stopping, and the next one runs the step again.
var terraformFailures = map[string]struct{ reason, format string }{
	terraform.ReasonLockHeld:        {v1alpha1.ReasonLockHeld, "%[1]s waits for the state lock, held by %[4]s; retrying"},
	terraform.ReasonThrottled:       {v1alpha1.ReasonThrottled, "%[1]s was throttled by the cloud; retrying"},
	terraform.ReasonAuth:            {v1alpha1.ReasonAuthFailed, "%[1]s failed: the cloud refused the credentials (%[2]s); fix the Provider's credentials Secret%[3]s"},
	terraform.ReasonNotFound:        {v1alpha1.ReasonCloudNotFound, "%[1]s failed: %[2]s; check the cloud id%[3]s"},
	terraform.ReasonUnreachable:     {v1alpha1.ReasonCloudUnreachable, "%[1]s failed: the cloud could not be reached (%[2]s); check the endpoint in the Provider's credentials and that the cloud is up%[3]s"},
	terraform.ReasonInvalidConfig:   {v1alpha1.ReasonInvalidConfiguration, "%[1]s failed: %[2]s; fix the component or step parameters%[3]s"},
	terraform.ReasonInvalidInput:    {v1alpha1.ReasonInvalidConfiguration, "%[1]s failed: %[2]s; fix the component or step parameters%[3]s"},
	terraform.ReasonUnknownAddress:  {v1alpha1.ReasonInvalidConfiguration, "%[1]s failed: %[2]s; fix the component or step parameters%[3]s"},
	terraform.ReasonProviderCrashed: {v1alpha1.ReasonProviderCrashed, "%[1]s failed: the provider crashed (%[2]s)%[3]s"},
	terraform.ReasonStalePlan:       {v1alpha1.ReasonPlanChanged, "%[1]s failed: %[2]s; a new plan must be shown and approved%[3]s"},
	terraform.ReasonFailed:          {v1alpha1.ReasonTerraformFailed, "%[1]s failed: %[2]s%[3]s"},
}

// runAgain ends the message of a run that failed for a reason with no fix
// to name (a Terraform failure, a provider crash) and that the step-runner
// runs again later: the object is Stalled, so its workflow step has
// failed, and a step that failed must not say "retrying"; it says when the
// step-runner runs the object again and how to run the step at once (the
// restarted step applies the object for a new request, which runs it).
// %s is the wait.
const runAgain = "; the step-runner runs it again in %s, or at once after `vela workflow restart`"

// sayWhenAgain ends o's message with runAgain when o is such a failure.
func (rt *Runtime) sayWhenAgain(o outcome) outcome {
	if !o.reported() || o.ready || (o.reason != v1alpha1.ReasonTerraformFailed && o.reason != v1alpha1.ReasonProviderCrashed) {
		return o
	}
	if p := policyOf(o.reason); p.stall && p.retry > 0 {
		o.message += fmt.Sprintf(runAgain, time.Duration(p.retry)*rt.retryAfter())
	}
	return o
}

// specError is a step-run object's spec that cannot succeed as it is.
type specError struct{ message string }

func (e *specError) Error() string { return e.message }

func invalidSpec(format string, args ...any) error {
	return &specError{message: fmt.Sprintf(format, args...)}
}

// fail maps err, met while doing what, to the run's outcome. Errors of
// neither the spec, the target nor Terraform (API errors and the like), and
// interrupted Terraform commands, are returned for controller-runtime to
// retry with backoff.
func (p *pass) fail(what string, err error) (outcome, error) {
	var se *specError
	var te *target.Error
	var tfe *terraform.Error
	switch {
	case errors.As(err, &se):
		return notReady(v1alpha1.ReasonInvalidSpec, se.message), nil
	case errors.As(err, &te):
		return notReady(te.Reason, te.Message), nil
	case !errors.As(err, &tfe), tfe.Reason == terraform.ReasonInterrupted:
		return outcome{}, err
	}
	f, ok := terraformFailures[tfe.Reason]
	if !ok {
		f = terraformFailures[terraform.ReasonFailed]
	}
	where := fmt.Sprintf("%s: %s", p.name(), what)
	if cfg := p.obj.GetTarget().ConfigurationName; cfg != "" {
		where += " of Configuration " + cfg
	}
	full := "; the full Terraform output is in ConfigMap " + p.outputName()
	o := notReady(f.reason, fmt.Sprintf(f.format, where, tfe.Summary, full, "another run"))
	if tfe.Reason == terraform.ReasonLockHeld {
		o.lockedOut = where
	}
	return o, nil
}

// lockReleased is the message of a run that released a stale state lock:
// %[1]s is the step and what it was doing, %[2]s the holder, %[3]s how it
// is known to be gone.
const lockReleased = "%[1]s found the state lock held by %[2]s and released it: %[3]s; retrying now"

// lockHeld looks at who holds the state lock a run found held (the run's
// workspace closed): a holder that provably no longer exists loses the
// lock, with an Event, and the run is retried at once; any other is named
// in the message. When the lock cannot be read or released, o is left as
// fail made it.
func (rt *Runtime) lockHeld(ctx context.Context, p *pass, o outcome) outcome {
	if o.lockedOut == "" || rt.Locks == nil || p.res == nil || p.res.StateLock.Name == "" {
		return o
	}
	lock, err := rt.Locks.Inspect(ctx, p.res.StateLock)
	if err != nil {
		log.FromContext(ctx).Error(err, "could not tell who holds the state lock", "lease", p.res.StateLock.String())
		return o
	}
	now := rt.Locks.Clock()
	if lock.State != statelock.Stale {
		o.message = fmt.Sprintf(terraformFailures[terraform.ReasonLockHeld].format, o.lockedOut, "", "", lock.Describe(now))
		return o
	}
	if !rt.releaseStale(ctx, p, lock) {
		return o
	}
	o.message = fmt.Sprintf(lockReleased, o.lockedOut, lock.Describe(now), lock.Gone)
	o.retryNow = true
	return o
}

// releaseStale releases the stale state lock of p's target, with a log line
// and an Event, and reports whether it did: a Lease that changed since it
// was read is left to whoever changed it.
func (rt *Runtime) releaseStale(ctx context.Context, p *pass, lock *statelock.Lock) bool {
	logger := log.FromContext(ctx).WithValues("lease", p.res.StateLock.String())
	if err := rt.Locks.Release(ctx, lock); apierrors.IsConflict(err) {
		logger.Info("the stale state lock changed before it was released: left alone")
		return false
	} else if err != nil {
		logger.Error(err, "could not release a stale state lock")
		return false
	}
	info := lock.Info
	cfg := p.res.Configuration.Namespace + "/" + p.res.Configuration.Name
	logger.Info("released a stale state lock", "configuration", cfg, "who", info.Who, "created", info.Created,
		"operation", info.Operation, "lockID", info.ID, "why", lock.Gone)
	rt.Recorder.Eventf(p.obj, corev1.EventTypeNormal, v1alpha1.ReasonStateLockReleased, "released the state lock of Configuration %s held by %s since %s (operation %s): %s",
		cfg, info.Who, info.Created.UTC().Format(time.RFC3339), info.Operation, lock.Gone)
	return true
}

// releaseStaleFirst, before the first run of a target since this process
// started, releases its state lock if a holder that is provably gone left
// it: after a crash, the locks of the runs that were cut short are found
// before Terraform waits --lock-timeout for them, not after. Later runs
// only look when Terraform reports the lock held (lockHeld): a lock goes
// stale only when its holder dies, and a holder that dies is this process
// or a pod of the Deployment, whose successor starts here again.
func (rt *Runtime) releaseStaleFirst(ctx context.Context, p *pass) {
	if rt.Locks == nil || p.res.StateLock.Name == "" {
		return
	}
	if _, seen := rt.lockChecked.LoadOrStore(p.res.StateLock, struct{}{}); seen {
		return
	}
	lock, err := rt.Locks.Inspect(ctx, p.res.StateLock)
	if err != nil {
		log.FromContext(ctx).Error(err, "could not tell who holds the state lock", "lease", p.res.StateLock.String())
		rt.lockChecked.Delete(p.res.StateLock)
		return
	}
	if lock.State == statelock.Stale {
		rt.releaseStale(ctx, p, lock)
	}
}
