"""One vocabulary, two ways in: the same calls recorded in-process (OTLP to a real receiver) and
written by CompletionLogger then read by the daemon (`replay`) give the same Prometheus names,
label names and totals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.otlp_receiver import OTLPReceiver, Point, prometheus_labels, prometheus_name
from llm_exporter import semconv
from llm_exporter.cli import replay
from llm_exporter.instrumentation import get_telemetry, record_decision, session, track
from llm_exporter.instrumentation.completion_logger import CompletionLogger
from llm_exporter.instrumentation.configure import reset
from testkit import parse_samples, value

pytest.importorskip("opentelemetry.sdk")


class Boom(Exception):
    pass


def make_calls() -> None:
    """A mix: priced and unpriced models, cache and reasoning tokens, a stream, failures,
    decisions."""
    for _ in range(3):
        with track(model="gpt-4o-mini", provider="openai") as call:
            call.record_usage(input_tokens=1200, output_tokens=300, cache_read_tokens=200, reasoning_tokens=50)
            record_decision(action="long", symbol="BTC-USD", validation_result="passed")
    with track(model="claude-sonnet-4-5", provider="anthropic") as call:
        call.record_first_chunk()
        call.record_usage(input_tokens=1400, output_tokens=250, cache_read_tokens=300, cache_write_tokens=100)
    record_decision(action="HOLD", symbol="ETH-USD", validation_result="REJECTED", call=call)
    for _ in range(2):
        with pytest.raises(Boom), track(model="gpt-4o-mini", provider="openai"):
            raise Boom()
    with track(model="llama3.2", provider="ollama") as call:
        call.record_usage(input_tokens=26, output_tokens=298)


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[list[Point], str, Path]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    from llm_exporter.exposition.otel import metric_exporter
    from llm_exporter.instrumentation import configure

    log = tmp_path / "llm_completions.log"
    with OTLPReceiver() as receiver:
        exporter = metric_exporter("http/protobuf", receiver.http_endpoint + "/v1/metrics", None, 5.0)
        mp = MeterProvider(
            metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)],
            shutdown_on_exit=False,
        )
        logger = CompletionLogger(log)
        configure(meter_provider=mp, traces=False, completion_logger=logger)
        try:
            with session("chat-42"):  # the logger writes the calls' session in place of its own
                make_calls()
            get_telemetry().end_sessions()  # as at exit
            mp.force_flush()
            receiver.wait_metrics(1)
            points = receiver.latest_points()
        finally:
            mp.shutdown()
            logger.close()
            reset()
    exposition = replay(None, "completion", [str(log)]).decode()
    yield points, exposition, log


def _exposition_families(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


INSTRUMENTS = (
    semconv.DURATION,
    semconv.TOKEN_USAGE,
    semconv.TIME_TO_FIRST_CHUNK,
    semconv.COST,
    semconv.TOKENS,
    semconv.IN_FLIGHT,
    semconv.CONSECUTIVE_FAILURES,
    semconv.DECISIONS,
    semconv.REQUESTS,
    semconv.ERRORS,
    semconv.UNPRICED,
    semconv.USAGE_MISSING,
    semconv.SESSIONS,
    semconv.SESSION_COST,
    semconv.SESSION_DURATION,
    semconv.SESSION_CALLS,
    semconv.SESSIONS_OPEN,
    semconv.SESSIONS_EVICTED,
)
SELF_METRICS = {semconv.UNPRICED[2], semconv.USAGE_MISSING[2], semconv.SESSIONS_OPEN[2], semconv.SESSIONS_EVICTED[2]}
# What only a log can tell (LiteLLM's retries, what its cache saved): the app has no such figures.
DAEMON_ONLY = {"llm_request_retries_total", "llm_cache_saved_cost_usd_total", "llm_cache_saved_tokens_total"}


def test_instrument_names_translate_to_the_contract(both: tuple[list[Point], str, Path]) -> None:
    points, _, _ = both
    for name, unit, prometheus in INSTRUMENTS:
        exported = {(p.unit, prometheus_name(p)) for p in points if p.name == name}
        assert exported == {(unit, prometheus)}, name


def test_names_match_the_daemon(both: tuple[list[Point], str, Path]) -> None:
    points, exposition, _ = both
    families = _exposition_families(exposition)
    samples = parse_samples(exposition)
    sample_names = {n for n, _ in samples}
    # The daemon's LLM metrics with samples for these completions: everything but its own health
    # and the thresholds from its config, which an app does not have.
    daemon_llm = {
        n
        for n in families
        if not n.startswith("llm_exporter_")
        and n not in DAEMON_ONLY
        and n != "llm_alert_threshold"
        and sample_names & {n, f"{n}_count"}
    }
    all_names = {prometheus_name(p) for p in points}
    otlp_names = all_names - SELF_METRICS
    assert all_names & SELF_METRICS == SELF_METRICS
    assert otlp_names == {
        "gen_ai_client_operation_duration_seconds",
        "gen_ai_client_token_usage",
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "llm_cost_usd_total",
        "llm_tokens_total",
        "llm_requests_in_flight",
        "llm_consecutive_failures",
        "llm_decisions_total",
        "llm_requests_total",
        "llm_errors_total",
        "llm_sessions_total",
        "llm_session_cost_usd",
        "llm_session_duration_seconds",
        "llm_session_calls",
    }
    assert otlp_names == daemon_llm
    # Types agree too: OTLP histograms, monotonic sums and gauges/up-down sums.
    kinds = {"histogram": "histogram", "sum": "counter", "gauge": "gauge"}
    for p in points:
        if prometheus_name(p) not in otlp_names | {semconv.UNPRICED[2]}:
            continue
        expected = families[prometheus_name(p)]
        got = kinds[p.kind] if p.kind != "sum" or p.monotonic else "gauge"
        assert got == expected, prometheus_name(p)

    # Label names per metric agree (the daemon adds none here: the replay source has no static labels).
    for name in otlp_names:
        otlp_labels = set().union(*(prometheus_labels(p) for p in points if prometheus_name(p) == name))
        base = re.compile(rf"^{name}(_bucket|_count|_sum)?$")
        daemon_labels = set().union(*(dict(ls).keys() for (n, ls) in samples if base.match(n))) - {"le"}
        assert otlp_labels == daemon_labels, name

    # The unpriced count: the labels the daemon gives it (beyond its `source`) are the app's too.
    unpriced = semconv.UNPRICED[2]
    app_labels = set().union(*(prometheus_labels(p) for p in points if prometheus_name(p) == unpriced))
    assert app_labels == set(semconv.SHARED_LABELS)
    daemon_labels = set().union(*(dict(ls).keys() for (n, ls) in samples if n == unpriced)) - {"source"}
    assert daemon_labels and daemon_labels <= app_labels


def test_completion_logger_round_trip_gives_the_same_totals(both: tuple[list[Point], str, Path]) -> None:
    points, exposition, _ = both
    s = parse_samples(exposition)

    def otlp(name: str, field: str = "value", **attrs: str) -> float:
        return sum(
            getattr(p, field)
            for p in points
            if prometheus_name(p) == name
            and all(
                dict((k.replace(".", "_"), v) for k, v in p.attributes.items()).get(k) == v for k, v in attrs.items()
            )
        )

    for model, provider in (("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", "anthropic"), ("llama3.2", "ollama")):
        labels = {"gen_ai_request_model": model, "gen_ai_provider_name": provider}
        assert otlp("llm_cost_usd_total", **labels) == pytest.approx(value(s, "llm_cost_usd_total", **labels))
        for kind in ("input", "output", "cache_read", "cache_write", "reasoning"):
            assert otlp("llm_tokens_total", gen_ai_token_type=kind, **labels) == value(
                s, "llm_tokens_total", gen_ai_token_type=kind, **labels
            ), (model, kind)
        for kind in ("input", "output"):
            assert otlp("gen_ai_client_token_usage", "value", gen_ai_token_type=kind, **labels) == value(
                s, "gen_ai_client_token_usage_sum", gen_ai_token_type=kind, **labels
            )
        duration = "gen_ai_client_operation_duration_seconds"
        assert otlp(duration, "count", **labels) == value(s, f"{duration}_count", **labels)
        # The log keeps response_time_ms to 6 decimals (half a nanosecond a call at most), more
        # than 1e-6 of the microsecond calls of these fakes.
        calls = otlp(duration, "count", **labels)
        assert otlp(duration, "value", **labels) == pytest.approx(
            value(s, f"{duration}_sum", **labels), rel=1e-9, abs=1e-9 * calls
        )
        assert otlp("llm_requests_in_flight", **labels) == value(s, "llm_requests_in_flight", **labels)
        assert otlp("llm_consecutive_failures", **labels) == value(s, "llm_consecutive_failures", **labels)
        assert otlp("llm_decisions_total", **labels) == value(s, "llm_decisions_total", **labels)

    # One session of the seven calls, ended (at exit in-app, at the replay's end in the daemon).
    assert otlp("llm_sessions_total") == value(s, "llm_sessions_total") == 1
    assert otlp("llm_session_calls", "value") == value(s, "llm_session_calls_sum") == 7
    assert otlp("llm_session_cost_usd", "count") == value(s, "llm_session_cost_usd_count") == 1
    assert otlp("llm_session_cost_usd", "value") == pytest.approx(value(s, "llm_session_cost_usd_sum"))
    duration = "gen_ai_client_operation_duration_seconds"
    assert otlp(duration, "count", error_type="Boom") == value(s, f"{duration}_count", error_type="Boom") == 2
    assert value(s, "llm_consecutive_failures", gen_ai_request_model="gpt-4o-mini") == 2
    assert value(s, "llm_decisions_total", action="LONG", gen_ai_request_model="gpt-4o-mini") == 3
    assert value(s, "llm_decisions_total", action="HOLD", gen_ai_request_model="claude-sonnet-4-5") == 1
    ttfc = "gen_ai_client_operation_time_to_first_chunk_seconds"
    assert otlp(ttfc, "count") == value(s, f"{ttfc}_count") == 1
    # Exact figures: 3 x gpt-4o-mini at $0.15 / $0.075 cached / $0.60 per million
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="gpt-4o-mini") == pytest.approx(
        3 * (1000 * 0.15e-6 + 200 * 0.075e-6 + 300 * 0.6e-6)
    )
    # Both paths record token usage only for calls whose usage is known (not the failed ones).
    usage = "gen_ai_client_token_usage"
    labels = {"gen_ai_request_model": "gpt-4o-mini", "gen_ai_token_type": "input"}
    assert value(s, f"{usage}_count", **labels) == otlp(usage, "count", **labels) == 3
    # llama3.2 has no price: one unpriced completion both ways, and no cost in-app (no false $0).
    unpriced = "llm_exporter_unpriced_completions_total"
    assert otlp(unpriced, gen_ai_request_model="llama3.2") == value(s, unpriced, gen_ai_request_model="llama3.2") == 1
    assert otlp(unpriced) == 1
    assert not [p for p in points if prometheus_name(p) == "llm_cost_usd_total" and "llama3.2" in p.attributes.values()]
    # One tracked call is one request; the failures carry their class and no HTTP status (none known).
    requests = "llm_requests_total"
    assert otlp(requests, gen_ai_request_model="gpt-4o-mini", outcome="success") == 3
    assert otlp(requests, gen_ai_request_model="gpt-4o-mini", outcome="failure") == 2
    assert otlp(requests, outcome="success") == 5
    assert otlp(requests, outcome="failure") == 2
    errors = [p for p in points if prometheus_name(p) == "llm_errors_total"]
    assert [(prometheus_labels(p), p.value) for p in errors] == [({*semconv.SHARED_LABELS, "error_type"}, 2)]
    assert otlp("llm_exporter_usage_missing_total") == 0
