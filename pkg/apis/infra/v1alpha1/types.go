package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Target names the terraform-controller Configuration a step works on. The
// step-runner uses that Configuration's backend state, provider credentials
// and variables exactly as terraform-controller resolves them.
type Target struct {
	// ConfigurationName is the Configuration, in this object's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ConfigurationName string `json:"configurationName"`

	// Spec is a Configuration spec to use instead of the stored one: the
	// rendered component, before it is applied (or before the Configuration
	// exists). Its state is still the one of ConfigurationName.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Spec *runtime.RawExtension `json:"spec,omitempty"`

	// VariablesFrom "Secret" keeps the variables out of this object: the
	// step-runner names a Secret where it keeps Secrets (vela-system by
	// default) in status.variablesSecret, and uses the variables the
	// workflow step writes there (key "variables", a JSON object) for this
	// spec.request. The workflow steps always pass them so: a password is
	// never in a step-run object, which more people may read than the
	// Secrets of vela-system. spec.variable must then be empty.
	// +kubebuilder:validation:Enum=Secret
	// +optional
	VariablesFrom string `json:"variablesFrom,omitempty"`
}

// VariablesFromSecret is the one value of Target.VariablesFrom.
const VariablesFromSecret = "Secret"

// PlanSummary is a plan as a person and a workflow step read it.
type PlanSummary struct {
	// ID identifies exactly this change: a hash of the planned resource
	// changes. An approval names the ID it approves.
	ID string `json:"id"`

	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
	Replace int `json:"replace"`
	Import  int `json:"import"`

	// Resources lists each changed resource with its attribute diffs;
	// sensitive values read "(sensitive)".
	// +optional
	Resources []ResourceChange `json:"resources,omitempty"`

	// Diff is a short human diff, for the workflow step's message.
	// +optional
	Diff string `json:"diff,omitempty"`
}

// ResourceChange is the change of one resource.
type ResourceChange struct {
	Address string `json:"address"`
	// Action is create, update, delete, replace, import or drift.
	Action string `json:"action"`
	// +optional
	Attributes []AttributeChange `json:"attributes,omitempty"`
}

// AttributeChange is one attribute's before and after.
type AttributeChange struct {
	Path   string `json:"path"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// OutputRef points to where the full output of the last Terraform run is
// kept (redacted, size-capped): a ConfigMap key that kubectl can read after
// the run's process is gone.
type OutputRef struct {
	ConfigMap string `json:"configMap"`
	Key       string `json:"key"`
}

// RunStatus is the status every step-run kind shares.
type RunStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Plan is the plan of the target after the step's work.
	// +optional
	Plan *PlanSummary `json:"plan,omitempty"`
	// +optional
	OutputRef *OutputRef `json:"outputRef,omitempty"`
	// +optional
	LastRunTime *metav1.Time `json:"lastRunTime,omitempty"`
	// VariablesSecret is the Secret (namespace/name) the step-runner reads
	// the variables from, when spec.target.variablesFrom is Secret.
	// +optional
	VariablesSecret string `json:"variablesSecret,omitempty"`
}

// ImportResource maps a Terraform address of the module to a cloud id.
type ImportResource struct {
	// Address is a resource address in the Configuration's HCL, such as
	// mycloud_vpc.this.
	// +kubebuilder:validation:MinLength=1
	Address string `json:"address"`
	// ID is the id of the existing cloud resource.
	// +kubebuilder:validation:MinLength=1
	ID string `json:"id"`
}

// InfraImportSpec adopts existing cloud resources into a Configuration's state.
type InfraImportSpec struct {
	Target Target `json:"target"`
	// +kubebuilder:validation:MinItems=1
	Resources []ImportResource `json:"resources"`
	// Request is any token; a new value asks for a new run of an unchanged
	// spec (the workflow step sets its step session id).
	// +optional
	Request string `json:"request,omitempty"`
}

// InfraImportStatus is the result of an import.
type InfraImportStatus struct {
	RunStatus `json:",inline"`
	// Imported lists the addresses this run added to the state.
	// +optional
	Imported []string `json:"imported,omitempty"`
	// Skipped lists the addresses already in the state with the same id.
	// +optional
	Skipped []string `json:"skipped,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=iimport,categories=infra
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Configuration",type=string,JSONPath=`.spec.target.configurationName`
// +kubebuilder:printcolumn:name="Change",type=integer,JSONPath=`.status.plan.change`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// InfraImport adopts existing cloud resources into Terraform state without
// recreating them; it fails, restoring the state, if the plan afterwards
// would destroy or replace any of them.
type InfraImport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              InfraImportSpec   `json:"spec"`
	Status            InfraImportStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// InfraImportList is a list of InfraImport.
type InfraImportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []InfraImport `json:"items"`
}

// Drift actions: what the workflow step does when drift is found.
const (
	OnDriftReport  = "report"
	OnDriftFail    = "fail"
	OnDriftSuspend = "suspend"
)

// InfraDriftSpec checks a Configuration for drift.
type InfraDriftSpec struct {
	Target Target `json:"target"`
	// OnDrift tells the workflow step what to do when drift is found.
	// +kubebuilder:validation:Enum=report;fail;suspend
	// +kubebuilder:default=report
	// +optional
	OnDrift string `json:"onDrift,omitempty"`
	// Interval, when set, re-checks on its own (scheduled mode), emitting an
	// Event and updating the drift gauge when drift appears or clears.
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Request is any token; a new value asks for a new run of an unchanged
	// spec (the workflow step sets its step session id).
	// +optional
	Request string `json:"request,omitempty"`
	// Remedy is what the step-runner does about drift it finds: report it
	// (an Event and the metrics), revert it (apply the corrective plan at
	// once, only when it is exactly the reversal of the drift: in-place
	// updates, no create, destroy or replace, which are held for a person
	// instead) or hold the corrective plan for approval (spec.approval).
	// +kubebuilder:validation:Enum=report;revert;approve
	// +kubebuilder:default=report
	// +optional
	Remedy string `json:"remedy,omitempty"`
	// Approval approves the corrective plan held for a person
	// (status.remedy.planID); a plan that changed since is not applied.
	// +optional
	Approval *Approval `json:"approval,omitempty"`
}

// Drift remedies: what the step-runner does about drift it finds.
const (
	RemedyReport  = "report"
	RemedyRevert  = "revert"
	RemedyApprove = "approve"
)

// Remedy results (status.remedy.result).
const (
	// RemedyReported: drift was reported (Event, metrics), nothing applied.
	RemedyReported = "Reported"
	// RemedyReverted: the corrective plan, exactly the reversal of the
	// drift, was applied.
	RemedyReverted = "Reverted"
	// RemedyHeld: the corrective plan waits for a person (spec.approval);
	// status.remedy.reason says why when revert could not apply it.
	RemedyHeld = "Held"
	// RemedyApplied: an approved corrective plan was applied.
	RemedyApplied = "Applied"
)

// RemedyStatus records what the last remedy did.
type RemedyStatus struct {
	// Remedy is spec.remedy when it ran.
	Remedy string `json:"remedy"`
	// Result is Reported, Reverted, Held or Applied.
	Result string `json:"result"`
	// PlanID is the corrective plan's id: the one applied, or the one
	// held (approve it with spec.approval.planID).
	// +optional
	PlanID string `json:"planID,omitempty"`
	// Reason says why a revert was held for a person (a create, destroy
	// or replace, or a change that is not the drift's reversal).
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is the remedy's one-sentence record, as in its Event.
	Message string `json:"message"`
	// Time is when the remedy ran.
	Time metav1.Time `json:"time"`
	// ApprovedBy is who approved an applied plan (spec.approval.by).
	// +optional
	ApprovedBy string `json:"approvedBy,omitempty"`
	// Approval is the approval that was applied; the same approval is not
	// applied twice.
	// +optional
	Approval *Approval `json:"approval,omitempty"`
}

// InfraDriftStatus is the result of a drift check.
type InfraDriftStatus struct {
	RunStatus `json:",inline"`
	// Drifted is true when the cloud differs from the state. Defaulted, so
	// that a clean check reads false (a status patch leaves out a false it
	// started from).
	// +kubebuilder:default=false
	// +optional
	Drifted bool `json:"drifted"`
	// Drift lists what changed in the cloud since the last apply (a
	// refresh-only plan); when there is drift, status.plan is what an apply
	// would change back.
	// +optional
	Drift *PlanSummary `json:"drift,omitempty"`
	// DriftedSince is when the check first found the drift that stands
	// now; empty when there is none.
	// +optional
	DriftedSince *metav1.Time `json:"driftedSince,omitempty"`
	// Remedy records what the last remedy did about the drift.
	// +optional
	Remedy *RemedyStatus `json:"remedy,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=idrift,categories=infra
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Drifted",type=boolean,JSONPath=`.status.drifted`
// +kubebuilder:printcolumn:name="Resources",type=integer,JSONPath=`.status.drift.change`
// +kubebuilder:printcolumn:name="Remedy",type=string,JSONPath=`.status.remedy.result`
// +kubebuilder:printcolumn:name="Configuration",type=string,JSONPath=`.spec.target.configurationName`
// +kubebuilder:printcolumn:name="Last check",type=date,JSONPath=`.status.lastRunTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// InfraDrift shows what the cloud has that the Configuration does not
// declare, as a readable diff.
type InfraDrift struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              InfraDriftSpec   `json:"spec"`
	Status            InfraDriftStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// InfraDriftList is a list of InfraDrift.
type InfraDriftList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []InfraDrift `json:"items"`
}

// Approval approves one shown plan.
type Approval struct {
	// PlanID is the status.plan.id that was shown and is approved.
	// +kubebuilder:validation:MinLength=1
	PlanID string `json:"planID"`
	// By names who approved, such as the workflow step session.
	// +optional
	By string `json:"by,omitempty"`
	// Request is the spec.request the approval was given for; an approval
	// for another request is ignored.
	// +optional
	Request string `json:"request,omitempty"`
}

// InfraApprovalSpec plans a change and applies exactly that plan once it is
// approved.
type InfraApprovalSpec struct {
	Target Target `json:"target"`
	// Approval is set (by the workflow step, on `vela workflow resume`) to
	// approve the plan with that id. A plan that changed since is not applied.
	// +optional
	Approval *Approval `json:"approval,omitempty"`
	// Request is any token; a new value asks for a new plan, and voids an
	// approval given for another request (the infra-plan step sets its step
	// session id).
	// +optional
	Request string `json:"request,omitempty"`
}

// InfraApprovalStatus is the state of an approval.
type InfraApprovalStatus struct {
	RunStatus `json:",inline"`
	// PlanSecret holds the saved plan file (it can hold sensitive values).
	// +optional
	PlanSecret string `json:"planSecret,omitempty"`
	// TargetHash identifies the target the plan was made for; a changed
	// target voids the plan and its approval.
	// +optional
	TargetHash string `json:"targetHash,omitempty"`
	// ApprovedPlanID, ApprovedBy and ApprovedAt record the approval applied.
	// +optional
	ApprovedPlanID string `json:"approvedPlanID,omitempty"`
	// ApprovedBy is the person who approved, as the API server
	// authenticated them (the step-runner's admission webhook recorded the
	// request's userInfo), never a name a client wrote.
	// +optional
	ApprovedBy *Approver `json:"approvedBy,omitempty"`
	// +optional
	ApprovedAt *metav1.Time `json:"approvedAt,omitempty"`
	// ShownPlanIDs are the plan ids shown for spec.request, the latest
	// last (at most 10): an approval of any other id approves a plan that
	// was never shown.
	// +optional
	ShownPlanIDs []string `json:"shownPlanIDs,omitempty"`
	// Rejected records the rejection of the plan of spec.request
	// (`vela workflow terminate`): its saved plan is deleted and no
	// approval of that request is applied.
	// +optional
	Rejected *Rejection `json:"rejected,omitempty"`
	// Consumers are the other Configurations, in any namespace, that use a
	// resource the shown plan changes (its id is in their variables or
	// HCL): shared infrastructure and who depends on it, for the review.
	// +optional
	Consumers []Consumer `json:"consumers,omitempty"`
	// Policies are the results of the InfraPolicies that select this
	// namespace, for the plan shown.
	// +optional
	Policies []PolicyResult `json:"policies,omitempty"`
}

// Approver is a person as the API server authenticated them.
type Approver struct {
	Username string `json:"username"`
	// +optional
	Groups []string `json:"groups,omitempty"`
	// Via says how the decision was made: `vela workflow resume` of an
	// application, `vela workflow terminate`, or an approval written
	// directly on the InfraApproval.
	// +optional
	Via string `json:"via,omitempty"`
}

// Rejection is a plan rejected for one request.
type Rejection struct {
	// Request is the spec.request whose plan was rejected.
	Request string `json:"request"`
	// PlanID is the plan that was shown when it was rejected.
	// +optional
	PlanID string      `json:"planID,omitempty"`
	By     Approver    `json:"by"`
	At     metav1.Time `json:"at"`
}

// Consumer is a Configuration that uses a resource a plan changes.
type Consumer struct {
	Namespace     string `json:"namespace"`
	Configuration string `json:"configuration"`
	// Application and Component are the KubeVela application and component
	// that render the Configuration, when it has their labels.
	// +optional
	Application string `json:"application,omitempty"`
	// +optional
	Component string `json:"component,omitempty"`
	// Breaks is true when a resource it uses is replaced or destroyed: the
	// id it refers to goes away, which fails or replaces on its side.
	Breaks bool `json:"breaks"`
	// Impacts say, one sentence each, what the plan changes for it.
	Impacts []string `json:"impacts"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=iapproval,categories=infra
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Add",type=integer,JSONPath=`.status.plan.add`
// +kubebuilder:printcolumn:name="Change",type=integer,JSONPath=`.status.plan.change`
// +kubebuilder:printcolumn:name="Destroy",type=integer,JSONPath=`.status.plan.destroy`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// InfraApproval shows the planned change of a Configuration and applies
// exactly that plan once approved.
type InfraApproval struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              InfraApprovalSpec   `json:"spec"`
	Status            InfraApprovalStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// InfraApprovalList is a list of InfraApproval.
type InfraApprovalList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []InfraApproval `json:"items"`
}

func init() {
	SchemeBuilder.Register(&InfraImport{}, &InfraImportList{}, &InfraDrift{}, &InfraDriftList{}, &InfraApproval{}, &InfraApprovalList{})
}
