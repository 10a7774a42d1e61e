"""`llm-exporter backfill` with a `billing:` section: the bill beside the backfilled history, so that
the logs-vs-bill comparison starts with the history (issue 24, point 4)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from fakes.billing_server import FakeBillServer, Item
from llm_exporter.cli import replay
from test_backfill import DAY, START, prometheus, run_backfill, three_days
from testkit import ROOT, parse_samples, require_binary, value

KEY = "sk-admin-backfill-s3cr3t"
MODEL = "gpt-4o-mini"


def day_of(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")


def counted(tmp: Path, lines: list[bytes]) -> float:
    """What the exporter counts for MODEL in these lines, replayed whole."""
    path = tmp / "day.log"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return value(
        parse_samples(replay(None, "completion", [str(path)]).decode()),
        "llm_cost_usd_total",
        gen_ai_request_model=MODEL,
    )


def test_backfill_writes_the_bill_of_each_day_so_the_comparison_starts_with_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_binary("promtool", "prometheus")
    require_binary("prometheus", "prometheus")
    logs = tmp_path / "logs"
    logs.mkdir()
    timed = three_days(logs)  # 2024-03-01 to 2024-03-03
    items = [
        Item(day_of(START + n * DAY), "proj_a", MODEL, kind, usd)
        for n in range(-3, 3)
        for kind, usd in (("input", f"{4.5 + n:.2f}"), ("output", "2.125"))  # a cost is never below 0
    ] + [Item(day_of(START + DAY), "proj_b", None, "web search tool calls", "0.30")]
    monkeypatch.setenv("TEST_BACKFILL_ADMIN_KEY", KEY)
    output = tmp_path / "blocks"
    with FakeBillServer("openai", items, KEY) as server:
        config = tmp_path / "config.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "sources": [{"name": "bot", "path": str(logs / "app.log"), "format": "completion"}],
                    "positions_file": None,
                    "billing": {
                        "days": 3,
                        "accounts": [
                            {"provider": "openai", "url": server.url, "admin_key_env": "TEST_BACKFILL_ADMIN_KEY"}
                        ],
                    },
                }
            )
        )
        out = run_backfill(
            "--config",
            str(config),
            "--output",
            str(output),
            "--to",
            "2024-03-04T00:00:00Z",
            "--step",
            "5m",
            "--rules",
            str(ROOT / "prometheus" / "rules" / "llm_billing.yml"),
        )
    assert KEY not in out
    # one fetch: from `days` before the first sample to the last closed day of the history
    assert {q["start_time"][0] for _, q, _ in server.requests} == {str(START - 3 * DAY)}
    assert {q["end_time"][0] for _, q, _ in server.requests} == {str(START + 3 * DAY)}

    with prometheus(tmp_path, output) as prom:
        for n in (1, 2):
            at = START + n * DAY + DAY / 2  # midday of the day after the day compared
            day = day_of(START + (n - 1) * DAY)
            bill = float(server.billed(day, MODEL))
            # the bill as the live exporter would have exported it then: the 3 closed days before
            billed = {r["metric"]["day"] for r in prom.query("llm_billing_day_timestamp_seconds", at)}
            assert billed == {day_of(START + (n - k) * DAY) for k in (1, 2, 3)}
            assert prom.scalar(f'llm_billing_cost_usd{{gen_ai_request_model="{MODEL}", day="{day}"}}', at) == bill
            # and the rules over the history: our cost of that day beside it
            ours = counted(tmp_path, [line for t, line in timed if START + (n - 1) * DAY < t <= START + n * DAY])
            closed = f'provider_model_day:llm_cost_usd:closed_day{{gen_ai_request_model="{MODEL}", day="{day}"}}'
            assert prom.scalar(closed, at) == pytest.approx(ours, rel=1e-9)
            ratio = f'provider_model_day:llm_billing_capture:ratio{{gen_ai_request_model="{MODEL}", day="{day}"}}'
            assert prom.scalar(ratio, at) == pytest.approx(ours / bill, rel=1e-9)
