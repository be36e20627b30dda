"""The Helm chart helm/factorymesh: lint, render every ci/*-values.yaml, assert real properties.

Needs the helm binary at .tools/bin/helm (`scripts/helm.sh install` builds it); without it the
tests FAIL, they never skip. No cluster is needed: `helm template` renders offline.

    uv run pytest tests/helm -p no:cacheprovider -q -o markers=helm
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.helm

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / ".tools" / "bin" / "helm"
KUBECHECK = ROOT / ".tools" / "bin" / "fm-kubecheck"  # tests/helm/kubecheck, built by scripts/helm.sh install
CHART = ROOT / "helm" / "factorymesh"
CI_DIR = CHART / "ci"
RELEASE = "fm"
NAMESPACE = "factorymesh"
FULLNAME = f"{RELEASE}-factorymesh"

CI_FILES = sorted(p.name for p in CI_DIR.glob("*-values.yaml"))
GRPC_COMPONENTS = {"ingest", "inference", "agent-coordinator", "security", "localization"}
ALL_COMPONENTS = GRPC_COMPONENTS | {"line-simulator", "ingest-features"}
# Components that run another entry point of a service's image.
IMAGE_OF = {"ingest-features": "ingest"}

Doc = dict[str, Any]


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def _helm_bin() -> Path:
    if not HELM.is_file():
        pytest.fail(f"helm not found at {HELM.relative_to(ROOT)}: run `scripts/helm.sh install` first (builds it)")
    return HELM


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(_helm_bin()), *args], capture_output=True, text=True, timeout=120, check=False)


def template(*args: str) -> subprocess.CompletedProcess[str]:
    return helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)


@cache
def _render_cached(ci_file: str) -> tuple[Doc, ...]:
    result = template("-f", str(CI_DIR / ci_file))
    if result.returncode != 0:
        pytest.fail(f"helm template -f ci/{ci_file} failed:\n{result.stderr}")
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def render(ci_file: str) -> list[Doc]:
    return copy.deepcopy(list(_render_cached(ci_file)))


def _merge(base: Any, over: Any) -> Any:
    """Helm's value coalescing for what these files use: maps merge, everything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return over


@cache
def _values_cached(ci_file: str) -> Doc:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    merged: Doc = _merge(defaults, yaml.safe_load((CI_DIR / ci_file).read_text()) or {})
    return merged


def values(ci_file: str) -> Doc:
    return copy.deepcopy(_values_cached(ci_file))


def component(vals: Doc, name: str) -> Doc:
    """Effective values of one component (as templates/components.yaml computes them)."""
    d, c = vals["default"], vals["components"][name]
    eff = {**d, **c}
    for key in ("env", "secretEnv", "ports", "podAnnotations", "podLabels"):
        eff[key] = {**(d.get(key) or {}), **(c.get(key) or {})}
    return eff


def enabled_components(vals: Doc) -> set[str]:
    return {n for n, c in vals["components"].items() if c.get("enabled")}


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def obj_name(comp: str) -> str:
    return f"{FULLNAME}-{comp}"


def comp_of(doc: Doc) -> str:
    name: str = doc["metadata"]["labels"]["app.kubernetes.io/component"]
    return name


def workloads(docs: list[Doc]) -> Iterator[Doc]:
    yield from (d for d in docs if d["kind"] in ("Deployment", "StatefulSet"))


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def main_container(doc: Doc) -> Doc:
    containers = pod_spec(doc)["containers"]
    assert len(containers) == 1, doc["metadata"]["name"]
    c: Doc = containers[0]
    return c


def env_of(container: Doc) -> dict[str, Any]:
    names = [e["name"] for e in container.get("env", [])]
    assert len(names) == len(set(names)), f"duplicate env vars in {container['name']}: {names}"
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def port_of(container: Doc, name: str) -> int | None:
    for p in container.get("ports", []):
        if p["name"] == name:
            port: int = p["containerPort"]
            return port
    return None


def component_deployments(docs: list[Doc]) -> dict[str, Doc]:
    """component name -> Deployment, for the factorymesh components only (not Triton)."""
    return {comp_of(d): d for d in of_kind(docs, "Deployment").values() if comp_of(d) in ALL_COMPONENTS}


ci_files = pytest.mark.parametrize("ci_file", CI_FILES)


# ------------------------------------------------------------------------------------------
# lint and render
# ------------------------------------------------------------------------------------------


def test_the_tested_combinations_exist() -> None:
    assert CI_FILES == [
        "default-values.yaml",
        "demo-values.yaml",
        "gpu-triton-values.yaml",
        "minimal-ingest-values.yaml",
    ]


@ci_files
def test_lint_strict(ci_file: str) -> None:
    result = helm("lint", "--strict", str(CHART), "-f", str(CI_DIR / ci_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout
    assert "warning" not in result.stderr.lower(), result.stderr


@ci_files
def test_manifests_decode_strictly_into_kubernetes_types(ci_file: str) -> None:
    """Every rendered object decodes into its k8s.io/api type with unknown fields rejected."""
    if not KUBECHECK.is_file():
        pytest.fail(f"{KUBECHECK.relative_to(ROOT)} not found: run `scripts/helm.sh install` first (builds it)")
    rendered = template("-f", str(CI_DIR / ci_file))
    assert rendered.returncode == 0, rendered.stderr
    result = subprocess.run(
        [str(KUBECHECK)], input=rendered.stdout, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIP")]
    assert all("monitoring.coreos.com/v1/ServiceMonitor" in line for line in skipped), skipped
    checked = int(result.stdout.splitlines()[-1].split()[0])
    assert checked == len(render(ci_file)) - len(skipped)


@ci_files
def test_renders_enabled_components_only(ci_file: str) -> None:
    docs, vals = render(ci_file), values(ci_file)
    enabled = enabled_components(vals)
    assert set(component_deployments(docs)) == enabled
    rendered_components = {comp_of(d) for d in docs}
    for name in ALL_COMPONENTS - enabled:
        assert name not in rendered_components, f"disabled component {name} rendered"
        assert not [d for d in docs if d["metadata"]["name"].startswith(obj_name(name))]
    for name in enabled:
        assert obj_name(name) in of_kind(docs, "ServiceAccount")
        assert obj_name(name) in of_kind(docs, "Service")
    # third-party parts only behind their flags
    assert (f"{FULLNAME}-triton" in of_kind(docs, "Deployment")) == vals["triton"]["enabled"]
    assert (f"{FULLNAME}-kafka" in of_kind(docs, "StatefulSet")) == vals["kafka"]["enabled"]


def test_minimal_renders_only_ingest() -> None:
    docs = render("minimal-ingest-values.yaml")
    assert {comp_of(d) for d in docs} == {"ingest"}
    assert sorted(d["kind"] for d in docs) == ["Deployment", "Service", "ServiceAccount"]


def test_ingest_features_runs_the_ingest_image_with_its_own_entry_point() -> None:
    deps = component_deployments(render("default-values.yaml"))
    container = main_container(deps["ingest-features"])
    assert container["image"].rsplit("/", 1)[1].startswith("ingest:")
    assert container["command"] == ["python", "-m", "factorymesh.ingest.features"]


@ci_files
def test_every_object_is_namespaced_and_labelled(ci_file: str) -> None:
    for doc in render(ci_file):
        meta = doc["metadata"]
        assert meta["namespace"] == NAMESPACE, meta["name"]
        assert meta["labels"]["app.kubernetes.io/instance"] == RELEASE
        assert meta["labels"]["app.kubernetes.io/part-of"] == "factorymesh"
        assert len(meta["name"]) <= 63


@ci_files
def test_selectors_match_pod_labels(ci_file: str) -> None:
    docs = render(ci_file)
    pods = {comp_of(w): w["spec"]["template"]["metadata"]["labels"] for w in workloads(docs)}
    for w in workloads(docs):
        assert w["spec"]["selector"]["matchLabels"].items() <= pods[comp_of(w)].items()
    for svc in of_kind(docs, "Service").values():
        assert svc["spec"]["selector"].items() <= pods[comp_of(svc)].items(), svc["metadata"]["name"]
    for pdb in of_kind(docs, "PodDisruptionBudget").values():
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pods[comp_of(pdb)].items()


# ------------------------------------------------------------------------------------------
# probes, ports, shutdown
# ------------------------------------------------------------------------------------------


@ci_files
def test_grpc_services_have_grpc_health_probes(ci_file: str) -> None:
    docs, vals = render(ci_file), values(ci_file)
    services = of_kind(docs, "Service")
    for name, dep in component_deployments(docs).items():
        eff = component(vals, name)
        grpc_port = eff["ports"]["grpc"]
        container = main_container(dep)
        env = env_of(container)
        if name not in GRPC_COMPONENTS:
            continue
        assert grpc_port > 0
        assert port_of(container, "grpc") == grpc_port
        assert env["FM_GRPC_PORT"] == str(grpc_port), "the service must listen where the probes look"
        # readiness: overall health "" (SERVING only while Kafka/Triton are ready)
        assert container["readinessProbe"]["grpc"] == {"port": grpc_port, "service": ""}
        # liveness: the "liveness" entry (SERVING while the process runs)
        assert container["livenessProbe"]["grpc"] == {"port": grpc_port, "service": "liveness"}
        assert container["startupProbe"]["grpc"] == {"port": grpc_port, "service": "liveness"}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert "httpGet" not in container[probe]
            assert "tcpSocket" not in container[probe]
        svc_ports = {p["name"]: p for p in services[obj_name(name)]["spec"]["ports"]}
        assert svc_ports["grpc"]["port"] == grpc_port
        assert svc_ports["grpc"]["targetPort"] == "grpc"
        assert svc_ports["grpc"]["appProtocol"] == "grpc"
        metrics_port = eff["ports"]["metrics"]
        assert svc_ports["metrics"]["port"] == metrics_port
        assert port_of(container, "metrics") == metrics_port
        assert env["FM_METRICS_PORT"] == str(metrics_port)


def test_line_simulator_has_no_grpc_server() -> None:
    docs = render("demo-values.yaml")
    dep = component_deployments(docs)["line-simulator"]
    container = main_container(dep)
    assert "FM_GRPC_PORT" not in env_of(container)
    assert port_of(container, "grpc") is None
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert probe not in container
    svc = of_kind(docs, "Service")[obj_name("line-simulator")]
    assert [p["name"] for p in svc["spec"]["ports"]] == ["metrics"]


@ci_files
def test_termination_grace_exceeds_the_grpc_drain(ci_file: str) -> None:
    docs, vals = render(ci_file), values(ci_file)
    for name, dep in component_deployments(docs).items():
        eff = component(vals, name)
        container = main_container(dep)
        grace = float(env_of(container)["FM_GRPC_SHUTDOWN_GRACE_S"])
        assert grace == float(eff["shutdownGraceSeconds"])
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert pre_stop == eff.get("preStopSleepSeconds", 0)
        tgps = pod_spec(dep)["terminationGracePeriodSeconds"]
        assert tgps == eff["terminationGracePeriodSeconds"]
        assert tgps > grace + pre_stop, f"{name}: SIGKILL ({tgps}s) before the drain ({grace}s + {pre_stop}s) ends"


def test_prestop_sleep_is_rendered_when_set() -> None:
    container = main_container(component_deployments(render("minimal-ingest-values.yaml"))["ingest"])
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert env_of(container)["FM_GRPC_SHUTDOWN_GRACE_S"] == "30"


# ------------------------------------------------------------------------------------------
# security, resources
# ------------------------------------------------------------------------------------------


def _all_containers(doc: Doc) -> list[Doc]:
    spec = pod_spec(doc)
    containers: list[Doc] = spec.get("initContainers", []) + spec["containers"]
    return containers


@ci_files
def test_pods_run_as_non_root_with_a_locked_down_container(ci_file: str) -> None:
    for w in workloads(render(ci_file)):
        name = w["metadata"]["name"]
        spec = pod_spec(w)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["enableServiceLinks"] is False, name
        demo_kafka = w["kind"] == "StatefulSet"
        for c in _all_containers(w):
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert "add" not in sc["capabilities"], (name, c["name"])
            assert sc.get("privileged", False) is False
            # the demo-only broker's image rewrites /opt/kafka/config at start
            assert sc["readOnlyRootFilesystem"] is (not demo_kafka), (name, c["name"])


@ci_files
def test_every_container_requests_cpu_and_memory(ci_file: str) -> None:
    for w in workloads(render(ci_file)):
        for c in _all_containers(w):
            requests = c["resources"]["requests"]
            assert requests.get("cpu"), (w["metadata"]["name"], c["name"])
            assert requests.get("memory"), (w["metadata"]["name"], c["name"])
            assert c["resources"]["limits"].get("memory"), (w["metadata"]["name"], c["name"])


@ci_files
def test_service_accounts_do_not_mount_api_tokens(ci_file: str) -> None:
    docs = render(ci_file)
    accounts = of_kind(docs, "ServiceAccount")
    for name, dep in component_deployments(docs).items():
        sa = pod_spec(dep)["serviceAccountName"]
        assert sa == obj_name(name)
        assert accounts[sa]["automountServiceAccountToken"] is False


# ------------------------------------------------------------------------------------------
# env: Kafka, Triton, secrets
# ------------------------------------------------------------------------------------------


@ci_files
def test_kafka_bootstrap_env_comes_from_values(ci_file: str) -> None:
    docs, vals = render(ci_file), values(ci_file)
    if vals["kafka"]["enabled"]:
        expected = f"{FULLNAME}-kafka.{NAMESPACE}.svc:9092"
        replication = "1"
    else:
        expected = vals["kafka"]["external"]["bootstrap"]
        replication = str(vals["kafka"]["replicationFactor"])
    assert expected
    for name, dep in component_deployments(docs).items():
        env = env_of(main_container(dep))
        assert env["FM_KAFKA_BOOTSTRAP"] == expected, name
        assert env["FM_KAFKA_REPLICATION_FACTOR"] == replication, name
        assert env["FM_SERVICE_NAME"] == name
        assert env["FM_ENVIRONMENT"] == component(vals, name)["env"]["FM_ENVIRONMENT"]


def test_production_defaults() -> None:
    docs, vals = render("default-values.yaml"), values("default-values.yaml")
    for name, dep in component_deployments(docs).items():
        env = env_of(main_container(dep))
        assert env["FM_ENVIRONMENT"] == "production", name
        assert env["FM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == vals["default"]["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        # the secret is referenced, never inlined
        assert env["FM_KAFKA_SASL_PASSWORD"] == {"secretKeyRef": {"name": "factorymesh-kafka-sasl", "key": "password"}}


def test_empty_env_values_are_not_rendered() -> None:
    # OTEL_EXPORTER_OTLP_ENDPOINT defaults to "" (no OTLP export): left out, not set empty
    for dep in component_deployments(render("gpu-triton-values.yaml")).values():
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env_of(main_container(dep))


@ci_files
def test_inference_points_at_triton(ci_file: str) -> None:
    docs, vals = render(ci_file), values(ci_file)
    deps = component_deployments(docs)
    if "inference" not in deps:
        return
    env = env_of(main_container(deps["inference"]))
    assert env["FM_TRITON_URL"] == f"{FULLNAME}-triton:{vals['triton']['ports']['grpc']}"
    assert env["FM_TRITON_HTTP_URL"] == f"{FULLNAME}-triton:{vals['triton']['ports']['http']}"
    svc = of_kind(docs, "Service")[f"{FULLNAME}-triton"]
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"http": 8000, "grpc": 8001, "metrics": 8002}


def test_external_triton_url() -> None:
    result = template(
        "-f",
        str(CI_DIR / "minimal-ingest-values.yaml"),
        "--set",
        "components.inference.enabled=true",
        "--set",
        "triton.external.url=triton.ml.svc:8001",
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    env = env_of(main_container(component_deployments(docs)["inference"]))
    assert env["FM_TRITON_URL"] == "triton.ml.svc:8001"
    assert "FM_TRITON_HTTP_URL" not in env
    assert f"{FULLNAME}-triton" not in of_kind(docs, "Deployment")


# ------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------


def _app_version() -> str:
    version: str = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    return version


@ci_files
def test_component_images_follow_registry_and_tag(ci_file: str) -> None:
    docs, vals = render(ci_file), values(ci_file)
    registry = vals["default"]["image"]["registry"]
    tag = vals["default"]["image"]["tag"] or _app_version()
    for name, dep in component_deployments(docs).items():
        container = main_container(dep)
        assert container["image"] == f"{registry}/{IMAGE_OF.get(name, name)}:{tag}"
        assert container["imagePullPolicy"] == vals["default"]["image"]["pullPolicy"]
        secrets = [s["name"] for s in pod_spec(dep).get("imagePullSecrets", [])]
        assert secrets == vals["default"]["image"]["pullSecrets"]


def test_default_images_are_ghcr_at_app_version() -> None:
    deps = component_deployments(render("gpu-triton-values.yaml"))
    for name, dep in deps.items():
        assert main_container(dep)["image"] == f"ghcr.io/factorymesh/{IMAGE_OF.get(name, name)}:{_app_version()}"


def test_image_override_per_component() -> None:
    digest = "sha256:" + "a" * 64
    result = template(
        "-f",
        str(CI_DIR / "minimal-ingest-values.yaml"),
        "--set",
        "components.ingest.imageOverride.registry=mirror.local/fm",
        "--set",
        f"components.ingest.imageOverride.digest={digest}",
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert main_container(component_deployments(docs)["ingest"])["image"] == f"mirror.local/fm/ingest@{digest}"


# ------------------------------------------------------------------------------------------
# Triton
# ------------------------------------------------------------------------------------------


def _triton(docs: list[Doc]) -> Doc:
    return of_kind(docs, "Deployment")[f"{FULLNAME}-triton"]


@ci_files
def test_triton_gpu_limits_only_when_enabled(ci_file: str) -> None:
    docs, vals = render(ci_file), values(ci_file)
    gpu = vals["triton"]["enabled"] and vals["triton"]["gpu"]["enabled"]
    for w in workloads(docs):
        for c in _all_containers(w):
            res = c.get("resources", {})
            has_gpu = "nvidia.com/gpu" in res.get("limits", {}) or "nvidia.com/gpu" in res.get("requests", {})
            should = gpu and w["metadata"]["name"] == f"{FULLNAME}-triton" and c["name"] == "triton"
            assert has_gpu == should, (ci_file, w["metadata"]["name"], c["name"])
    if vals["triton"]["enabled"]:
        spec = pod_spec(_triton(docs))
        assert ("runtimeClassName" in spec) == gpu
        gpu_toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        assert (gpu_toleration in spec.get("tolerations", [])) == gpu


def test_gpu_triton() -> None:
    docs = render("gpu-triton-values.yaml")
    spec = pod_spec(_triton(docs))
    container = main_container(_triton(docs))
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


@ci_files
def test_triton_serves_the_model_repository_explicitly(ci_file: str) -> None:
    docs, vals = render(ci_file), values(ci_file)
    if not vals["triton"]["enabled"]:
        return
    dep = _triton(docs)
    container = main_container(dep)
    repo, tag = container["image"].rsplit(":", 1)
    assert repo == "nvcr.io/nvidia/tritonserver"
    assert tag.endswith("-py3")
    args = container["args"]
    assert "--model-repository=/models" in args
    assert "--model-control-mode=explicit" in args
    assert "--load-model=*" in args
    assert f"--exit-timeout-secs={vals['triton']['exitTimeoutSeconds']}" in args
    assert vals["triton"]["exitTimeoutSeconds"] < pod_spec(dep)["terminationGracePeriodSeconds"]
    assert env_of(container)["HOME"] == "/tmp"  # noqa: S108 - the emptyDir under a read-only root
    assert {port_of(container, n) for n in ("http", "grpc", "metrics")} == {8000, 8001, 8002}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["model-repository"]["mountPath"] == "/models"
    assert mounts["model-repository"]["readOnly"] is True
    assert mounts["dshm"]["mountPath"] == "/dev/shm"  # noqa: S108 - the python backend's shared memory
    volumes = {v["name"]: v for v in pod_spec(dep)["volumes"]}
    source = vals["triton"]["modelRepository"]["source"]
    if source == "image":
        (init,) = pod_spec(dep)["initContainers"]
        assert init["image"] == f"ghcr.io/factorymesh/triton-models:{_app_version()}"
        assert init["volumeMounts"] == [{"name": "model-repository", "mountPath": "/model-repository"}]
        assert "emptyDir" in volumes["model-repository"]
    else:
        assert "initContainers" not in pod_spec(dep)
        pvc = vals["triton"]["modelRepository"]["pvc"]
        assert volumes["model-repository"]["persistentVolumeClaim"] == {"claimName": pvc["claimName"], "readOnly": True}
        assert mounts["model-repository"]["subPath"] == pvc["subPath"]


def test_triton_pvc_source_needs_a_claim() -> None:
    result = template("-f", str(CI_DIR / "default-values.yaml"), "--set", "triton.modelRepository.source=pvc")
    assert result.returncode != 0
    assert "triton.modelRepository.pvc.claimName" in result.stderr


# ------------------------------------------------------------------------------------------
# demo Kafka
# ------------------------------------------------------------------------------------------


def test_demo_kafka_is_single_node_kraft_with_replication_factor_one() -> None:
    docs = render("demo-values.yaml")
    sts = of_kind(docs, "StatefulSet")[f"{FULLNAME}-kafka"]
    assert sts["metadata"]["labels"]["factorymesh.io/demo-only"] == "true"
    assert sts["spec"]["replicas"] == 1
    container = main_container(sts)
    assert container["image"].startswith("apache/kafka:4.")
    env = env_of(container)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{FULLNAME}-kafka.{NAMESPACE}.svc:9092"
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_DEFAULT_REPLICATION_FACTOR",
    ):
        assert env[key] == "1", key
    assert of_kind(docs, "Service")[f"{FULLNAME}-kafka"]["spec"]["ports"][0]["port"] == 9092


# ------------------------------------------------------------------------------------------
# asset registry, metrics, PDB, HPA
# ------------------------------------------------------------------------------------------


def test_ingest_asset_registry_configmap() -> None:
    docs, vals = render("demo-values.yaml"), values("demo-values.yaml")
    cm = of_kind(docs, "ConfigMap")[f"{obj_name('ingest')}-assets"]
    data = cm["data"]["assets.yaml"]
    assert yaml.safe_load(data) == vals["components"]["ingest"]["assetRegistry"]["content"]
    dep = component_deployments(docs)["ingest"]
    container = main_container(dep)
    assert env_of(container)["FM_ASSETS_FILE"] == "/etc/factorymesh/assets/assets.yaml"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "assets")
    assert mount == {"name": "assets", "mountPath": "/etc/factorymesh/assets", "readOnly": True}
    volume = next(v for v in pod_spec(dep)["volumes"] if v["name"] == "assets")
    assert volume["configMap"]["name"] == cm["metadata"]["name"]
    # pods roll when the registry changes
    checksum = dep["spec"]["template"]["metadata"]["annotations"]["checksum/assets"]
    assert checksum == hashlib.sha256(data.rstrip("\n").encode()).hexdigest()


def test_ingest_asset_registry_as_yaml_text_and_existing_configmap() -> None:
    vals = values("default-values.yaml")
    cm = of_kind(render("default-values.yaml"), "ConfigMap")[f"{obj_name('ingest')}-assets"]
    text = vals["components"]["ingest"]["assetRegistry"]["content"]
    assert yaml.safe_load(cm["data"]["assets.yaml"]) == yaml.safe_load(text)

    docs = render("minimal-ingest-values.yaml")
    assert not of_kind(docs, "ConfigMap")
    volume = next(v for v in pod_spec(component_deployments(docs)["ingest"])["volumes"] if v["name"] == "assets")
    assert volume["configMap"]["name"] == "plant-1-assets"


@ci_files
def test_prometheus_scrape_annotations_match_metrics_port(ci_file: str) -> None:
    docs = render(ci_file)
    for w in workloads(docs):
        container = main_container(w)
        metrics = port_of(container, "metrics")
        annotations = w["spec"]["template"]["metadata"].get("annotations", {})
        if metrics is None:
            assert "prometheus.io/scrape" not in annotations
        else:
            assert annotations["prometheus.io/scrape"] == "true"
            assert annotations["prometheus.io/port"] == str(metrics)


def test_service_monitor_behind_flag() -> None:
    docs = render("default-values.yaml")
    (sm,) = of_kind(docs, "ServiceMonitor").values()
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = sm["spec"]["selector"]["matchLabels"]
    scraped = [s for s in of_kind(docs, "Service").values() if selector.items() <= s["metadata"]["labels"].items()]
    assert {comp_of(s) for s in scraped} == enabled_components(values("default-values.yaml")) | {"triton"}
    for svc in scraped:
        assert "metrics" in {p["name"] for p in svc["spec"]["ports"]}
    assert not of_kind(render("demo-values.yaml"), "ServiceMonitor")


def test_pdb_and_hpa() -> None:
    docs = render("default-values.yaml")
    pdbs = of_kind(docs, "PodDisruptionBudget")
    assert set(pdbs) == {obj_name(c) for c in GRPC_COMPONENTS}
    assert all(p["spec"]["maxUnavailable"] == 1 for p in pdbs.values())
    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": obj_name("ingest")}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    deps = component_deployments(docs)
    assert "replicas" not in deps["ingest"]["spec"], "the HPA owns the replica count"
    assert deps["inference"]["spec"]["replicas"] == 2
    assert not of_kind(render("demo-values.yaml"), "PodDisruptionBudget")


# ------------------------------------------------------------------------------------------
# what must NOT render
# ------------------------------------------------------------------------------------------


def test_missing_kafka_bootstrap_fails_with_a_clear_message() -> None:
    result = template()  # chart defaults: no kafka.external.bootstrap, kafka.enabled=false
    assert result.returncode != 0
    assert "kafka.external.bootstrap is required" in result.stderr
    assert "kafka.enabled=true" in result.stderr
    result = template("--set", "kafka.external.bootstrap=  ")
    assert result.returncode != 0


def test_external_and_demo_kafka_together_fail() -> None:
    result = template("-f", str(CI_DIR / "demo-values.yaml"), "--set", "kafka.external.bootstrap=k:9092")
    assert result.returncode != 0
    assert "not both" in result.stderr


@pytest.mark.parametrize(
    ("setting", "where"),
    [
        ("components.ingest.replicas=two", "/components/ingest/replicas"),
        ("default.ports.grpc=grpc", "/default/ports/grpc"),
        ("triton.gpu.enabled=yes-please", "/triton/gpu/enabled"),
        ("components.ingest.replica=2", "/components/ingest"),  # a typo'd key
        ("kafka.external.bootstrap=PLAINTEXT://kafka:9092", "/kafka/external/bootstrap"),
        ("triton.modelRepository.source=git", "/triton/modelRepository/source"),
        ("default.image.pullPolicy=Sometimes", "/default/image/pullPolicy"),
    ],
)
def test_schema_rejects_bad_values(setting: str, where: str) -> None:
    result = template("-f", str(CI_DIR / "default-values.yaml"), "--set", setting)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert where in result.stderr, result.stderr


def test_termination_grace_not_above_the_drain_fails() -> None:
    result = template(
        "-f", str(CI_DIR / "default-values.yaml"), "--set", "components.security.terminationGracePeriodSeconds=20"
    )
    assert result.returncode != 0
    assert "components.security: terminationGracePeriodSeconds (20) must be greater than" in result.stderr


def test_inlined_secret_fails() -> None:
    result = template(
        "-f", str(CI_DIR / "default-values.yaml"), "--set", "components.security.env.FM_JWT_SIGNING_SECRET=hunter2"
    )
    assert result.returncode != 0
    assert "must not be inlined" in result.stderr
    assert "secretEnv" in result.stderr


def test_reserved_env_fails() -> None:
    result = template("-f", str(CI_DIR / "default-values.yaml"), "--set", "default.env.FM_GRPC_PORT=6000")
    assert result.returncode != 0
    assert "the chart sets it from components." in result.stderr
    assert "ports.grpc" in result.stderr


def test_triton_load_all_must_be_alone() -> None:
    result = template("-f", str(CI_DIR / "demo-values.yaml"), "--set", "triton.loadModels={*,signal_features}")
    assert result.returncode != 0
    assert "must be the only entry" in result.stderr


def test_inference_without_triton_fails() -> None:
    result = template("-f", str(CI_DIR / "minimal-ingest-values.yaml"), "--set", "components.inference.enabled=true")
    assert result.returncode != 0
    assert "components.inference needs Triton" in result.stderr


@pytest.mark.parametrize("ci_file", ["default-values.yaml", "demo-values.yaml"])
def test_notes_render(ci_file: str, tmp_path: Path) -> None:
    """NOTES.txt is only rendered by `helm install`; render it through a ConfigMap in a copy."""
    chart = tmp_path / "factorymesh"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "_notes_under_test.tpl").write_text(
        '{{- define "notes.under.test" -}}\n' + notes + "{{- end -}}\n"
    )
    (chart / "templates" / "notes-under-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: |\n{{ include "notes.under.test" . | indent 4 }}\n'
    )
    result = helm(
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "-f",
        str(CI_DIR / ci_file),
        "--show-only",
        "templates/notes-under-test.yaml",
    )
    assert result.returncode == 0, result.stderr
    text = yaml.safe_load(result.stdout)["data"]["notes"]
    vals = values(ci_file)
    for name in enabled_components(vals):
        assert obj_name(name) in text
    assert ("DEMO-ONLY" in text) == vals["kafka"]["enabled"]
    assert "grpc.health.v1.Health/Check" in text
    assert f"port-forward svc/{obj_name('agent-coordinator')} 50051:50051" in text
