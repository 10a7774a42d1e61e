"""deploy/kubernetes/: rendered with `kubectl kustomize`, valid against the Kubernetes and
Prometheus Operator schemas, and carrying the repository's own rule and dashboard files.

Needs kubectl (its built-in kustomize) and the kubernetes-validate package; skips naming them
when missing. The Prometheus Operator CRDs are vendored in testdata/crds/ (see its README).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from bundle_helpers import ROOT, dashboards, need, rule_files

from llm_exporter.config import load_config

KUSTOMIZE = ROOT / "deploy" / "kubernetes"
VARIANTS = ("daemonset", "sidecar")
CRDS = Path(__file__).resolve().parent / "testdata" / "crds"
KUBERNETES_VERSION = "1.32"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_prometheusrule", KUSTOMIZE / "generate_prometheusrule.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_rendered: dict[str, list[dict[str, Any]]] = {}


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR` as typed, without flags: what `kubectl apply -k DIR` reads."""
    kubectl = need("kubectl", "kubectl")
    res = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return [doc for doc in yaml.safe_load_all(res.stdout) if doc]


def render(variant: str) -> list[dict[str, Any]]:
    """The variant's manifests (rendered once per test session)."""
    if variant not in _rendered:
        _rendered[variant] = kustomize(KUSTOMIZE / variant)
    return _rendered[variant]


@pytest.mark.parametrize("variant", VARIANTS)
def test_an_overlay_elsewhere_sets_the_image_with_kubectl_alone(variant: str, tmp_path: Path) -> None:
    """A user's own overlay, outside this repository (as a remote base would be), points the image
    at their registry with `images:`; no kustomize binary, no load restrictor flag."""
    base = Path(os.path.relpath(KUSTOMIZE / variant, tmp_path))
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [str(base)],
                "images": [{"name": "llm-exporter", "newName": "registry.example.com/llm-exporter", "newTag": "9.9.9"}],
            }
        )
    )
    images = [
        c["image"]
        for doc in kustomize(tmp_path)
        if doc["kind"] in ("DaemonSet", "Deployment")
        for c in doc["spec"]["template"]["spec"]["containers"]
        if c["name"] == "llm-exporter"
    ]
    assert images == ["registry.example.com/llm-exporter:9.9.9"]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _closed(schema: Any) -> Any:
    """The CRD schema with unknown fields rejected, as the API server's pruning would drop them
    silently: a misspelt field must fail here. Objects that preserve unknown fields stay open."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        open_object = "additionalProperties" in out or out.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in out and not open_object:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of the vendored CRDs."""
    out = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            out[(api_version, crd["spec"]["names"]["kind"])] = _closed(version["schema"]["openAPIV3Schema"])
    return out


@pytest.mark.parametrize("variant", VARIANTS)
def test_renders_and_validates_against_the_schemas(variant: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    import jsonschema

    crds = _crd_schemas()
    assert set(crds) >= {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
    docs = render(variant)
    workload = {"daemonset": "DaemonSet", "sidecar": "Deployment"}[variant]
    assert sorted(d["kind"] for d in docs) == sorted(
        ["ConfigMap"] * 6 + ["Service", "ServiceMonitor", "PrometheusRule", workload]
    )
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key in crds:
            jsonschema.Draft7Validator(crds[key]).validate(doc)
        else:
            # strict: fields the schema does not know are errors
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_closed_schemas_catch_a_misspelt_field() -> None:
    import jsonschema

    schema = _crd_schemas()[("monitoring.coreos.com/v1", "ServiceMonitor")]
    (monitor,) = by_kind(render("daemonset"), "ServiceMonitor")
    monitor = yaml.safe_load(yaml.safe_dump(monitor))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        jsonschema.Draft7Validator(schema).validate(monitor)


@pytest.mark.parametrize("variant", VARIANTS)
def test_dashboard_configmaps_are_the_dashboard_files(variant: str) -> None:
    maps = [
        m for m in by_kind(render(variant), "ConfigMap") if m["metadata"].get("labels", {}).get("grafana_dashboard")
    ]
    data: dict[str, str] = {}
    for m in maps:
        assert m["metadata"]["labels"] == {"grafana_dashboard": "1"}
        assert m["metadata"]["annotations"] == {"grafana_folder": "LLM"}
        assert len(m["data"]) == 1
        data.update(m["data"])
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))}
    assert set(files) == set(dashboards())
    assert data == files  # byte for byte, every dashboard


def test_prometheusrule_is_generated_from_the_rule_files() -> None:
    generator = _generator()
    committed = (KUSTOMIZE / "base" / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert committed == generator.render(), (
        "deploy/kubernetes/base/prometheusrule.yaml is stale: python3 deploy/kubernetes/generate_prometheusrule.py"
    )
    groups = [g for path in rule_files() for g in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]]
    assert len(groups) > 3
    for variant in VARIANTS:
        (rule,) = by_kind(render(variant), "PrometheusRule")
        assert rule["spec"] == {"groups": groups}


def test_prometheusrule_passes_promtool(tmp_path: Path) -> None:
    """What the Operator hands Prometheus (spec.groups as a rule file) is a valid rule file."""
    promtool = need("promtool", "prometheus")
    (rule,) = by_kind(render("daemonset"), "PrometheusRule")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    res = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def _pod(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (workload,) = by_kind(docs, kind)
    return workload["spec"]["template"]


@pytest.mark.parametrize(("variant", "kind"), [("daemonset", "DaemonSet"), ("sidecar", "Deployment")])
def test_service_and_monitor_find_the_exporter(variant: str, kind: str) -> None:
    docs = render(variant)
    pod = _pod(docs, kind)
    (service,) = by_kind(docs, "Service")
    (monitor,) = by_kind(docs, "ServiceMonitor")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    # the job label is the Service's name: LLMExporterDown matches job="llm-exporter"
    assert service["metadata"]["name"] == "llm-exporter"
    (port,) = service["spec"]["ports"]
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [port["name"]]
    (exporter,) = [c for c in pod["spec"]["containers"] if c["name"] == "llm-exporter"]
    assert {"name": port["targetPort"], "containerPort": port["port"]} in exporter["ports"]


@pytest.mark.parametrize(("variant", "kind"), [("daemonset", "DaemonSet"), ("sidecar", "Deployment")])
def test_exporter_runs_unprivileged_and_reads_logs_read_only(variant: str, kind: str) -> None:
    docs = render(variant)
    pod = _pod(docs, kind)["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    (exporter,) = [c for c in pod["containers"] if c["name"] == "llm-exporter"]
    assert exporter["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = {m["mountPath"]: m for m in exporter["volumeMounts"]}
    assert mounts["/var/log/llm"]["readOnly"] is True
    assert mounts["/etc/llm-exporter"]["readOnly"] is True
    assert not mounts["/var/lib/llm-exporter"].get("readOnly")  # the positions file
    volumes = {v["name"]: v for v in pod["volumes"]}
    logs = volumes[mounts["/var/log/llm"]["name"]]
    if kind == "DaemonSet":
        assert logs["hostPath"] == {"path": "/var/log/llm", "type": "Directory"}
        assert pod["automountServiceAccountToken"] is False
    else:
        assert logs == {"name": "llm-logs", "emptyDir": {}}

    # the mounted config is the variant's config.yml, which the exporter accepts
    config_map = volumes[mounts["/etc/llm-exporter"]["name"]]["configMap"]["name"]
    (data,) = [m["data"] for m in by_kind(docs, "ConfigMap") if m["metadata"]["name"] == config_map]
    assert data == {"config.yml": (KUSTOMIZE / variant / "config.yml").read_text(encoding="utf-8")}
    config = load_config(KUSTOMIZE / variant / "config.yml")
    assert config.positions_file == "/var/lib/llm-exporter/positions.json"
    assert all(source.path.startswith("/var/log/llm/") for source in config.sources)
