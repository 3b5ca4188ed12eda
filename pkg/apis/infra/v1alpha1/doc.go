// Package v1alpha1 holds the step-run objects of vela-infra: one kind per
// workflow step (InfraImport, InfraDrift, InfraApproval). The infra-* workflow
// steps create them; the step-runner carries them out and writes status a
// person and a workflow step can both read.
//
// +kubebuilder:object:generate=true
// +groupName=infra.vela-infra.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of these kinds.
	GroupVersion = schema.GroupVersion{Group: "infra.vela-infra.io", Version: "v1alpha1"}
	// SchemeBuilder registers the kinds.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}
	// AddToScheme adds the kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
