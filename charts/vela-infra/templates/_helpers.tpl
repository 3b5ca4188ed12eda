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
{{- define "vela-infra.namespacedRules" -}}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, create, update, patch, delete]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update, delete]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, create, update, patch, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
