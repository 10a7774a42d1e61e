"""CompletionLogger: the seed-001 format, size-based rotation, and write -> rotate -> tail giving
the same totals as the in-process OpenTelemetry path for the same calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from llm_exporter.formats import PARSERS
from llm_exporter.formats.events import Completion, Decision, Request
from llm_exporter.instrumentation.completion_logger import CompletionLogger
from testkit import scrape, value


def test_writes_the_seed_format(tmp_path: Path) -> None:
    log = tmp_path / "llm.log"
    with CompletionLogger(log, session_id="abc12345") as logger:
        rid = logger.log_completion_request(model="o3-mini", prompt="Should I buy BTC?", temperature=0.1)
        logger.log_completion_response(
            rid, response_time=1.767, token_usage={"prompt_tokens": 150, "completion_tokens": 75}
        )
        logger.log_trading_decision(action="LONG", symbol="BTC-USD", validation_result="PASSED", request_id=rid)
        logger.log_completion_response("req_x", success=False, response_time_ms=20, error_type="RateLimitError")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [x["event_type"] for x in lines] == [
        "completion_request",
        "completion_response",
        "trading_decision",
        "completion_response",
    ]
    assert lines[0]["session_id"] == "abc12345" and lines[0]["completion_number"] == 1
    assert lines[0]["prompt_length"] == 17 and "prompt_preview" not in lines[0]  # no text unless asked
    assert lines[1]["token_usage"] == {"prompt_tokens": 150, "completion_tokens": 75, "total_tokens": 225}
    assert lines[1]["response_time_ms"] == 1767.0
    assert lines[0]["timestamp"].endswith("Z")
    request, response, decision, failed = (PARSERS["completion"](x) for x in lines)
    assert isinstance(request, Request) and request.model == "o3-mini"
    assert isinstance(response, Completion) and (response.input_tokens, response.output_tokens) == (150, 75)
    assert isinstance(decision, Decision) and decision.request_id == rid
    assert isinstance(failed, Completion) and failed.error_type == "RateLimitError"


def test_rotates_by_size(tmp_path: Path) -> None:
    log = tmp_path / "llm.log"
    with CompletionLogger(log, max_bytes=2000, backup_count=3) as logger:
        for _ in range(100):
            logger.log_trading_decision(action="HOLD", symbol="BTC-USD")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["llm.log", "llm.log.1", "llm.log.2", "llm.log.3"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())


def test_write_rotate_tail_same_totals_as_otel(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from llm_exporter.instrumentation import configure, record_decision, track
    from llm_exporter.instrumentation.configure import reset

    log = tmp_path / "llm_completions.log"
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    logger = CompletionLogger(log, max_bytes=4096, backup_count=50)
    configure(meter_provider=mp, traces=False, completion_logger=logger)
    config = parse_config({"sources": [{"name": "app", "path": f"{log}*", "format": "completion"}]}, "test")
    exporter = Exporter(config, use_positions=False)
    try:
        for i in range(120):
            with track(model="gpt-4o-mini", provider="openai") as call:
                call.record_usage(input_tokens=100 + i, output_tokens=10, cache_read_tokens=i % 7)
                record_decision(action="long" if i % 3 else "short", symbol="BTC-USD", validation_result="passed")
            if i % 10 == 9:  # tail while the log rotates, several times between two polls
                exporter.poll_once()
        exporter.drain()
        rotated = sorted(p.name for p in tmp_path.iterdir())
        assert len(rotated) > 5  # it did rotate, several times
        samples = scrape(exporter)
        data = reader.get_metrics_data()
    finally:
        exporter.close()
        logger.close()
        mp.shutdown()
        reset()
    otel = {}
    for m in data.resource_metrics[0].scope_metrics[0].metrics:
        for p in m.data.data_points:
            key = (m.name, tuple(sorted((k, str(v)) for k, v in p.attributes.items())))
            otel[key] = getattr(p, "sum", None) if m.name.startswith("gen_ai") else p.value
            if m.name == "gen_ai.client.operation.duration":
                otel[(m.name + ".count", key[1])] = p.count

    def o(name: str, **attrs: str) -> float:
        return sum(v for (n, a), v in otel.items() if n == name and set(attrs.items()) <= set(a))

    input_total = sum(100 + i for i in range(120))
    assert (
        value(samples, "llm_tokens_total", gen_ai_token_type="input")
        == o("llm.tokens", **{"gen_ai.token.type": "input"})
        == input_total
    )
    assert value(samples, "llm_tokens_total", gen_ai_token_type="cache_read") == o(
        "llm.tokens", **{"gen_ai.token.type": "cache_read"}
    )
    assert value(samples, "llm_cost_usd_total") == pytest.approx(o("llm.cost.usd"), rel=1e-9)
    assert (
        value(samples, "gen_ai_client_operation_duration_seconds_count")
        == o("gen_ai.client.operation.duration.count")
        == 120
    )
    assert value(samples, "llm_decisions_total", action="LONG") == o("llm.decisions", action="LONG") == 80
    assert value(samples, "llm_decisions_total", action="SHORT") == o("llm.decisions", action="SHORT") == 40
    assert value(samples, "llm_requests_in_flight") == 0
    assert value(samples, "llm_exporter_lines_rejected_total") == 0
