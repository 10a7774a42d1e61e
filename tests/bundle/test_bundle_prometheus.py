"""Prometheus config, recording rules and alert rules of the monitoring bundle."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bundle_helpers import (
    ROOT,
    all_rules,
    known_metric,
    load_yaml,
    metric_names,
    recording_names,
    rule_files,
    run,
)

LLM_ALERTS = {
    "LLMSlowResponses",
    "LLMCostPerHourHigh",
    "LLMSuccessRatioLow",
    "LLMConsecutiveFailures",
    "LLMMonthlyBudgetExceeded",
    "LLMMonthlyBudgetProjectedOver",
    "LLMSpend30dOverBudget",
    "LLMRateLimitNearlyExhausted",
    "LLMOwnerBudgetNearlySpent",
    "LLMOwnerBudgetExceeded",
    "LLMOwnerBudgetProjectedOver",
    "Watchdog",
}
EXPORTER_ALERTS = {
    "LLMExporterDown",
    "LLMLogsStalled",
    "LLMExporterLinesRejected",
    "LLMUnpricedCompletions",
    "LLMUsageMissing",
    "LLMExporterPositionsNotSaved",
    "LLMExporterConfigReloadFailed",
    "LLMExporterSourceNoFiles",
}
PROBE_ALERTS = {"LLMModelServerDown", "LLMModelUnavailable"}
BILLING_ALERTS = {"LLMBillingCaptureOutOfBand"}
# Per-instance thresholds (joined on job, instance) and fleet-wide ones (strictest wins).
PER_INSTANCE = {
    "max_response_time_seconds",
    "min_success_ratio",
    "max_consecutive_failures",
    "min_ratio_volume",
    "min_ratelimit_remaining_ratio",
}
FLEET = {"max_cost_per_hour_usd", "monthly_budget_usd", "owner_budget_warn_ratio"}
# The bill's comparison (llm_billing.yml), fleet-wide: the narrowest band, the lowest spend, the longest wait.
BILLING = {
    "min_capture_ratio": "max",
    "max_capture_ratio": "min",
    "min_capture_billed_usd": "min",
    "capture_settle_hours": "max",
}


def alerts() -> list[dict]:
    return [r for r in all_rules() if "alert" in r]


def test_promtool_check_config(promtool):
    res = run(promtool, "check", "config", "prometheus/prometheus.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(rule_files())} rule files found" in res.stdout + res.stderr


def test_promtool_check_rules(promtool):
    res = run(promtool, "check", "rules", *[str(p) for p in rule_files()])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    counts = {p.name: sum(len(g["rules"]) for g in yaml.safe_load(p.read_text())["groups"]) for p in rule_files()}
    assert counts == {
        "llm_alerts.yml": 11,
        "llm_billing.yml": 10,
        "llm_budget.yml": 6,
        "llm_exporter_alerts.yml": 9,
        "llm_owner_budget.yml": 8,
        "llm_probe_alerts.yml": 2,
        "llm_recording.yml": 64,
    }
    for n in counts.values():
        assert f"SUCCESS: {n} rules found" in out


def test_promtool_unit_tests(promtool):
    tests = sorted(str(p) for p in (ROOT / "prometheus" / "tests").glob("*.yml"))
    assert len(tests) >= 5
    res = run(promtool, "test", "rules", *tests)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert out.count("SUCCESS") == len(tests), out


def test_scrape_and_alerting_config():
    cfg = load_yaml("prometheus/prometheus.yml")
    jobs = {j["job_name"]: [t for sc in j["static_configs"] for t in sc["targets"]] for j in cfg["scrape_configs"]}
    assert jobs["llm-exporter"] == ["llm-exporter:8464"]
    assert jobs["otel-collector"] == ["otel-collector:8889"]
    assert jobs["prometheus"] == ["localhost:9090"]
    assert cfg["rule_files"] == ["rules/*.yml"]
    # both members of the Alertmanager cluster
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093",
        "alertmanager-2:9093",
    ]
    assert jobs["alertmanager"] == ["alertmanager:9093", "alertmanager-2:9093"]


def test_every_alert_is_tested_firing_and_quiet():
    fired: dict[str, set[str]] = {}
    quiet: set[str] = set()
    for path in (ROOT / "prometheus" / "tests").glob("*.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                if case["exp_alerts"]:
                    fired.setdefault(case["alertname"], set()).update(
                        a["exp_labels"]["severity"] for a in case["exp_alerts"]
                    )
                else:
                    quiet.add(case["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names == LLM_ALERTS | EXPORTER_ALERTS | PROBE_ALERTS | BILLING_ALERTS
    assert set(fired) == names
    assert quiet == names - {"Watchdog"}  # it never is
    for a in alerts():
        assert a["labels"]["severity"] in fired[a["alert"]], (
            f"{a['alert']} {a['labels']['severity']} never fires in a test"
        )


def _threshold_rules() -> dict[tuple[str, str], str]:
    """(record, threshold label) -> expression of the effective-threshold recording rules."""
    return {
        (r["record"], r["labels"]["threshold"]): r["expr"] for r in all_rules() if "threshold" in r.get("labels", {})
    }


def test_threshold_fallbacks_use_the_exporter_defaults():
    from dataclasses import asdict

    from llm_exporter.config import ThresholdsConfig

    defaults = asdict(ThresholdsConfig())
    rules = _threshold_rules()
    for name in PER_INSTANCE:
        expr = rules[("instance:llm_alert_threshold:effective", name)]
        assert f'max by (job, instance) (llm_alert_threshold{{threshold="{name}"}})' in expr
        assert float(expr.split(") + ")[-1]) == defaults[name], expr
    for name in FLEET:
        expr = rules[("fleet:llm_alert_threshold:strictest", name)]
        assert expr == f'min(llm_alert_threshold{{threshold="{name}"}}) or vector({defaults[name]:g})'
    for name, strictest in BILLING.items():
        expr = rules[("fleet:llm_alert_threshold:strictest", name)]
        assert expr == f'{strictest}(llm_alert_threshold{{threshold="{name}"}}) or vector({defaults[name]:g})'
    stalled = rules[("source:llm_alert_threshold:effective", "logs_stalled_after_seconds")]
    assert f"+ {defaults['logs_stalled_after_seconds']:g}" in stalled
    assert set(defaults) - {"logs_stalled_after_seconds_by_source"} == PER_INSTANCE | FLEET | set(BILLING) | {
        "logs_stalled_after_seconds"
    }


# A fleet sum, or a series aggregated over every instance (the bill's comparison, llm_billing.yml).
FLEET_WIDE = ("sum(", "fleet:", "provider_day:", "provider_model_day:", "budget:")


def test_alerts_read_thresholds_per_instance_or_fleet_wide():
    """No alert folds several exporters' thresholds into one (issue 15, point 1): per-series
    alerts join the effective threshold on(job, instance); only fleet sums use the strictest."""
    for a in alerts():
        expr = a["expr"]
        assert "llm_alert_threshold{" not in expr, a["alert"]
        if "instance:llm_alert_threshold:effective" in expr:
            assert "on(job, instance) group_left()" in expr, a["alert"]
        if "fleet:llm_alert_threshold:strictest" in expr:
            assert expr.lstrip("( \n").startswith(FLEET_WIDE), a["alert"]


def _anchors(markdown: str) -> set[str]:
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return out


def test_alert_labels_annotations_and_runbook_anchors():
    anchors = _anchors((ROOT / "docs" / "runbook.md").read_text(encoding="utf-8"))
    for a in alerts():
        assert a["labels"]["severity"] in ({"none"} if a["alert"] == "Watchdog" else {"warning", "critical"})
        assert {"summary", "description", "runbook_url"} <= set(a["annotations"])
        url = a["annotations"]["runbook_url"]
        assert url == RUNBOOK_BASE + f"docs/runbook.md#{a['alert'].lower()}"
        assert url.split("#")[1] in anchors, f"no section for {a['alert']} in docs/runbook.md"


RUNBOOK_BASE = "{{ $externalLabels.runbook_base_url }}"


def test_runbook_links_absolute(promtool, tmp_path):
    """Every alert's runbook_url, as Prometheus renders it with the runbook_base_url external
    label, is an absolute https URL of its runbook section (and repository-relative without)."""
    base = "https://git.example.org/ops/llm-exporter/-/blob/main/"
    urls = {a["alert"]: a["annotations"]["runbook_url"] for a in alerts()}  # one per name: same url
    for external_labels, prefix in (({"runbook_base_url": base}, base), ({}, "")):
        rules = tmp_path / "runbook_urls.yml"
        rules.write_text(
            yaml.safe_dump(
                {
                    "groups": [
                        {
                            "name": "runbook urls",
                            "rules": [
                                {"alert": name, "expr": "vector(1)", "annotations": {"runbook_url": url}}
                                for name, url in urls.items()
                            ],
                        }
                    ]
                }
            )
        )
        test = tmp_path / "runbook_urls_test.yml"
        expected = [
            {
                "eval_time": "1m",
                "alertname": name,
                "exp_alerts": [{"exp_annotations": {"runbook_url": f"{prefix}docs/runbook.md#{name.lower()}"}}],
            }
            for name in urls
        ]
        group = {"interval": "1m", "input_series": [], "alert_rule_test": expected}
        if external_labels:
            group["external_labels"] = external_labels
        test.write_text(yaml.safe_dump({"rule_files": [str(rules)], "tests": [group]}))
        res = run(promtool, "test", "rules", str(test))
        assert res.returncode == 0, res.stdout + res.stderr


def test_recording_rule_names_follow_level_metric_operations():
    allowed_metrics = {
        "gen_ai_client_operation_duration_seconds",
        "gen_ai_client_operation_duration_seconds_count",
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "gen_ai_client_token_usage_sum",
        "gen_ai_client_operation_failures",
        "llm_requests",
        "llm_request_failures",
        "llm_request_retries",
        "llm_tokens",
        "llm_decisions",
        "llm_cache_requests",
        "llm_cost_usd",
        "llm_exporter_lines_read",
        "llm_exporter_bytes_read",
        "llm_exporter_lines_rejected",
        "llm_exporter_unpriced_completions",
        "llm_exporter_usage_missing",
        "llm_alert_threshold",
        "llm_ratelimit_remaining",
        "llm_billing_cost_usd",
        "llm_billing_capture",
        "llm_billing_day",
    }
    names = recording_names()
    assert len(names) == 72
    for name in names:
        level, metric, ops = name.split(":")
        assert level in {
            "model",
            "model_outcome",
            "model_error",
            "provider_model",
            "source",
            "source_model",
            "instance",
            "fleet",
            "provider_model_day",  # the bill's comparison: per provider, model and UTC day (llm_billing.yml)
            "provider_day",
            "day",
            "owner",
            "budget",
        }, name
        assert metric in allowed_metrics, name
        assert re.fullmatch(r"[a-z0-9_]+", ops), name
    for want in [
        "model:gen_ai_client_operation_duration_seconds:p95_5m",
        "model:llm_requests:success_ratio_rate1h",
        "model:gen_ai_client_operation_failures:ratio_rate1h",
        "model:llm_cost_usd:projected_monthly_24h",
    ]:
        assert want in names


def test_rules_only_use_known_metrics():
    recorded = recording_names()
    for rule in all_rules():
        for name in metric_names(rule["expr"]):
            assert known_metric(name, recorded), f"{name} in {rule.get('record') or rule.get('alert')}"


def test_metric_name_scanner():
    assert metric_names(
        'sum by (le) (rate(a_bucket{x="y"}[5m])) / on() group_left() (min(b{t="1e3"}) '
        "or on() vector(30)) > 2.5e3 and c offset 5m"
    ) == {"a_bucket", "b", "c"}
