{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name when it already contains the chart name. */}}
{{- define "portcullis.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "portcullis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "operator"). */}}
{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component: call with (dict "ctx" $ "component" "operator"). */}}
{{- define "portcullis.labels" -}}
helm.sh/chart: {{ include "portcullis.chart" .ctx }}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: portcullis
{{- /* The chart's own keys win: a second part-of (commonLabels: {app.kubernetes.io/part-of: platform})
would replace the one the operator reads to refuse wiring Portcullis's own Deployments, and a second
component or instance would break the selectors. */}}
{{- with omit (.ctx.Values.commonLabels | default dict) "app.kubernetes.io/part-of" "app.kubernetes.io/component" "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/version" "app.kubernetes.io/managed-by" "helm.sh/chart" }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The Portcullis image reference: digest wins over tag; tag defaults to appVersion. */}}
{{- define "portcullis.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "portcullis.registryImage" -}}
{{- if .Values.registry.image.digest }}
{{- printf "%s@%s" .Values.registry.image.repository .Values.registry.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.registry.image.repository .Values.registry.image.tag }}
{{- end }}
{{- end }}

{{- define "portcullis.operator.fullname" -}}
{{- printf "%s-operator" (include "portcullis.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.tokenServer.fullname" -}}
{{- printf "%s-token-server" (include "portcullis.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.registry.fullname" -}}
{{- printf "%s-registry" (include "portcullis.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "portcullis.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "portcullis.tokenServer.serviceAccountName" -}}
{{- if .Values.tokenServer.serviceAccount.create }}
{{- default (include "portcullis.tokenServer.fullname" .) .Values.tokenServer.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.tokenServer.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Where clients get tokens: the configured realm, else the ingress host, else the in-cluster Service. */}}
{{- define "portcullis.realm" -}}
{{- if .Values.registryResource.realm }}
{{- .Values.registryResource.realm }}
{{- else if .Values.ingress.enabled }}
{{- printf "%s://%s/token" .Values.ingress.scheme .Values.ingress.host }}
{{- else }}
{{- printf "http://%s.%s.svc:%d/token" (include "portcullis.tokenServer.fullname" .) .Release.Namespace (int .Values.tokenServer.service.port) }}
{{- end }}
{{- end }}

{{/* Whether the token server takes the client from X-Forwarded-For (--trust-proxy): "true" or "". */}}
{{- define "portcullis.tokenServer.trustsProxy" -}}
{{- if or (ne (.Values.tokenServer.trustProxy | toString) "") .Values.ingress.enabled }}true{{ end }}
{{- end }}

{{/* Objects the operator publishes for the Registry are named portcullis-<registry>-<suffix>. */}}
{{- define "portcullis.bundleConfigMap" -}}
{{- printf "portcullis-%s-bundle" .Values.registryResource.name }}
{{- end }}

{{/* Writable scratch space: the root filesystem is read-only. */}}
{{- define "portcullis.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* NetworkPolicy egress every Portcullis pod needs: cluster DNS and the Kubernetes API. Call with .Values.networkPolicy. */}}
{{- define "portcullis.networkPolicy.egress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
- to:
    {{- range .apiServer.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .apiServer.ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}

{{/*
The Secrets the token server may read, by name (wire/names.ts tokenServerSecretNames): the credentials
main object, its 8 part slots (CREDENTIAL_PARTS), and the signing keys.
*/}}
{{- define "portcullis.tokenServer.secretNames" -}}
{{- $registry := .Values.registryResource.name -}}
- portcullis-{{ $registry }}-credentials
{{- range $i := until 8 }}
- portcullis-{{ $registry }}-credentials-{{ $i }}
{{- end }}
- portcullis-{{ $registry }}-signing
{{- end }}

{{/*
The namespaces the operator reads its objects and writes in: the release namespace (the chart's
Registry) and any listed in operator.registryNamespaces; with operator.watchNamespace, that namespace
alone, as the operator (--namespace) serves nothing elsewhere. A JSON list.
*/}}
{{- define "portcullis.operator.registryNamespaces" -}}
{{- if .Values.operator.watchNamespace -}}
{{- list .Values.operator.watchNamespace | toJson -}}
{{- else -}}
{{- $list := list .Release.Namespace -}}
{{- range .Values.operator.registryNamespaces }}{{- $list = append $list . -}}{{- end -}}
{{- $list | uniq | toJson -}}
{{- end -}}
{{- end }}

{{/*
The namespaces where the operator may create scheduled retention runs (operator.retentionNamespaces),
narrowed to operator.watchNamespace when both are set, as the operator narrows them. A JSON list; empty
when the list is: then the rights stay bound cluster-wide (or in the watched namespace).
*/}}
{{- define "portcullis.operator.retentionNamespaces" -}}
{{- $list := .Values.operator.retentionNamespaces | default list | uniq -}}
{{- with .Values.operator.watchNamespace -}}
{{- if and $list (not (has . $list)) -}}
{{- fail (printf "operator.watchNamespace %s is not among operator.retentionNamespaces (%s): the operator would schedule no RetentionPolicy" . (join ", " $list)) -}}
{{- end -}}
{{- if $list }}{{ $list = list . }}{{ end -}}
{{- end -}}
{{- $list | toJson -}}
{{- end }}

{{/*
The namespaces, besides those holding Registries, whose Secrets the operator may read
(operator.secretNamespaces), narrowed to operator.watchNamespace when both are set, as the operator
narrows them. A JSON list; empty when the list is: then Secrets stay readable cluster-wide (or in the
watched namespace).
*/}}
{{- define "portcullis.operator.secretNamespaces" -}}
{{- $list := .Values.operator.secretNamespaces | default list | uniq -}}
{{- with .Values.operator.watchNamespace -}}
{{- if and $list (not (has . $list)) -}}
{{- fail (printf "operator.watchNamespace %s is not among operator.secretNamespaces (%s): the operator could read no RegistryUser's password Secret" . (join ", " $list)) -}}
{{- end -}}
{{- if $list }}{{ $list = list . }}{{ end -}}
{{- end -}}
{{- $list | toJson -}}
{{- end }}

{{- define "portcullis.activity.fullname" -}}
{{- printf "%s-activity" (include "portcullis.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.activity.serviceAccountName" -}}
{{- if .Values.activity.serviceAccount.create }}
{{- default (include "portcullis.activity.fullname" .) .Values.activity.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.activity.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the activity key (key "key"): the user's, or the one the chart generates. */}}
{{- define "portcullis.activity.keySecret" -}}
{{- default (printf "%s-key" (include "portcullis.activity.fullname" .)) .Values.activity.existingKeySecret }}
{{- end }}

{{/* The intake URL the operator writes into every managed registry's notification endpoint. */}}
{{- define "portcullis.activity.url" -}}
{{- printf "http://%s.%s.svc:%d" (include "portcullis.activity.fullname" .) .Release.Namespace (int .Values.activity.eventsPort) }}
{{- end }}

{{/* Where the activity key is mounted, in the activity pod and the operator pod alike. */}}
{{- define "portcullis.activity.keyFile" -}}
/etc/portcullis/activity-key/key
{{- end }}

{{/*
A preStop delay of .seconds: keep serving until the endpoints and kube-proxy stop sending new connections.
The sleep action is on by default from Kubernetes 1.30; before that the image's own `sleep` (both the
Portcullis image and Distribution's have one).
*/}}
{{- define "portcullis.preStopDelay" -}}
lifecycle:
  preStop:
    {{- if semverCompare ">=1.30.0-0" .ctx.Capabilities.KubeVersion.Version }}
    sleep:
      seconds: {{ .seconds }}
    {{- else }}
    exec:
      command: ["sleep", "{{ .seconds }}"]
    {{- end }}
{{- end }}
