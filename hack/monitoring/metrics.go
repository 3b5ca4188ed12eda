package main

// The series internal/controller/metrics.go exports, by name. The
// step-runner's module test (internal/controller/monitoring_assets_test.go)
// checks every name the generated files use against the registered
// collectors, so a renamed metric fails there, not on a dashboard.
const (
	// {namespace, name, configuration}: drifted resources at the last check.
	metricDriftResources = "vela_infra_drift_resources"
	// {namespace, name, configuration}: when the standing drift was found.
	metricDriftedSince = "vela_infra_drifted_since_timestamp_seconds"
	// {namespace, name, configuration}: the last successful drift check.
	metricLastSuccess = "vela_infra_drift_last_success_timestamp_seconds"
	// {remedy, result}: remedies carried out.
	metricRemedies = "vela_infra_drift_remedies_total"
	// Histogram {kind, result}: run durations.
	metricRunDuration = "vela_infra_run_duration_seconds"
	// {kind, reason}: runs that ended not ready.
	metricRunFailures = "vela_infra_run_failures_total"
	// {kind, lock}: runs that found their target locked.
	metricLockWaits = "vela_infra_lock_waits_total"
	// {kind, namespace, name}: since when a plan waits for a person.
	metricApprovalPending = "vela_infra_approval_pending_since_timestamp_seconds"
)
