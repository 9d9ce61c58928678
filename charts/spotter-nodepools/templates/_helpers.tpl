{{/* The labels every object carries. */}}
{{- define "spotter-nodepools.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spotter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}
