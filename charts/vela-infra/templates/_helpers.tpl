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
{{/*
vela-infra.shards: the step-runner's Deployments by shard id, as a JSON
list: [""] without sharding (the one Deployment, as before sharding), else
"master" and then sharding.shards (without empty ids); fails naming the field on bad values
(the addon's resources/step-runner.cue refuses the same, with the same
words).
*/}}
{{- define "vela-infra.shards" -}}
{{- $name := include "vela-infra.name" . -}}
{{- $ids := list -}}
{{- if not (kindIs "slice" (.Values.sharding.shards | default list)) -}}
{{- fail "sharding.shards: a list of shard ids, e.g. --set 'sharding.shards={shard-1,shard-2}'" -}}
{{- end -}}
{{- range .Values.sharding.shards -}}
{{- $id := toString . -}}
{{- if eq $id "" -}}
{{- /* --set 'sharding.shards={}' reads as one empty id, as in the addon */ -}}
{{- continue -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $id) -}}
{{- fail (printf "sharding.shards: the id '%s' is not a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)" $id) -}}
{{- end -}}
{{- /* a pod's generated name keeps 58 characters of "<ReplicaSet>-": the
Deployment's name, "-", a hash of up to 10 and "-"; past that the pods'
names lose the hash and suffix by which a replica knows its siblings */ -}}
{{- if gt (len (printf "%s-%s" $name $id)) 46 -}}
{{- fail (printf "sharding.shards: the id '%s' is too long: its Deployment %s-%s must be at most 46 characters, so that its pods' names keep their ReplicaSet hash and suffix (ids of at most %d)" $id $name $id (sub 45 (len $name))) -}}
{{- end -}}
{{- if eq $id "master" -}}
{{- fail (printf "sharding.shards: 'master' is the shard of the Deployment %s (objects labeled with no other shard's id): list only the shards besides it" $name) -}}
{{- end -}}
{{- if has $id $ids -}}
{{- fail (printf "sharding.shards: the id '%s' is listed twice" $id) -}}
{{- end -}}
{{- $ids = append $ids $id -}}
{{- end -}}
{{- if and .Values.sharding.enabled (not $ids) -}}
{{- fail "sharding.enabled needs sharding.shards: the ids of the shards besides master, one Deployment each" -}}
{{- end -}}
{{- if and $ids (not .Values.sharding.enabled) -}}
{{- fail "sharding.shards is given but sharding.enabled is false: set sharding.enabled=true or remove them" -}}
{{- end -}}
{{- if .Values.sharding.enabled -}}
{{- prepend $ids "master" | toJson -}}
{{- else -}}
{{- list "" | toJson -}}
{{- end -}}
{{- end -}}
{{/*
vela-infra.shardSelector: the selector of the Deployment of a shard (dict
root, shard). The master's (and, without sharding, the one Deployment's)
is vela-infra.selector, as before sharding: a Deployment's selector is
immutable. Another shard's pods have the name <name>-<id>, so that no
selector matches another shard's pods.
*/}}
{{- define "vela-infra.shardSelector" -}}
{{- if has .shard (list "" "master") -}}
{{- include "vela-infra.selector" .root -}}
{{- else -}}
app.kubernetes.io/name: {{ include "vela-infra.name" .root }}-{{ .shard }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}
{{- end -}}
{{/*
vela-infra.shardLabels: the labels of the Deployment of a shard (dict root,
shard); the master's are vela-infra.labels.
*/}}
{{- define "vela-infra.shardLabels" -}}
{{- if has .shard (list "" "master") -}}
{{- include "vela-infra.labels" .root -}}
{{- else -}}
{{- include "vela-infra.shardSelector" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}
{{- end -}}
{{/*
vela-infra.podLabels: the labels of the step-runner pods of a shard (dict
root, shard): its selector and, with sharding, the label every shard's pods
share (the metrics Service selects on it) and the shard id, as KubeVela
labels the pods of its shards.
*/}}
{{- define "vela-infra.podLabels" -}}
{{- include "vela-infra.shardSelector" . -}}
{{- if .shard }}
app.kubernetes.io/part-of: {{ include "vela-infra.name" .root }}
controller.core.oam.dev/shard-id: {{ .shard | quote }}
{{- end -}}
{{- end -}}
