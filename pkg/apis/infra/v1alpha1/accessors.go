package v1alpha1

// StepRun is what every step-run kind offers the step-runner's shared
// reconcile code.
// +kubebuilder:object:generate=false
type StepRun interface {
	GetRunStatus() *RunStatus
	GetTarget() Target
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
