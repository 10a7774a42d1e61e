"""The bundle against the real processes: llm-exporter following logs a test writes, Prometheus
scraping it every second with the project's rules, Alertmanager notifying a local webhook.

- every dashboard panel query and every template-variable query returns data;
- a cost spike written to the log reaches the webhook receiver as LLMCostPerHourHigh;
- a threshold changed in the exporter config plus SIGHUP changes whether an alert fires.

Needs Debian's `prometheus` and `prometheus-alertmanager`; skips naming them when missing.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from bundle_helpers import recording_names
from stack_helpers import (
    RUNBOOK_BASE_URL,
    CompletionLog,
    PanelTraffic,
    Prometheus,
    Receiver,
    alertmanager,
    alertmanager_source,
    copy_rules,
    demo_sources,
    exporter,
    exporter_config,
    http_json,
    panel_queries,
    panels_without_data,
    prometheus,
    prometheus_config,
    variable_values,
)

from testkit import require_binary, wait_for

# What Grafana would send for $__rate_interval with a 1 s scrape interval is 4 x 1 s; a little
# more keeps two samples in the window even when a scrape is late.
RATE_INTERVAL = "10s"

# Panels exempt from "returns data": none. Every panel has data in this run: "Firing alerts"
# because LLMUnpricedCompletions and LLMConsecutiveFailures (no `for:`) fire on the written
# traffic, the "Logs vs bill" row from a fake OpenAI bill and its history backfilled into the
# TSDB (stack_helpers.BillHistory), the time-to-first-chunk panels from time_to_first_chunk_ms /
# completionStartTime, "Since last positions save" from positions_file, "Label values folded" from a model name
# past limits.max_label_values, "Calls without token usage" from a success with 0/0 tokens, the
# probe panels (Models) from a fake Ollama server the exporter probes, "Rate limit left" (Models)
# from the rate-limit headers in the LiteLLM payloads' hidden_params, the decision markers
# (annotation queries) from the trading decisions. The Overview's "Recent calls" queries Tempo,
# not Prometheus, and is not among the queries (bundle_helpers.prometheus_queries).
EXEMPT: dict[str, str] = {}


def test_every_dashboard_and_variable_query_returns_data(tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    traffic = PanelTraffic(tmp_path)
    traffic.bill.backfill(tmp_path / "tsdb")
    with exporter(traffic.config) as running:
        prom_config = prometheus_config(tmp_path, running.port, copy_rules(tmp_path / "rules"))
        with traffic, prometheus(tmp_path, prom_config) as prom:
            traffic.wait_until_rules_fire(prom)
            _check_dashboards(prom)
            _check_probes(prom, traffic)
            _check_ratelimit(prom)


def _check_dashboards(prom: Prometheus) -> None:
    empty = panels_without_data(prom, RATE_INTERVAL, EXEMPT)
    assert not empty, "panel queries without data:\n" + "\n".join(empty)

    # Every recording rule has a series (also those no panel reads, e.g. the cache hit ratio).
    empty_rules = sorted(name for name in recording_names() if not prom.query(name))
    assert not empty_rules, f"recording rules without data: {empty_rules}"

    values = variable_values(prom)
    assert set(values) >= {"job", "instance", "provider", "model", "symbol", "source"}
    assert values["job"] == {"llm-exporter"}
    assert values["source"] == {"trading-bot", "litellm-proxy"}
    assert {"openai", "anthropic", "ollama"} <= values["provider"]
    assert {"gpt-4o-mini", "claude-3-5-sonnet-20241022", "llama3:8b", "o3-mini", "gpt-4o"} <= values["model"]
    assert values["symbol"] == {"BTC-USD", "ETH-USD"}


def _check_ratelimit(prom: Prometheus) -> None:
    """What "Rate limit left" (Models) reads on the real Prometheus: the rate-limit headers of the
    LiteLLM payloads (stack_helpers.litellm_line), as figures and as the share left."""
    assert "Rate limit left" in {title for _, title, _, _ in panel_queries(RATE_INTERVAL)}
    said = {
        (s["metric"]["__name__"], s["metric"]["gen_ai_request_model"], s["metric"]["resource"]): float(s["value"][1])
        for s in prom.query('{__name__=~"llm_ratelimit_limit|llm_ratelimit_reset_seconds"}')
    }
    assert said == {
        ("llm_ratelimit_limit", "gpt-4o", "requests"): 5000,
        ("llm_ratelimit_limit", "gpt-4o", "tokens"): 160000,
        ("llm_ratelimit_reset_seconds", "gpt-4o", "requests"): 0.012,
        ("llm_ratelimit_reset_seconds", "gpt-4o", "tokens"): 90.5,
    }
    # remaining: 5000 - n % 50 requests and 160000 - 690 * (n % 50) tokens of call n
    shares = {s["metric"]["resource"]: float(s["value"][1]) for s in prom.query("model:llm_ratelimit_remaining:ratio")}
    assert shares.keys() == {"requests", "tokens"}
    assert (160000 - 690 * 49) / 160000 <= shares["tokens"] < 1 and (5000 - 49) / 5000 <= shares["requests"] < 1


def _check_probes(prom: Prometheus, traffic: PanelTraffic) -> None:
    """What the probe panels show: the fake Ollama server up, its one model listed and loaded."""
    server = {"server_address": traffic.model_server.address, "gen_ai_provider_name": "ollama"}
    model = {**server, "gen_ai_request_model": traffic.PROBED_MODEL}
    for metric, labels in (("llm_probe_up", server), ("llm_model_available", model), ("llm_model_loaded", model)):
        (series,) = prom.query(metric)
        assert {k: series["metric"][k] for k in labels} == labels, metric
        assert series["value"][1] == "1", metric


def test_cost_spike_reaches_the_webhook_through_alertmanager(tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    logs = tmp_path / "logs"
    logs.mkdir()
    log = CompletionLog(logs / "llm_completions.log")
    # The model's cost series exists before the spike: Prometheus 2.42 has no created-timestamp
    # ingestion, so a series first scraped at $50 would have rate 0 (see README, Monitoring stack).
    log.call("gpt-4o-mini", cost=0.01)
    config = exporter_config(tmp_path, demo_sources(logs)[:1], thresholds={"max_cost_per_hour_usd": 10})
    rules = copy_rules(tmp_path / "rules", {"LLMCostPerHourHigh": "2s"})

    with (
        Receiver() as receiver,
        exporter(config) as running,
        alertmanager(
            tmp_path,
            alertmanager_source(tmp_path, receiver.url + "/slack"),
            webhook_url=receiver.url + "/alerts",
            discord_url=receiver.url + "/discord",
        ) as am_url,
    ):
        am_port = int(am_url.rsplit(":", 1)[1])
        with prometheus(tmp_path, prometheus_config(tmp_path, running.port, rules, am_port)) as prom:
            prom.wait(
                lambda: (prom.value('count_over_time(llm_cost_usd_total{job="llm-exporter"}[1m])') or 0) >= 2,
                "the cost counter scraped twice",
            )
            assert not prom.alerts("LLMCostPerHourHigh")
            # The spike: $50 within a second, 5x the hourly threshold of $10 (critical at 2x).
            for _ in range(5):
                log.call("gpt-4o-mini", cost=10.0, ms=3000)

            def critical_notification() -> dict | None:
                for payload in receiver.received("/alerts"):
                    for alert in payload["alerts"]:
                        labels = alert["labels"]
                        if labels["alertname"] == "LLMCostPerHourHigh" and labels["severity"] == "critical":
                            return payload
                return None

            prom.wait(lambda: critical_notification() is not None, "the webhook got LLMCostPerHourHigh", 30)
            payload = critical_notification()
            assert payload is not None
            assert payload["status"] == "firing"
            assert payload["receiver"] == "critical"
            alert = payload["alerts"][0]
            assert alert["status"] == "firing"
            assert alert["labels"] == {
                "alertname": "LLMCostPerHourHigh",
                "severity": "critical",
                "component": "llm",
                "monitor": "llm-exporter-bundle",
                "runbook_base_url": RUNBOOK_BASE_URL,
            }
            runbook = RUNBOOK_BASE_URL + "docs/runbook.md#llmcostperhourhigh"
            assert alert["annotations"]["runbook_url"] == runbook
            spent = float(re.search(r"\$(\d+\.\d\d)", alert["annotations"]["summary"]).group(1))
            assert spent >= 50

            # The critical receiver also posts to Slack and Discord, rendered by the templates.
            prom.wait(lambda: receiver.received("/slack") and receiver.received("/discord"), "Slack and Discord", 10)
            slack = receiver.received("/slack")[0]
            assert slack["attachments"][0]["title"] == "[FIRING:1] LLMCostPerHourHigh [critical]"
            assert slack["attachments"][0]["color"] == "danger"
            # An absolute link, which Slack and Discord make clickable.
            assert f"Runbook: {runbook}\n" in slack["attachments"][0]["text"]
            discord = receiver.received("/discord")[0]
            assert "LLMCostPerHourHigh" in str(discord)
            assert f"Runbook: {runbook}" in str(discord)

            # The warning fired too and is muted by the critical one (inhibit_rules).
            def warning_inhibited() -> bool:
                alerts = http_json(f"{am_url}/api/v2/alerts?filter=alertname%3D%22LLMCostPerHourHigh%22")
                return any(
                    a["labels"]["severity"] == "warning"
                    and a["status"]["state"] == "suppressed"
                    and a["status"]["inhibitedBy"]
                    for a in alerts
                )

            prom.wait(warning_inhibited, "the warning inhibited by the critical alert", 10)
            assert not [
                a
                for p in receiver.received("/alerts")
                for a in p["alerts"]
                if a["labels"]["alertname"] == "LLMCostPerHourHigh" and a["labels"]["severity"] == "warning"
            ]


def test_threshold_reload_changes_whether_the_alert_fires(tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    logs = tmp_path / "logs"
    logs.mkdir()
    log = CompletionLog(logs / "llm_completions.log")
    log.call("o3-mini", cost=0.01)
    sources = demo_sources(logs)[:1]
    config = exporter_config(tmp_path, sources, thresholds={"max_consecutive_failures": 10})
    model = {"gen_ai_request_model": "o3-mini"}

    with exporter(config) as running:
        prom_config = prometheus_config(tmp_path, running.port, copy_rules(tmp_path / "rules"))
        with prometheus(tmp_path, prom_config) as prom:
            for _ in range(3):
                log.call("o3-mini", ms=30000, error="APITimeoutError")

            def sees(failures: int, threshold: int) -> bool:
                return (
                    prom.value(f'llm_consecutive_failures{{gen_ai_request_model="o3-mini"}} == {failures}') is not None
                    # the effective threshold the alerts join (recorded from the exporter's gauge)
                    and prom.value(
                        f'instance:llm_alert_threshold:effective{{threshold="max_consecutive_failures"}} == {threshold}'
                    )
                    is not None
                )

            def evaluated_since(t: float) -> bool:
                return prom.last_evaluation("llm-alerts") > t

            prom.wait(lambda: sees(3, 10), "3 failures in a row under a threshold of 10")
            seen = time.time()
            prom.wait(lambda: evaluated_since(seen), "the alert rules evaluated")
            assert not prom.alerts("LLMConsecutiveFailures")

            # Lower the threshold in the exporter config and reload: no rules edit, no Prometheus reload.
            _set_threshold(config, running, sources, 2)
            prom.wait(lambda: bool(prom.alerts("LLMConsecutiveFailures")), "LLMConsecutiveFailures after the reload")
            alerts = prom.alerts("LLMConsecutiveFailures")
            assert [a["labels"]["severity"] for a in alerts] == ["warning"]  # 3 < 2 x 2: not critical
            assert alerts[0]["state"] in ("pending", "firing")
            assert model.items() <= alerts[0]["labels"].items()
            assert float(alerts[0]["value"]) == 3

            # And back: the alert resolves.
            _set_threshold(config, running, sources, 10)
            prom.wait(lambda: sees(3, 10), "the threshold back at 10")
            seen = time.time()
            prom.wait(lambda: evaluated_since(seen), "the alert rules evaluated")
            assert not prom.alerts("LLMConsecutiveFailures")


def _set_threshold(config: Path, running, sources: list[dict], value: int) -> None:
    exporter_config(config.parent, sources, thresholds={"max_consecutive_failures": value})
    os.kill(running.proc.pid, signal.SIGHUP)

    def reloaded() -> bool:
        samples = running.scrape()
        return any(
            name == "llm_alert_threshold" and ("threshold", "max_consecutive_failures") in labels and v == value
            for (name, labels), v in samples.items()
        )

    wait_for(reloaded, timeout=60)


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running.scrape uses plain urllib: never send loopback requests through a proxy."""
    for key in list(os.environ):
        if "proxy" in key.lower():
            monkeypatch.delenv(key)
