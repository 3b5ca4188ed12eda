// Package controller holds the step-runner's reconcilers: one per step-run
// kind (InfraImport, InfraDrift, InfraApproval). Each resolves its target
// (internal/target), runs Terraform through a Workspace, and writes kstatus
// conditions and plan summaries.
//
// Every reconcile has the same shape (reconcileStep): read the object, skip
// it when nothing is due, check its spec, open the target's workspace, run
// the kind's step, keep the run's output, look at who holds a state lock
// the run found held (policy.go, lockHeld), delete the empty state a failed
// run left for a component not deployed (emptystate.go), compute the
// conditions from the run's outcome (conditions.go) with the failure policy
// (policy.go), and patch the status once.
package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vela-infra/vela-infra/internal/statelock"
	"github.com/vela-infra/vela-infra/internal/target"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// Runtime is what every step reconciler shares.
type Runtime struct {
	Client client.Client
	// Live reads from the API server: whether an object this replica's
	// cache no longer holds is gone, or only left its shard. Nil: the
	// cache is believed.
	Live       client.Reader
	Resolver   *target.Resolver
	Workspaces Opener
	Recorder   record.EventRecorder
	// Locks, when set, tells who holds a state lock a run found held, and
	// releases it when that holder no longer exists.
	Locks *statelock.Locks
	// RetryAfter is the unit of the failure policy's waits (default 15s).
	RetryAfter time.Duration
	// ProgressAfter is how long a run goes before its Progressing condition
	// is written (default 2s): a check that ends sooner writes its status
	// once, which halves the status writes of a fleet of short checks.
	// Negative writes it at once.
	ProgressAfter time.Duration
	// VariablesNamespace keeps the variables Secrets the workflow steps
	// write (variables.go); empty: each object's own namespace.
	VariablesNamespace string

	// lockChecked holds the state lock Leases looked at before a first run
	// (releaseStaleFirst).
	lockChecked sync.Map
}

// register adds a controller for one step-run kind: reconciled when its
// spec changes (status writes do not trigger it), when a workflow step
// writes its variables Secret, or when a run asks to be looked at again.
// At start, once this replica leads, the variables Secrets of objects
// deleted while no step-runner ran are deleted.
func (rt *Runtime) register(mgr ctrl.Manager, obj client.Object, maxConcurrent int, r reconcile.Reconciler) error {
	gvk, err := apiutil.GVKForObject(obj, mgr.GetScheme())
	if err != nil {
		return err
	}
	newObj := func() client.Object { return obj.DeepCopyObject().(client.Object) }
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := rt.sweepVariables(ctx, gvk.Kind, newObj); err != nil {
			log.FromContext(ctx).Error(err, "could not sweep the variables Secrets of deleted objects", "kind", gvk.Kind)
		}
		return nil
	})); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(obj, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(maxConcurrent, 1)})
	if rt.VariablesNamespace != "" {
		b = b.Watches(&corev1.Secret{}, variablesWritten(gvk.Kind))
	}
	return b.Complete(r)
}

// stepObject is a step-run object.
type stepObject interface {
	client.Object
	v1alpha1.StepRun
}

// step is one kind's part of a reconcile.
type step struct {
	// due says whether to run now (0), later (>0) or not at all (<0).
	due func() time.Duration
	// validate checks the spec before anything runs; nil when there is
	// nothing to check.
	validate func() error
	// open opens the workspace into p.ws when the kind's is not its
	// target's (rt.open): a discovery works on a Provider, no state.
	open func(ctx context.Context, p *pass) (outcome, error)
	// run does the kind's Terraform work in p.ws.
	run func(ctx context.Context, p *pass) (outcome, error)
	// gone cleans up after an object that no longer exists; nil when the
	// kind leaves nothing behind.
	gone func(ctx context.Context) error
}

// pass is one run of a step over one object: what its phases found, for
// the phases after them.
type pass struct {
	obj stepObject
	// gvk is obj's kind, from the scheme (objects read from a cache carry
	// no TypeMeta).
	gvk  schema.GroupVersionKind
	res  *target.Resolved
	ws   Workspace
	prog progress
	// noted are conditions learned on the way (Planned), written whatever
	// the outcome.
	noted []metav1.Condition
}

// name names the object in messages, such as "InfraImport team-a/adopt".
func (p *pass) name() string {
	return fmt.Sprintf("%s %s/%s", p.gvk.Kind, p.obj.GetNamespace(), p.obj.GetName())
}

func (p *pass) note(c metav1.Condition) { p.noted = append(p.noted, c) }

// reconcileStep is the shape every step reconciler shares.
func (rt *Runtime) reconcileStep(ctx context.Context, key types.NamespacedName, obj stepObject, s step) (ctrl.Result, error) {
	if err := rt.Client.Get(ctx, key, obj); apierrors.IsNotFound(err) {
		if moved, err := rt.moved(ctx, key, obj); err != nil || moved {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, rt.gone(ctx, key, obj, s)
	} else if err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if due := s.due(); due > 0 {
		return ctrl.Result{RequeueAfter: due}, nil
	} else if due < 0 {
		return ctrl.Result{}, nil
	}
	gvk, err := apiutil.GVKForObject(obj, rt.Client.Scheme())
	if err != nil {
		return ctrl.Result{}, err
	}
	p := &pass{obj: obj, gvk: gvk}
	before := obj.DeepCopyObject().(client.Object)
	start := time.Now()
	o, err := rt.runStep(ctx, p, s)
	o = rt.sayWhenAgain(rt.lockHeld(ctx, p, o))
	if err == nil && o.reported() && !o.ready && policyOf(o.reason).stall {
		rt.dropEmptyState(ctx, p)
	}
	setConditions(obj, o, p.noted)
	observeRun(gvk.Kind, obj, o, err, time.Since(start))
	// The final status is a patch against what the API server holds: the
	// Progressing status when that was written, else the object as read.
	base := before
	if written := p.prog.stop(); written != nil {
		// Without obj's resourceVersion the patch would carry the older
		// one and fail as a conflict.
		written.SetResourceVersion(obj.GetResourceVersion())
		base = written
	}
	if perr := rt.patchStatus(ctx, obj, base); perr != nil && err == nil {
		err = perr
	}
	return ctrl.Result{RequeueAfter: rt.requeueAfter(o)}, err
}

// liveReader reads from the API server when the cache may hold only this
// replica's shard: whether an object exists at all (an object of another
// shard is not in this replica's cache).
func (rt *Runtime) liveReader() client.Reader {
	if rt.Live != nil {
		return rt.Live
	}
	return rt.Client
}

// moved says whether the object key, which this replica's cache no longer
// holds, still exists: rescheduled to another shard, whose replica serves
// it now. Its variables Secret and saved plan are that replica's then, and
// this one only forgets its metrics.
func (rt *Runtime) moved(ctx context.Context, key types.NamespacedName, obj stepObject) (bool, error) {
	if rt.Live == nil {
		return false, nil
	}
	if err := rt.Live.Get(ctx, key, obj); apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	gvk, err := apiutil.GVKForObject(obj, rt.Client.Scheme())
	if err != nil {
		return false, err
	}
	forgetMetrics(gvk.Kind, key)
	log.FromContext(ctx).Info("left this replica's shard: the replica of its shard serves it", "shard", obj.GetLabels()[LabelScheduledShard])
	return true, nil
}

// gone cleans up after the object key of obj's kind, which no longer
// exists: its variables Secret, and what the kind keeps.
func (rt *Runtime) gone(ctx context.Context, key types.NamespacedName, obj stepObject, s step) error {
	gvk, err := apiutil.GVKForObject(obj, rt.Client.Scheme())
	if err != nil {
		return err
	}
	forgetMetrics(gvk.Kind, key)
	if err := rt.forgetVariables(ctx, gvk.Kind, key); err != nil {
		return err
	}
	if s.gone != nil {
		return s.gone(ctx)
	}
	return nil
}

// runStep checks the spec, opens the workspace, runs the step in it and
// keeps its output.
func (rt *Runtime) runStep(ctx context.Context, p *pass, s step) (outcome, error) {
	if s.validate != nil {
		if err := s.validate(); err != nil {
			return p.fail("validating the spec", err)
		}
	}
	open := rt.open
	if s.open != nil {
		open = s.open
	}
	if o, err := open(ctx, p); p.ws == nil {
		return o, err
	}
	defer p.ws.Close()
	o, err := s.run(ctx, p)
	if saveErr := rt.saveOutput(ctx, p, p.ws.Output()); saveErr != nil && err == nil {
		return o, saveErr
	}
	return o, err
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

func now() *metav1.Time { t := metav1.Now(); return &t }
