"""Helpers for the monitoring-bundle tests: paths, binaries, PromQL name scanning."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def need(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} not found: apt-get install {package}")
    return path


# A guard against a hung tool, not a speed bound: promtool's unit tests take over a minute on a busy machine.
HUNG_SECONDS = 900


def run(
    *cmd: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = HUNG_SECONDS
) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def load_yaml(rel: str):
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def rule_files() -> list[Path]:
    return sorted((ROOT / "prometheus" / "rules").glob("*.yml"))


def all_rules() -> list[dict]:
    out = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            out.extend(group["rules"])
    return out


def recording_names() -> set[str]:
    return {r["record"] for r in all_rules() if "record" in r}


# --- the metric vocabulary -------------------------------------------------

HISTOGRAMS = {
    "gen_ai_client_operation_duration_seconds",
    "gen_ai_client_token_usage",
    "gen_ai_client_operation_time_to_first_chunk_seconds",
    "llm_session_cost_usd",
    "llm_session_duration_seconds",
    "llm_session_calls",
}
CONTRACT = {
    "llm_cost_usd_total",
    "llm_tokens_total",
    "llm_requests_in_flight",
    "llm_consecutive_failures",
    "llm_decisions_total",
    "llm_cache_requests_total",
    "llm_cache_saved_cost_usd_total",
    "llm_cache_saved_tokens_total",
    "llm_requests_total",
    "llm_request_retries_total",
    "llm_errors_total",
    "llm_alert_threshold",
    "llm_ratelimit_remaining",
    "llm_ratelimit_limit",
    "llm_ratelimit_reset_seconds",
    "llm_budget_usd",
    "llm_budget_owner_info",
    "llm_probe_up",
    "llm_probe_duration_seconds",
    "llm_model_available",
    "llm_model_loaded",
    "llm_model_size_bytes",
    "llm_billing_cost_usd",
    "llm_billing_day_timestamp_seconds",
    "llm_sessions_total",
} | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
SELF = {
    "llm_exporter_build_info",
    "llm_exporter_lines_read_total",
    "llm_exporter_bytes_read_total",
    "llm_exporter_lines_rejected_total",
    "llm_exporter_events_ignored_total",
    "llm_exporter_files_open",
    "llm_exporter_rotations_total",
    "llm_exporter_truncations_total",
    "llm_exporter_lag_bytes",
    "llm_exporter_orphaned_requests_total",
    "llm_exporter_label_values_folded_total",
    "llm_exporter_unpriced_completions_total",
    "llm_exporter_usage_missing_total",
    "llm_exporter_positions_last_save_timestamp_seconds",
    "llm_exporter_positions_save_errors_total",
    "llm_exporter_config_last_reload_successful",
    "llm_exporter_source_files",
    "llm_exporter_billing_fetches_total",
    "llm_exporter_billing_last_success_timestamp_seconds",
}
BUILTIN = {"up", "ALERTS", "ALERTS_FOR_STATE"}
BUILTIN_PREFIXES = ("scrape_", "process_")

_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "atan2",
    "inf",
    "nan",
    "Inf",
    "NaN",
}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (a scanner, not a parser: strings,
    label matchers, ranges, grouping clauses and numbers are removed first; a name
    followed by "(" is a function or aggregation)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^{}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    s = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        if m.group() in _KEYWORDS or s[m.end() :].lstrip().startswith("("):
            continue
        names.add(m.group())
    return names


def known_metric(name: str, recorded: set[str]) -> bool:
    return name in CONTRACT or name in SELF or name in BUILTIN or name in recorded or name.startswith(BUILTIN_PREFIXES)


# --- Grafana -----------------------------------------------------------------

GRAFANA_SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "${datasource}": "prometheus",
}


def promql_for_prometheus(expr: str, rate_interval: str = "1m") -> str:
    """A dashboard expression as it would reach Prometheus with every variable at "All"."""
    expr = expr.replace("$__rate_interval", rate_interval)
    for k, v in GRAFANA_SUBSTITUTIONS.items():
        expr = expr.replace(k, v)
    return re.sub(r"\$\{?(job|instance|provider|model|symbol|source)\}?", ".*", expr)


def dashboards() -> dict[str, dict]:
    import json

    return {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
    }


def panels(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard["panels"]:
        if p["type"] == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


PROMETHEUS_DS = {"type": "prometheus", "uid": "${datasource}"}


def prometheus_queries() -> list[tuple[str, str, str, bool]]:
    """(dashboard file, panel title or annotation name, expr, instant?) for every query a dashboard
    sends to Prometheus: panel targets and annotation queries. Queries of other data sources are
    skipped on purpose, explicitly: the Overview's "Recent calls" (Tempo, TraceQL) cannot run here,
    with no Tempo binary; test_bundle_grafana checks their data source and query instead."""
    out = []
    for name, d in dashboards().items():
        for p in panels(d):
            if p["datasource"] != PROMETHEUS_DS:
                continue
            out.extend((name, p["title"], t["expr"], bool(t.get("instant"))) for t in p.get("targets", []))
        for a in d["annotations"]["list"]:
            if a["datasource"] == PROMETHEUS_DS:
                out.append((name, a["name"], a["expr"], False))
    return out


def dashboard_exprs() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title or annotation name, expr) for every Prometheus query."""
    return [(name, title, expr) for name, title, expr, _ in prometheus_queries()]
