"""Sessions (issue 25): begun when a new session id's first call is seen, observed when they end
(idle by the clock, idle between two calls in their own times, the end of a replay or backfill,
evicted from a full table), kept across a restart beside the positions; and the same in-app.

One log of known sessions drives the daemon and the in-app calls alike (SCENARIO): five sessions
interleaved, one idle past the timeout by the clock before the restart, one whose next call comes
past the timeout (a new session of the same id), two open across the restart.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
import pytest

from llm_exporter.exporter import Exporter
from llm_exporter.formats.fields import session as bounded
from llm_exporter.pipeline.sessions import Session, Sessions
from llm_exporter.sources.positions import load_state
from testkit import FakeClock, make_exporter, scrape, write_lines

T0 = 1767225600.0  # 2026-01-01T00:00:00Z
IDLE = 60.0
LATENCY = 1.0  # every call takes a second: it starts at its line's time minus one
# (seconds after T0 the call ends, session, cost): exact binary fractions, so sums are exact.
BEFORE = [(0, "s1", 0.125), (5, "s2", 0.25), (10, "s1", 0.125), (12, "s3", 1.0), (40, "s2", 0.25), (45, "s3", 1.0)]
# s2 goes on (49 s after its last call); s3's next call is 154 s after its last: a new session.
AFTER = [(90, "s2", 0.25), (101, "s4", 0.5), (200, "s3", 2.0)]
# What ends, in the order it ends: (calls, cost, duration). s1 idle by the clock before the
# restart; s3 at its call past the timeout; s2, s4 and the second s3 idle at the end.
ENDED_BEFORE = [(2, 0.25, 11.0)]
ENDED_AFTER = [(2, 2.0, 34.0), (3, 0.75, 86.0), (1, 0.5, 1.0), (1, 2.0, 1.0)]
BEGUN_BEFORE, BEGUN_AFTER = 3, 2  # s1, s2, s3; s4 and s3 again


def event_line(offset: float, session: str, cost: float) -> str:
    return (
        json.dumps(
            {
                "timestamp": T0 + offset,
                "model": "gpt-4o-mini",
                "latency_ms": LATENCY * 1000,
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "cost_usd": cost,
                "status": "success",
                "session_id": session,
            }
        )
        + "\n"
    )


def sessions_of(exporter: Exporter, **labels: str) -> dict[str, float]:
    """The session families' totals of one scrape."""
    samples = scrape(exporter)
    wanted = set(labels.items())

    def total(name: str) -> float:
        return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)

    return {
        name: total(name)
        for name in (
            "llm_sessions_total",
            "llm_session_cost_usd_count",
            "llm_session_cost_usd_sum",
            "llm_session_calls_sum",
            "llm_session_duration_seconds_sum",
            "llm_exporter_sessions_open",
            "llm_exporter_sessions_evicted_total",
        )
    }


def expected(begun: int, ended: list[tuple[int, float, float]], still_open: int) -> dict[str, float]:
    return {
        "llm_sessions_total": begun,
        "llm_session_cost_usd_count": len(ended),
        "llm_session_cost_usd_sum": sum(cost for _, cost, _ in ended),
        "llm_session_calls_sum": sum(calls for calls, _, _ in ended),
        "llm_session_duration_seconds_sum": sum(duration for _, _, duration in ended),
        "llm_exporter_sessions_open": still_open,
        "llm_exporter_sessions_evicted_total": 0,
    }


def follow(tmp_path: Path, clock: FakeClock, **limits: object) -> tuple[Exporter, Path]:
    return make_exporter(
        tmp_path,
        "event",
        clock,
        positions_file=str(tmp_path / "positions.json"),
        limits={"session_idle_seconds": IDLE, **limits},
    )


# -- Done when: a log of known sessions, a restart in the middle ----------------------------------


def test_known_sessions_across_a_restart(tmp_path: Path) -> None:
    """increase(llm_sessions_total) over both runs is the sessions begun, _count and _sum of the
    cost histogram the sessions ended and their cost, llm_session_calls_sum their calls: nothing
    begun twice, no cost lost across the restart."""
    clock = FakeClock()
    first, log = follow(tmp_path, clock)
    write_lines(log, [event_line(*call) for call in BEFORE[:4]])
    first.poll_once()
    clock.advance(30)
    write_lines(log, [event_line(*call) for call in BEFORE[4:]])
    first.poll_once()
    clock.advance(40)  # s1 last read 70 s ago: idle; s2 and s3 40 s ago: open
    first.poll_once()
    assert sessions_of(first) == expected(BEGUN_BEFORE, ENDED_BEFORE, still_open=2)
    assert first.save_positions()
    first.close()

    saved = orjson.loads((tmp_path / "positions.json").read_bytes())["sessions"]["app"]
    assert [entry[0] for entry in saved] == ["s2", "s3"]  # least recently active first

    clock.advance(3600)  # the exporter was down an hour: not idle time of the sessions it kept
    second, _ = follow(tmp_path, clock)
    assert sessions_of(second)["llm_exporter_sessions_open"] == 2
    write_lines(log, [event_line(*call) for call in AFTER])
    second.poll_once()
    clock.advance(IDLE)
    second.poll_once()
    assert sessions_of(second) == expected(BEGUN_AFTER, ENDED_AFTER, still_open=0)
    second.close()

    # What Prometheus sums across the counter reset of the restart: every session and every call.
    every = ENDED_BEFORE + ENDED_AFTER
    assert BEGUN_BEFORE + BEGUN_AFTER == len(every) == 5
    assert sum(calls for calls, _, _ in every) == len(BEFORE) + len(AFTER)
    assert sum(cost for _, cost, _ in every) == sum(cost for _, _, cost in BEFORE + AFTER) == 5.5


def test_the_buckets_of_the_known_sessions(tmp_path: Path) -> None:
    """The whole session exposition of the log replayed at once (golden): `replay` ends the
    sessions still open at its end, an idle gap in the log's own times ends one on the way."""
    from llm_exporter.cli import replay

    log = tmp_path / "sessions.log"
    write_lines(log, [event_line(*call) for call in BEFORE + AFTER])
    config = tmp_path / "config.yml"
    source = {"name": "app", "path": str(log), "format": "event"}
    config.write_text(json.dumps({"sources": [source], "limits": {"session_idle_seconds": IDLE}}))
    text = replay(str(config), None, []).decode()
    lines = [line for line in text.splitlines() if line.startswith(("llm_session", "llm_exporter_session"))]
    golden = Path(__file__).parent / "testdata" / "golden" / "sessions.prom"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text("\n".join(lines) + "\n")
    assert lines == golden.read_text().splitlines()
    assert "llm_sessions_total 5.0" in lines  # s3's call 154 s after its last begins a session
    assert "llm_session_calls_sum 9.0" in lines


def test_known_sessions_in_app() -> None:
    """The same calls made in-app (track() with a session id, on a stepped clock): the same
    sessions begun and ended, under the same names once translated."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from llm_exporter.instrumentation.telemetry import Telemetry
    from llm_exporter.instrumentation.track import Call

    clock = FakeClock(T0)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    telemetry = Telemetry(meter_provider=provider, spans=False, session_idle_seconds=IDLE, clock=clock)
    for offset, session, cost in BEFORE + AFTER:
        clock.now = T0 + offset - LATENCY
        with Call("gpt-4o-mini", "openai", telemetry=telemetry, session_id=session) as call:
            clock.now = T0 + offset
            call.record_usage(10, 5, cost=cost)
    # s1 ended at s2's call at 90 (idle 80 s), s3 at its call at 200, s2 and s4 then (idle past 60 s)
    assert _points(reader)["llm.session.cost.usd"] == (4, 0.25 + 2.0 + 0.75 + 0.5)
    telemetry.end_sessions()  # what exit does
    points = _points(reader)
    every = ENDED_BEFORE + ENDED_AFTER
    assert points["llm.sessions"] == len(every)
    assert points["llm.session.cost.usd"] == (len(every), sum(c for _, c, _ in every))
    assert points["llm.session.calls"] == (len(every), sum(n for n, _, _ in every))
    assert points["llm.session.duration"] == (len(every), sum(d for _, _, d in every))
    assert points["llm_exporter.sessions_open"] == 0
    provider.shutdown()


def _points(reader) -> dict[str, object]:  # type: ignore[no-untyped-def]
    out: dict[str, object] = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if "session" in m.name:
                    (point,) = m.data.data_points
                    out[m.name] = (point.count, point.sum) if hasattr(point, "count") else point.value
    return out


def test_in_app_session_block_and_names() -> None:
    """`session()` gives the calls inside it their session; an idle session ends at the next
    export (tests/test_otlp_names.py proves the names, and the same totals as the daemon's)."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from llm_exporter.instrumentation.telemetry import Telemetry
    from llm_exporter.instrumentation.track import Call, session

    clock = FakeClock(0.0)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    telemetry = Telemetry(meter_provider=provider, spans=False, session_idle_seconds=IDLE, clock=clock)
    with session("chat-1"):
        for _ in range(3):
            with Call("gpt-4o-mini", "openai", telemetry=telemetry) as call:
                clock.advance(2)
                call.record_usage(10, 5, cost=0.5)
    with Call("gpt-4o-mini", "openai", telemetry=telemetry) as call:  # outside: no session
        call.record_usage(10, 5, cost=0.5)
    clock.advance(IDLE)
    points = _points(reader)  # the export itself ends the idle session
    assert points["llm.sessions"] == 1
    assert points["llm.session.cost.usd"] == (1, 1.5)
    assert points["llm.session.calls"] == (1, 3)
    assert points["llm.session.duration"] == (1, 6.0)
    provider.shutdown()


# -- backfill -------------------------------------------------------------------------------------


def test_backfill_ends_every_open_session(tmp_path: Path) -> None:
    """In the blocks: the sessions idle in the log's own times end on the way, every one still
    open ends at the end; at the last sample every session has begun and ended once."""
    import yaml

    from test_backfill import prometheus, run_backfill

    log = tmp_path / "app.log"
    write_lines(log, [event_line(*call) for call in BEFORE + AFTER])
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "sources": [{"name": "app", "path": str(log), "format": "event", "labels": {"app": "bot"}}],
                "limits": {"session_idle_seconds": IDLE},
            }
        )
    )
    output = tmp_path / "blocks"
    run_backfill("--config", str(config), "--output", str(output), "--step", "10s")
    end = T0 + 200
    with prometheus(tmp_path, output) as prom:
        assert prom.scalar('llm_sessions_total{app="bot"}', end) == 5
        assert prom.scalar('llm_session_cost_usd_count{app="bot"}', end) == 5
        assert prom.scalar('llm_session_cost_usd_sum{app="bot"}', end) == 5.5
        assert prom.scalar('llm_session_calls_sum{app="bot"}', end) == 9
        # s1 ended in the history, idle past 60 s of line time (at the sample after 70 s)
        assert prom.scalar('llm_session_cost_usd_count{app="bot"}', T0 + 80) == 1


# -- attacks ----------------------------------------------------------------------------------------


def _table(max_open: int, idle: float, clock: FakeClock) -> tuple[Sessions, list[tuple[Session, bool]], list[int]]:
    ended: list[tuple[Session, bool]] = []
    begun = [0]

    def begin() -> None:
        begun[0] += 1

    return Sessions(max_open, idle, clock, begin, lambda s, evicted: ended.append((s, evicted))), ended, begun


def test_a_million_session_ids_stay_bounded() -> None:
    """Every id begins a session; the table never holds more than max_open; each one pushed out
    ends at once, counted as evicted, its cost observed."""
    clock = FakeClock()
    table, ended, begun = _table(1000, IDLE, clock)
    largest = 0
    for i in range(1_000_000):
        table.call(f"attack-{i}", 0.0, 1.0, 0.001, None)
        if i % 997 == 0:
            largest = max(largest, len(table))
            assert all(evicted for _, evicted in ended)
            ended.clear()
    assert begun == [1_000_000]
    assert largest == len(table) == 1000
    table.end_all()
    assert len(table) == 0


def test_evictions_counted_through_the_exporter(tmp_path: Path) -> None:
    clock = FakeClock()
    exporter, log = follow(tmp_path, clock, max_open_sessions=3)
    write_lines(log, [event_line(i, f"u{i}", 0.5) for i in range(10)])
    exporter.poll_once()
    found = sessions_of(exporter)
    assert found["llm_sessions_total"] == 10
    assert found["llm_exporter_sessions_open"] == 3
    assert found["llm_exporter_sessions_evicted_total"] == 7
    assert found["llm_session_cost_usd_count"] == 7  # ended early, observed
    assert found["llm_session_cost_usd_sum"] == 3.5


def test_a_256_kb_session_id(tmp_path: Path) -> None:
    """A huge id is one session, kept and saved by its digest (the one every id past 256
    characters stands for), never as the 256 KB."""
    clock = FakeClock()
    exporter, log = follow(tmp_path, clock)
    huge = "x" * 256 * 1024
    write_lines(log, [event_line(0, huge, 0.5), event_line(10, huge, 0.5)])
    exporter.poll_once()
    assert exporter.save_positions()
    assert os.path.getsize(tmp_path / "positions.json") < 8192  # the file's 1 KB fingerprint, in hex, and the rest
    _, saved = load_state(str(tmp_path / "positions.json"))
    assert [entry[0] for entry in saved["app"]] == [bounded(huge)]
    assert bounded(huge).startswith("blake2b:")
    exporter.settle()
    found = sessions_of(exporter)
    assert (found["llm_sessions_total"], found["llm_session_calls_sum"], found["llm_session_cost_usd_sum"]) == (
        1,
        2,
        1.0,
    )


def test_calls_out_of_time_order(tmp_path: Path) -> None:
    """A session's calls read in another order than they happened: it spans the earliest start
    to the latest end; a call earlier than the last one never ends it as idle."""
    clock = FakeClock()
    exporter, log = follow(tmp_path, clock)
    write_lines(log, [event_line(50, "late", 0.25), event_line(10, "late", 0.25), event_line(30, "late", 0.25)])
    exporter.poll_once()
    exporter.settle()
    found = sessions_of(exporter)
    assert found["llm_session_cost_usd_count"] == 1
    assert found["llm_session_calls_sum"] == 3
    assert found["llm_session_duration_seconds_sum"] == 50 - (10 - LATENCY)


def test_clock_going_backwards() -> None:
    """A clock set back is time standing still: no session ends early for it, none is held
    open for the step; idle time goes on from where the clock went back."""
    clock = FakeClock(10_000.0)
    table, ended, _ = _table(100, IDLE, clock)
    table.call("a", 0.0, 1.0, 0.5, None)
    clock.advance(50)
    table.expire()  # a poll: 50 s idle
    clock.now -= 5000  # set back
    table.expire()
    assert not ended
    clock.advance(9)  # 59 s of idle in all
    table.expire()
    assert not ended
    clock.advance(1)
    table.expire()
    assert [(s.calls, s.cost, evicted) for s, evicted in ended] == [(1, 0.5, False)]


def test_restored_sessions_with_bad_entries_are_counted(tmp_path: Path) -> None:
    """A positions file whose sessions were edited by hand: the usable ones go on, the others
    count in llm_exporter_positions_load_errors_total."""
    clock = FakeClock()
    exporter, log = follow(tmp_path, clock)
    write_lines(log, [event_line(0, "ok", 0.5)])
    exporter.poll_once()
    assert exporter.save_positions()
    exporter.close()
    path = tmp_path / "positions.json"
    doc = orjson.loads(path.read_bytes())
    doc["sessions"]["app"] += [["bad", "x", 1, 1, 0.5, None], [1, 2], "nope"]
    path.write_bytes(orjson.dumps(doc))
    again, _ = follow(tmp_path, clock)
    samples = scrape(again)
    assert samples[("llm_exporter_positions_load_errors_total", frozenset())] == 3
    again.settle()
    assert sessions_of(again)["llm_session_cost_usd_sum"] == 0.5


def test_no_session_id_no_session_series(tmp_path: Path) -> None:
    clock = FakeClock()
    exporter, log = follow(tmp_path, clock)
    write_lines(log, [event_line(0, "", 0.5)])
    exporter.poll_once()
    exporter.settle()
    assert not any(name.startswith("llm_session") for name, _ in scrape(exporter))


def test_exemplar_is_the_sessions_trace(tmp_path: Path) -> None:
    """With spans on, the cost histogram's bucket of an ended session carries the session's
    trace id (a hash of its id, its calls' spans' trace) in OpenMetrics."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from prometheus_client.openmetrics.exposition import generate_latest

    from llm_exporter.config import parse_config
    from llm_exporter.exposition.traces import session_trace_id

    class Nowhere(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            return SpanExportResult.SUCCESS

    log = tmp_path / "app.log"
    write_lines(log, [event_line(0, "s1", 0.125), event_line(10, "s1", 0.125), event_line(20, "s9", 3.0)])
    config = parse_config(
        {"sources": [{"name": "app", "path": str(log), "format": "event"}], "otlp": {"traces": True}}, "test"
    )
    exporter = Exporter(config, clock=FakeClock(), span_exporter=Nowhere())
    exporter.poll_once()
    exporter.settle()
    text = generate_latest(exporter.registry(openmetrics=True, process=False)).decode()
    exporter.close()
    buckets = {
        line.split("{")[1].split("}")[0]: line.split("# ")[1]
        for line in text.splitlines()
        if line.startswith("llm_session_cost_usd_bucket") and " # " in line
    }
    s1, s9 = (format(session_trace_id(s), "032x") for s in ("s1", "s9"))
    assert buckets == {
        'le="0.25"': f'{{trace_id="{s1}"}} 0.25 {T0 + 10}',
        'le="5.0"': f'{{trace_id="{s9}"}} 3.0 {T0 + 20}',
    }


def test_the_daemon_keeps_open_sessions_across_sigterm(tmp_path: Path) -> None:
    """The real process: SIGTERM saves the open session beside the offsets; the next start goes
    on with it (not begun again) and, once idle, observes the calls and cost of both runs."""
    from testkit import Running, scrape_port, value, wait_for

    log = tmp_path / "app.log"
    write_lines(log, [event_line(0, "s1", 0.25), event_line(0, "s1", 0.25)])
    config = tmp_path / "config.yml"

    def run(idle: float) -> Running:
        source = {"name": "app", "path": str(log), "format": "event"}
        positions = str(tmp_path / "positions.json")
        config.write_text(
            json.dumps({"sources": [source], "positions_file": positions, "limits": {"session_idle_seconds": idle}})
        )
        return Running(tmp_path, "--config", str(config))

    first = run(3600)
    samples = first.scrape()
    assert (value(samples, "llm_sessions_total"), value(samples, "llm_exporter_sessions_open")) == (1, 1)
    assert first.stop()[0] == 0
    [saved] = orjson.loads((tmp_path / "positions.json").read_bytes())["sessions"]["app"]
    assert (saved[0], saved[3], saved[4]) == ("s1", 2, 0.5)

    write_lines(log, [event_line(0.5, "s1", 0.25)])  # the same session, read by the next run
    second = run(1)  # a second without a call ends it
    try:
        wait_for(lambda: value(scrape_port(second.port), "llm_session_cost_usd_count") == 1)
        samples = second.scrape()
    finally:
        second.stop()
    assert value(samples, "llm_sessions_total") == 0  # begun by the first run, not again
    assert value(samples, "llm_session_cost_usd_sum") == 0.75
    assert value(samples, "llm_session_calls_sum") == 3
