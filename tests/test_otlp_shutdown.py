"""The real daemon pushing over OTLP to an endpoint nobody listens on: SIGTERM still ends it, with
its read positions saved. (That the exit waits at most the OTLP timeout for the last push is
test_otlp_push's test_close_does_not_wait_for_a_push_that_never_ends, with no clock involved.)"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from testkit import Running, free_port, value, wait_for

pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")

LINE = '{"model":"gpt-4o","latency_ms":100,"prompt_tokens":10,"completion_tokens":1,"cost_usd":1.0}\n'


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_sigterm_with_the_otlp_endpoint_down(tmp_path: Path, protocol: str) -> None:
    log = tmp_path / "app.log"
    log.write_text(LINE * 3)
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        f"sources:\n  - {{name: app, path: '{log}', format: event}}\n"
        f"positions_file: {tmp_path / 'pos.json'}\npositions_save_interval_seconds: 3600\n"
        # Pushes every second to a closed port: one is retrying (up to the 5 s default timeout)
        # most of the time, as when a collector is down.
        f"otlp: {{endpoint: 'http://127.0.0.1:{free_port()}', protocol: {protocol}, interval_seconds: 1}}\n"
    )
    daemon = Running(tmp_path, "--config", str(cfg))
    wait_for(lambda: value(daemon.scrape(), "llm_exporter_otlp_pushes_total", result="failure") >= 1)
    assert value(daemon.scrape(), "gen_ai_client_operation_duration_seconds_count") == 3
    with log.open("a") as f:
        f.write(LINE)  # read by the last read before exit
    daemon.proc.send_signal(signal.SIGTERM)
    _, err = daemon.proc.communicate(timeout=300)  # a guard against a hang, not a measure
    assert daemon.proc.returncode == 0, err
    [entry] = json.loads((tmp_path / "pos.json").read_text())["files"]
    assert (entry["path"], entry["offset"]) == (str(log), 4 * len(LINE))
