"""docs/metrics.md lists exactly what the daemon exposes: every family, its type and its labels."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fakes.billing_server import FakeBillServer, Item
from fakes.models_server import FakeModelServer
from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from testkit import ROOT, TESTDATA, write_lines

SHARED = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")
# The owner label of the budgets in exposed(): a label_field of the source "owners".
OWNER = ("team",)
_ROW = re.compile(r"^\| `([a-z_]+)` \| (counter|gauge|histogram) \| ([^|]*) \|")


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (type, label names) from the tables of docs/metrics.md; "shared" stands for the
    three shared labels, "owner" for the owner labels of budgets (OWNER)."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for line in (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            name, kind, cell = m.groups()
            labels = set(re.findall(r"`([a-z_]+)`", cell))
            if re.search(r"(^|\s)shared\b", cell):  # the word, not a backticked label
                labels |= set(SHARED)
            if re.search(r"(^|\s)owner\b", cell):
                labels |= set(OWNER)
            assert name not in out, f"{name} documented twice"
            out[name] = (kind, frozenset(labels))
    return out


Families = dict[str, tuple[str, frozenset[str]]]


def _families(exporter: Exporter) -> tuple[Families, set[str]]:
    """(name -> (type, label names) of the families with samples, the names of all families)."""
    text = generate_latest(exporter.registry(process=False)).decode()
    exporter.close()
    sampled: Families = {}
    names = set()
    for family in text_string_to_metric_families(text):
        name = family.name + ("_total" if family.type == "counter" else "")
        names.add(name)
        if family.samples:
            sampled[name] = (family.type, frozenset(k for s in family.samples for k in s.labels if k != "le"))
    return sampled, names


def exposed(tmp_path: Path) -> Families:
    """Every family the daemon can expose, from samples: the golden and recorded logs, plus a log
    with what they lack (a rejected line, a call without usage, a file that cannot be opened), a
    positions save and an OTLP push; and that log again under limits that fold values and series."""
    from opentelemetry.sdk.metrics.export import MetricExportResult
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from llm_exporter.exposition.otlp import OTLPPusher, OTLPSettings

    extra = tmp_path / "extra"
    extra.mkdir()
    calls = [f'{{"model":"{m}","latency_ms":300,"prompt_tokens":1,"completion_tokens":1}}\n' for m in "abc"]
    write_lines(extra / "app.log", ["not json\n", '{"model":"gpt-4o","latency_ms":300,"status":"success"}\n', *calls])
    # a LiteLLM payload with the provider's rate-limit headers
    headers = {
        "x_ratelimit_remaining_requests": 9,
        "x_ratelimit_limit_requests": 10,
        "x_ratelimit_reset_requests": "1s",
    }
    payload = {"model": "gpt-4o", "startTime": 1.0, "endTime": 2.0, "hidden_params": {"additional_headers": headers}}
    write_lines(extra / "litellm.jsonl", [json.dumps(payload) + "\n"])
    os.symlink(extra / "loop.log", extra / "loop.log")  # matches the glob, cannot be opened
    sources = [
        ("completion", TESTDATA / "golden" / "completion.log", "completion"),
        ("event", TESTDATA / "golden" / "event.log", "event"),
        ("litellm", TESTDATA / "golden" / "litellm.log", "litellm"),
        ("proxy", TESTDATA / "litellm_recorded" / "proxy.jsonl", "litellm"),
        ("extra-litellm", extra / "litellm.jsonl", "litellm"),
        ("extra", extra / "*.log", "event"),
    ]
    ollama = FakeModelServer("ollama", ["llama3:8b"], loaded=["llama3:8b"]).__enter__()
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    bill = FakeBillServer("openai", [Item(yesterday.isoformat(), "p", "gpt-4o", "input", "1.00")], "k").__enter__()
    key = tmp_path / "admin.key"
    key.write_text("k")
    raw = {
        "sources": [{"name": n, "path": str(p), "format": f} for n, p, f in sources],
        "positions_file": str(tmp_path / "positions.json"),
        "probes": [{"url": ollama.url, "type": "ollama"}],
        "billing": {"accounts": [{"provider": "openai", "url": bill.url, "admin_key_file": str(key)}]},
        "thresholds": {"logs_stalled_after_seconds_by_source": {"extra": 90000}},
        "otlp": {"traces": True},
    }

    class Receiver(SpanExporter):
        def export(self, _spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    exporter = Exporter(parse_config(raw, "test", {}), span_exporter=Receiver())
    exporter.drain()
    exporter.settle()
    exporter.prober.poll_once()
    exporter.biller.poll_once()
    ollama.stop()
    bill.stop()
    assert exporter.save_positions()

    class Collector:
        def export(self, _data: object, timeout_millis: float) -> MetricExportResult:
            return MetricExportResult.SUCCESS

    assert OTLPPusher(exporter, OTLPSettings(), otlp_exporter=Collector()).push()
    out, names = _families(exporter)

    limited = {"sources": raw["sources"][-1:], "limits": {"max_label_values": 1, "max_samples": 1}}
    folding = Exporter(parse_config(limited, "test", {}))
    folding.drain()
    more, _ = _families(folding)
    for name, (kind, labels) in more.items():
        out[name] = (kind, labels | out.get(name, (kind, frozenset()))[1])
    # Budgets, with an owner label (OWNER) from a label_field: only their families are taken, the
    # others would carry the owner label too.
    owned_log = extra / "owned.jsonl"
    write_lines(owned_log, ['{"model":"gpt-4o","latency_ms":300,"cost_usd":1.0,"owner":{"team":"research"}}\n'])
    owned = {
        "sources": [
            {"name": "owners", "path": str(owned_log), "format": "event", "label_fields": {"team": "owner.team"}}
        ],
        "budgets": [{"match": {"team": "research"}, "monthly_usd": 100}],
    }
    budgets = Exporter(parse_config(owned, "test", {}))
    budgets.drain()
    out.update((name, family) for name, family in _families(budgets)[0].items() if name.startswith("llm_budget"))
    assert sorted(names - set(out)) == [], "families without a sample: the test input lacks what produces them"
    return out


def test_metrics_doc_matches_exposition(tmp_path: Path) -> None:
    doc, real = documented(), exposed(tmp_path)
    assert sorted(set(real) - set(doc)) == [], "exposed but not in docs/metrics.md"
    assert sorted(set(doc) - set(real)) == [], "in docs/metrics.md but not exposed"
    for name, (kind, labels) in real.items():
        assert doc[name] == (kind, labels), name
