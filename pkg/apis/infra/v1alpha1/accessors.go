package v1alpha1

// StepRun is what every step-run kind offers the step-runner's shared
// reconcile code.
// +kubebuilder:object:generate=false
type StepRun interface {
	GetRunStatus() *RunStatus
	GetTarget() Target
	// GetRequest returns spec.request: the workflow step session a run
	// is for.
	GetRequest() string
}

// GetRunStatus returns the shared status.
func (o *InfraImport) GetRunStatus() *RunStatus { return &o.Status.RunStatus }

// GetTarget returns the target.
func (o *InfraImport) GetTarget() Target { return o.Spec.Target }

// GetRunStatus returns the shared status.
func (o *InfraDrift) GetRunStatus() *RunStatus { return &o.Status.RunStatus }

// GetTarget returns the target.
func (o *InfraDrift) GetTarget() Target { return o.Spec.Target }

// GetRunStatus returns the shared status.
func (o *InfraApproval) GetRunStatus() *RunStatus { return &o.Status.RunStatus }

// GetTarget returns the target.
func (o *InfraApproval) GetTarget() Target { return o.Spec.Target }

// GetRequest returns spec.request.
func (o *InfraImport) GetRequest() string { return o.Spec.Request }

// GetRequest returns spec.request.
func (o *InfraDrift) GetRequest() string { return o.Spec.Request }

// GetRequest returns spec.request.
func (o *InfraApproval) GetRequest() string { return o.Spec.Request }
