#!/usr/bin/env bash
# Helm CLI for the factorymesh chart (helm/factorymesh).
#
#   scripts/helm.sh install   build helm and fm-kubecheck into .tools/bin (idempotent: no-op when up to date)
#   scripts/helm.sh check     install if needed, then lint --strict + template every ci/*-values.yaml + pytest tests/helm
#   scripts/helm.sh path      print the helm binary path
#   scripts/helm.sh <args>    run that helm with <args> (e.g. scripts/helm.sh template fm helm/factorymesh)
#
# Both are built from source with Go (>= 1.26) through the Go module proxy: no Helm chart
# repository, get.helm.sh or cluster is needed. fm-kubecheck (tests/helm/kubecheck) decodes
# rendered manifests strictly into the Kubernetes API types (unknown fields, wrong types fail).
# Override HELM_VERSION to pin another v3 release.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
TOOLS_BIN="${ROOT}/.tools/bin"
HELM_BIN="${TOOLS_BIN}/helm"
KUBECHECK_SRC="${ROOT}/tests/helm/kubecheck"
KUBECHECK_BIN="${TOOLS_BIN}/fm-kubecheck"
CHART="${ROOT}/helm/factorymesh"

log() { printf 'helm.sh: %s\n' "$*" >&2; }

# The stamp records what was built; a different HELM_VERSION or build recipe rebuilds.
STAMP="${ROOT}/.tools/helm.stamp"
RECIPE="2"

install_helm() {
  local want="${HELM_VERSION} recipe=${RECIPE}"
  if [[ -x "${HELM_BIN}" && -f "${STAMP}" && "$(cat "${STAMP}")" == "${want}" ]]; then
    log "helm ${HELM_VERSION} already at ${HELM_BIN}"
    return 0
  fi
  command -v go >/dev/null 2>&1 || { log "go is required to build helm (https://go.dev/dl/)"; exit 1; }
  log "building helm ${HELM_VERSION} into ${TOOLS_BIN} (go install; ~1.5 min on 2 cores with a cold cache)"
  mkdir -p "${TOOLS_BIN}"
  local start=${SECONDS} gomod k8s_minor
  # helm's release Makefile stamps the Kubernetes version its client-go targets (the default
  # .Capabilities.KubeVersion of `helm template`/`lint`); without it helm assumes v1.20 and the
  # chart's kubeVersion (>=1.27) fails. Same numbers here: client-go v0.N.x -> Kubernetes 1.N.
  gomod="$(go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "${gomod}" ]] || { log "could not download helm.sh/helm/v3@${HELM_VERSION}"; exit 1; }
  k8s_minor="$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2]; exit }' "${gomod}")"
  [[ "${k8s_minor}" =~ ^[0-9]+$ ]] || { log "could not read the client-go version from ${gomod}"; exit 1; }
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
  local pkg
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
  done
  GOBIN="${TOOLS_BIN}" GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0 \
    go install -trimpath -ldflags "${ldflags}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  echo "${want}" > "${STAMP}"
  log "built $("${HELM_BIN}" version --short) (default Kubernetes 1.${k8s_minor}) in $((SECONDS - start)) s"
}

install_kubecheck() {
  local f stale=0
  [[ -x "${KUBECHECK_BIN}" ]] || stale=1
  for f in "${KUBECHECK_SRC}"/*.go "${KUBECHECK_SRC}"/go.mod "${KUBECHECK_SRC}"/go.sum; do
    [[ "${f}" -nt "${KUBECHECK_BIN}" ]] && stale=1
  done
  if (( stale == 0 )); then
    log "fm-kubecheck up to date at ${KUBECHECK_BIN}"
    return 0
  fi
  log "building fm-kubecheck into ${TOOLS_BIN}"
  local start=${SECONDS}
  mkdir -p "${TOOLS_BIN}"
  (cd "${KUBECHECK_SRC}" && GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w" -o "${KUBECHECK_BIN}" .)
  log "built fm-kubecheck in $((SECONDS - start)) s"
}

install_all() {
  install_helm
  install_kubecheck
}

check() {
  install_all
  local f failed=0
  log "helm lint --strict + helm template | fm-kubecheck, for every ci/*-values.yaml"
  for f in "${CHART}"/ci/*-values.yaml; do
    "${HELM_BIN}" lint --strict "${CHART}" -f "${f}" >/dev/null || { log "lint failed: ${f#${ROOT}/}"; "${HELM_BIN}" lint --strict "${CHART}" -f "${f}" || true; failed=1; }
    "${HELM_BIN}" template fm "${CHART}" -f "${f}" | "${KUBECHECK_BIN}" >/dev/null \
      || { log "template/kubecheck failed: ${f#${ROOT}/}"; "${HELM_BIN}" template fm "${CHART}" -f "${f}" | "${KUBECHECK_BIN}" | grep -v '^ok' || true; failed=1; }
  done
  (( failed == 0 )) || exit 1
  log "pytest tests/helm"
  cd "${ROOT}"
  "${UV:-uv}" run --frozen pytest tests/helm -p no:cacheprovider -q -o markers=helm
}

case "${1:-check}" in
  install) install_all ;;
  check) check ;;
  path) echo "${HELM_BIN}" ;;
  *) install_helm; exec "${HELM_BIN}" "$@" ;;
esac
