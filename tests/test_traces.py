"""The daemon's spans of the calls it reads (otlp.traces), sent to a real OTLP receiver, and the
exemplars that point at them."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from fakes.otlp_receiver import OTLPReceiver, attrs
from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from llm_exporter.exposition.traces import session_trace_id
from testkit import TESTDATA, scrape, value, write_lines

PROMPT = "never on a span: the prompt"
T0 = datetime(2026, 3, 2, 9, 30, 0, 250_000, tzinfo=timezone.utc)


def ns(moment: datetime) -> int:
    """A log time in nanoseconds, exactly (the log's precision is a microsecond)."""
    whole = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (whole.days * 86400 + whole.seconds) * 10**9 + whole.microseconds * 1000


def close(ns_a: int, ns_b: int) -> bool:
    """Equal to the log's precision: seconds as a float hold ~0.2 µs at today's epoch."""
    return abs(ns_a - ns_b) < 1000


class Call:
    """One call of the generated completion log, with what its span must show."""

    def __init__(self, request_id: str, session: str | None, start: datetime, end: datetime, **extra: Any) -> None:
        self.request_id, self.session, self.start, self.end = request_id, session, start, end
        self.extra = extra


def completion_log(path: Path, now: datetime = T0) -> tuple[list[Call], dict[str, str]]:
    """Two sessions (a failure in the first), decisions for three calls, and one response with
    neither request event nor session; returns the calls and the decisions' actions by request."""
    calls: list[Call] = []
    decisions: dict[str, str] = {}
    lines = []
    for s, (session, n) in enumerate((("s-alpha", 3), ("s-beta", 2))):
        for i in range(n):
            rid = f"req-{session}-{i}"
            start = now + timedelta(seconds=10 * s + 3 * i, microseconds=123 * i)
            end = start + timedelta(milliseconds=1500)
            failed = session == "s-alpha" and i == 1
            base = {"session_id": session, "request_id": rid}
            request = {"event_type": "completion_request", "timestamp": start.isoformat(), "model": "gpt-4o"}
            lines.append({**base, **request, "provider": "openai", "prompt_preview": PROMPT})
            response = {
                **base,
                "event_type": "completion_response",
                "timestamp": end.isoformat(),
                "response_time_ms": 1400.0,  # the request's own time wins where it is known
                "success": not failed,
                "token_usage": {"prompt_tokens": 100 + i, "completion_tokens": 20},
                "cost_estimate_usd": 0.0025,
            }
            if failed:
                response.update(error_type="rate_limit", status_code=429)
            lines.append(response)
            calls.append(Call(rid, session, start, end, failed=failed, input_tokens=100 + i))
            if i != 1:
                when = end + timedelta(milliseconds=40)
                action = "LONG" if i == 0 else "CLOSE"
                lines.append(
                    {
                        **base,
                        "event_type": "trading_decision",
                        "timestamp": when.isoformat(),
                        "action": action,
                        "symbol": "BTCUSDT",
                        "validation_result": "valid",
                    }
                )
                decisions[rid] = action
    end = now + timedelta(seconds=30)
    lines.append(
        {
            "event_type": "completion_response",
            "timestamp": end.isoformat(),
            "request_id": "req-lone",
            "model": "claude-3-5-haiku",
            "response_time_ms": 800.0,
            "token_usage": {"input_tokens": 10, "output_tokens": 5},
        }
    )
    calls.append(Call("req-lone", None, end - timedelta(milliseconds=800), end, failed=False, input_tokens=10))
    write_lines(path, [json.dumps(x) + "\n" for x in lines])
    return calls, decisions


def exporter_for(tmp_path: Path, sources: list[dict], otlp: dict, **kwargs: Any) -> Exporter:
    raw = {"sources": sources, "otlp": {"interval_seconds": 3600, "traces": True, **otlp}}
    return Exporter(parse_config(raw, "test", {}), **kwargs)


def test_completion_log_spans_reach_the_receiver(tmp_path: Path) -> None:
    calls, decisions = completion_log(tmp_path / "app.log")
    with OTLPReceiver() as receiver:
        source = {"name": "bot", "path": str(tmp_path / "app.log"), "format": "completion"}
        exporter = exporter_for(tmp_path, [source], {"endpoint": receiver.grpc_endpoint, "insecure": True})
        exporter.drain()
        exporter.close()  # sends what is held
        spans = receiver.spans("grpc")
    decision_spans = [s for s in spans if s.name == "llm.decision"]
    call_spans = sorted((s for s in spans if s.name != "llm.decision"), key=lambda s: s.start_time_unix_nano)
    assert len(call_spans) == len(calls) == 6
    assert len(decision_spans) == len(decisions) == 3
    traces = {}
    for call, span in zip(sorted(calls, key=lambda c: c.start), call_spans, strict=True):
        a = attrs(span.attributes)
        assert close(span.start_time_unix_nano, ns(call.start)), call.request_id
        assert close(span.end_time_unix_nano, ns(call.end)), call.request_id
        assert span.kind == 3  # CLIENT
        assert a["gen_ai.usage.input_tokens"] == call.extra["input_tokens"]
        assert a["llm_exporter.source"] == "bot"
        if call.session is not None:
            assert span.trace_id == session_trace_id(call.session).to_bytes(16, "big")
            assert a["session.id"] == call.session
            assert span.name == "chat gpt-4o"
            assert a["gen_ai.provider.name"] == "openai"
            assert a["gen_ai.request.model"] == "gpt-4o"
            assert a["gen_ai.usage.output_tokens"] == 20
            assert a["llm.cost.usd"] == 0.0025
        else:
            assert "session.id" not in a
            assert span.name == "chat claude-3-5-haiku"
            assert a["gen_ai.provider.name"] == "anthropic"
        if call.extra["failed"]:
            assert (a["error.type"], a["http.response.status_code"], span.status.code) == ("rate_limit", 429, 2)
        else:
            assert "error.type" not in a and span.status.code == 0
        traces[call.request_id] = span
    # One trace per session; the lone call has one of its own.
    assert len({s.trace_id for s in call_spans}) == 3
    for decision in decision_spans:
        a = attrs(decision.attributes)
        parent = next(s for s in call_spans if s.span_id == decision.parent_span_id)
        rid = next(r for r, s in traces.items() if s is parent)
        assert (a["llm.decision.action"], a["llm.decision.symbol"], a["llm.decision.validation_result"]) == (
            decisions[rid],
            "BTCUSDT",
            "VALID",
        )
        assert decision.trace_id == parent.trace_id
        assert close(decision.start_time_unix_nano, parent.end_time_unix_nano + 40_000_000)
    assert not any(PROMPT in str(attrs(s.attributes)) for s in spans)
    samples = scrape(exporter)
    assert value(samples, "llm_exporter_otlp_spans_total", result="exported") == 9
    assert value(samples, "llm_exporter_otlp_spans_total", result="dropped") == 0


def test_litellm_payload_spans(tmp_path: Path) -> None:
    path = TESTDATA / "litellm_recorded" / "proxy.jsonl"
    payloads = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with OTLPReceiver() as receiver:
        source = {"name": "proxy", "path": str(path), "format": "litellm"}
        exporter = exporter_for(tmp_path, [source], {"endpoint": receiver.http_endpoint, "protocol": "http/protobuf"})
        exporter.drain()
        exporter.close()
        spans = receiver.spans("http")
    assert len(spans) == len(payloads) == 21
    by_start = sorted(spans, key=lambda s: (s.start_time_unix_nano, s.end_time_unix_nano))
    for payload, span in zip(sorted(payloads, key=lambda p: (p["startTime"], p["endTime"])), by_start, strict=True):
        assert close(span.start_time_unix_nano, round(payload["startTime"] * 1e9))
        assert close(span.end_time_unix_nano, round(payload["endTime"] * 1e9))
        # No session id in these payloads: LiteLLM's trace_id (a request's attempts) groups them.
        assert span.trace_id == session_trace_id(payload["trace_id"]).to_bytes(16, "big")
        a = attrs(span.attributes)
        assert a["gen_ai.request.model"] == payload["model"]
        assert a.get("error.type") is (None if payload["status"] == "success" else a["error.type"])
        assert a.get("llm.cache.hit") is (True if payload["cache_hit"] is True else None)
    assert len({s.trace_id for s in spans}) == len({p["trace_id"] for p in payloads}) == 19
    assert sum(s.status.code == 2 for s in spans) == sum(p["status"] != "success" for p in payloads) == 6


def _exemplars(text: str) -> dict[tuple[str, str], list[Any]]:
    """(family, sample name) -> the exemplars on its samples."""
    out: dict[tuple[str, str], list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.exemplar is not None:
                out.setdefault((family.name, s.name), []).append(s)
    return out


def test_exemplars_carry_the_trace_ids_of_spans_sent(tmp_path: Path) -> None:
    completion_log(tmp_path / "app.log")
    with OTLPReceiver() as receiver:
        source = {"name": "bot", "path": str(tmp_path / "app.log"), "format": "completion"}
        exporter = exporter_for(tmp_path, [source], {"endpoint": receiver.grpc_endpoint, "insecure": True})
        exporter.drain()
        openmetrics = generate_openmetrics(exporter.registry(openmetrics=True)).decode()
        text = generate_latest(exporter.registry()).decode()
        exporter.close()
        sent = {(s.trace_id.hex(), round(s.end_time_unix_nano / 1000)) for s in receiver.spans()}
    found = _exemplars(openmetrics)
    duration = found["gen_ai_client_operation_duration_seconds", "gen_ai_client_operation_duration_seconds_bucket"]
    # The last call in each bucket, with the duration the histogram took (response_time_ms): 1.4 s
    # for gpt-4o, a failure of its own, 0.8 s for the lone call.
    assert sorted((s.labels.get("error_type", ""), s.labels["le"], s.exemplar.value) for s in duration) == [
        ("", "1.28", 0.8),
        ("", "2.56", 1.4),
        ("rate_limit", "2.56", 1.4),
    ]
    beta = session_trace_id("s-beta").to_bytes(16, "big").hex()
    for s in duration:  # a span sent: its trace, and its end as the exemplar's time
        when = s.exemplar.timestamp
        assert (s.exemplar.labels["trace_id"], round((when.sec * 10**9 + when.nsec) / 1000)) in sent
    ok = next(s for s in duration if s.labels["le"] == "2.56" and "error_type" not in s.labels)
    assert ok.exemplar.labels["trace_id"] == beta  # the last successful 1.4 s call
    costs = {s.labels["gen_ai_request_model"]: s.exemplar for s in found["llm_cost_usd", "llm_cost_usd_total"]}
    assert (costs["gpt-4o"].labels["trace_id"], costs["gpt-4o"].value) == (beta, 0.0025)
    lone = costs["claude-3-5-haiku"]  # priced by the price book
    assert (lone.labels["trace_id"], round(lone.timestamp.sec * 1e6 + lone.timestamp.nsec / 1e3)) in sent
    assert " # {" not in text  # the Prometheus text format has no place for exemplars


def test_sampling_keeps_or_drops_whole_sessions(tmp_path: Path) -> None:
    sessions = [f"session-{i}" for i in range(40)]
    lines = []
    for session in sessions:
        for i in range(2):
            rid = f"{session}-{i}"
            lines.append({"event_type": "completion_request", "request_id": rid, "model": "gpt-4o"})
            lines.append(
                {"event_type": "completion_response", "request_id": rid, "session_id": session, "response_time_ms": 5}
            )
    write_lines(tmp_path / "app.log", [json.dumps(x) + "\n" for x in lines])
    source = {"name": "bot", "path": str(tmp_path / "app.log"), "format": "completion"}

    class Memory(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[Any] = []

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

    memory = Memory()
    exporter = exporter_for(tmp_path, [source], {"traces_sample_ratio": 0.5}, span_exporter=memory)
    exporter.drain()
    openmetrics = generate_openmetrics(exporter.registry(openmetrics=True)).decode()
    exporter.close()
    # TraceIdRatioBased: a trace is kept when its id's lower 64 bits fall under ratio * 2**64.
    kept = {s for s in sessions if session_trace_id(s) & (2**64 - 1) < 2**63}
    assert 0 < len(kept) < len(sessions)
    got: dict[int, int] = {}
    for span in memory.spans:
        got[span.context.trace_id] = got.get(span.context.trace_id, 0) + 1
    assert got == {session_trace_id(s): 2 for s in kept}
    (bucket,) = _exemplars(openmetrics).values()
    assert int(bucket[0].exemplar.labels["trace_id"], 16) in got


def test_full_queue_drops_and_counts_never_waits(tmp_path: Path) -> None:
    lines = [
        json.dumps({"event_type": "completion_response", "model": "gpt-4o", "response_time_ms": 5}) + "\n"
        for _ in range(5)
    ]
    write_lines(tmp_path / "app.log", lines)
    release = threading.Event()

    class Stuck(SpanExporter):
        """An exporter that hangs until released (a collector that does not answer)."""

        def __init__(self) -> None:
            self.spans: list[Any] = []

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            release.wait(30)
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

    stuck = Stuck()
    source = {"name": "bot", "path": str(tmp_path / "app.log"), "format": "completion"}
    exporter = exporter_for(tmp_path, [source], {"traces_max_queue_size": 1}, span_exporter=stuck)
    exporter.drain()  # returns with the exporter stuck: the first span is held, the rest dropped
    samples = scrape(exporter)
    assert value(samples, "llm_requests_total", outcome="success") == 5
    assert value(samples, "llm_exporter_otlp_spans_total", result="dropped") == 4
    release.set()
    exporter.close()
    assert len(stuck.spans) == 1
    assert value(scrape(exporter), "llm_exporter_otlp_spans_total", result="exported") == 1


def test_reload_turns_traces_off(tmp_path: Path) -> None:
    source = {"name": "bot", "path": str(tmp_path / "app.log"), "format": "completion"}

    class Nowhere(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    exporter = exporter_for(tmp_path, [source], {}, span_exporter=Nowhere())
    assert exporter.spans is not None and exporter.sources["bot"].pipeline.spans is not None
    exporter.reload(parse_config({"sources": [source], "otlp": {"interval_seconds": 3600}}, "test", {}))
    assert exporter.spans is None and exporter.sources["bot"].pipeline.spans is None
    exporter.close()


def test_settings_spans_only() -> None:
    """`metrics: false`: spans without the metrics push; http/protobuf spans go to /v1/traces."""
    from llm_exporter.exposition.otlp import settings_from
    from llm_exporter.exposition.traces import trace_settings

    source = {"name": "bot", "path": "/tmp/app.log"}
    otlp = {"endpoint": "http://c:4318/v1/metrics", "protocol": "http/protobuf", "metrics": False, "traces": True}
    config = parse_config({"sources": [source], "otlp": otlp}, "test", {})
    assert settings_from(config.otlp, {}) is None
    settings = trace_settings(config.otlp, {})
    assert settings is not None and settings.endpoint == "http://c:4318/v1/traces"
    assert trace_settings(parse_config({"sources": [source], "otlp": {}}, "test", {}).otlp, {}) is None
