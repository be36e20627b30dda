{{/*
  Objects of one component. ctx: dict
    root  the chart root ($)
    name  the component name (key under .Values.components)
    c     the component's own values
    e     the effective values (defaults with the component's over them; see components.yaml)
*/}}

{{/* Env var names the chart derives from structured values; setting them in env is an error. */}}
{{- define "factorymesh.reservedEnv" -}}
FM_GRPC_PORT: components.<name>.ports.grpc
FM_METRICS_PORT: components.<name>.ports.metrics
FM_GRPC_SHUTDOWN_GRACE_S: shutdownGraceSeconds (default. or components.<name>.)
{{- end -}}

{{- define "factorymesh.component.validate" -}}
{{- $name := .name -}}
{{- $e := .e -}}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $name) -}}
{{- fail (printf "factorymesh: component name %q must be a DNS label (lower-case letters, digits, '-')" $name) -}}
{{- end -}}
{{- $grace := float64 ($e.shutdownGraceSeconds | default 0) -}}
{{- $preStop := float64 ($e.preStopSleepSeconds | default 0) -}}
{{- $tgps := float64 ($e.terminationGracePeriodSeconds | default 0) -}}
{{- if not (gt $tgps (addf $grace $preStop)) -}}
{{- fail (printf "factorymesh: components.%s: terminationGracePeriodSeconds (%v) must be greater than shutdownGraceSeconds (%v) + preStopSleepSeconds (%v), or Kubernetes kills the pod (SIGKILL) before the gRPC drain and the shutdown hooks finish" $name $e.terminationGracePeriodSeconds $e.shutdownGraceSeconds ($e.preStopSleepSeconds | default 0)) -}}
{{- end -}}
{{- $grpc := int ($e.ports.grpc | default 0) -}}
{{- $metrics := int ($e.ports.metrics | default 0) -}}
{{- if and (gt $grpc 0) (eq $grpc $metrics) -}}
{{- fail (printf "factorymesh: components.%s: ports.grpc and ports.metrics are both %d" $name $grpc) -}}
{{- end -}}
{{- $reserved := include "factorymesh.reservedEnv" . | fromYaml -}}
{{- range $k, $v := $e.env -}}
{{- if hasKey $reserved $k -}}
{{- fail (printf "factorymesh: components.%s: do not set %s in env; the chart sets it from %s" $name $k (get $reserved $k | replace "<name>" $name)) -}}
{{- end -}}
{{- if and (kindIs "string" $v) $v (regexMatch "(?i)(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL)" $k) -}}
{{- fail (printf "factorymesh: components.%s: env %s looks like a secret and must not be inlined in values; reference a Secret instead: secretEnv: {%s: {secretName: <secret>, key: <key>}}" $name $k $k) -}}
{{- end -}}
{{- if hasKey $e.secretEnv $k -}}
{{- fail (printf "factorymesh: components.%s: %s is set in both env and secretEnv" $name $k) -}}
{{- end -}}
{{- end -}}
{{- range $k, $v := $e.secretEnv -}}
{{- if hasKey $reserved $k -}}
{{- fail (printf "factorymesh: components.%s: do not set %s in secretEnv; the chart sets it" $name $k) -}}
{{- end -}}
{{- if not (and (kindIs "map" $v) $v.secretName $v.key) -}}
{{- fail (printf "factorymesh: components.%s: secretEnv.%s needs secretName and key" $name $k) -}}
{{- end -}}
{{- end -}}
{{- $ar := $e.assetRegistry | default dict -}}
{{- if and $ar.enabled (not $ar.existingConfigMap) (not $ar.content) -}}
{{- fail (printf "factorymesh: components.%s.assetRegistry is enabled: set content (the registry YAML) or existingConfigMap" $name) -}}
{{- end -}}
{{- if and $e.useTriton (not (include "factorymesh.triton.grpcUrl" .root)) -}}
{{- fail (printf "factorymesh: components.%s needs Triton: set triton.enabled=true, or triton.external.url to your Triton's gRPC host:port" $name) -}}
{{- end -}}
{{- end -}}

{{- define "factorymesh.component.serviceAccountName" -}}
{{- $sa := .e.serviceAccount | default dict -}}
{{- if $sa.create -}}
{{- include "factorymesh.componentName" . -}}
{{- else -}}
{{- $sa.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "factorymesh.component.serviceAccount" -}}
{{- $sa := .e.serviceAccount | default dict -}}
{{- if $sa.create }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "factorymesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "factorymesh.labels" . | nindent 4 }}
  {{- with $sa.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ $sa.automountServiceAccountToken | default false }}
{{- end }}
{{- end -}}

{{/* The asset registry ConfigMap (rendered unless an existing one is named). */}}
{{- define "factorymesh.component.assetRegistry.data" -}}
{{- $ar := .e.assetRegistry -}}
{{- if kindIs "string" $ar.content -}}
{{- $ar.content -}}
{{- else -}}
{{- toYaml $ar.content -}}
{{- end -}}
{{- end -}}

{{- define "factorymesh.component.configMap" -}}
{{- $ar := .e.assetRegistry | default dict -}}
{{- if and $ar.enabled (not $ar.existingConfigMap) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "factorymesh.componentName" . }}-assets
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "factorymesh.labels" . | nindent 4 }}
data:
  {{ $ar.fileName | default "assets.yaml" }}: |
    {{- include "factorymesh.component.assetRegistry.data" . | trimSuffix "\n" | nindent 4 }}
{{- end }}
{{- end -}}

{{/* Container env: chart-derived variables first (with the downward-API ones that later
     values may reference as $(K8S_POD_NAME)), then env (sorted), then secretEnv (sorted). */}}
{{- define "factorymesh.component.env" -}}
{{- $e := .e -}}
{{- $root := .root -}}
{{- $user := $e.env | default dict -}}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- if not (hasKey $user "FM_SERVICE_NAME") }}
- name: FM_SERVICE_NAME
  value: {{ .name | quote }}
{{- end }}
{{- if gt (int ($e.ports.grpc | default 0)) 0 }}
- name: FM_GRPC_PORT
  value: {{ $e.ports.grpc | int | toString | quote }}
{{- end }}
- name: FM_METRICS_PORT
  value: {{ $e.ports.metrics | default 0 | int | toString | quote }}
- name: FM_GRPC_SHUTDOWN_GRACE_S
  value: {{ $e.shutdownGraceSeconds | toString | quote }}
{{- if $e.useTriton }}
{{- if not (hasKey $user "FM_TRITON_URL") }}
- name: FM_TRITON_URL
  value: {{ include "factorymesh.triton.grpcUrl" $root | quote }}
{{- end }}
{{- $http := include "factorymesh.triton.httpUrl" $root }}
{{- if and $http (not (hasKey $user "FM_TRITON_HTTP_URL")) }}
- name: FM_TRITON_HTTP_URL
  value: {{ $http | quote }}
{{- end }}
{{- end }}
{{- $ar := $e.assetRegistry | default dict }}
{{- if and $ar.enabled (not (hasKey $user "FM_ASSETS_FILE")) }}
- name: FM_ASSETS_FILE
  value: {{ printf "%s/%s" (trimSuffix "/" ($ar.mountPath | default "/etc/factorymesh/assets")) ($ar.fileName | default "assets.yaml") | quote }}
{{- end }}
{{- if not (hasKey $user "OTEL_SERVICE_NAME") }}
- name: OTEL_SERVICE_NAME
  value: {{ .name | quote }}
{{- end }}
{{- if not (hasKey $user "OTEL_RESOURCE_ATTRIBUTES") }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.namespace=factorymesh,service.version=%s,k8s.namespace.name=$(K8S_NAMESPACE),k8s.pod.name=$(K8S_POD_NAME),k8s.node.name=$(K8S_NODE_NAME)" $root.Chart.AppVersion | quote }}
{{- end }}
{{- range $k := keys $user | sortAlpha }}
{{- $v := get $user $k }}
{{- if kindIs "map" $v }}
- name: {{ $k }}
  valueFrom:
    {{- toYaml $v | nindent 4 }}
{{- else if not (kindIs "invalid" $v) }}
{{- $s := tpl (toString $v) $root }}
{{- if ne $s "" }}
- name: {{ $k }}
  value: {{ $s | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- range $k := keys ($e.secretEnv | default dict) | sortAlpha }}
{{- $s := get $e.secretEnv $k }}
- name: {{ $k }}
  valueFrom:
    secretKeyRef:
      name: {{ tpl $s.secretName $root }}
      key: {{ $s.key }}
      {{- if hasKey $s "optional" }}
      optional: {{ $s.optional }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "factorymesh.component.image" -}}
{{- $d := .root.Values.default.image -}}
{{- $o := .c.imageOverride | default dict -}}
{{- include "factorymesh.imageRef" (dict "registry" ($o.registry | default $d.registry) "repository" ($o.repository | default .name) "tag" ($o.tag | default $d.tag | default .root.Chart.AppVersion) "digest" ($o.digest | default "")) -}}
{{- end -}}

{{- define "factorymesh.component.deployment" -}}
{{- $e := .e -}}
{{- $root := .root -}}
{{- $grpc := int ($e.ports.grpc | default 0) -}}
{{- $metrics := int ($e.ports.metrics | default 0) -}}
{{- $ar := $e.assetRegistry | default dict -}}
{{- $sched := $e.schedulingRules | default dict -}}
{{- $pullSecrets := (.c.imageOverride | default dict).pullSecrets | default $root.Values.default.image.pullSecrets }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "factorymesh.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "factorymesh.labels" . | nindent 4 }}
spec:
  {{- if not ($e.autoscaling | default dict).enabled }}
  replicas: {{ $e.replicas | int }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- with $e.strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "factorymesh.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "factorymesh.labels" . | nindent 8 }}
        {{- with $e.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- $ann := dict }}
      {{- if and $ar.enabled (not $ar.existingConfigMap) }}
      {{- $_ := set $ann "checksum/assets" (include "factorymesh.component.assetRegistry.data" . | sha256sum) }}
      {{- end }}
      {{- if and $root.Values.metrics.podAnnotations (gt $metrics 0) }}
      {{- $_ := set $ann "prometheus.io/scrape" "true" }}
      {{- $_ := set $ann "prometheus.io/port" ($metrics | toString) }}
      {{- $_ := set $ann "prometheus.io/path" "/metrics" }}
      {{- end }}
      {{- range $k, $v := $e.podAnnotations }}{{- $_ := set $ann $k (tpl (toString $v) $root) }}{{- end }}
      {{- with $ann }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "factorymesh.component.serviceAccountName" . }}
      automountServiceAccountToken: {{ ($e.serviceAccount | default dict).automountServiceAccountToken | default false }}
      # No docker-link style env vars (<SERVICE>_PORT=tcp://...): with a release named like
      # "fm" they would land in the FM_ settings namespace.
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $e.terminationGracePeriodSeconds | int }}
      {{- with $pullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      {{- with $e.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $e.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $sched.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $sched.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $sched.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $sched.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- tpl (toYaml .) $root | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .name }}
          image: {{ include "factorymesh.component.image" . | quote }}
          imagePullPolicy: {{ (.c.imageOverride | default dict).pullPolicy | default $root.Values.default.image.pullPolicy }}
          {{- with $e.command }}
          command:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $e.args }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- if or (gt $grpc 0) (gt $metrics 0) }}
          ports:
            {{- if gt $grpc 0 }}
            - name: grpc
              containerPort: {{ $grpc }}
              protocol: TCP
            {{- end }}
            {{- if gt $metrics 0 }}
            - name: metrics
              containerPort: {{ $metrics }}
              protocol: TCP
            {{- end }}
          {{- end }}
          env:
            {{- include "factorymesh.component.env" . | nindent 12 }}
          {{- with $e.envFrom }}
          envFrom:
            {{- tpl (toYaml .) $root | nindent 12 }}
          {{- end }}
          {{- if and $e.probes.enabled (gt $grpc 0) }}
          # gRPC health (grpc.health.v1): "" is readiness (SERVING only while Kafka/Triton are
          # ready, so an outage makes pods unready instead of restarting them); "liveness"
          # stays SERVING while the process runs.
          startupProbe:
            grpc:
              port: {{ $grpc }}
              service: liveness
            {{- with $e.probes.startup }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          readinessProbe:
            grpc:
              port: {{ $grpc }}
              service: ""
            {{- with $e.probes.readiness }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          livenessProbe:
            grpc:
              port: {{ $grpc }}
              service: liveness
            {{- with $e.probes.liveness }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- end }}
          {{- if gt (int ($e.preStopSleepSeconds | default 0)) 0 }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ $e.preStopSleepSeconds | int }}
          {{- end }}
          {{- with $e.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $e.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            # read-only root filesystem: /tmp is the only scratch space
            - name: tmp
              mountPath: /tmp
            {{- if $ar.enabled }}
            - name: assets
              mountPath: {{ $ar.mountPath | default "/etc/factorymesh/assets" }}
              readOnly: true
            {{- end }}
            {{- with $e.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{- if $ar.enabled }}
        - name: assets
          configMap:
            name: {{ $ar.existingConfigMap | default (printf "%s-assets" (include "factorymesh.componentName" .)) }}
        {{- end }}
        {{- with $e.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end -}}

{{- define "factorymesh.component.service" -}}
{{- $e := .e -}}
{{- $grpc := int ($e.ports.grpc | default 0) -}}
{{- $metrics := int ($e.ports.metrics | default 0) -}}
{{- $svc := $e.service | default dict -}}
{{- if or (gt $grpc 0) (gt $metrics 0) }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "factorymesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "factorymesh.labels" . | nindent 4 }}
    {{- if gt $metrics 0 }}
    factorymesh.io/metrics: "true"
    {{- end }}
  {{- with $svc.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $svc.type | default "ClusterIP" }}
  selector:
    {{- include "factorymesh.selectorLabels" . | nindent 4 }}
  ports:
    {{- if gt $grpc 0 }}
    - name: grpc
      port: {{ $grpc }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    {{- end }}
    {{- if gt $metrics 0 }}
    - name: metrics
      port: {{ $metrics }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
    {{- end }}
{{- end }}
{{- end -}}

{{- define "factorymesh.component.pdb" -}}
{{- $pdb := .e.pdb | default dict -}}
{{- if $pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "factorymesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "factorymesh.labels" . | nindent 4 }}
spec:
  {{- if hasKey $pdb "minAvailable" }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "factorymesh.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "factorymesh.component.hpa" -}}
{{- $as := .e.autoscaling | default dict -}}
{{- if $as.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "factorymesh.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "factorymesh.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "factorymesh.componentName" . }}
  minReplicas: {{ $as.minReplicas | int }}
  maxReplicas: {{ $as.maxReplicas | int }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $as.targetCPUUtilizationPercentage | int }}
  {{- with $as.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}
