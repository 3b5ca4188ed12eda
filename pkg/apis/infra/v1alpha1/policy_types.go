package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InfraPolicySpec is a rule over the plans infra-plan shows.
type InfraPolicySpec struct {
	// Description says what the policy is for, for the people it stops.
	// +optional
	Description string `json:"description,omitempty"`
	// Namespaces the policy applies to (the InfraApprovals' namespaces);
	// empty: every namespace.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// Rule is CUE. It reads `input.plan` (id, add, change, destroy,
	// replace, import, resources: [{address, type, name, action,
	// attributes: [{path, before, after}]}]) and `input.target`
	// (namespace, configuration, application, component, adopted:
	// [addresses], shared, consumers: [{namespace, configuration,
	// application, component, breaks, impacts}]), and sets `result` to
	// pass (the default), advisory (shown to whoever approves), mandatory
	// (the change cannot be approved) or approve (the change passes without
	// a person, unless another policy finds more), and `message`. Checked
	// when the policy is written: a rule that does not compile is refused
	// with CUE's error.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	Rule string `json:"rule"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=ipolicy,categories=infra
// +kubebuilder:printcolumn:name="Namespaces",type=string,JSONPath=`.spec.namespaces`
// +kubebuilder:printcolumn:name="Description",type=string,JSONPath=`.spec.description`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// InfraPolicy is a platform team's rule over planned changes, in CUE,
// evaluated by infra-plan for every plan of the namespaces it selects.
type InfraPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              InfraPolicySpec `json:"spec"`
}

// +kubebuilder:object:root=true

// InfraPolicyList is a list of InfraPolicy.
type InfraPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []InfraPolicy `json:"items"`
}

// PolicyResult is one policy's verdict on the plan shown.
type PolicyResult struct {
	// Policy is the InfraPolicy's name.
	Policy string `json:"policy"`
	// Result is pass, advisory, mandatory or approve; error when the rule
	// could not be evaluated (which counts as mandatory).
	Result string `json:"result"`
	// +optional
	Message string `json:"message,omitempty"`
	// PlanID is the plan the result is for.
	PlanID string `json:"planID"`
}

// PolicyError is the result of a rule that could not be evaluated; it
// stops the change as mandatory does.
const PolicyError = "error"

func init() {
	SchemeBuilder.Register(&InfraPolicy{}, &InfraPolicyList{})
}
