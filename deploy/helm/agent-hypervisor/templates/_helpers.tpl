{{- define "hv.fullname" -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end }}
{{- define "hv.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- define "hv.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- define "hv.secret" -}}{{ .Values.existingSecret | default (include "hv.fullname" .) }}{{- end }}
{{- define "hv.temporalEnv" -}}
- name: TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- if .Values.temporal.apiKey }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef: { name: {{ include "hv.secret" . }}, key: TEMPORAL_API_KEY }
{{- end }}
{{- if .Values.temporal.tls.enabled }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/hv/tls/tls.crt
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/hv/tls/tls.key
{{- end }}
{{- end }}
{{- /* The HTTP API (templates/api.yaml). Its pods carry their own app.kubernetes.io/name, so the worker selector
(name + instance, unchanged: a Deployment's selector is immutable) and the worker's PDB, Service and ServiceMonitor
never match them. */ -}}
{{- define "hv.apiFullname" -}}{{ printf "%s-%s-api" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end }}
{{- define "hv.apiSelector" -}}
app.kubernetes.io/name: {{ printf "%s-api" .Chart.Name | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end }}
{{- define "hv.apiLabels" -}}
{{ include "hv.apiSelector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
