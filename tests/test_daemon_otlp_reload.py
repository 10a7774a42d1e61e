"""SIGHUP re-reads the `otlp:` section: the reload path of the daemon, in process, pushing to a
real OTLP receiver over HTTP and gRPC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fakes.otlp_receiver import OTLPReceiver, prometheus_name
from llm_exporter.config import ConfigError, parse_config
from llm_exporter.daemon import Daemon

pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")


def _config(tmp_path: Path, otlp: dict[str, Any] | None) -> Any:
    raw: dict[str, Any] = {
        "sources": [{"name": "app", "path": str(tmp_path / "app.log"), "format": "completion"}],
        "force_polling": True,
    }
    if otlp is not None:
        raw["otlp"] = {"interval_seconds": 3600, **otlp}  # pushes here come from push() and close() only
    return parse_config(raw, "test")


def test_reload_starts_changes_and_stops_the_push(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "app.log").write_text(
        '{"event_type":"completion_request","request_id":"r1","model":"gpt-4o-mini"}\n'
        '{"event_type":"completion_response","request_id":"r1","success":true,"response_time_ms":1500,'
        '"token_usage":{"prompt_tokens":150,"completion_tokens":75}}\n'
    )
    with OTLPReceiver() as receiver:
        http = {"endpoint": receiver.http_endpoint + "/v1/metrics", "protocol": "http/protobuf"}
        grpc = {"endpoint": receiver.grpc_endpoint, "protocol": "grpc", "insecure": True}
        configs: list[Any] = []

        def load() -> Any:
            item = configs.pop(0)
            if isinstance(item, Exception):
                raise item
            return item

        daemon = Daemon(_config(tmp_path, None), load, ("127.0.0.1", 0), None)
        try:
            daemon.exporter.drain()
            assert daemon.otlp is None

            configs.append(_config(tmp_path, http))
            daemon._reload()
            first = daemon.otlp
            assert first is not None and first.settings.protocol == "http/protobuf"
            assert first._thread is not None and first._thread.is_alive()
            assert first.push()
            assert [t for t, _ in receiver.metric_requests] == ["http"]
            names = {prometheus_name(p) for p in receiver.latest_points("http")}
            assert {"llm_tokens_total", "gen_ai_client_operation_duration_seconds"} <= names

            configs.append(_config(tmp_path, http))  # the same section: the running pusher stays
            daemon._reload()
            assert daemon.otlp is first

            configs.append(ConfigError("test: broken"))  # a failed reload keeps it too
            daemon._reload()
            assert daemon.otlp is first and daemon.exporter.health.config_reload_ok is False

            configs.append(_config(tmp_path, grpc))  # changed: the old one pushes a last time and stops
            daemon._reload()
            second = daemon.otlp
            assert second is not None and second is not first and second.settings.protocol == "grpc"
            assert not first._thread.is_alive()
            assert [t for t, _ in receiver.metric_requests] == ["http", "http"]
            assert second.push()
            tokens = [p for p in receiver.latest_points("grpc") if prometheus_name(p) == "llm_tokens_total"]
            assert {p.attributes["gen_ai.token.type"]: p.value for p in tokens}["input"] == 150

            configs.append(_config(tmp_path, None))  # removed: stopped after a last push
            daemon._reload()
            assert daemon.otlp is None
            assert [t for t, _ in receiver.metric_requests] == ["http", "http", "grpc", "grpc"]
        finally:
            if daemon.otlp is not None:
                daemon.otlp.close()
            daemon.server.server_close()
            daemon.exporter.close()
