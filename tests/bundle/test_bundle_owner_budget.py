"""Budgets per owner on the real processes (issue 25): a real exporter with `budgets:` follows a
LiteLLM proxy log whose payloads carry their team, the real Prometheus evaluates the project's
rules, and the team over its budget has LLMOwnerBudgetExceeded firing while the team under its
budget has no budget alert.

Needs Debian's `prometheus`; skips naming it when missing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from stack_helpers import copy_rules, exporter, exporter_config, prometheus, prometheus_config

from testkit import require_binary

OWNER_ALERTS = ("LLMOwnerBudgetExceeded", "LLMOwnerBudgetNearlySpent", "LLMOwnerBudgetProjectedOver")


def payload(team: str, cost: float) -> str:
    """A LiteLLM proxy payload as its callbacks write it, its key's team in metadata."""
    end = time.time()
    return json.dumps(
        {
            "call_type": "acompletion",
            "model": "gpt-4o",
            "custom_llm_provider": "openai",
            "status": "success",
            "startTime": end - 0.8,
            "endTime": end,
            "prompt_tokens": 500,
            "completion_tokens": 80,
            "response_cost": cost,
            "metadata": {"user_api_key_team_alias": team, "user_api_key_alias": f"{team}-key"},
        }
    )


def test_team_over_budget_fires_team_under_does_not(tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "litellm.jsonl"

    def write(*lines: str) -> None:
        with open(log, "a", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)

    # Both teams' series exist before the spend (Prometheus 2.x ingests no created timestamps).
    write(payload("research", 0.01), payload("support", 0.01))
    source = {
        "name": "litellm-proxy",
        "path": str(log),
        "format": "litellm",
        "label_fields": {"team": "metadata.user_api_key_team_alias"},
    }
    budgets = [{"match": {"team": "research"}, "monthly_usd": 1}, {"match": {"team": "support"}, "monthly_usd": 100}]
    config = exporter_config(tmp_path, [source], budgets=budgets)

    rules = copy_rules(tmp_path / "rules")
    with exporter(config) as running, prometheus(tmp_path, prometheus_config(tmp_path, running.port, rules)) as prom:
        prom.wait(
            lambda: (prom.value('count(count_over_time(llm_cost_usd_total{team=~"research|support"}[1m]) >= 2)')) == 2,
            "both teams' cost scraped twice",
        )
        write(*(payload("research", 1.0) for _ in range(3)), payload("support", 0.5))

        def firing() -> list[dict]:
            return [a for a in prom.alerts("LLMOwnerBudgetExceeded") if a["state"] == "firing"]

        prom.wait(lambda: bool(firing()), "LLMOwnerBudgetExceeded firing", 60)
        (alert,) = firing()
        assert alert["labels"] == {
            "alertname": "LLMOwnerBudgetExceeded",
            "budget": "team=research",
            "team": "research",
            "severity": "critical",
            "component": "llm",
        }
        # The support team's spend is in before the group's next evaluation: then none of
        # the budget alerts is active for it, and research has only the critical one.
        prom.wait(lambda: prom.value('llm_cost_usd_total{team="support"} > 0.5') is not None, "support's spend scraped")
        seen = time.time()
        prom.wait(lambda: prom.last_evaluation("llm-owner-budget") > seen, "the budget rules evaluated")
        active = {(name, a["labels"]["budget"]) for name in OWNER_ALERTS for a in prom.alerts(name)}
        assert active == {("LLMOwnerBudgetExceeded", "team=research")}

        # What the alert compared: the month to date of research's owners against its budget,
        # and the budgets as the exporter exports them.
        spent = prom.value('budget:llm_cost_usd:month_to_date{budget="team=research"}')
        assert spent == prom.value('sum(owner:llm_cost_usd:month_to_date{team="research"})')
        assert spent > 1
        assert float(alert["value"]) > 1
        budgets_seen = {s["metric"]["budget"]: float(s["value"][1]) for s in prom.query("llm_budget_usd")}
        assert budgets_seen == {"team=research": 1.0, "team=support": 100.0}


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running.scrape uses plain urllib: never send loopback requests through a proxy."""
    for key in list(os.environ):
        if "proxy" in key.lower():
            monkeypatch.delenv(key)
