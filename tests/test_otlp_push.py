"""The daemon's OTLP push: the same metrics as /metrics, under names that translate back to the
/metrics names, received by a real OTLP receiver over gRPC and HTTP."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from fakes.otlp_receiver import OTLPReceiver, prometheus_name
from llm_exporter import semconv
from llm_exporter.config import parse_config
from llm_exporter.exposition.otlp import OTLPPusher, OTLPSettings, settings_from
from testkit import free_port, make_exporter, scrape, value, write_lines

pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")

LINES = [
    '{"event_type":"completion_request","request_id":"r1","model":"gpt-4o-mini"}\n',
    '{"event_type":"completion_response","request_id":"r1","success":true,"response_time_ms":1500,'
    '"token_usage":{"prompt_tokens":150,"completion_tokens":75},"time_to_first_chunk_ms":300}\n',
    '{"event_type":"trading_decision","request_id":"r1","action":"long","symbol":"BTC-USD","validation_result":"PASSED"}\n',
    '{"event_type":"completion_request","request_id":"r2","model":"gpt-4o-mini"}\n',
    '{"event_type":"completion_response","request_id":"r2","success":false,"response_time_ms":20,'
    '"error_type":"RateLimitError"}\n',
    '{"event_type":"completion_request","request_id":"r3","model":"claude-sonnet-4-5"}\n',
    "not json\n",
]


@pytest.mark.parametrize("transport", ["grpc", "http", "http-base"])
def test_push_matches_metrics(tmp_path: Path, transport: str) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, LINES)
    exporter.drain()
    samples = scrape(exporter)
    with OTLPReceiver() as receiver:
        if transport == "grpc":
            settings = OTLPSettings(protocol="grpc", endpoint=receiver.grpc_endpoint, insecure=True)
        elif transport == "http":
            settings = OTLPSettings(protocol="http/protobuf", endpoint=receiver.http_endpoint + "/v1/metrics")
        else:  # the collector's base URL, as the README's example gives it: /v1/metrics is added
            settings = OTLPSettings(protocol="http/protobuf", endpoint=receiver.http_endpoint)
        settings.resource_attributes = {"deployment.environment": "test"}
        pusher = OTLPPusher(exporter, settings)
        assert pusher.push()
        points = receiver.latest_points()
        pusher.close()  # the final push
        assert len(receiver.metric_requests) == 2
    assert value(scrape(exporter), "llm_exporter_otlp_pushes_total", result="success") == 2
    assert value(scrape(exporter), "llm_exporter_otlp_pushes_total", result="failure") == 0
    assert points[0].resource["service.name"] == "llm-exporter"
    assert points[0].resource["deployment.environment"] == "test"

    # Every pushed name, translated the default way, is a /metrics name; and every /metrics
    # family with samples (bar process_* and python_*, which the pusher leaves out) was pushed.
    names = {prometheus_name(p) for p in points}
    exposed = {re.sub(r"_(bucket|count|sum|created)$", "", n) for n, _ in samples}
    assert names <= exposed | {n for n in exposed}
    assert {"gen_ai_client_operation_duration_seconds", "llm_cost_usd_total", "llm_decisions_total"} <= names
    assert {"llm_exporter_lines_rejected_total", "llm_exporter_build_info", "llm_alert_threshold"} <= names

    model = {"gen_ai.request.model": "gpt-4o-mini"}
    ok = [
        p
        for p in points
        if p.name == semconv.DURATION[0]
        and p.attributes.get("error.type") is None
        and model.items() <= p.attributes.items()
    ]
    assert len(ok) == 1 and ok[0].count == 1 and ok[0].value == 1.5
    assert ok[0].bounds == list(semconv.DURATION_BUCKETS) and ok[0].unit == "s"
    assert sum(ok[0].bucket_counts) == 1 and ok[0].bucket_counts[8] == 1  # (1.28, 2.56]
    failed = [p for p in points if p.name == semconv.DURATION[0] and p.attributes.get("error.type") == "RateLimitError"]
    assert failed[0].count == 1
    usage = [p for p in points if p.name == semconv.TOKEN_USAGE[0] and p.attributes.get("gen_ai.token.type") == "input"]
    assert (
        sum(p.value for p in usage) == value(samples, "gen_ai_client_token_usage_sum", gen_ai_token_type="input") == 150
    )
    cost = [
        p for p in points if p.name == semconv.COST[0] and p.attributes.get("gen_ai.request.model") == "gpt-4o-mini"
    ]
    assert cost[0].monotonic and cost[0].value == pytest.approx(150 * 0.15e-6 + 75 * 0.6e-6)
    in_flight = [p for p in points if p.name == semconv.IN_FLIGHT[0] and p.value]
    assert [(p.attributes["gen_ai.request.model"], p.value, p.kind, p.monotonic) for p in in_flight] == [
        ("claude-sonnet-4-5", 1, "sum", False)
    ]
    rejected = [p for p in points if p.name == "llm_exporter_lines_rejected"]
    assert rejected[0].attributes == {"source": "app", "reason": "invalid_json"} and rejected[0].value == 1
    assert all(p.temporality in (0, 2) for p in points)  # cumulative (or a gauge)


def test_settings_from_config_and_env() -> None:
    assert settings_from(None, {}) is None
    env = settings_from(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"})
    assert env is not None and env.protocol == "grpc" and env.endpoint is None  # the exporter reads the env
    env = settings_from(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "x", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
    assert env is not None and env.protocol == "http/protobuf"
    config = parse_config(
        {
            "sources": [{"name": "a", "path": "/tmp/x.log"}],
            "otlp": {"endpoint": "http://c:4318/v1/metrics", "protocol": "http/protobuf", "interval_seconds": 15},
        },
        "test",
    )
    s = settings_from(config.otlp, {})
    assert s is not None and (s.endpoint, s.protocol, s.interval) == ("http://c:4318/v1/metrics", "http/protobuf", 15)
    assert parse_config({"sources": [{"name": "a", "path": "/tmp/x.log"}]}, "test").otlp is None


def test_failed_push_is_counted(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, LINES)
    exporter.drain()
    nobody = f"http://127.0.0.1:{free_port()}/v1/metrics"  # nothing listens there
    pusher = OTLPPusher(exporter, OTLPSettings(protocol="http/protobuf", endpoint=nobody, timeout=1))
    assert not pusher.push()
    assert value(scrape(exporter), "llm_exporter_otlp_pushes_total", result="failure") == 1


class _HungExporter:
    """An OTLP exporter whose export never returns until released, as behind a collector that
    accepts the connection and never answers."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.exporting = threading.Event()
        self.shut_down = False

    def export(self, data: Any, timeout_millis: float = 0) -> Any:
        self.exporting.set()
        self.release.wait(60)
        raise ConnectionError("released")

    def shutdown(self) -> None:
        self.shut_down = True


def test_close_does_not_wait_for_a_push_that_never_ends(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The daemon's exit waits `timeout` seconds for the last push, then goes without it: the
    push is still hanging when close() returns, whatever the machine's load."""
    exporter, _ = make_exporter(tmp_path, "completion")
    hung = _HungExporter()
    pusher = OTLPPusher(exporter, OTLPSettings(interval=0, timeout=0.01), otlp_exporter=hung).start()
    try:
        assert hung.exporting.wait(60)
        with caplog.at_level(logging.WARNING, logger="llm_exporter"):
            pusher.close()
        assert hung.shut_down
        assert pusher._thread is not None and pusher._thread.is_alive()  # the push still hangs
        assert "OTLP push did not finish within 0.01s" in caplog.text
    finally:
        hung.release.set()
        if pusher._thread is not None:
            pusher._thread.join(60)  # its last push fails now, within this test's log capture
