package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// The step-runner's metrics, on controller-runtime's registry (the
// --metrics-bind-address endpoint). Series of one object carry its
// namespace and name, so two InfraDrifts of one Configuration keep their
// own; they are deleted when the step-runner sees the object gone.
var (
	// DriftResources is the number of drifted resources at an InfraDrift's
	// last check (scheduled ones included); 0 once a remedy reverted it.
	DriftResources = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vela_infra_drift_resources",
		Help: "Resources of a Configuration that differ in the cloud from its Terraform state, at the InfraDrift's last check.",
	}, []string{"namespace", "name", "configuration"})

	// DriftedSince is when the drift that stands now was first found;
	// absent when there is none.
	DriftedSince = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vela_infra_drifted_since_timestamp_seconds",
		Help: "Unix time at which the InfraDrift first found the drift that stands now; no series without drift.",
	}, []string{"namespace", "name", "configuration"})

	// LastSuccessfulCheck is when an InfraDrift's check last succeeded.
	LastSuccessfulCheck = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vela_infra_drift_last_success_timestamp_seconds",
		Help: "Unix time of the InfraDrift's last successful drift check.",
	}, []string{"namespace", "name", "configuration"})

	// DriftRemedies counts what the remedies did.
	DriftRemedies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vela_infra_drift_remedies_total",
		Help: "Drift remedies carried out, by remedy (report, revert, approve) and result (Reported, Reverted, Held, Applied).",
	}, []string{"remedy", "result"})

	// RunDuration is how long a run of a step-run object took.
	RunDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vela_infra_run_duration_seconds",
		Help:    "Duration of the step-runner's runs, by kind and result (succeeded, waiting, stalled, error).",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"kind", "result"})

	// RunFailures counts the runs that did not succeed, by reason.
	RunFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vela_infra_run_failures_total",
		Help: "Runs that ended not ready, by kind and reason (the Ready condition's reason; Error for API errors retried with backoff).",
	}, []string{"kind", "reason"})

	// LockWaits counts the runs that found their target locked.
	LockWaits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vela_infra_lock_waits_total",
		Help: "Runs that waited because their target was locked, by kind and lock (state: the Terraform state lock; apply-job: terraform-controller's running apply Job).",
	}, []string{"kind", "lock"})

	// ApprovalPendingSince is when a plan began waiting for a person.
	ApprovalPendingSince = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vela_infra_approval_pending_since_timestamp_seconds",
		Help: "Unix time since which the object's plan waits for a person's approval (an InfraApproval, or an InfraDrift's held corrective plan); no series when none waits.",
	}, []string{"kind", "namespace", "name"})
)

// Metrics are every collector the step-runner exports.
func Metrics() []prometheus.Collector {
	return []prometheus.Collector{DriftResources, DriftedSince, LastSuccessfulCheck, DriftRemedies, RunDuration, RunFailures, LockWaits, ApprovalPendingSince}
}

// Run results of RunDuration.
const (
	resultSucceeded = "succeeded"
	resultWaiting   = "waiting"
	resultStalled   = "stalled"
	resultError     = "error"
)

// observeRun records a run of kind that ended with o or err, and whether
// obj's plan now waits for a person.
func observeRun(kind string, obj stepObject, o outcome, err error, took time.Duration) {
	result := resultSucceeded
	switch {
	case err != nil || !o.reported():
		result = resultError
		if err != nil {
			RunFailures.WithLabelValues(kind, "Error").Inc()
		}
	case o.ready:
	case policyOf(o.reason).stall:
		result = resultStalled
	default:
		result = resultWaiting
	}
	RunDuration.WithLabelValues(kind, result).Observe(took.Seconds())
	if o.reported() && !o.ready {
		RunFailures.WithLabelValues(kind, o.reason).Inc()
	}
	switch o.reason {
	case v1alpha1.ReasonLockHeld:
		LockWaits.WithLabelValues(kind, "state").Inc()
	case v1alpha1.ReasonWaitingForApply:
		LockWaits.WithLabelValues(kind, "apply-job").Inc()
	}
	if !o.reported() {
		return
	}
	if since := pendingSince(obj); since != nil {
		ApprovalPendingSince.WithLabelValues(kind, obj.GetNamespace(), obj.GetName()).Set(float64(since.Unix()))
	} else {
		ApprovalPendingSince.DeleteLabelValues(kind, obj.GetNamespace(), obj.GetName())
	}
}

// pendingSince is when obj's plan began waiting for a person, or nil.
func pendingSince(obj stepObject) *time.Time {
	switch o := obj.(type) {
	case *v1alpha1.InfraApproval:
		c := apimeta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionApproved)
		if c != nil && c.Status == "False" && (c.Reason == v1alpha1.ReasonAwaitingApproval || c.Reason == v1alpha1.ReasonPlanChanged) {
			return &c.LastTransitionTime.Time
		}
	case *v1alpha1.InfraDrift:
		if r := o.Status.Remedy; o.Status.Drifted && r != nil && r.Result == v1alpha1.RemedyHeld {
			return &r.Time.Time
		}
	}
	return nil
}

// forgetMetrics deletes the series of the object key of kind, which is
// gone.
func forgetMetrics(kind string, key types.NamespacedName) {
	ApprovalPendingSince.DeleteLabelValues(kind, key.Namespace, key.Name)
	if kind != "InfraDrift" {
		return
	}
	labels := prometheus.Labels{"namespace": key.Namespace, "name": key.Name}
	for _, v := range []*prometheus.GaugeVec{DriftResources, DriftedSince, LastSuccessfulCheck} {
		v.DeletePartialMatch(labels)
	}
}
