"""examples/demo_writer.py: the log it writes, and what llm-exporter makes of it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bundle_helpers import (
    BUILTIN,
    BUILTIN_PREFIXES,
    ROOT,
    all_rules,
    dashboard_exprs,
    metric_names,
    recording_names,
)

MODELS = {"gpt-4o-mini", "o3-mini", "claude-3-5-sonnet-20241022", "llama3:8b"}
ACTIONS = {"LONG", "SHORT", "HOLD", "CLOSE"}
# Series the demo log cannot produce: no streaming first-chunk times, no
# response cache, no call without token usage, no retries (one line is one
# request), no label over the cardinality limit; replay keeps no positions; model
# servers come from probes, not from a log.
NOT_FROM_DEMO = {
    "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
    "llm_cache_requests_total",
    "llm_cache_saved_cost_usd_total",
    "llm_cache_saved_tokens_total",
    "llm_exporter_usage_missing_total",
    "llm_request_retries_total",
    "llm_exporter_label_values_folded_total",
    "llm_exporter_positions_last_save_timestamp_seconds",
    "llm_probe_up",
    "llm_probe_duration_seconds",
    "llm_model_available",
    "llm_model_loaded",
    "llm_model_size_bytes",
    # the completion log keeps no response headers (LiteLLM logs and the in-app clients have them)
    "llm_ratelimit_remaining",
    "llm_ratelimit_limit",
    # the providers' bill: fetched with a billing: section, never from a log
    "llm_billing_cost_usd",
    "llm_billing_day_timestamp_seconds",
}


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "llm_completions.log"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "demo_writer.py"),
            "--output",
            str(out),
            "--count",
            "600",
            "--fast",
            "--seed",
            "7",
            "--max-bytes",
            "50000",
            "--backups",
            "3",
            "--bad-line-ratio",
            "0.01",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return out


def _lines(demo_log: Path) -> list[str]:
    files = sorted(demo_log.parent.glob(demo_log.name + "*"), reverse=True)  # oldest rotated first
    return [line for f in files for line in f.read_text(encoding="utf-8").splitlines()]


def test_rotates_at_size_and_keeps_backups(demo_log):
    names = sorted(p.name for p in demo_log.parent.iterdir())
    assert names == ["llm_completions.log", "llm_completions.log.1", "llm_completions.log.2", "llm_completions.log.3"]
    for p in demo_log.parent.iterdir():
        assert p.stat().st_size <= 50000


def test_writes_seed_format_events(demo_log):
    events, bad = [], 0
    for line in _lines(demo_log):
        try:
            event = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if not isinstance(event, dict):
            bad += 1
            continue
        events.append(event)
    assert bad >= 1  # the occasional malformed line
    kinds = Counter(e["event_type"] for e in events)
    assert set(kinds) == {"completion_request", "completion_response", "trading_decision", "performance_metrics"}
    requests = {e["request_id"]: e for e in events if e["event_type"] == "completion_request"}
    responses = [e for e in events if e["event_type"] == "completion_response"]
    assert {r["model"] for r in requests.values()} == MODELS
    failed = [r for r in responses if not r["success"]]
    ok = [r for r in responses if r["success"]]
    assert 0.03 < len(failed) / len(responses) < 0.2
    for r in failed:
        assert r["error_type"] and r["response_time_ms"] > 0 and "token_usage" not in r
    for r in ok:
        usage = r["token_usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        model = requests[r["request_id"]]["model"] if r["request_id"] in requests else None
        assert ("cost_estimate_usd" in r) == (model != "llama3:8b") or model is None
    decisions = [e for e in events if e["event_type"] == "trading_decision"]
    assert {d["action"] for d in decisions} == ACTIONS
    assert "PASSED" in {d["validation_result"] for d in decisions}
    ok_ids = {r["request_id"] for r in ok}
    assert all(d["request_id"] in ok_ids for d in decisions)
    for e in events:
        if "timestamp" in e:
            assert e["timestamp"].endswith("Z") and len(e["timestamp"]) == 24


def test_exporter_reads_the_demo_log_into_every_series_the_bundle_uses(demo_log, tmp_path):
    pytest.importorskip("llm_exporter")
    parser = pytest.importorskip("prometheus_client.parser")
    cfg = yaml.safe_load((ROOT / "docker" / "llm-exporter.yml").read_text())
    cfg["sources"][0]["path"] = str(demo_log) + "*"
    cfg["positions_file"] = None
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump(cfg))
    res = subprocess.run(
        [sys.executable, "-m", "llm_exporter", "replay", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr
    samples = [s for fam in parser.text_string_to_metric_families(res.stdout) for s in fam.samples]
    names = {s.name for s in samples}

    def values(name, **labels):
        return [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]

    count = [s for s in samples if s.name == "gen_ai_client_operation_duration_seconds_count"]
    # responses whose request went with a deleted rotated file have no model: "unknown"
    assert {s.labels["gen_ai_request_model"] for s in count} - {"unknown"} == MODELS
    assert all(s.labels["app"] == "trading-bot" for s in count)
    assert any(s.labels.get("error_type") for s in count)
    assert {s.labels["action"] for s in samples if s.name == "llm_decisions_total"} == ACTIONS
    assert sum(values("llm_exporter_unpriced_completions_total", gen_ai_request_model="llama3:8b")) > 0
    assert sum(values("llm_exporter_lines_rejected_total")) >= 1
    assert sum(values("llm_cost_usd_total")) > 0
    assert values("llm_alert_threshold", threshold="max_response_time_seconds") == [30.0]

    referenced = set()
    for rule in all_rules():
        referenced |= metric_names(rule["expr"])
    for _, _, expr in dashboard_exprs():
        referenced |= metric_names(expr)
    referenced -= recording_names() | BUILTIN
    referenced = {n for n in referenced if not n.startswith(BUILTIN_PREFIXES)}
    missing = referenced - names - NOT_FROM_DEMO
    assert not missing, f"the bundle queries series the exporter does not produce from the demo log: {missing}"
