package main

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// values is where the alerts' settings live in the chart's values.
const values = ".Values.monitoring.prometheusRule."

// helm is a Helm template action, rendered by templates/prometheusrule.yaml
// (tpl). Raw strings in it are written with backquotes, which YAML never
// escapes.
func helm(action string) string { return "{{ " + action + " }}" }

// seconds is the number of seconds of the duration value v (1h, 30m...).
func seconds(v string) string { return helm("include `vela-infra.seconds` " + values + v) }

// prom is an alert template of Prometheus ($labels, $value), passed
// through Helm's tpl untouched.
func prom(s string) string { return "{{`" + s + "`}}" }

// prometheusRule is the step-runner's alerts. Series carry the object's
// namespace and name: the scrape must keep them (honor_labels, as the
// chart's ServiceMonitor does), not rename them exported_namespace.
func prometheusRule() *monitoringv1.PrometheusRule {
	return &monitoringv1.PrometheusRule{
		TypeMeta: metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.PrometheusRuleKind},
		Spec: monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{{
			Name: "vela-infra",
			Rules: []monitoringv1.Rule{
				{
					Alert: "VelaInfraDriftStanding",
					Expr: intstr.FromString("time() - max by (namespace, name, configuration) (" + metricDriftedSince + ") > " +
						seconds("driftStanding.after")),
					Labels: map[string]string{"severity": helm(values + "driftStanding.severity")},
					Annotations: map[string]string{
						"summary": "Drift stands on a Configuration for longer than " + helm(values+"driftStanding.after") + ".",
						"description": "InfraDrift " + prom("{{ $labels.namespace }}/{{ $labels.name }}") + ": Configuration " +
							prom("{{ $labels.configuration }}") + " has differed from the cloud for " + prom("{{ $value | humanizeDuration }}") +
							". See the diff with kubectl describe infradrift -n " + prom("{{ $labels.namespace }} {{ $labels.name }}") +
							", then revert it, approve its corrective plan, or change the component to match.",
					},
				},
				{
					Alert: "VelaInfraApprovalPending",
					Expr: intstr.FromString("time() - max by (kind, namespace, name) (" + metricApprovalPending + ") > " +
						seconds("approvalPending.after")),
					Labels: map[string]string{"severity": helm(values + "approvalPending.severity")},
					Annotations: map[string]string{
						"summary": "A plan waits for a person's approval for longer than " + helm(values+"approvalPending.after") + ".",
						"description": prom("{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.name }}") + " has waited for approval for " +
							prom("{{ $value | humanizeDuration }}") + ". Review its diff (vela status, or kubectl describe) and approve or reject it.",
					},
				},
				{
					Alert: "VelaInfraRunsFailing",
					Expr: intstr.FromString("sum by (kind) (increase(" + metricRunDuration + `_count{result=~"stalled|error"}[` +
						helm(values+"repeatedFailures.window") + "])) >= " + helm(values+"repeatedFailures.count")),
					Labels: map[string]string{"severity": helm(values + "repeatedFailures.severity")},
					Annotations: map[string]string{
						"summary": "Step-runner runs keep failing.",
						"description": prom("{{ $value | humanize }} {{ $labels.kind }}") + " runs ended stalled or in error in the last " +
							helm(values+"repeatedFailures.window") + ". The Ready condition of the " + prom("{{ $labels.kind }}") +
							" objects names the reason (kubectl get " + prom("{{ $labels.kind | toLower }}") + " -A); " +
							metricRunFailures + " counts them by reason.",
					},
				},
			},
		}}},
	}
}
