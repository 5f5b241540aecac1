"""deploy/: the files parse, name only real settings with valid values, and keep their promises
(a non-root image with a health check, probes on /healthz and /readyz, systemd running the right
commands). Docker and Kubernetes are not run here; their files are checked as data."""

from __future__ import annotations

import configparser
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.config import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SETTINGS = {f"{ENV_PREFIX}{f.name.upper()}" for f in dataclasses.fields(Settings)}
NOT_A_SETTING_BUT_READ = {f"{ENV_PREFIX}CONFIG"}  # names the TOML file
YAML_FILES = sorted(DEPLOY.rglob("*.yaml"))
K8S = DEPLOY / "k8s"


def _docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def _k8s_objects() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in _docs(path)]


def _deployment(name: str) -> dict[str, Any]:
    return next(o for o in _k8s_objects()
                if o["kind"] == "Deployment" and o["metadata"]["name"] == name)


def _substituted(value: Any) -> str:
    """A compose value with its ${VAR…} interpolations filled in as an operator's .env would."""
    return re.sub(r"\$\{(\w+)[^}]*\}", lambda m: {"DOMAIN": "kelian.school.example"}.get(
        m.group(1), "secret123"), str(value))


def test_there_are_deploy_files() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*") if p.is_file()}
    assert {"Dockerfile", "compose.yaml", "compose/Caddyfile", "systemd/kelian.service",
            "systemd/kelian-worker.service", "k8s/kustomization.yaml"} <= names
    assert (ROOT / "docs" / "operations.md").is_file()


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_yaml_file_parses(path: Path) -> None:
    docs = _docs(path)
    assert docs and all(isinstance(doc, dict) for doc in docs)
    if path.parent == K8S:
        for doc in docs:
            assert doc.get("apiVersion") and doc.get("kind"), path
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], path


def test_every_kelian_variable_in_deploy_is_a_setting() -> None:
    used: dict[str, set[str]] = {}
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            for name in re.findall(r"\bKELIAN_[A-Z0-9_]+", path.read_text(encoding="utf-8")):
                used.setdefault(name, set()).add(path.relative_to(DEPLOY).as_posix())
    unknown = {name: sorted(files) for name, files in used.items()
               if name not in SETTINGS | NOT_A_SETTING_BUT_READ}
    assert unknown == {}, "deploy/ names settings that do not exist"
    assert {"KELIAN_DATABASE_URL", "KELIAN_TURN_SECRET", "KELIAN_LOG_FORMAT"} <= set(used)


def test_the_kustomization_lists_every_manifest() -> None:
    [kustomization] = _docs(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_the_kubernetes_settings_load() -> None:
    objects = _k8s_objects()
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    secret = next(o for o in objects if o["kind"] == "Secret")["stringData"]
    for name in ("kelian", "kelian-worker"):
        container = _deployment(name)["spec"]["template"]["spec"]["containers"][0]
        env = {**config, **secret, **{e["name"]: e["value"] for e in container.get("env", [])
                                      if "value" in e}}
        settings = load_settings(env=env)  # valid values, not only known names
        assert settings.turn_urls and settings.log_format == "json"


def test_the_kelian_nodes_probe_drain_scale_and_spread() -> None:
    deployment = _deployment("kelian")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["lifecycle"]["preStop"]["exec"]["command"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["hostNetwork"] is True  # the relay's host candidates and UDP ports
    # Several nodes, one per Kubernetes node (host ports), replaced one at a time.
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0,
                                                               "maxUnavailable": 1}
    [spread] = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    host = next(e for e in container["env"] if e["name"] == "KELIAN_HOST")
    assert host["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"  # others reach it there
    objects = _k8s_objects()
    hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler"
               and o["spec"]["scaleTargetRef"]["name"] == "kelian")
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["metrics"][0]["resource"]["name"] \
        == "cpu"
    [budget] = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    assert budget["spec"]["maxUnavailable"] == 1
    assert pod["initContainers"][0]["args"] == ["db", "upgrade"]
    assert container["args"] == ["serve"]


def test_workers_scale_on_cpu_and_turn_has_udp_and_tls_on_443() -> None:
    objects = _k8s_objects()
    hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler"
               and o["spec"]["scaleTargetRef"]["name"] == "kelian-worker")
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert _deployment("kelian-worker")["spec"]["template"]["spec"]["containers"][0]["args"] \
        == ["worker"]
    turn = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "coturn")
    ports = {(p["port"], p["protocol"]) for p in turn["spec"]["ports"]}
    assert {(3478, "UDP"), (3478, "TCP"), (443, "TCP")} <= ports
    coturn = _deployment("coturn")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--use-auth-secret" in coturn


def test_the_compose_file_runs_one_school_server_on_two_nodes() -> None:
    [compose] = _docs(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert {"kelian", "kelian-2", "worker", "migrate", "postgres", "redis", "coturn",
            "caddy"} <= set(services)
    assert services["kelian"]["command"] == services["kelian-2"]["command"] == ["serve"]
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["kelian"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["kelian"]["network_mode"] == "host"
    ports = set()
    for name in ("kelian", "kelian-2", "worker", "migrate"):
        env = {k: _substituted(v) for k, v in services[name]["environment"].items()}
        assert set(env) <= SETTINGS
        settings = load_settings(env=env)
        if name.startswith("kelian"):  # nodes on one Redis, each on its own port
            assert settings.redis_url and settings.node_host == "127.0.0.1"
            ports.add(settings.port)
    assert ports == {8080, 8081}
    assert "--use-auth-secret" in services["coturn"]["command"]
    caddyfile = (DEPLOY / "compose" / "Caddyfile").read_text(encoding="utf-8")
    assert "reverse_proxy 127.0.0.1:8080 127.0.0.1:8081" in caddyfile
    assert "health_uri /readyz" in caddyfile


def test_the_dockerfile_is_multi_stage_non_root_and_checks_health() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()
             and not line.lstrip().startswith("#")]
    assert sum(line.startswith("FROM ") for line in lines) >= 3
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    last_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    assert any(line.startswith("USER ") for line in last_stage)
    assert any(line.startswith("HEALTHCHECK ") and "/healthz" in line
               for line in text.replace("\\\n", " ").splitlines())
    assert 'ENTRYPOINT ["kelian"]' in lines and 'CMD ["serve"]' in lines
    # What it copies from the build context exists, and the ignore file lets it through.
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    for line in lines:
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
                assert f"!{source.rstrip('/')}" in ignore.replace("/\n", "\n"), source


@pytest.mark.parametrize(("unit", "command"), [("kelian.service", "kelian serve"),
                                               ("kelian-worker.service", "kelian worker")])
def test_systemd_units_run_kelian(unit: str, command: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DEPLOY / "systemd" / unit, encoding="utf-8")
    service = parser["Service"]
    assert service["ExecStart"].endswith(f"/{command}")
    assert service["User"] == "kelian" and service["KillSignal"] == "SIGTERM"
    assert service["EnvironmentFile"] == "/etc/kelian/kelian.env"
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_the_systemd_environment_file_loads() -> None:
    env = {}
    for line in (DEPLOY / "systemd" / "kelian.env").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    assert set(env) <= SETTINGS
    load_settings(env=env)
