"""The real Prometheus (exemplar storage on) scrapes the real daemon with OpenMetrics, and the
exemplars it stores point at spans the daemon sent to a real OTLP receiver."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")

from fakes.otlp_receiver import OTLPReceiver
from llm_exporter.exposition.traces import session_trace_id
from test_traces import completion_log
from testkit import Running, free_port, require_binary, wait_for

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


def _exemplars(url: str, query: str, start: float, end: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end})
    with _opener.open(f"{url}/api/v1/query_exemplars?{params}", timeout=30) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "success", body
    return [e for series in body["data"] for e in series["exemplars"]]


def test_prometheus_stores_exemplars_of_spans_sent(tmp_path: Path) -> None:
    binary = require_binary("prometheus", "prometheus")
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=2)
    calls, decisions = completion_log(tmp_path / "app.log", now)
    with OTLPReceiver() as receiver:
        config = tmp_path / "config.yml"
        source = {"name": "bot", "path": str(tmp_path / "app.log"), "format": "completion"}
        otlp = {"endpoint": receiver.grpc_endpoint, "insecure": True, "traces": True, "interval_seconds": 3600}
        # a session ends two seconds (of the daemon's clock) after its last call is read; its
        # calls are 1.6 s apart in the log's own times, so they stay one session
        limits = {"session_idle_seconds": 2}
        config.write_text(yaml.safe_dump({"sources": [source], "otlp": otlp, "limits": limits}), encoding="utf-8")
        daemon = Running(tmp_path, "--config", str(config))
        prom_port = free_port()
        scrape = {"job_name": "llm-exporter", "static_configs": [{"targets": [f"127.0.0.1:{daemon.port}"]}]}
        prom_config = tmp_path / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": [scrape]}),
            encoding="utf-8",
        )
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--enable-feature=exemplar-storage",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{prom_port}"
        try:
            wait_for(lambda: len(receiver.spans()) == len(calls) + len(decisions))
            query = "gen_ai_client_operation_duration_seconds_bucket"
            window = (now.timestamp() - 60, time.time() + 60)
            wait_for(lambda: len(_exemplars(url, query, *window)) == 3)  # the buckets that saw calls
            duration = _exemplars(url, query, *window)
            cost = _exemplars(url, "llm_cost_usd_total", *window)
            wait_for(lambda: len(_exemplars(url, "llm_session_cost_usd_bucket", *window)) == 2)
            sessions = _exemplars(url, "llm_session_cost_usd_bucket", *window)
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)
            daemon.stop()
    sent = {(s.trace_id.hex(), round(s.end_time_unix_nano / 1e6)) for s in receiver.spans()}
    for exemplar in duration + cost:  # a span the receiver got: its trace, and its end (ms, as stored)
        assert (exemplar["labels"]["trace_id"], round(exemplar["timestamp"] * 1000)) in sent
    assert sorted(float(e["value"]) for e in duration) == [0.8, 1.4, 1.4]
    assert len(cost) == 2  # one per priced model
    # each session's cost, with its trace: the one trace of its calls' spans
    alpha, beta = (format(session_trace_id(s), "032x") for s in ("s-alpha", "s-beta"))
    assert {alpha, beta} <= {s.trace_id.hex() for s in receiver.spans()}
    found = {e["labels"]["trace_id"]: float(e["value"]) for e in sessions}
    assert found == {alpha: pytest.approx(0.0075), beta: pytest.approx(0.005)}
