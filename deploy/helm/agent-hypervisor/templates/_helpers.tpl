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
