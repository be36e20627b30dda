{{/* ---------------------------------------------------------------------------------
  Names and labels
--------------------------------------------------------------------------------- */}}

{{- define "factorymesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-factorymesh", or the release name when it already contains the chart name. */}}
{{- define "factorymesh.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's objects. ctx: dict "root" $ "name" <component> */}}
{{- define "factorymesh.componentName" -}}
{{- printf "%s-%s" (include "factorymesh.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "factorymesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels. ctx: dict "root" $ "name" <component> */}}
{{- define "factorymesh.selectorLabels" -}}
app.kubernetes.io/name: {{ include "factorymesh.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Common labels. ctx: dict "root" $ "name" <component> */}}
{{- define "factorymesh.labels" -}}
helm.sh/chart: {{ include "factorymesh.chart" .root }}
{{ include "factorymesh.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: factorymesh
{{- end -}}

{{/* ---------------------------------------------------------------------------------
  Images
--------------------------------------------------------------------------------- */}}

{{/* registry/repository(:tag|@digest). ctx: dict "registry" "repository" "tag" "digest" */}}
{{- define "factorymesh.imageRef" -}}
{{- $repo := .repository -}}
{{- if .registry -}}{{- $repo = printf "%s/%s" (trimSuffix "/" .registry) .repository -}}{{- end -}}
{{- if .digest -}}
{{- printf "%s@%s" $repo .digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (toString .tag) -}}
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------------
  Kafka
--------------------------------------------------------------------------------- */}}

{{- define "factorymesh.kafka.fullname" -}}
{{- printf "%s-kafka" (include "factorymesh.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The bootstrap servers every service gets (FM_KAFKA_BOOTSTRAP); fails when there is none. */}}
{{- define "factorymesh.kafka.bootstrap" -}}
{{- $ext := trim (toString (.Values.kafka.external.bootstrap | default "")) -}}
{{- if .Values.kafka.enabled -}}
{{- if $ext -}}
{{- fail "factorymesh: set either kafka.external.bootstrap (your Kafka) or kafka.enabled=true (demo broker), not both" -}}
{{- end -}}
{{- printf "%s.%s.svc:9092" (include "factorymesh.kafka.fullname" .) .Release.Namespace -}}
{{- else if $ext -}}
{{- $ext -}}
{{- else -}}
{{- fail "factorymesh: kafka.external.bootstrap is required: set it to your Kafka bootstrap servers (host:port[,host:port], e.g. --set kafka.external.bootstrap=my-kafka.kafka.svc:9092), or set kafka.enabled=true for a demo-only single-node broker" -}}
{{- end -}}
{{- end -}}

{{- define "factorymesh.kafka.securityProtocol" -}}
{{- if .Values.kafka.enabled -}}PLAINTEXT{{- else -}}{{- .Values.kafka.external.securityProtocol | default "PLAINTEXT" -}}{{- end -}}
{{- end -}}

{{- define "factorymesh.kafka.replicationFactor" -}}
{{- if .Values.kafka.enabled -}}1{{- else -}}{{- .Values.kafka.replicationFactor | int -}}{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------------
  Triton
--------------------------------------------------------------------------------- */}}

{{- define "factorymesh.triton.fullname" -}}
{{- printf "%s-triton" (include "factorymesh.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Triton gRPC endpoint (host:port, no scheme) for FM_TRITON_URL; "" when none. */}}
{{- define "factorymesh.triton.grpcUrl" -}}
{{- if .Values.triton.enabled -}}
{{- printf "%s:%d" (include "factorymesh.triton.fullname" .) (.Values.triton.ports.grpc | int) -}}
{{- else -}}
{{- .Values.triton.external.url | default "" -}}
{{- end -}}
{{- end -}}

{{- define "factorymesh.triton.httpUrl" -}}
{{- if .Values.triton.enabled -}}
{{- printf "%s:%d" (include "factorymesh.triton.fullname" .) (.Values.triton.ports.http | int) -}}
{{- else -}}
{{- .Values.triton.external.httpUrl | default "" -}}
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------------
  Component values: a component's own key when set, else the default's.
  ctx: dict "c" <component values> "d" <.Values.default> "key" <name>; returns YAML.
--------------------------------------------------------------------------------- */}}
{{- define "factorymesh.pick" -}}
{{- if hasKey .c .key -}}
{{- toYaml (get .c .key) -}}
{{- else -}}
{{- toYaml (get .d .key) -}}
{{- end -}}
{{- end -}}

{{/* A map of the default's key with the component's merged over it (one level). Returns YAML. */}}
{{- define "factorymesh.mergeMap" -}}
{{- $out := dict -}}
{{- range $k, $v := (get .d .key | default dict) -}}{{- $_ := set $out $k $v -}}{{- end -}}
{{- range $k, $v := (get .c .key | default dict) -}}{{- $_ := set $out $k $v -}}{{- end -}}
{{- toYaml $out -}}
{{- end -}}
