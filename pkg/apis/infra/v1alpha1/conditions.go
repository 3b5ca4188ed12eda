package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow kstatus, so
// standard tooling reads a step-run object as Current, InProgress or Failed.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	// ConditionPlanned is true once a plan of the target is in status.plan.
	ConditionPlanned = "Planned"
	// ConditionImported is true once every listed resource is in the state.
	ConditionImported = "Imported"
	// ConditionDrifted is true when the cloud differs from the state.
	ConditionDrifted = "Drifted"
	// ConditionApproved is true once the shown plan has been approved.
	ConditionApproved = "Approved"
	// ConditionApplied is true once the approved plan has been applied.
	ConditionApplied = "Applied"
)

// Condition reasons.
const (
	ReasonSucceeded   = "Succeeded"
	ReasonProgressing = "Progressing"

	// Bad input: the spec cannot succeed until it is changed (Stalled).
	ReasonInvalidSpec           = "InvalidSpec"
	ReasonConfigurationNotFound = "ConfigurationNotFound"
	ReasonProviderNotFound      = "ProviderNotFound"
	ReasonCredentialsInvalid    = "CredentialsInvalid"
	ReasonInvalidConfiguration  = "InvalidConfiguration"
	// ReasonStateShared: another namespace's Configuration of the same
	// name has the same Terraform state (terraform-controller keys state by
	// name alone in a shared backend namespace).
	ReasonStateShared = "StateShared"

	// Terraform failures, classified from its output.
	ReasonTerraformFailed = "TerraformFailed"
	ReasonAuthFailed      = "AuthFailed"
	ReasonCloudNotFound   = "CloudResourceNotFound"
	// ReasonCloudUnreachable: the provider could not connect to the cloud
	// (the Provider's endpoint is wrong, or the cloud is down).
	ReasonCloudUnreachable = "CloudUnreachable"
	ReasonThrottled        = "Throttled"
	ReasonLockHeld         = "StateLockHeld"
	ReasonProviderCrashed  = "ProviderCrashed"

	// Waiting for the workflow step to write the variables Secret
	// (spec.target.variablesFrom).
	ReasonAwaitingVariables = "AwaitingVariables"

	// Waiting for terraform-controller, which runs without the state lock.
	ReasonWaitingForApply = "WaitingForTerraformController"

	// The Event of a stale state lock released: its holder, a step-runner
	// pod, no longer exists.
	ReasonStateLockReleased = "StateLockReleased"

	// Import.
	ReasonWouldReplace = "ImportWouldReplace"

	// Drift.
	ReasonDriftFound = "DriftFound"
	ReasonNoDrift    = "NoDrift"
	// Drift remedies (Events and the Drifted condition).
	ReasonDriftReverted     = "DriftReverted"
	ReasonRevertHeld        = "RevertHeld"
	ReasonCorrectionHeld    = "CorrectionHeld"
	ReasonCorrectionApplied = "CorrectionApplied"

	// Approval.
	ReasonNoChanges        = "NoChanges"
	ReasonAwaitingApproval = "AwaitingApproval"
	ReasonPlanChanged      = "PlanChanged"
	// ReasonRejected: the workflow was terminated while the plan awaited
	// approval (or the plan was superseded); its saved plan is deleted.
	ReasonRejected = "Rejected"
	// ReasonApprovalUnverified: an approval no person was recorded for by
	// the step-runner's admission webhook; nothing is applied.
	ReasonApprovalUnverified = "ApprovalUnverified"
	ReasonApplied            = "Applied"
	// ReasonPolicyDenied: an InfraPolicy found the plan mandatory to stop
	// (or could not be evaluated); it cannot be approved.
	ReasonPolicyDenied = "PolicyDenied"
	// ReasonPolicyApproved: InfraPolicies approve the plan without a
	// person; the infra-approve step applies it without holding.
	ReasonPolicyApproved = "PolicyApproved"

	// Discovery. ReasonDiscovered: the resources found and the
	// Application adopting them are in the status; ReasonNothingFound:
	// nothing matches the selector (Ready: not an error);
	// ReasonManagedElsewhere: another application already manages a
	// resource the selector matches, named in the message.
	ReasonDiscovered       = "Discovered"
	ReasonNothingFound     = "NothingFound"
	ReasonManagedElsewhere = "ManagedElsewhere"
)
