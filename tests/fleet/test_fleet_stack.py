"""A fleet on loopback, with the real binaries: three llm-exporter processes, each following
logs of its own; Prometheus in agent mode scraping them and remote-writing to a central
Prometheus (deploy/remote-write/), which evaluates the shipped rules and sends alerts to two
Alertmanagers in a cluster.

- every dashboard panel and template-variable query returns data on the central Prometheus;
- each host spends under the cost-per-hour and monthly-budget thresholds, the fleet over them:
  the fleet-wide cost alerts fire on the central one, once, without an instance label;
- the webhook gets the cost notification exactly once from the Alertmanager pair;
- the central totals per model are the sums of what each host's log holds (its replay).

Needs Debian's `prometheus` and `prometheus-alertmanager`; skips naming them when missing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from bundle_helpers import ROOT, all_rules
from stack_helpers import (
    RUNBOOK_BASE_URL,
    PanelTraffic,
    Prometheus,
    Receiver,
    alertmanager,
    alertmanager_source,
    copy_rules,
    exporter,
    http_json,
    panels_without_data,
    prometheus,
    variable_values,
)

from testkit import free_port, parse_samples, require_binary

HOSTS = ("host-a", "host-b", "host-c")
# Each host spends SPEND on top of its traffic: under both thresholds alone (all its spend is of
# this hour and this month), over both as a fleet, and under the critical 2 x max_cost_per_hour_usd.
THRESHOLDS = {"max_cost_per_hour_usd": 10, "monthly_budget_usd": 10}
SPEND_CALLS, SPEND_EACH = 8, 0.5
FLEET_ALERTS = ("LLMCostPerHourHigh", "LLMMonthlyBudgetExceeded")
RATE_INTERVAL = "10s"  # as tests/bundle/test_stack_e2e.py: 1 s scrapes


def _agent_config(tmp: Path, exporter_ports: list[int], central_url: str) -> Path:
    """deploy/remote-write/agent.yml with 1 s scrapes of the exporters on loopback and the
    central Prometheus as the remote-write target."""
    cfg = yaml.safe_load((ROOT / "deploy" / "remote-write" / "agent.yml").read_text(encoding="utf-8"))
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s")
    (job,) = cfg["scrape_configs"]
    assert job["job_name"] == "llm-exporter"
    job["static_configs"] = [{"targets": [f"127.0.0.1:{port}" for port in exporter_ports]}]
    (remote,) = cfg["remote_write"]
    remote["url"] = f"{central_url}/api/v1/write"
    remote["queue_config"] = {"batch_send_deadline": "500ms"}  # a test-run latency, not a production one
    path = tmp / "agent.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def _central_config(tmp: Path, rules: Path, alertmanager_ports: list[int]) -> Path:
    """deploy/remote-write/central.yml evaluating every second, with the rules from rules/ and
    the Alertmanagers on loopback."""
    cfg = yaml.safe_load((ROOT / "deploy" / "remote-write" / "central.yml").read_text(encoding="utf-8"))
    cfg["global"]["evaluation_interval"] = "1s"
    cfg["global"]["external_labels"]["runbook_base_url"] = RUNBOOK_BASE_URL
    assert cfg["rule_files"] == ["../../prometheus/rules/*.yml"]
    cfg["rule_files"] = [str(rules / "*.yml")]
    (managers,) = cfg["alerting"]["alertmanagers"]
    assert len(managers["static_configs"][0]["targets"]) == 2
    managers["static_configs"] = [{"targets": [f"127.0.0.1:{port}" for port in alertmanager_ports]}]
    path = tmp / "central.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def _cluster_flags(own: int, peer: int) -> list[str]:
    return [
        f"--cluster.listen-address=127.0.0.1:{own}",
        f"--cluster.advertise-address=127.0.0.1:{own}",
        f"--cluster.peer=127.0.0.1:{peer}",
        # how long the second in line waits for the first's notification to be gossiped before it
        # sends itself (15 s by default); shorter only to keep the test short
        "--cluster.peer-timeout=2s",
        # "flushing" lines: when each instance has run an aggregation group's notification
        "--log.level=debug",
    ]


def _replay_totals(config: Path) -> dict[str, dict[tuple[str, ...], float]]:
    """What one host's logs hold, read offline by `llm-exporter replay` with the host's config.

    Replay reads one source to its end before the next, so it would meet the models in another
    order than the live exporter and fold another one; it reads without the label-value limit
    instead, and the model the live exporter folds (PanelTraffic's sixth) counts as _overflow."""
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    cfg["positions_file"] = None
    cfg["limits"].pop("max_label_values")
    offline = config.with_name("replay.yml")
    offline.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "llm_exporter", "replay", "--config", str(offline)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for (name, labels), value in parse_samples(res.stdout).items():
        if name in TOTALS:
            named = dict(labels)
            if named["gen_ai_request_model"] == PanelTraffic.FOLDED_MODEL:
                named["gen_ai_request_model"] = "_overflow"
            key = tuple(named[label] for label in TOTALS[name])
            out.setdefault(name, {})
            out[name][key] = out[name].get(key, 0.0) + value
    return out


# The per-model totals compared: metric -> the labels they are summed by.
TOTALS = {
    "llm_cost_usd_total": ("gen_ai_request_model",),
    "llm_tokens_total": ("gen_ai_request_model", "gen_ai_token_type"),
    "llm_requests_total": ("gen_ai_request_model",),
}


def _central_totals(prom: Prometheus) -> dict[str, dict[tuple[str, ...], float]]:
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for name, labels in TOTALS.items():
        rows = prom.query(f"sum by ({', '.join(labels)}) ({name})")
        out[name] = {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in rows}
    return out


def _sum(totals: list[dict[str, dict[tuple[str, ...], float]]]) -> dict[str, dict[tuple[str, ...], float]]:
    out: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in TOTALS}
    for host in totals:
        for name, series in host.items():
            for key, value in series.items():
                out[name][key] = out[name].get(key, 0.0) + value
    return out


def _close(a: dict[str, dict[tuple[str, ...], float]], b: dict[str, dict[tuple[str, ...], float]]) -> bool:
    return all(a[n].keys() == b[n].keys() and all(abs(a[n][k] - b[n][k]) < 1e-9 for k in a[n]) for n in TOTALS)


def _firing(prom: Prometheus, alertname: str) -> list[dict[str, Any]]:
    return [a for a in prom.alerts(alertname) if a["state"] == "firing"]


def test_fleet_remote_write_central_rules_and_ha_alertmanagers(tmp_path: Path) -> None:
    require_binary("prometheus", "prometheus")
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    # every alert fires as soon as its condition holds: the test checks conditions, not `for:`
    rules = copy_rules(tmp_path / "rules", {r["alert"]: "0s" for r in all_rules() if "alert" in r})
    traffic = [PanelTraffic(tmp_path / host, thresholds=THRESHOLDS) for host in HOSTS]
    cluster = [free_port(), free_port()]

    with Receiver() as receiver, ExitStack() as stack:
        exporters = [stack.enter_context(exporter(t.config)) for t in traffic]
        source = alertmanager_source(tmp_path, receiver.url + "/slack")
        am_dirs = [tmp_path / "am-1", tmp_path / "am-2"]
        am_urls = []
        for i, am_dir in enumerate(am_dirs):
            am_dir.mkdir()
            flags = _cluster_flags(cluster[i], cluster[1 - i])
            am_urls.append(
                stack.enter_context(
                    alertmanager(am_dir, source, receiver.url + "/alerts", receiver.url + "/discord", flags)
                )
            )
        central_dir, agent_dir = tmp_path / "central", tmp_path / "agent"
        central_dir.mkdir()
        agent_dir.mkdir()
        traffic[0].bill.backfill(central_dir / "tsdb")  # both hosts fetch the same bill: one history
        am_ports = [int(url.rsplit(":", 1)[1]) for url in am_urls]
        central = stack.enter_context(
            prometheus(
                central_dir, _central_config(central_dir, rules, am_ports), args=["--web.enable-remote-write-receiver"]
            )
        )
        agent = stack.enter_context(
            prometheus(agent_dir, _agent_config(agent_dir, [e.port for e in exporters], central.url), agent=True)
        )
        instances = {f"127.0.0.1:{e.port}" for e in exporters}

        # 1. Dashboards on the central store, fed only by remote write.
        with ExitStack() as writers:
            for t in traffic:
                writers.enter_context(t)
            traffic[0].wait_until_rules_fire(central)
            empty = panels_without_data(central, RATE_INTERVAL)
            assert not empty, "panel queries without data on the central Prometheus:\n" + "\n".join(empty)
            values = variable_values(central)
            assert values["job"] == {"llm-exporter"}
            assert values["instance"] == instances
        assert not central.query("up{job='llm-exporter'} == 0")
        assert agent.api("targets")["activeTargets"], "the agent scrapes the exporters"
        for alertname in FLEET_ALERTS:
            assert not _firing(central, alertname), f"{alertname} fired before the spend"

        # 2. The spend: each host alone under the thresholds, the fleet over them.
        for t in traffic:
            for _ in range(SPEND_CALLS):
                t.completion.call("gpt-4o-mini", cost=SPEND_EACH)
        central.wait(lambda: all(_firing(central, name) for name in FLEET_ALERTS), "the fleet cost alerts", 30)
        for alertname in FLEET_ALERTS:
            (alert,) = _firing(central, alertname)
            # the cost per hour under its critical 2 x; a budget already spent is critical at once
            assert alert["labels"]["severity"] == ("critical" if alertname == "LLMMonthlyBudgetExceeded" else "warning")
            assert "instance" not in alert["labels"]  # one fleet-wide alert, not one per host
        per_hour = {
            r["metric"]["instance"]: float(r["value"][1])
            for r in central.query("3600 * sum by (instance) (rate(llm_cost_usd_total[1h]))")
        }
        per_month = {  # the whole spend of a host so far, all of it this month
            r["metric"]["instance"]: float(r["value"][1])
            for r in central.query("sum by (instance) (llm_cost_usd_total)")
        }
        assert set(per_hour) == set(per_month) == instances
        for instance in instances:
            assert SPEND_CALLS * SPEND_EACH <= per_hour[instance] < THRESHOLDS["max_cost_per_hour_usd"]
            assert per_month[instance] < THRESHOLDS["monthly_budget_usd"]
        assert sum(per_hour.values()) > THRESHOLDS["max_cost_per_hour_usd"]
        assert sum(per_month.values()) > THRESHOLDS["monthly_budget_usd"]

        # 3. The Alertmanager pair notifies once.
        def notifications() -> list[dict[str, Any]]:
            payloads = [p for p in receiver.received("/alerts") if p["status"] == "firing"]
            return [p for p in payloads if any(a["labels"]["alertname"] == "LLMCostPerHourHigh" for a in p["alerts"])]

        def flushes(am_dir: Path) -> int:
            log = (am_dir / "alertmanager.log").read_text(errors="replace")
            return len(re.findall(r"msg=flushing alerts=\[[^\n]*?LLMCostPerHourHigh\[", log))

        for url in am_urls:
            status = http_json(f"{url}/api/v2/status")["cluster"]
            assert status["status"] == "ready" and len(status["peers"]) == 2, status
        central.wait(lambda: bool(notifications()), "the webhook got LLMCostPerHourHigh", 40)
        # Each instance has run the group's notification pipeline (the second in line after its
        # peer timeout) and started the next flush: a duplicate would have been sent by now.
        central.wait(lambda: all(flushes(d) >= 2 for d in am_dirs), "both Alertmanagers flushed the group twice", 30)
        sent = notifications()
        assert len(sent) == 1, f"{len(sent)} notifications: {sent}"
        (alert,) = [a for a in sent[0]["alerts"] if a["labels"]["alertname"] == "LLMCostPerHourHigh"]
        assert alert["status"] == "firing" and "instance" not in alert["labels"]

        # 4. The fleet's totals per model are the sums of the hosts' logs.
        truth = _sum([_replay_totals(t.config) for t in traffic])
        assert truth["llm_cost_usd_total"][("gpt-4o-mini",)] > 3 * SPEND_CALLS * SPEND_EACH
        central.wait(lambda: _close(_central_totals(central), truth), "the central totals equal the logs'", 20)
        got = _central_totals(central)
        for name in TOTALS:
            assert got[name] == pytest.approx(truth[name], rel=1e-12, abs=1e-9), name
