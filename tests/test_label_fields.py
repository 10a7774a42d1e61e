"""Opt-in labels from line fields (user, team, feature): only when configured, always capped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_exporter.config import ConfigError, parse_config
from llm_exporter.exporter import Exporter
from testkit import scrape, value, write_lines


def exporter_for(log: Path, fmt: str, **source: object) -> Exporter:
    cfg = {"sources": [{"name": "app", "path": str(log), "format": fmt, **source}], "limits": {"max_label_values": 3}}
    return Exporter(parse_config(cfg, "test"))


def litellm_line(team: object, cost: float) -> str:
    payload = {
        "model": "gpt-4o", "custom_llm_provider": "openai", "status": "success", "prompt_tokens": 10,
        "completion_tokens": 5, "startTime": 1.0, "endTime": 2.0, "response_cost": cost,
        "metadata": {"user_api_key_team_id": team, "user_api_key_hash": "secret-hash"},
    }  # fmt: skip
    return json.dumps(payload) + "\n"


def test_team_label_from_litellm_metadata(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(
        log,
        [
            litellm_line("a", 1.0),
            litellm_line("a", 2.0),
            litellm_line("b", 4.0),
            litellm_line(None, 8.0),
            litellm_line(7, 16.0),
            litellm_line(True, 32.0),
        ],
    )
    exporter = exporter_for(log, "litellm", label_fields={"team": "metadata.user_api_key_team_id"})
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_cost_usd_total", team="a") == 3.0
    assert value(s, "llm_cost_usd_total", team="b") == 4.0
    assert value(s, "llm_cost_usd_total", team="7") == 16.0
    assert value(s, "llm_cost_usd_total", team="_overflow") == 32.0  # the fourth value, past the cap of 3
    assert value(s, "llm_exporter_label_values_folded_total", label="team") == 1
    no_team = [v for (n, ls), v in s.items() if n == "llm_cost_usd_total" and not any(k == "team" for k, _ in ls)]
    assert no_team == [8.0]
    # Nothing else from the line becomes a label.
    assert not any("secret-hash" in v for (_, ls) in s for _, v in ls)


def test_request_labels_carry_to_response_and_decision(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write_lines(
        log,
        [
            '{"event_type":"completion_request","request_id":"r1","model":"o3-mini","market_context":{"symbol":"BTC"}}\n',
            '{"event_type":"completion_response","request_id":"r1","response_time_ms":100,"cost_estimate_usd":0.5}\n',
            '{"event_type":"trading_decision","request_id":"r1","action":"LONG","symbol":"BTC"}\n',
        ],
    )
    exporter = exporter_for(log, "completion", label_fields={"market": "market_context.symbol"})
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_cost_usd_total", market="BTC", gen_ai_request_model="o3-mini") == 0.5
    assert value(s, "llm_decisions_total", market="BTC", action="LONG") == 1


def test_label_fields_validated(tmp_path: Path) -> None:
    base = {"name": "app", "path": "/x"}
    with pytest.raises(ConfigError, match=r"sources\[0\]\.label_fields: .*'gen_ai_request_model' is a label"):
        parse_config({"sources": [{**base, "label_fields": {"gen_ai_request_model": "model"}}]}, "t")
    with pytest.raises(ConfigError, match="team set both in labels and in label_fields"):
        parse_config({"sources": [{**base, "labels": {"team": "x"}, "label_fields": {"team": "metadata.team"}}]}, "t")
    with pytest.raises(ConfigError, match="'team' needs a value"):
        parse_config({"sources": [{**base, "label_fields": {"team": ""}}]}, "t")
