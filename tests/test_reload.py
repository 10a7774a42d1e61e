"""Config reloads keep counts and offsets; sources added, changed or removed behave."""

from __future__ import annotations

from pathlib import Path

import orjson

from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from testkit import FakeClock, scrape, value, write_lines

LINE = b'{"model":"gpt-4o","latency_ms":100,"prompt_tokens":1,"completion_tokens":1,"cost_usd":1.0}\n'


def cfg(tmp_path: Path, *sources: dict, **extra: object):
    return parse_config({"sources": list(sources), **extra}, "test")


def test_reload_keeps_counts_and_offsets(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    write_lines(a, [LINE] * 3)
    write_lines(b, [LINE] * 4)
    exporter = Exporter(cfg(tmp_path, {"name": "a", "path": str(a), "format": "event"}), clock=FakeClock())
    exporter.poll_once()
    # a: labels change (offsets kept, nothing re-read); b: added with start_at end (history skipped).
    exporter.reload(
        cfg(
            tmp_path,
            {"name": "a", "path": str(a), "format": "event", "labels": {"app": "x"}},
            {"name": "b", "path": str(b), "format": "event", "start_at": "end"},
            thresholds={"monthly_budget_usd": 900},
        )
    )
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_cost_usd_total") == 3
    assert value(s, "llm_alert_threshold", threshold="monthly_budget_usd") == 900
    write_lines(a, [LINE])
    write_lines(b, [LINE] * 2)
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_cost_usd_total", app="x") == 1
    assert value(s, "llm_exporter_lines_read_total", source="b") == 2
    assert value(s, "llm_cost_usd_total") == 6
    # b removed: its files are closed, its counts stay.
    exporter.reload(cfg(tmp_path, {"name": "a", "path": str(a), "format": "event", "labels": {"app": "x"}}))
    write_lines(b, [LINE] * 5)
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_cost_usd_total") == 6
    assert value(s, "llm_exporter_files_open", source="b") == 0


REQ = b'{"event_type":"completion_request","request_id":"r1","model":"gpt-4o"}\n'
RESP = b'{"event_type":"completion_response","request_id":"r1","response_time_ms":5,"cost_estimate_usd":1}\n'


def test_renamed_source_does_not_recount_its_history(tmp_path: Path) -> None:
    """Issue 9.2: renaming a source and reloading read its whole history into the live counters."""
    log = tmp_path / "a.log"
    write_lines(log, [LINE] * 1000)
    exporter = Exporter(cfg(tmp_path, {"name": "old", "path": str(log), "format": "event"}), clock=FakeClock())
    exporter.poll_once()
    exporter.reload(cfg(tmp_path, {"name": "new", "path": str(log), "format": "event"}))
    exporter.poll_once()
    assert value(scrape(exporter), "llm_cost_usd_total") == 1000
    write_lines(log, [LINE])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_cost_usd_total") == 1001
    assert value(s, "llm_exporter_lines_read_total", source="new") == 1


def test_renamed_source_resumes_after_a_restart(tmp_path: Path) -> None:
    log, positions = tmp_path / "a.log", tmp_path / "pos.json"
    write_lines(log, [LINE] * 10)
    first = Exporter(cfg(tmp_path, {"name": "old", "path": str(log), "format": "event"}, positions_file=str(positions)))
    first.poll_once()
    assert first.save_positions()
    first.close()
    write_lines(log, [LINE] * 2)
    # Renamed and moved under another glob that still matches the file.
    second = Exporter(
        cfg(
            tmp_path, {"name": "new", "path": str(tmp_path / "*.log"), "format": "event"}, positions_file=str(positions)
        )
    )
    second.poll_once()
    assert value(scrape(second), "llm_cost_usd_total") == 2


def test_reload_that_changes_a_source_keeps_its_pending_requests(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    write_lines(log, [REQ])
    exporter = Exporter(cfg(tmp_path, {"name": "bot", "path": str(log), "format": "completion"}), clock=FakeClock())
    exporter.poll_once()
    assert value(scrape(exporter), "llm_requests_in_flight") == 1
    exporter.reload(cfg(tmp_path, {"name": "bot", "path": str(log), "format": "completion", "labels": {"app": "x"}}))
    write_lines(log, [RESP])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_requests_in_flight") == 0
    assert value(s, "llm_requests_total", gen_ai_request_model="gpt-4o") == 1
    assert value(s, "llm_requests_total", gen_ai_request_model="unknown") == 0


def test_reload_that_removes_a_source_orphans_its_pending_requests(tmp_path: Path) -> None:
    log, other = tmp_path / "bot.log", tmp_path / "other.log"
    write_lines(log, [REQ])
    sources = [{"name": "bot", "path": str(log), "format": "completion"}]
    exporter = Exporter(cfg(tmp_path, *sources), clock=FakeClock())
    exporter.poll_once()
    exporter.reload(cfg(tmp_path, {"name": "other", "path": str(other), "format": "completion"}))
    s = scrape(exporter)
    assert value(s, "llm_requests_in_flight") == 0
    assert value(s, "llm_exporter_orphaned_requests_total", source="bot") == 1


def test_reload_that_removes_a_litellm_source_settles_its_failed_requests(tmp_path: Path) -> None:
    log = tmp_path / "proxy.log"
    attempt = b'{"model":"gpt-4o","status":"failure","startTime":1,"endTime":2,"trace_id":"t"}\n'
    write_lines(log, [attempt])
    exporter = Exporter(cfg(tmp_path, {"name": "proxy", "path": str(log), "format": "litellm"}), clock=FakeClock())
    exporter.poll_once()
    assert value(scrape(exporter), "llm_requests_total", outcome="failure") == 0
    exporter.reload(cfg(tmp_path, {"name": "other", "path": str(tmp_path / "x.log"), "format": "litellm"}))
    assert value(scrape(exporter), "llm_requests_total", outcome="failure") == 1


def _completion_pairs(first: int, n: int) -> list[bytes]:
    """Requests and responses of a million input tokens each."""
    lines = []
    for i in range(first, first + n):
        request = {"event_type": "completion_request", "request_id": f"r{i}", "model": "my-model"}
        usage = {"prompt_tokens": 1_000_000, "completion_tokens": 0}
        response = {"event_type": "completion_response", "request_id": f"r{i}", "response_time_ms": 5}
        lines += [orjson.dumps(request) + b"\n", orjson.dumps({**response, "token_usage": usage}) + b"\n"]
    return lines


def test_reload_that_changes_a_price_prices_what_comes_after(tmp_path: Path) -> None:
    """An unchanged source keeps its counts and takes the new price."""
    log = tmp_path / "a.log"
    source = {"name": "a", "path": str(log), "format": "completion"}

    def priced(usd: float):
        return cfg(tmp_path, source, pricing={"overrides": {"my-model": {"input": usd, "output": 0}}})

    exporter = Exporter(priced(1.0), clock=FakeClock())
    write_lines(log, _completion_pairs(0, 10))
    exporter.poll_once()
    assert value(scrape(exporter), "llm_cost_usd_total") == 10.0
    exporter.reload(priced(2.0))
    write_lines(log, _completion_pairs(10, 10))
    exporter.poll_once()
    assert value(scrape(exporter), "llm_cost_usd_total") == 30.0
