"""Telemetry never hurts the app: no collector costs a script at most the exit timeout and one
warning line; no OpenTelemetry SDK makes track() and instrument() no-ops with one
warning; record_decision() never guesses at a finished call."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from fakes.otlp_receiver import OTLPReceiver, points
from llm_exporter import semconv
from llm_exporter.instrumentation import current_call, record_decision, track
from testkit import free_port

from .conftest import OTel, by_name, total

SCRIPT = """
import llm_exporter
for i in range(20):
    with llm_exporter.track(model="gpt-4o-mini", provider="openai") as call:
        call.record_usage(input_tokens=10, output_tokens=5)
print("done")
"""


def run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_no_collector_exits_at_once_with_one_warning(protocol: str) -> None:
    """A script whose collector is down ends normally with one warning line (that the exit does not
    wait for the exporters' retries is the next test's)."""
    done = run(
        SCRIPT,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
    )
    assert (done.returncode, done.stdout) == (0, "done\n"), done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # metrics and spans both fail: one warning
    assert all(line.startswith("OTLP export failing, carrying on without it: ") for line in lines), done.stderr
    assert "Connection refused" in done.stderr or "failed to connect" in done.stderr


def test_the_exit_does_not_wait_for_a_shutdown_past_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shutdown stuck on a collector (here, on an event nobody sets) keeps its thread, not the
    exit: the exit hook returns once `shutdown_timeout` (0 here) has passed."""
    configure = importlib.import_module("llm_exporter.instrumentation.configure")  # the module, not the function
    hooks: list[Callable[[], None]] = []
    monkeypatch.setattr(configure.atexit, "register", hooks.append)
    stuck, started = threading.Event(), threading.Event()

    def shutdown() -> None:
        started.set()
        stuck.wait()

    configure._shut_down_at_exit([shutdown], 0.0)
    [at_exit] = hooks
    try:
        at_exit()  # returns: the test would hang here otherwise
        assert started.wait(60) and not stuck.is_set()  # it ran, and is still stuck
    finally:
        stuck.set()


def test_without_the_sdk_track_and_instrument_do_nothing_but_warn_once() -> None:
    script = """
import sys
sys.modules["opentelemetry"] = None  # as when the [otlp] extra is not installed
import asyncio
import llm_exporter

print(llm_exporter.instrument())
with llm_exporter.track(model="gpt-4o-mini") as call:
    call.record_usage(input_tokens=10, output_tokens=5)
    llm_exporter.record_decision(action="LONG", symbol="BTC-USD")

@llm_exporter.track(model="gpt-4o-mini")
def ask():
    return "answer"

async def stream():
    async with llm_exporter.track(model="gpt-4o-mini") as call:
        call.record_first_chunk()
    return call.usage

print(ask(), asyncio.run(stream()))
try:
    llm_exporter.configure()
except ImportError as exc:
    print("configure:", exc)
"""
    done = run(script)
    missing = (
        "OpenTelemetry SDK not installed: llm_exporter's in-app instrumentation records nothing. "
        "Install it with: pip install opentelemetry-sdk opentelemetry-exporter-otlp"
    )
    assert (done.returncode, done.stderr) == (0, missing + "\n")
    assert done.stdout == f"[]\nanswer None\nconfigure: {missing}\n"


def test_record_decision_attaches_to_the_current_call_only(otel: OTel) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), track(model="gpt-4o", provider="openai"):
        raise Boom
    record_decision(action="hold", symbol="BTC-USD")  # the failed call has finished: none

    with track(model="gpt-4o-mini", provider="openai") as call:
        call.record_usage(input_tokens=10, output_tokens=5)
        assert current_call() is call
        record_decision(action="long", symbol="BTC-USD")  # the call in progress
        with track(model="o3", provider="openai") as inner:
            record_decision(action="short", symbol="ETH-USD")  # the innermost
        assert current_call() is call
    assert current_call() is None
    record_decision(action="close", symbol="BTC-USD")  # after the block: none
    record_decision(action="close", symbol="ETH-USD", call=inner)  # unless given

    @track(model="gpt-4o-mini", provider="openai")
    def ask() -> None:
        record_decision(action="long", symbol="SOL-USD")

    ask()
    points = otel.flush()
    decisions = {
        (p.attributes["gen_ai.request.model"], p.attributes["action"], p.attributes["symbol"]): p.value
        for p in by_name(points, semconv.DECISIONS[0])
    }
    assert decisions == {
        ("unknown", "HOLD", "BTC-USD"): 1,
        ("gpt-4o-mini", "LONG", "BTC-USD"): 1,
        ("o3", "SHORT", "ETH-USD"): 1,
        ("unknown", "CLOSE", "BTC-USD"): 1,
        ("o3", "CLOSE", "ETH-USD"): 1,
        ("gpt-4o-mini", "LONG", "SOL-USD"): 1,
    }


def test_a_short_script_exports_where_exit_hooks_cannot_start_threads(receiver: OTLPReceiver) -> None:
    """Python 3.12.0 and 3.12.1 refuse to start a thread in an exit hook. A short script's metrics
    and spans must still go out at its exit: here any Python refuses, from an exit hook of the
    script's own that runs before the exporter's (exit hooks run last registered first)."""
    script = """
import atexit, threading
import llm_exporter
for i in range(20):
    with llm_exporter.track(model="exit-hook-model", provider="openai") as call:
        call.record_usage(input_tokens=10, output_tokens=5)

def refuse(self):
    raise RuntimeError("can't create new thread at interpreter shutdown")

atexit.register(setattr, threading.Thread, "start", refuse)
print("done")
"""
    with receiver.lock:
        metric_requests, span_requests = len(receiver.metric_requests), len(receiver.span_requests)
    done = run(
        script,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_METRIC_EXPORT_INTERVAL="3600000",  # only the exit exports
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "done\n", "")
    with receiver.lock:
        exported = [p for _, r in receiver.metric_requests[metric_requests:] for p in points(r)]
        spans = [
            s
            for _, r in receiver.span_requests[span_requests:]
            for rs in r.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]
    calls, _ = total(exported, semconv.DURATION[0], **{"gen_ai.request.model": "exit-hook-model"})
    assert calls == 20
    assert [s.name for s in spans] == ["chat exit-hook-model"] * 20
