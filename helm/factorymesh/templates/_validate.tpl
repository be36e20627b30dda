{{/* Chart-wide checks that a JSON schema cannot express. Fails rendering with one clear line. */}}
{{- define "factorymesh.validate" -}}
{{- /* Kafka: a bootstrap is required (external), or the demo broker; the helper fails otherwise. */ -}}
{{- $_ := include "factorymesh.kafka.bootstrap" . -}}
{{- if and .Values.triton.enabled (eq .Values.triton.modelRepository.source "pvc") (not .Values.triton.modelRepository.pvc.claimName) -}}
{{- fail "factorymesh: triton.modelRepository.source=pvc needs triton.modelRepository.pvc.claimName" -}}
{{- end -}}
{{- if and .Values.triton.enabled (not .Values.triton.loadModels) -}}
{{- fail "factorymesh: triton.loadModels is empty: list the models to load, or [\"*\"] for all" -}}
{{- end -}}
{{- if and .Values.triton.enabled (has "*" .Values.triton.loadModels) (gt (len .Values.triton.loadModels) 1) -}}
{{- fail "factorymesh: triton.loadModels: \"*\" (every model) must be the only entry" -}}
{{- end -}}
{{- if and .Values.triton.enabled (ge (int .Values.triton.exitTimeoutSeconds) (int .Values.triton.terminationGracePeriodSeconds)) -}}
{{- fail (printf "factorymesh: triton.terminationGracePeriodSeconds (%v) must be greater than triton.exitTimeoutSeconds (%v)" .Values.triton.terminationGracePeriodSeconds .Values.triton.exitTimeoutSeconds) -}}
{{- end -}}
{{- range $name, $c := .Values.components -}}
{{- $as := (($c | default dict).autoscaling | default $.Values.default.autoscaling) | default dict -}}
{{- if and ($c | default dict).enabled $as.enabled (gt (int $as.minReplicas) (int $as.maxReplicas)) -}}
{{- fail (printf "factorymesh: components.%s.autoscaling: minReplicas (%v) > maxReplicas (%v)" $name $as.minReplicas $as.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}
