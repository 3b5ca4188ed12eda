{{- define "vela-infra.name" -}}vela-infra-step-runner{{- end -}}
{{- define "vela-infra.labels" -}}
app.kubernetes.io/name: {{ include "vela-infra.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "vela-infra.selector" -}}
app.kubernetes.io/name: {{ include "vela-infra.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{/*
vela-infra.rules: the rules of one scope of rbac/role.yaml, which
controller-gen writes (make generate) from the kubebuilder markers in
internal/controller/rbac.go: scope "" is its ClusterRole, "served", "state",
"release" and "webhook" the placeholder namespaces of its Roles (see rbac.go).
*/}}
{{- define "vela-infra.rules" -}}
{{- $scope := .scope -}}
{{- $rules := list -}}
{{- range regexSplit "(?m)^---$" (.root.Files.Get "rbac/role.yaml") -1 -}}
{{- $doc := fromYaml . -}}
{{- if and $doc.kind (eq (dig "metadata" "namespace" "" $doc) $scope) -}}
{{- $rules = $doc.rules -}}
{{- end -}}
{{- end -}}
{{- if not $rules -}}
{{- fail (printf "rbac/role.yaml has no rules for the scope %q: run make generate" $scope) -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}
