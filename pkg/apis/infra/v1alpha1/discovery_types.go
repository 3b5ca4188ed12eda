package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DiscoverySelector picks a project's existing resources in the cloud.
// Every field given must match; tags or namePrefix must be given, so a
// discovery never lists the whole cloud by accident.
type DiscoverySelector struct {
	// Tags a resource must carry, all of them, such as {project: shop}.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Tags map[string]string `json:"tags,omitempty"`
	// NamePrefix a resource's name must start with, such as "shop-".
	// +optional
	// +kubebuilder:validation:MaxLength=63
	NamePrefix string `json:"namePrefix,omitempty"`
	// Types to look for; empty: every type (vpc, subnet, mysql, redis,
	// bucket).
	// +optional
	// +kubebuilder:validation:MaxItems=5
	Types []string `json:"types,omitempty"`
}

// ProviderRef names a terraform-controller Provider.
type ProviderRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace of the Provider: this object's or a shared one (the
	// step-runner's --provider-namespaces, "default" by default).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
}

// InfraDiscoverySpec finds a project's existing resources and writes the
// Application that adopts them.
type InfraDiscoverySpec struct {
	Selector DiscoverySelector `json:"selector"`
	// ProviderRef is the Provider whose credentials list the cloud;
	// default/mycloud (the terraform-mycloud addon's) when not set.
	// +optional
	ProviderRef *ProviderRef `json:"providerRef,omitempty"`
	// Application names the Application to write, which adopts what was
	// found; this object's name when not set. A resource that Application
	// already manages counts as managed, not as another owner's.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Application string `json:"application,omitempty"`
	// Request is any token; a new value asks for a new run of an unchanged
	// spec (to see what changed in the cloud).
	// +optional
	Request string `json:"request,omitempty"`
}

// DiscoveredResource is one resource found, as the generated Application
// adopts it.
type DiscoveredResource struct {
	// Type is vpc, subnet, mysql, redis or bucket.
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
	// Component is its component in the generated Application.
	Component string `json:"component"`
	// DependsOn is the component whose id output this one takes (a
	// subnet's VPC, a database's subnet), when that was found too.
	// +optional
	DependsOn string `json:"dependsOn,omitempty"`
	// ManagedBy names the Configuration that already holds the resource
	// (namespace/application component, or namespace/configuration).
	// +optional
	ManagedBy string `json:"managedBy,omitempty"`
}

// InfraDiscoveryStatus is what a discovery found.
type InfraDiscoveryStatus struct {
	RunStatus `json:",inline"`
	// Found counts the resources found; Managed those the Application
	// already manages (written when 0, so the printer columns say 0).
	// +optional
	Found int `json:"found"`
	// +optional
	Managed int `json:"managed"`
	// Resources found, parents first.
	// +optional
	Resources []DiscoveredResource `json:"resources,omitempty"`
	// ApplicationRef is the ConfigMap key holding the generated
	// Application (YAML), to review and `vela up`.
	// +optional
	ApplicationRef *OutputRef `json:"applicationRef,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=idisc,categories=infra
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Found",type=integer,JSONPath=`.status.found`
// +kubebuilder:printcolumn:name="Managed",type=integer,JSONPath=`.status.managed`
// +kubebuilder:printcolumn:name="Application",type=string,JSONPath=`.status.applicationRef.configMap`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// InfraDiscovery finds a project's existing cloud resources by selector,
// through the cloud's Terraform provider, and writes the Application that
// adopts them (components with the properties the cloud has, wired to each
// other through outputs and inputs, and an infra-bulk-import step) into a
// ConfigMap, for a person to review and `vela up`. It changes nothing in
// the cloud. A resource another application already manages is refused,
// naming it.
type InfraDiscovery struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              InfraDiscoverySpec   `json:"spec"`
	Status            InfraDiscoveryStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// InfraDiscoveryList is a list of InfraDiscovery.
type InfraDiscoveryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []InfraDiscovery `json:"items"`
}

// GetRunStatus returns the shared status.
func (o *InfraDiscovery) GetRunStatus() *RunStatus { return &o.Status.RunStatus }

// GetTarget returns no target: a discovery works on a Provider, not on a
// Configuration's state.
func (o *InfraDiscovery) GetTarget() Target { return Target{} }

// GetRequest returns spec.request.
func (o *InfraDiscovery) GetRequest() string { return o.Spec.Request }

func init() {
	SchemeBuilder.Register(&InfraDiscovery{}, &InfraDiscoveryList{})
}
