"""Every dashboard query returns data from a real Prometheus.

Two demo writer logs (two seeds) are replayed through llm-exporter, as two
exporter instances; the resulting series are backfilled into a TSDB as two
hours of steadily growing counters, a local Prometheus evaluates the bundle's
rules over them, and each dashboard query (panel targets and annotation queries,
with every variable at "All") is sent to its HTTP API. Queries of the Tempo data
source are not among them (bundle_helpers.prometheus_queries skips them: no Tempo
binary here).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bundle_helpers import ROOT, dashboard_exprs, dashboards, need, panels, promql_for_prometheus, rule_files

# Panels that stay empty on demo data, and why.
EMPTY_ON_DEMO = {
    # no streaming calls and no response cache in the completion log format
    "Time to first chunk p50 / p95 (5m)",
    "Response-cache hit ratio (1h)",
    "Tokens saved by the response cache/s",
    "Saved by the response cache per hour by model",
    "Calls without token usage (per hour)",
    # one line is one request in the completion log format: nothing is retried
    "Retries/s",
    # series of a scrape (up, scrape_*, process_*), which a replay does not have
    "Up",
    "Scrape duration",
    "Resident memory",
    "CPU",
    # replay keeps no positions file
    "Since last positions save",
    # the completion log format keeps no response headers: no rate limits (the stack tests have LiteLLM's)
    "Rate limit left",
    # replay probes no model server (the stack tests do: tests/bundle/stack_helpers.PanelTraffic)
    "Model servers up",
    "Models available",
    "Models available and loaded per server",
    "Probe duration",
    # replay fetches no bill, and two hours hold no closed UTC day (the stack tests backfill one:
    # tests/bundle/stack_helpers.BillHistory)
    "Billed and counted per closed UTC day",
    "Capture ratio of the last closed days (counted / billed)",
    "Models with the largest gap (billed - counted, days both have)",
}
STEP = 30
POINTS = 240  # two hours
INSTANCES = ("llm-exporter:8464", "llm-exporter-2:8464")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openmetrics(expositions: dict[str, str], end: float) -> str:
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for instance, exposition in expositions.items():
        out.extend(_series(text_string_to_metric_families(exposition), instance, end))
    out.append("# EOF")
    return "\n".join(out) + "\n"


def _series(families, instance: str, end: float) -> list[str]:
    out = []
    for fam in families:
        growing = fam.type in ("counter", "histogram")
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            labels = dict(s.labels, job="llm-exporter", instance=instance)
            lbl = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            out.append(f"# TYPE {s.name} unknown")
            for i in range(POINTS):
                v = s.value * (i + 1) / POINTS if growing else s.value
                out.append(f"{s.name}{{{lbl}}} {v} {end - (POINTS - 1 - i) * STEP:.3f}")
    return out


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _replay(tmp: Path, seed: int) -> str:
    """The exposition of a replay of a demo writer log."""
    log = tmp / "logs" / "llm_completions.log"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "demo_writer.py"),
            "--output",
            str(log),
            "--count",
            "400",
            "--fast",
            "--seed",
            str(seed),
            "--max-bytes",
            "0",
        ],
        check=True,
        timeout=60,
    )
    cfg = yaml.safe_load((ROOT / "docker" / "llm-exporter.yml").read_text())
    cfg["sources"][0]["path"] = str(log) + "*"
    cfg["positions_file"] = None
    (tmp / "exporter.yml").write_text(yaml.safe_dump(cfg))
    res = subprocess.run(
        [sys.executable, "-m", "llm_exporter", "replay", "--config", str(tmp / "exporter.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return res.stdout


def _quantile(q: float, buckets: dict[float, float]) -> float:
    """histogram_quantile() over cumulative bucket counts by upper bound (Prometheus' interpolation)."""
    bounds = sorted(buckets)
    rank = q * buckets[float("inf")]
    for i, le in enumerate(bounds):
        if buckets[le] >= rank:
            if le == float("inf"):
                return bounds[-2]
            lower, below = (bounds[i - 1], buckets[bounds[i - 1]]) if i else (0.0, 0.0)
            return lower + (le - lower) * (rank - below) / (buckets[le] - below)
    raise AssertionError("no +Inf bucket")


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory):
    prometheus = need("prometheus", "prometheus")
    promtool = need("promtool", "prometheus")
    pytest.importorskip("llm_exporter")
    pytest.importorskip("prometheus_client")
    tmp = tmp_path_factory.mktemp("promdata")

    expositions = {
        instance: _replay(tmp / instance.split(":")[0], seed)
        for instance, seed in zip(INSTANCES, (11, 12), strict=True)
    }
    end = time.time() - 5
    (tmp / "data.om").write_text(_openmetrics(expositions, end))
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp / "data.om"), str(tmp / "tsdb")],
        check=True,
        capture_output=True,
        timeout=60,
    )

    # the bundle's rules, evaluated every second instead of every 30 s / 1 m
    rules_dir = tmp / "rules"
    rules_dir.mkdir()
    for path in rule_files():
        doc = yaml.safe_load(path.read_text())
        for g in doc["groups"]:
            g.pop("interval", None)
        (rules_dir / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"evaluation_interval": "1s", "scrape_interval": "15s"},
                "rule_files": [str(rules_dir / "*.yml")],
            }
        )
    )
    port = _free_port()
    log_file = open(tmp / "prometheus.log", "w")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1d",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 20
        while True:
            try:
                # rules have run once the demo's unpriced llama3:8b completions fire an alert
                q = urllib.parse.quote('ALERTS{alertname="LLMUnpricedCompletions", alertstate="firing"}')
                if _get(f"{url}/api/v1/query?query={q}")["data"]["result"]:
                    break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail("prometheus did not come up:\n" + (tmp / "prometheus.log").read_text()[-3000:])
            time.sleep(0.3)
        time.sleep(1.5)  # one more evaluation round for rules that read other rules
        yield url, expositions
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log_file.close()


def test_every_dashboard_query_returns_data(prometheus_url):
    prometheus_url, _ = prometheus_url
    empty = []
    checked = 0
    for name, title, expr in dashboard_exprs():
        q = promql_for_prometheus(expr, rate_interval="2m")  # 4 backfilled samples
        res = _get(f"{prometheus_url}/api/v1/query?query={urllib.parse.quote(q)}")
        assert res["status"] == "success", (name, title, q, res)
        checked += 1
        if not res["data"]["result"] and title not in EMPTY_ON_DEMO:
            empty.append(f"{name} / {title}: {q}")
    assert checked > 100
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_models_table_p95_is_the_quantile_of_both_instances_summed_buckets(prometheus_url):
    """The Models table's p95 of a model over two exporters is histogram_quantile over the
    buckets of both summed, not the slowest instance's p95 (issue 15, point 8)."""
    from prometheus_client.parser import text_string_to_metric_families

    url, expositions = prometheus_url
    (table,) = [
        p for name, d in dashboards().items() if name == "llm-models.json" for p in panels(d) if p["title"] == "Models"
    ]
    (p95,) = [t["expr"] for t in table["targets"] if t["refId"] == "D"]
    q = promql_for_prometheus(p95)
    rows = _get(f"{url}/api/v1/query?query={urllib.parse.quote(q)}")["data"]["result"]
    got = {
        (r["metric"]["gen_ai_provider_name"], r["metric"]["gen_ai_request_model"]): float(r["value"][1]) for r in rows
    }

    # the buckets grow linearly to their replayed values: their 1 h rates are proportional to them
    summed: dict[tuple[str, str], dict[float, float]] = {}
    per_instance: dict[tuple[str, str, str], dict[float, float]] = {}
    for instance, exposition in expositions.items():
        for fam in text_string_to_metric_families(exposition):
            for s in fam.samples:
                if s.name != "gen_ai_client_operation_duration_seconds_bucket":
                    continue
                model = (s.labels["gen_ai_provider_name"], s.labels["gen_ai_request_model"])
                le = float(s.labels["le"])
                summed.setdefault(model, {}).setdefault(le, 0.0)
                summed[model][le] += s.value
                per_instance.setdefault((*model, instance), {}).setdefault(le, 0.0)
                per_instance[(*model, instance)][le] += s.value
    assert set(got) == set(summed)
    differs = 0
    for model, buckets in summed.items():
        assert got[model] == pytest.approx(_quantile(0.95, buckets), rel=1e-6), model
        slowest = max(_quantile(0.95, b) for key, b in per_instance.items() if key[:2] == model)
        differs += got[model] != pytest.approx(slowest, rel=1e-6)
    assert differs, "the demo data should have a model whose instances differ"
