package controller

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vela-infra/vela-infra/internal/planpolicy"
	"github.com/vela-infra/vela-infra/pkg/apis/infra/v1alpha1"
)

// InfraPolicies (internal/policy) judge every plan an InfraApproval shows:
// a mandatory result stops it (it cannot be approved), an advisory one is
// shown to the person who approves, and approve lets it pass without a
// person when no policy finds more. They are evaluated when the plan is
// made, and again on the re-check before an approved plan is applied, so a
// policy written after the plan was shown still holds.

// evaluatePolicies judges plan s of obj's target with every InfraPolicy
// that selects obj's namespace, by name. A rule that cannot be evaluated
// (it was written while the admission webhook did not run, or fails on
// this input) is an error result, which stops the change as mandatory
// does.
func (r *ApprovalReconciler) evaluatePolicies(ctx context.Context, obj *v1alpha1.InfraApproval, p *pass, s *v1alpha1.PlanSummary, consumers []v1alpha1.Consumer) ([]v1alpha1.PolicyResult, error) {
	var list v1alpha1.InfraPolicyList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list InfraPolicies: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	in := planpolicy.NewInput(s, policyTarget(obj, p, consumers))
	var results []v1alpha1.PolicyResult
	for _, pol := range list.Items {
		if len(pol.Spec.Namespaces) > 0 && !slices.Contains(pol.Spec.Namespaces, obj.Namespace) {
			continue
		}
		res := v1alpha1.PolicyResult{Policy: pol.Name, PlanID: s.ID}
		rule, err := planpolicy.Compile(pol.Spec.Rule)
		var verdict planpolicy.Result
		if err == nil {
			verdict, err = rule.Eval(in)
		}
		if err != nil {
			res.Result, res.Message = v1alpha1.PolicyError, "spec.rule could not be evaluated: "+err.Error()
		} else {
			res.Result, res.Message = verdict.Level, verdict.Message
		}
		results = append(results, res)
	}
	return results, nil
}

// policyTarget is the target as a rule sees it.
func policyTarget(obj *v1alpha1.InfraApproval, p *pass, consumers []v1alpha1.Consumer) planpolicy.Target {
	cfg := p.res.Configuration
	t := planpolicy.Target{
		Namespace: obj.Namespace, Configuration: cfg.Name,
		Application: orLabel(cfg.Labels, obj.Labels, "app.oam.dev/name"),
		Component:   orLabel(cfg.Labels, obj.Labels, "app.oam.dev/component"),
		Adopted:     adoptedAddresses(cfg.Annotations[annotationAdopted]),
		Shared:      len(consumers) > 0,
	}
	for _, c := range consumers {
		t.Consumers = append(t.Consumers, planpolicy.Consumer{Namespace: c.Namespace, Configuration: c.Configuration,
			Application: c.Application, Component: c.Component, Breaks: c.Breaks, Impacts: c.Impacts})
	}
	return t
}

func orLabel(first, second map[string]string, key string) string {
	if v := first[key]; v != "" {
		return v
	}
	return second[key]
}

// adoptedAddresses are the addresses of an adoption record
// ("address=id, address=id").
func adoptedAddresses(record string) []string {
	var out []string
	for _, pair := range strings.Split(record, ",") {
		if addr, _, ok := strings.Cut(strings.TrimSpace(pair), "="); ok && addr != "" {
			out = append(out, addr)
		}
	}
	return out
}

// policyLevel is the level that decides among results (an error counts as
// mandatory).
func policyLevel(results []v1alpha1.PolicyResult) string {
	levels := make([]string, 0, len(results))
	for _, r := range results {
		if r.Result == v1alpha1.PolicyError {
			levels = append(levels, planpolicy.Mandatory)
			continue
		}
		levels = append(levels, r.Result)
	}
	return planpolicy.Strongest(levels)
}

// policyFindings says, one result a line, what the policies of level (and
// errors, with mandatory) found.
func policyFindings(results []v1alpha1.PolicyResult, levels ...string) string {
	var lines []string
	for _, r := range results {
		if !slices.Contains(levels, r.Result) {
			continue
		}
		line := "InfraPolicy " + r.Policy + " (" + r.Result + ")"
		if r.Message != "" {
			line += ": " + r.Message
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "; ")
}

// policyDenied is the outcome of a plan a policy stops.
func policyDenied(obj *v1alpha1.InfraApproval, p *pass, s *v1alpha1.PlanSummary) outcome {
	msg := fmt.Sprintf("%s: plan %s of %s cannot be approved: %s. Nothing was applied; change the application so that its plan passes the policy (or ask the platform team about the policy), then `vela workflow restart`. %s",
		p.name(), s.ID, targetOf(obj, p), policyFindings(obj.Status.Policies, planpolicy.Mandatory, v1alpha1.PolicyError),
		withConsumers(s.Diff, obj.Status.Consumers))
	return notReady(v1alpha1.ReasonPolicyDenied, msg,
		condition(v1alpha1.ConditionApproved, metav1.ConditionFalse, v1alpha1.ReasonPolicyDenied, msg))
}

// policyApproved is the outcome of a plan the policies pass without a
// person: the infra-approve step writes the approval without holding.
func policyApproved(obj *v1alpha1.InfraApproval, p *pass, s *v1alpha1.PlanSummary) outcome {
	msg := fmt.Sprintf("%s: plan %s of %s passes without a person's approval: %s; the infra-approve step applies exactly this plan. %s",
		p.name(), s.ID, targetOf(obj, p), policyFindings(obj.Status.Policies, planpolicy.Approve), withConsumers(s.Diff, obj.Status.Consumers))
	return notReady(v1alpha1.ReasonPolicyApproved, msg,
		condition(v1alpha1.ConditionApproved, metav1.ConditionTrue, v1alpha1.ReasonPolicyApproved, msg))
}

// policyApprover is who approved a plan the policies passed.
func policyApprover(results []v1alpha1.PolicyResult) v1alpha1.Approver {
	var names []string
	for _, r := range results {
		if r.Result == planpolicy.Approve {
			names = append(names, r.Policy)
		}
	}
	return v1alpha1.Approver{Username: "InfraPolicy/" + strings.Join(names, ","),
		Via: policyVia + strings.Join(names, ", ") + " (level approve): no person was needed"}
}

// policyVia starts the Via of an approval by policies; the webhook's
// records of people never do.
const policyVia = "InfraPolicy "

// approvedByPolicy says whether by is the policies, not a person.
func approvedByPolicy(by v1alpha1.Approver) bool { return strings.HasPrefix(by.Via, policyVia) }

// policiesFor are the results recorded for plan id (none when they are of
// another plan).
func policiesFor(results []v1alpha1.PolicyResult, id string) []v1alpha1.PolicyResult {
	return slices.DeleteFunc(slices.Clone(results), func(r v1alpha1.PolicyResult) bool { return r.PlanID != id })
}

// PolicyDenial is what the InfraPolicies found that stops the plan obj
// shows ("" when none does), for the admission webhook: an approval of it
// is refused at once.
func PolicyDenial(obj *v1alpha1.InfraApproval) string {
	if obj.Status.Plan == nil {
		return ""
	}
	results := policiesFor(obj.Status.Policies, obj.Status.Plan.ID)
	if policyLevel(results) != planpolicy.Mandatory {
		return ""
	}
	return policyFindings(results, planpolicy.Mandatory, v1alpha1.PolicyError)
}
