package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vela-infra/vela-infra/internal/planpolicy"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// InfraPolicies refuses an InfraPolicy whose rule does not compile, or
// sets a result that is no level, with CUE's error and the rule's line.
// A policy that got past it (written while the webhook did not run) stops
// every plan it selects, as an error result.
type InfraPolicies struct{}

// Handle implements admission.Handler.
func (InfraPolicies) Handle(_ context.Context, req admission.Request) admission.Response {
	var pol v1alpha1.InfraPolicy
	if err := json.Unmarshal(req.Object.Raw, &pol); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if msg := checkPolicy(&pol); msg != "" {
		return admission.Denied(msg)
	}
	return admission.Allowed("")
}

// checkPolicy is what is wrong with pol, or "".
func checkPolicy(pol *v1alpha1.InfraPolicy) string {
	for i, ns := range pol.Spec.Namespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Sprintf("InfraPolicy %s: spec.namespaces[%d] %q is not a namespace name: %s", pol.Name, i, ns, errs[0])
		}
	}
	if _, err := planpolicy.Compile(pol.Spec.Rule); err != nil {
		return fmt.Sprintf("InfraPolicy %s: spec.rule: %v", pol.Name, err)
	}
	return ""
}
