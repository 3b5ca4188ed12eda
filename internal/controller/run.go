// Package controller holds the step-runner's reconcilers: one per step-run
// kind (InfraImport, InfraDrift, InfraApproval). Each resolves its target
// with terraform-controller's packages, runs Terraform through
// internal/terraform, and writes kstatus conditions and plan summaries.
package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vela-infra/vela-infra/internal/terraform"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Runtime is what every step reconciler shares.
type Runtime struct {
	Client   client.Client
	Resolver *Resolver
	Runner   *terraform.Runner
	Recorder record.EventRecorder
	// RetryAfter is the wait before retrying a transient failure.
	RetryAfter time.Duration
	// ProgressAfter is how long a run goes before its Progressing condition
	// is written (default 2s): a check that ends sooner writes its status
	// once, which halves the status writes of a fleet of short checks.
	// Negative writes it at once.
	ProgressAfter time.Duration
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

func (rt *Runtime) retryAfter() time.Duration {
	if rt.RetryAfter > 0 {
		return rt.RetryAfter
	}
	return 15 * time.Second
}

// register adds a controller for one step-run kind: reconciled when its
// spec changes (status writes do not trigger it) or when a run asks to be
// looked at again.
func (rt *Runtime) register(mgr ctrl.Manager, obj client.Object, maxConcurrent int, r reconcile.Reconciler) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(obj, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(maxConcurrent, 1)}).
		Complete(r)
}

// step is one kind's part of a reconcile.
type step struct {
	// due says whether to run now (0), later (>0) or not at all (<0).
	due func() time.Duration
	// validate checks the spec before anything runs; nil when there is
	// nothing to check.
	validate func() error
	// run does the kind's Terraform work in the target's workspace.
	run func(context.Context, *Resolved, *terraform.Workspace) (ctrl.Result, error)
}

// reconcileStep is the shape every step reconciler shares: read the object,
// skip it when nothing is due, check its spec, open the target's workspace,
// run the step, keep the run's output, and write the status once.
func (rt *Runtime) reconcileStep(ctx context.Context, key types.NamespacedName, obj stepObject, s step) (ctrl.Result, error) {
	if err := rt.Client.Get(ctx, key, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if due := s.due(); due > 0 {
		return ctrl.Result{RequeueAfter: due}, nil
	} else if due < 0 {
		return ctrl.Result{}, nil
	}
	before := obj.DeepCopyObject().(client.Object)
	var prog progress
	result, err := rt.runStep(ctx, obj, s, &prog)
	// The final status is a patch against what the API server holds: the
	// Progressing status when that was written, else the object as read.
	base := before
	if written := prog.stop(); written != nil {
		// Without obj's resourceVersion the patch would carry the older
		// one and fail as a conflict.
		written.SetResourceVersion(obj.GetResourceVersion())
		base = written
	}
	if perr := rt.patchStatus(ctx, obj, base); perr != nil && err == nil {
		err = perr
	}
	return result, err
}

func (rt *Runtime) runStep(ctx context.Context, obj stepObject, s step, prog *progress) (ctrl.Result, error) {
	if s.validate != nil {
		if err := s.validate(); err != nil {
			return rt.fail(obj, "validating the spec", err)
		}
	}
	res, ws, wait, err := rt.workspace(ctx, obj, prog)
	if ws == nil {
		if wait != nil {
			return *wait, err
		}
		return ctrl.Result{}, err
	}
	defer ws.Close()
	result, err := s.run(ctx, res, ws)
	if saveErr := rt.saveOutput(ctx, obj, ws.Output()); saveErr != nil && err == nil {
		return ctrl.Result{}, saveErr
	}
	return result, err
}

// whenNotDone runs a one-shot step unless its generation is done.
func whenNotDone(obj stepObject) func() time.Duration {
	return func() time.Duration {
		if done(obj) {
			return -1
		}
		return 0
	}
}

// stepObject is a step-run object.
type stepObject interface {
	client.Object
	v1alpha1.StepRun
}

// done reports whether obj's current generation was already carried out to
// a final state (Ready true, or Stalled on bad input).
func done(obj stepObject) bool {
	rs := obj.GetRunStatus()
	if rs.ObservedGeneration != obj.GetGeneration() {
		return false
	}
	if apimeta.IsStatusConditionTrue(rs.Conditions, v1alpha1.ConditionReady) {
		return true
	}
	stalled := apimeta.FindStatusCondition(rs.Conditions, v1alpha1.ConditionStalled)
	return stalled != nil && stalled.Status == metav1.ConditionTrue && !retriedWhenStalled[stalled.Reason]
}

// retriedWhenStalled are the stalls whose cause lies outside the object
// (a missing Configuration or Provider, credentials, the cloud, Terraform):
// the step-runner looks again later instead of waiting for a spec change.
var retriedWhenStalled = map[string]bool{
	v1alpha1.ReasonConfigurationNotFound: true,
	v1alpha1.ReasonProviderNotFound:      true,
	v1alpha1.ReasonCredentialsInvalid:    true,
	v1alpha1.ReasonAuthFailed:            true,
	v1alpha1.ReasonProviderCrashed:       true,
	v1alpha1.ReasonTerraformFailed:       true,
}

func setCond(obj stepObject, typ string, status metav1.ConditionStatus, reason, msg string) {
	apimeta.SetStatusCondition(&obj.GetRunStatus().Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: obj.GetGeneration(),
	})
}

// succeed marks obj Ready.
func succeed(obj stepObject, reason, msg string) {
	setCond(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, reason, msg)
	apimeta.RemoveStatusCondition(&obj.GetRunStatus().Conditions, v1alpha1.ConditionReconciling)
	apimeta.RemoveStatusCondition(&obj.GetRunStatus().Conditions, v1alpha1.ConditionStalled)
	obj.GetRunStatus().ObservedGeneration = obj.GetGeneration()
}

// stall marks obj as unable to proceed until its input changes.
func stall(obj stepObject, reason, msg string) {
	setCond(obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	setCond(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	apimeta.RemoveStatusCondition(&obj.GetRunStatus().Conditions, v1alpha1.ConditionReconciling)
	obj.GetRunStatus().ObservedGeneration = obj.GetGeneration()
}

// wait marks obj as not ready yet, for a reason that may clear by itself.
func wait(obj stepObject, reason, msg string) {
	setCond(obj, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
	setCond(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	apimeta.RemoveStatusCondition(&obj.GetRunStatus().Conditions, v1alpha1.ConditionStalled)
	obj.GetRunStatus().ObservedGeneration = obj.GetGeneration()
}

// progress writes the Progressing condition of a run that is taking a
// while, from a timer, on a copy of the object taken when the run started
// (the run goroutine keeps changing its own).
type progress struct {
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
	// written is the object as the Progressing patch left it on the API
	// server, nil when none was written.
	written client.Object
}

// start arms the timer: after delay, obj (as it is now) gets the
// Progressing condition with msg.
func (p *progress) start(ctx context.Context, rt *Runtime, obj stepObject, msg string, delay time.Duration) {
	snapshot := obj.DeepCopyObject().(stepObject)
	write := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.stopped {
			return
		}
		base := snapshot.DeepCopyObject().(client.Object)
		setCond(snapshot, v1alpha1.ConditionReconciling, metav1.ConditionTrue, v1alpha1.ReasonProgressing, msg)
		if !apimeta.IsStatusConditionTrue(snapshot.GetRunStatus().Conditions, v1alpha1.ConditionReady) {
			setCond(snapshot, v1alpha1.ConditionReady, metav1.ConditionUnknown, v1alpha1.ReasonProgressing, msg)
		}
		apimeta.RemoveStatusCondition(&snapshot.GetRunStatus().Conditions, v1alpha1.ConditionStalled)
		if err := rt.Client.Status().Patch(ctx, snapshot, client.MergeFrom(base)); err != nil {
			// Only the progress report is lost; the final status follows.
			log.FromContext(ctx).Info("could not write the Progressing condition", "error", err.Error())
			return
		}
		p.written = snapshot
	}
	if delay <= 0 {
		write()
		return
	}
	p.timer = time.AfterFunc(delay, write)
}

// stop disarms the timer, waits for a write in flight, and returns the
// object as written, or nil.
func (p *progress) stop() client.Object {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
	}
	return p.written
}

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

// applyJobRunning reports whether terraform-controller is applying the
// target right now. Its Jobs run without the state lock, so the step-runner
// waits for them instead of racing them. A Job is running while one of its
// pods is (Job.status.active counts exactly those); the pods of Jobs are in
// the cache already, for the JobLogReconciler, so this costs no API request.
func (rt *Runtime) applyJobRunning(ctx context.Context, namespace string, res *Resolved) (bool, error) {
	ns := namespace
	if rt.Resolver.ControllerNamespace != "" {
		ns = rt.Resolver.ControllerNamespace
	}
	var pods corev1.PodList
	if err := rt.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{JobNameLabel: res.ApplyJob}); err != nil {
		return false, fmt.Errorf("list the pods of Job %s/%s: %w", ns, res.ApplyJob, err)
	}
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			return true, nil
		}
	}
	return false, nil
}

// saveOutput keeps a run's output (redacted and capped by internal/terraform) in
// a ConfigMap owned by obj, so kubectl can read it after the run is gone.
// One request per run.
func (rt *Runtime) saveOutput(ctx context.Context, obj stepObject, output string) error {
	if output == "" {
		return nil
	}
	gvk, err := apiutil.GVKForObject(obj, rt.Client.Scheme())
	if err != nil {
		return fmt.Errorf("save output: %w", err)
	}
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       obj.GetNamespace(),
			Name:            outputName(obj),
			Labels:          map[string]string{"app.kubernetes.io/managed-by": "vela-infra-step-runner"},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(obj, gvk)},
		},
		Data: map[string]string{"output.txt": output},
	}
	// A new object's first run creates the ConfigMap (cheaper than an
	// apply); later runs, or a create that finds one, apply.
	created := false
	if obj.GetRunStatus().OutputRef == nil {
		err := rt.Client.Create(ctx, cm.DeepCopy(), client.FieldOwner(fieldOwner))
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("save output: %w", err)
		}
		created = err == nil
	}
	if !created {
		if err := rt.Client.Patch(ctx, cm, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("save output: %w", err)
		}
	}
	obj.GetRunStatus().OutputRef = &v1alpha1.OutputRef{ConfigMap: cm.Name, Key: "output.txt"}
	return nil
}

// fieldOwner is the step-runner's field manager name.
const fieldOwner = "vela-infra-step-runner"

// fail records err on obj and says when to try again.
func (rt *Runtime) fail(obj stepObject, what string, err error) (ctrl.Result, error) {
	var se *stalledError
	if errors.As(err, &se) {
		stall(obj, se.reason, se.message)
		switch se.reason {
		case v1alpha1.ReasonConfigurationNotFound, v1alpha1.ReasonProviderNotFound, v1alpha1.ReasonCredentialsInvalid:
			// Fixed outside this object (a component deployed, an addon
			// enabled, a Secret corrected): look again later.
			return ctrl.Result{RequeueAfter: 4 * rt.retryAfter()}, nil
		}
		return ctrl.Result{}, nil
	}
	var te *terraform.Error
	if !errors.As(err, &te) {
		return ctrl.Result{}, err // API errors and the like: controller-runtime backs off
	}
	cfg := obj.GetTarget().ConfigurationName
	where := fmt.Sprintf("%s %s/%s: %s of Configuration %s", kindOf(obj), obj.GetNamespace(), obj.GetName(), what, cfg)
	full := fmt.Sprintf("; the full Terraform output is in ConfigMap %s", outputName(obj))
	switch te.Reason {
	case terraform.ReasonLockHeld:
		wait(obj, v1alpha1.ReasonLockHeld, where+" waits for the state lock, held by another run; retrying")
		return ctrl.Result{RequeueAfter: rt.retryAfter()}, nil
	case terraform.ReasonThrottled:
		wait(obj, v1alpha1.ReasonThrottled, where+" was throttled by the cloud; retrying")
		return ctrl.Result{RequeueAfter: rt.retryAfter()}, nil
	case terraform.ReasonInterrupted:
		return ctrl.Result{}, err
	case terraform.ReasonAuth:
		stall(obj, v1alpha1.ReasonAuthFailed, where+" failed: the cloud refused the credentials ("+te.Summary+"); fix the Provider's credentials Secret"+full)
		return ctrl.Result{RequeueAfter: 4 * rt.retryAfter()}, nil
	case terraform.ReasonNotFound:
		stall(obj, v1alpha1.ReasonCloudNotFound, where+" failed: "+te.Summary+"; check the cloud id"+full)
		return ctrl.Result{}, nil
	case terraform.ReasonInvalidConfig, terraform.ReasonInvalidInput, terraform.ReasonUnknownAddress:
		stall(obj, v1alpha1.ReasonInvalidConfiguration, where+" failed: "+te.Summary+"; fix the component or step parameters"+full)
		return ctrl.Result{}, nil
	case terraform.ReasonProviderCrashed:
		stall(obj, v1alpha1.ReasonProviderCrashed, where+" failed: the provider crashed ("+te.Summary+"); retrying"+full)
		return ctrl.Result{RequeueAfter: 4 * rt.retryAfter()}, nil
	default:
		stall(obj, v1alpha1.ReasonTerraformFailed, where+" failed: "+te.Summary+"; retrying"+full)
		return ctrl.Result{RequeueAfter: 4 * rt.retryAfter()}, nil
	}
}

func outputName(obj stepObject) string {
	return fmt.Sprintf("%s-%s-output", strings.ToLower(kindOf(obj)), obj.GetName())
}

// workspace resolves obj's target and opens its workspace; a nil workspace
// with a nil error means the caller should wait (result says how long).
func (rt *Runtime) workspace(ctx context.Context, obj stepObject, prog *progress) (*Resolved, *terraform.Workspace, *ctrl.Result, error) {
	res, err := rt.Resolver.Resolve(ctx, obj.GetNamespace(), obj.GetTarget())
	if err != nil {
		r, err := rt.fail(obj, "resolving the target", err)
		return nil, nil, &r, err
	}
	running, err := rt.applyJobRunning(ctx, obj.GetNamespace(), res)
	if err != nil {
		return nil, nil, nil, err
	}
	if running {
		wait(obj, v1alpha1.ReasonWaitingForApply, fmt.Sprintf("%s %s/%s waits for terraform-controller's running apply Job %s of Configuration %s",
			kindOf(obj), obj.GetNamespace(), obj.GetName(), res.ApplyJob, res.Configuration.Name))
		return nil, nil, &ctrl.Result{RequeueAfter: rt.retryAfter()}, nil
	}
	prog.start(ctx, rt, obj, "running Terraform for Configuration "+res.Configuration.Name, rt.progressAfter())
	ws, err := rt.Runner.Open(ctx, res.Target)
	if err != nil {
		var te *terraform.Error
		if errors.As(err, &te) {
			if saveErr := rt.saveOutput(ctx, obj, te.Output); saveErr != nil {
				return nil, nil, nil, saveErr
			}
		}
		r, err := rt.fail(obj, "terraform init", err)
		return nil, nil, &r, err
	}
	return res, ws, nil, nil
}

func now() *metav1.Time { t := metav1.Now(); return &t }

// kindOf names obj's kind (typed objects read from a cache carry no TypeMeta).
func kindOf(obj stepObject) string {
	switch obj.(type) {
	case *v1alpha1.InfraImport:
		return "InfraImport"
	case *v1alpha1.InfraDrift:
		return "InfraDrift"
	case *v1alpha1.InfraApproval:
		return "InfraApproval"
	}
	return fmt.Sprintf("%T", obj)
}
