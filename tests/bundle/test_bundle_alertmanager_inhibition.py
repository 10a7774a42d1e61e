"""Inhibition and the Watchdog route through the real Alertmanager (issue 15, point 5).

Alerts are posted to its API; which ones it reports as inhibited, and by what, is read back.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_helpers import Receiver, alertmanager, alertmanager_source, http_json

from testkit import require_binary

SLOW = {"alertname": "LLMSlowResponses", "component": "llm", "job": "llm-exporter", "gen_ai_operation_name": "chat"}
GPT_4O = {**SLOW, "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o"}


def _post(url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    req = urllib.request.Request(f"{url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=30) as resp:
        assert resp.status == 200


def _inhibited(url: str) -> dict[str, bool]:
    """alert name + instance (+ provider) -> whether Alertmanager reports it inhibited."""
    out = {}
    for a in http_json(f"{url}/api/v2/alerts"):
        labels: dict[str, Any] = a["labels"]
        key = "/".join(labels.get(k, "") for k in ("alertname", "severity", "instance", "gen_ai_provider_name"))
        out[key] = bool(a["status"]["inhibitedBy"])
    return out


@pytest.fixture
def am(tmp_path: Path) -> Iterator[tuple[str, Receiver]]:
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    with Receiver() as receiver:
        source = alertmanager_source(tmp_path, receiver.url + "/slack")
        with alertmanager(
            tmp_path, source, receiver.url + "/alerts", receiver.url + "/discord", heartbeat_url=receiver.url + "/ping"
        ) as url:
            yield url, receiver


def test_inhibition_uses_the_full_identity_and_exporter_down_mutes_its_symptoms(am: tuple[str, Receiver]) -> None:
    url, _ = am
    _post(
        url,
        [
            {**GPT_4O, "severity": "critical", "instance": "a:8464"},
            # the same series: muted by the critical
            {**GPT_4O, "severity": "warning", "instance": "a:8464"},
            # gpt-4o on another instance, and another provider's gpt-4o: not muted
            {**GPT_4O, "severity": "warning", "instance": "b:8464"},
            {**GPT_4O, "severity": "warning", "instance": "a:8464", "gen_ai_provider_name": "azure"},
            # exporter c is down: its symptom alerts are muted, a's and the fleet's are not
            {
                "alertname": "LLMExporterDown",
                "severity": "critical",
                "component": "exporter",
                "job": "llm-exporter",
                "instance": "c:8464",
            },
            {
                "alertname": "LLMLogsStalled",
                "severity": "warning",
                "component": "exporter",
                "job": "llm-exporter",
                "instance": "c:8464",
                "source": "chat",
            },
            {
                "alertname": "LLMLogsStalled",
                "severity": "warning",
                "component": "exporter",
                "job": "llm-exporter",
                "instance": "a:8464",
                "source": "chat",
            },
            {"alertname": "LLMCostPerHourHigh", "severity": "warning", "component": "llm"},
        ],
    )
    want = {
        "LLMSlowResponses/critical/a:8464/openai": False,
        "LLMSlowResponses/warning/a:8464/openai": True,
        "LLMSlowResponses/warning/b:8464/openai": False,
        "LLMSlowResponses/warning/a:8464/azure": False,
        "LLMExporterDown/critical/c:8464/": False,
        "LLMLogsStalled/warning/c:8464/": True,
        "LLMLogsStalled/warning/a:8464/": False,
        "LLMCostPerHourHigh/warning//": False,
    }
    deadline = time.monotonic() + 20
    while (got := _inhibited(url)) != want and time.monotonic() < deadline:
        time.sleep(0.2)  # the inhibitor reads the posted alerts asynchronously
    assert got == want


def test_watchdog_reaches_the_heartbeat_receiver(am: tuple[str, Receiver]) -> None:
    url, receiver = am
    _post(url, [{"alertname": "Watchdog", "severity": "none", "component": "alerting"}])
    deadline = time.monotonic() + 20
    while not receiver.received("/ping") and time.monotonic() < deadline:
        time.sleep(0.2)
    (payload, *_) = receiver.received("/ping")
    assert payload["receiver"] == "heartbeat"
    assert [a["labels"]["alertname"] for a in payload["alerts"]] == ["Watchdog"]
    assert receiver.received("/alerts") == []
