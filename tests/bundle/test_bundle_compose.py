"""docker-compose.yml, the Dockerfile, the OpenTelemetry Collector config and the compose exporter config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bundle_helpers import ROOT, load_yaml, run


def _volume(v) -> tuple[str, str, bool]:
    """(source, target, read-only) from the short or the long volume syntax."""
    if isinstance(v, str):
        parts = v.split(":")
        return parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")
    return v["source"], v["target"], bool(v.get("read_only"))


# The environment `docker compose up` needs: Grafana's admin password has no default.
ENV = {"PATH": "/usr/bin:/bin", "GF_SECURITY_ADMIN_PASSWORD": "s3cret pass"}


def _resolved(docker_compose: str, env: dict[str, str] = ENV) -> dict:
    res = run(docker_compose, "-f", "docker-compose.yml", "config", env=env)
    assert res.returncode == 0, res.stderr
    return yaml.safe_load(res.stdout)


def test_docker_compose_config_is_valid(docker_compose):
    res = run(docker_compose, "-f", "docker-compose.yml", "config", "-q", env=ENV)
    assert res.returncode == 0, res.stdout + res.stderr


def test_compose_needs_the_grafana_password(docker_compose):
    res = run(docker_compose, "-f", "docker-compose.yml", "config", "-q", env={"PATH": "/usr/bin:/bin"})
    assert res.returncode != 0
    assert "set GF_SECURITY_ADMIN_PASSWORD, the Grafana admin password" in res.stderr
    assert _resolved(docker_compose)["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == (
        "s3cret pass"
    )


def _published(port) -> tuple[str, str]:
    """(host address, host port) of a port mapping, short ("127.0.0.1:80:80/tcp") or long syntax."""
    if isinstance(port, dict):
        return port.get("host_ip", ""), str(port.get("published", ""))
    parts = str(port).split("/")[0].split(":")
    return (parts[0], parts[1]) if len(parts) == 3 else ("", parts[0])


def test_compose_ports_on_loopback(docker_compose):
    published = {
        name: [_published(p) for p in svc.get("ports", [])]
        for name, svc in _resolved(docker_compose)["services"].items()
    }
    assert published == {
        "llm-exporter": [("127.0.0.1", "8464")],
        "demo-writer": [],
        "otel-collector": [("127.0.0.1", "4317"), ("127.0.0.1", "4318")],
        "tempo": [],
        "prometheus": [("127.0.0.1", "9090")],
        "alertmanager": [("127.0.0.1", "9093")],
        "alertmanager-2": [],
        "grafana": [("127.0.0.1", "3000")],
    }


def test_docker_compose_resolved(docker_compose):
    cfg = _resolved(docker_compose)
    services = cfg["services"]
    assert set(services) == {
        "llm-exporter",
        "demo-writer",
        "otel-collector",
        "tempo",
        "prometheus",
        "alertmanager",
        "alertmanager-2",
        "grafana",
    }
    assert set(cfg["volumes"]) == {
        "llm-logs",
        "llm-exporter-data",
        "prometheus-data",
        "alertmanager-data",
        "alertmanager-2-data",
        "grafana-data",
    }
    for name, svc in services.items():
        if name not in ("otel-collector", "tempo"):  # images without a shell or client for a healthcheck
            assert svc["healthcheck"]["test"][0] == "CMD", name

    exporter = services["llm-exporter"]
    assert exporter["command"] == ["--config", "/etc/llm-exporter/config.yml", "--web.listen-address", "0.0.0.0:8464"]
    volumes = [_volume(v) for v in exporter["volumes"]]
    assert ("llm-logs", "/var/log/llm", True) in volumes
    assert ("llm-exporter-data", "/var/lib/llm-exporter", False) in volumes
    assert any(target == "/etc/llm-exporter/config.yml" and ro for _, target, ro in volumes)

    prom = services["prometheus"]
    assert prom["image"].startswith("prom/prometheus:")
    assert "--enable-feature=created-timestamp-zero-ingestion" in prom["command"]
    assert "--enable-feature=exemplar-storage" in prom["command"]
    assert not [flag for flag in prom["command"] if "lifecycle" in flag]  # no unauthenticated /-/quit
    assert prom["environment"] == {"RUNBOOK_BASE_URL": ""}
    assert services["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert services["alertmanager"]["entrypoint"] == ["/bin/sh", "/etc/alertmanager/entrypoint.sh"]


def test_alertmanager_pair_is_a_cluster(docker_compose):
    services = _resolved(docker_compose)["services"]
    first, second = services["alertmanager"], services["alertmanager-2"]
    pairs = ((first, "alertmanager-2", "alertmanager-data"), (second, "alertmanager", "alertmanager-2-data"))
    for svc, peer, data in pairs:
        assert svc["entrypoint"] == ["/bin/sh", "/etc/alertmanager/entrypoint.sh"]
        assert "--cluster.listen-address=0.0.0.0:9094" in svc["command"]
        assert f"--cluster.peer={peer}:9094" in svc["command"]
        assert (data, "/alertmanager", False) in [_volume(v) for v in svc["volumes"]]  # state of its own
    assert {k: v for k, v in first.items() if k not in ("command", "volumes", "ports")} == {
        k: v for k, v in second.items() if k not in ("command", "volumes", "ports")
    }
    assert {"alertmanager", "alertmanager-2"} <= set(services["prometheus"]["depends_on"])


def _dockerfile() -> list[str]:
    """The Dockerfile's instructions (comments and blank lines left out; continued lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile():
    lines = _dockerfile()
    assert [line for line in lines if line.startswith("FROM ")] == ["FROM python:3.11-slim"]  # one stage
    assert any(line.startswith("RUN pip install . ") for line in lines)
    assert not any("gcc" in line for line in lines)  # pure Python: no compiler in the image
    assert "EXPOSE 8464" in lines
    user = [line for line in lines if line.startswith("USER ")]
    assert user and "root" not in user[-1] and user[-1] != "USER 0"
    assert 'ENTRYPOINT ["llm-exporter"]' in lines


def test_the_image_installs_a_pure_python_wheel(tmp_path: Path) -> None:
    """What the Dockerfile copies before `pip install .` is enough to build the package, with no
    compiler: the wheel is for any platform and holds no C."""
    context = tmp_path / "context"
    context.mkdir()
    for line in _dockerfile():
        if line.startswith("RUN pip install"):
            break
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                (shutil.copytree if (ROOT / source).is_dir() else shutil.copy)(ROOT / source, context / source)
    shutil.rmtree(context / "src" / "llm_exporter.egg-info", ignore_errors=True)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CC": "false", "CXX": "false"},  # any compiler call would fail the build
    )
    assert res.returncode == 0, res.stdout + res.stderr
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    with zipfile.ZipFile(wheel) as zipped:
        names = zipped.namelist()
    assert "llm_exporter/cli.py" in names
    assert not [name for name in names if name.endswith((".c", ".h", ".so"))]


def test_otel_collector_config():
    cfg = load_yaml("otel-collector/config.yaml")
    assert set(cfg["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    assert cfg["exporters"]["prometheus"]["endpoint"] == "0.0.0.0:8889"
    pipe = cfg["service"]["pipelines"]["metrics"]
    assert pipe["receivers"] == ["otlp"] and pipe["exporters"] == ["prometheus"]
    traces = cfg["service"]["pipelines"]["traces"]
    assert traces["receivers"] == ["otlp"] and traces["exporters"] == ["otlp/tempo"]
    assert cfg["exporters"]["otlp/tempo"]["endpoint"] == "tempo:4317"


def test_compose_exporter_config_is_accepted_by_the_exporter():
    res = subprocess.run(
        [sys.executable, "-m", "llm_exporter", "check-config", "docker/llm-exporter.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if res.returncode != 0 and "No module named llm_exporter" in res.stderr:
        pytest.skip("llm_exporter is not installed (pip install -e .)")
    assert res.returncode == 0, res.stdout + res.stderr
