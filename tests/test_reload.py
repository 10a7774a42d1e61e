"""Config reloads keep counts and offsets; sources added, changed or removed behave."""

from __future__ import annotations

from pathlib import Path

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
