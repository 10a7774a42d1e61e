#!/usr/bin/env python3
"""Generate the Grafana dashboards in grafana/dashboards/*.json.

The JSON files are committed; this script is their source. After editing it,
run

    python3 grafana/generate_dashboards.py

and commit the regenerated JSON (tests/bundle checks that they are in sync).
Standard library only.

Queries use the metric contract's names and the recording rules in
prometheus/rules/llm_recording.yml. Grafana variables used in expressions:
$job, $instance, $provider, $model, $symbol, $source (template variables),
$__rate_interval and $__range (Grafana built-ins).
"""

# ruff: noqa: E501  (PromQL strings read better unwrapped)
from __future__ import annotations

import json
import sys
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "dashboards"

DS = {"type": "prometheus", "uid": "${datasource}"}

# Label matchers shared by the LLM dashboards.
SEL = 'job=~"$job", instance=~"$instance", gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"'
# Exporter health: job, instance, source.
XSEL = 'job=~"$job", instance=~"$instance", source=~"$source"'
JI = 'job=~"$job", instance=~"$instance"'

PM = "gen_ai_provider_name, gen_ai_request_model"
MODEL_LEGEND = "{{gen_ai_provider_name}}/{{gen_ai_request_model}}"


# --------------------------------------------------------------------------
# building blocks


def target(expr, legend="", ref="A", instant=False, fmt="time_series", interval=""):
    t = {
        "refId": ref,
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "format": fmt,
    }
    if interval:
        t["interval"] = interval
    return t


def targets(*specs, **kw):
    """specs: (expr, legend) tuples -> targets with refIds A, B, C, ..."""
    return [target(e, legend, ref=chr(ord("A") + i), **kw) for i, (e, legend) in enumerate(specs)]


def thresholds(*steps):
    """steps: (value, color); the first value is the base (None)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


GREEN = thresholds((None, "green"))


def _field_defaults(unit, thr, decimals=None, vmin=None, vmax=None, custom=None):
    d = {"unit": unit, "thresholds": thr or GREEN, "color": {"mode": "palette-classic"}, "mappings": []}
    if decimals is not None:
        d["decimals"] = decimals
    if vmin is not None:
        d["min"] = vmin
    if vmax is not None:
        d["max"] = vmax
    if custom is not None:
        d["custom"] = custom
    return d


def timeseries(
    title,
    tgts,
    unit="short",
    thr=None,
    desc="",
    stack=False,
    bars=False,
    decimals=None,
    vmin=None,
    vmax=None,
    threshold_line=False,
    calcs=("mean", "max", "lastNotNull"),
    interval="",
    time_from="",
):
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "axisSoftMin": 0,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line+area" if threshold_line else "off"},
    }
    p = {
        "type": "timeseries",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": _field_defaults(unit, thr, decimals, vmin, vmax, custom), "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True, "calcs": list(calcs)},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }
    if interval:
        p["interval"] = interval
    if time_from:
        p["timeFrom"] = time_from
    return p


def stat(
    title,
    tgts,
    unit="short",
    thr=None,
    desc="",
    decimals=None,
    color_mode="value",
    graph=True,
    vmin=None,
    vmax=None,
    no_value=None,
):
    defaults = _field_defaults(unit, thr, decimals, vmin, vmax)
    if no_value is not None:
        defaults["noValue"] = no_value
    return {
        "type": "stat",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": color_mode,
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
            "wideLayout": True,
            "showPercentChange": False,
        },
    }


def bargauge(title, tgts, unit="short", thr=None, desc="", decimals=None):
    return {
        "type": "bargauge",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": _field_defaults(unit, thr, decimals, vmin=0), "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "auto",
            "sizing": "auto",
        },
    }


def piechart(title, tgts, unit="short", desc=""):
    return {
        "type": "piechart",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": _field_defaults(unit, None), "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "pieType": "donut",
            "legend": {
                "displayMode": "table",
                "placement": "right",
                "showLegend": True,
                "values": ["value", "percent"],
            },
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def table(title, tgts, desc="", overrides=(), rename=None, hide=("Time", "job", "instance"), unit="short", thr=None):
    """Instant queries merged on their labels into one row per label set."""
    for t in tgts:
        t["instant"] = True
        t["range"] = False
        t["format"] = "table"
    return {
        "type": "table",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {
            "defaults": _field_defaults(unit, thr, custom={"align": "auto", "cellOptions": {"type": "auto"}}),
            "overrides": list(overrides),
        },
        "options": {
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""},
        },
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {h: True for h in hide},
                    "renameByName": rename or {},
                    "indexByName": {},
                },
            },
        ],
    }


def col(name, unit, thr=None, decimals=None, color_cells=False):
    """Table column override by field name."""
    props = [{"id": "unit", "value": unit}]
    if decimals is not None:
        props.append({"id": "decimals", "value": decimals})
    if thr is not None:
        props.append({"id": "thresholds", "value": thr})
    if color_cells:
        props.append({"id": "custom.cellOptions", "value": {"type": "color-background", "mode": "basic"}})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(items):
    """items: panels (with "w"/"h" keys popped) and rows, laid out left to right."""
    x = y = 0
    row_h = 0
    out = []
    for pid, item in enumerate(items, start=1):
        item = dict(item)
        if item["type"] == "row":
            if x:
                y += row_h
            item["gridPos"] = {"x": 0, "y": y, "w": 24, "h": 1}
            y += 1
            x = row_h = 0
        else:
            w, h = item.pop("w"), item.pop("h")
            if x + w > 24:
                y += row_h
                x = row_h = 0
            item["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
            x += w
            row_h = max(row_h, h)
        item["id"] = pid
        out.append(item)
    return out


def sized(panel, w, h):
    panel["w"], panel["h"] = w, h
    return panel


# --------------------------------------------------------------------------
# template variables


def ds_var():
    return {
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "query": "prometheus",
        "regex": "",
        "hide": 0,
        "refresh": 1,
        "current": {"selected": False, "text": "Prometheus", "value": "prometheus"},
        "options": [],
    }


def query_var(name, label, query, multi=True):
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "refresh": 2,
        "sort": 1,
        "regex": "",
        "hide": 0,
        "multi": multi,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
    }


BASE = "gen_ai_client_operation_duration_seconds_count"


def llm_vars(extra=()):
    return [
        ds_var(),
        query_var("job", "Job", f"label_values({BASE}, job)"),
        query_var("instance", "Instance", f'label_values({BASE}{{job=~"$job"}}, instance)'),
        query_var(
            "provider", "Provider", f'label_values({BASE}{{job=~"$job", instance=~"$instance"}}, gen_ai_provider_name)'
        ),
        query_var(
            "model",
            "Model",
            f'label_values({BASE}{{job=~"$job", instance=~"$instance", gen_ai_provider_name=~"$provider"}}, gen_ai_request_model)',
        ),
        *extra,
    ]


def dashboard(uid, title, desc, panels, variables, time_from="now-6h"):
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": desc,
        "tags": ["llm", "llm-exporter"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "LLM dashboards",
                "type": "dashboards",
                "tags": ["llm-exporter"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": variables},
        "panels": layout(panels),
    }


# thresholds matching the exporter's default alert thresholds
LATENCY_THR = thresholds((None, "green"), (15, "orange"), (30, "red"))
SUCCESS_THR = thresholds((None, "red"), (0.8, "orange"), (0.9, "green"))
COST_HOUR_THR = thresholds((None, "green"), (5, "orange"), (10, "red"))
CONSEC_THR = thresholds((None, "green"), (1, "orange"), (3, "red"))
BUDGET_THR = thresholds((None, "green"), (400, "orange"), (500, "red"))
DAILY_THR = thresholds((None, "green"), (400 / 30, "orange"), (500 / 30, "red"))
ZERO_BAD = thresholds((None, "green"), (1, "red"))

SUCCESS_ALL = (
    f"1 - (sum(model:llm_request_failures:rate5m{{{SEL}}}) or vector(0))"
    f" / (sum(model:llm_requests:rate5m{{{SEL}}}) > 0)"
)
# The Models table, one row per model over every selected instance: a ratio of the summed counts
# and a quantile of the summed buckets (an average of per-instance ratios or the slowest
# instance's quantile would not be the model's).
MODELS_SUCCESS = (
    f'(sum by ({PM}) (model_outcome:llm_requests:increase1h{{{SEL}, outcome="success"}})'
    f" or 0 * sum by ({PM}) (model_outcome:llm_requests:increase1h{{{SEL}}}))"
    f" / (sum by ({PM}) (model_outcome:llm_requests:increase1h{{{SEL}}}) > 0)"
)
MODELS_ATTEMPT_FAILURES = (
    f'(sum by ({PM}) (model_error:gen_ai_client_operation_duration_seconds_count:increase1h{{{SEL}, error_type!=""}})'
    f" or 0 * sum by ({PM}) (model_error:gen_ai_client_operation_duration_seconds_count:increase1h{{{SEL}}}))"
    f" / (sum by ({PM}) (model_error:gen_ai_client_operation_duration_seconds_count:increase1h{{{SEL}}}) > 0)"
)


def models_quantile(q):
    return f"histogram_quantile({q}, sum by (le, {PM}) (rate(gen_ai_client_operation_duration_seconds_bucket{{{SEL}}}[1h])))"


REQUESTS_DESC = "End-to-end requests as the application saw them: LiteLLM retries and fallbacks of one call count once."
LATENCY_DESC = (
    "Quantiles from the duration histogram: one observation per attempt (provider call), failed attempts"
    " included; response-cache hits are not provider calls and are not in it."
)


# --------------------------------------------------------------------------
# dashboards


def overview():
    p = [
        row("Now"),
        sized(
            stat(
                "Requests/s (5m)",
                targets((f"sum(model:llm_requests:rate5m{{{SEL}}})", "requests/s")),
                unit="reqps",
                decimals=2,
                desc=REQUESTS_DESC,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Success ratio (5m)",
                targets((SUCCESS_ALL, "success")),
                unit="percentunit",
                thr=SUCCESS_THR,
                decimals=1,
                color_mode="background",
                no_value="no traffic",
                desc="Share of end-to-end requests whose last attempt succeeded, over the last 5 minutes"
                " (a failure recovered by a retry or fallback is a success). Alert threshold: min_success_ratio.",
            ),
            4,
            4,
        ),
        sized(
            stat(
                "p95 latency (5m, slowest model)",
                targets((f"max(model:gen_ai_client_operation_duration_seconds:p95_5m{{{SEL}}})", "p95")),
                unit="s",
                thr=LATENCY_THR,
                decimals=2,
                color_mode="background",
                desc="Alert threshold: max_response_time_seconds.",
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Cost last hour",
                targets((f"sum(model:llm_cost_usd:hourly_rate1h{{{SEL}}})", "USD/h")),
                unit="currencyUSD",
                thr=COST_HOUR_THR,
                decimals=2,
                color_mode="background",
                desc="Spend over the last hour. Alert threshold: max_cost_per_hour_usd.",
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Projected today / 30 days",
                targets(
                    (f"sum(model:llm_cost_usd:projected_daily_1h{{{SEL}}})", "day (1h rate)"),
                    (f"sum(model:llm_cost_usd:projected_monthly_24h{{{SEL}}})", "30 days (24h rate)"),
                ),
                unit="currencyUSD",
                decimals=2,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Firing alerts",
                targets(('count(ALERTS{alertstate="firing"}) or vector(0)', "firing")),
                thr=ZERO_BAD,
                color_mode="background",
                graph=False,
                decimals=0,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "In flight",
                targets((f"sum(llm_requests_in_flight{{{SEL}}})", "in flight")),
                decimals=0,
                desc="Requests logged without a response yet.",
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Consecutive failures (worst model)",
                targets((f"max(llm_consecutive_failures{{{SEL}}})", "failures in a row")),
                thr=CONSEC_THR,
                color_mode="background",
                decimals=0,
                desc="Alert threshold: max_consecutive_failures.",
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Requests (24h)",
                targets((f"sum(model:llm_requests:increase24h{{{SEL}}})", "requests")),
                decimals=0,
                graph=False,
                desc=REQUESTS_DESC,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Cost (24h)",
                targets((f"sum(model:llm_cost_usd:increase24h{{{SEL}}})", "USD")),
                unit="currencyUSD",
                decimals=2,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Tokens/s in / out (5m)",
                targets(
                    (f'sum(model:gen_ai_client_token_usage_sum:rate5m{{{SEL}, gen_ai_token_type="input"}})', "input"),
                    (f'sum(model:gen_ai_client_token_usage_sum:rate5m{{{SEL}, gen_ai_token_type="output"}})', "output"),
                ),
                unit="short",
                decimals=1,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Success ratio (24h)",
                targets((f"min(model:llm_requests:success_ratio_rate24h{{{SEL}}})", "worst model")),
                unit="percentunit",
                thr=SUCCESS_THR,
                decimals=1,
                color_mode="background",
                graph=False,
            ),
            4,
            4,
        ),
        row("Traffic and errors"),
        sized(
            timeseries(
                "Requests/s by model",
                targets(
                    (f"sum by ({PM}) (model:llm_requests:rate5m{{{SEL}}})", MODEL_LEGEND),
                    (f"sum by ({PM}) (model:llm_request_failures:rate5m{{{SEL}}})", MODEL_LEGEND + " failed"),
                ),
                unit="reqps",
                desc=REQUESTS_DESC + " Failed: requests whose last attempt failed.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Success ratio by model (5m)",
                targets((f"model:llm_requests:success_ratio_rate5m{{{SEL}}}", MODEL_LEGEND)),
                unit="percentunit",
                thr=SUCCESS_THR,
                vmin=0,
                vmax=1,
                threshold_line=True,
                calcs=("mean", "min", "lastNotNull"),
            ),
            12,
            8,
        ),
        row("Latency"),
        sized(
            timeseries(
                "Response time p50 / p95 / p99 (5m)",
                targets(
                    (
                        f"max by ({PM}) (model:gen_ai_client_operation_duration_seconds:p50_5m{{{SEL}}})",
                        "p50 " + MODEL_LEGEND,
                    ),
                    (
                        f"max by ({PM}) (model:gen_ai_client_operation_duration_seconds:p95_5m{{{SEL}}})",
                        "p95 " + MODEL_LEGEND,
                    ),
                    (
                        f"max by ({PM}) (model:gen_ai_client_operation_duration_seconds:p99_5m{{{SEL}}})",
                        "p99 " + MODEL_LEGEND,
                    ),
                ),
                unit="s",
                thr=LATENCY_THR,
                threshold_line=True,
                desc=LATENCY_DESC + " Red line: max_response_time_seconds default.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Time to first chunk p50 / p95 (5m)",
                targets(
                    (
                        f"max by ({PM}) (model:gen_ai_client_operation_time_to_first_chunk_seconds:p50_5m{{{SEL}}})",
                        "p50 " + MODEL_LEGEND,
                    ),
                    (
                        f"max by ({PM}) (model:gen_ai_client_operation_time_to_first_chunk_seconds:p95_5m{{{SEL}}})",
                        "p95 " + MODEL_LEGEND,
                    ),
                ),
                unit="s",
                thr=thresholds((None, "green"), (5, "orange"), (10, "red")),
                desc="Streaming calls only: empty when no source logs the first-chunk time.",
            ),
            12,
            8,
        ),
        row("Tokens and cost"),
        sized(
            timeseries(
                "Tokens/s in and out",
                targets(
                    (
                        f"sum by (gen_ai_token_type) (model:gen_ai_client_token_usage_sum:rate5m{{{SEL}}})",
                        "{{gen_ai_token_type}}",
                    )
                ),
                unit="short",
                desc="Billable input and output tokens per second (semconv token histogram).",
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Cost per hour by model",
                targets(
                    (f"sum by ({PM}) (model:llm_cost_usd:hourly_rate5m{{{SEL}}})", MODEL_LEGEND + " (5m rate)"),
                    (f"sum(model:llm_cost_usd:hourly_rate1h{{{SEL}}})", "total, last hour"),
                ),
                unit="currencyUSD",
                thr=COST_HOUR_THR,
                threshold_line=True,
                decimals=2,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Projected cost",
                targets(
                    (f"sum(model:llm_cost_usd:projected_daily_1h{{{SEL}}})", "day, from 1h rate"),
                    (f"sum(model:llm_cost_usd:projected_daily_24h{{{SEL}}})", "day, from 24h rate"),
                    (f"sum(model:llm_cost_usd:projected_monthly_24h{{{SEL}}})", "30 days, from 24h rate"),
                ),
                unit="currencyUSD",
                decimals=2,
            ),
            8,
            8,
        ),
        row("Load and alerts"),
        sized(
            timeseries(
                "In flight by model",
                targets((f"sum by ({PM}) (llm_requests_in_flight{{{SEL}}})", MODEL_LEGEND)),
                unit="short",
                decimals=0,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Consecutive failures by model",
                targets((f"max by ({PM}) (llm_consecutive_failures{{{SEL}}})", MODEL_LEGEND)),
                unit="short",
                thr=CONSEC_THR,
                threshold_line=True,
                decimals=0,
            ),
            8,
            8,
        ),
        sized(
            table(
                "Firing alerts",
                targets(
                    ('sum by (alertname, severity, gen_ai_request_model, instance) (ALERTS{alertstate="firing"})', "")
                ),
                hide=("Time", "Value"),
                desc="From Prometheus' ALERTS series; empty while nothing fires.",
            ),
            8,
            8,
        ),
    ]
    return dashboard(
        "llm-overview", "LLM / Overview", "Requests, success, latency, tokens and cost of LLM calls.", p, llm_vars()
    )


def models():
    p = [
        row("Per model"),
        sized(
            table(
                "Models",
                targets(
                    (f"sum by ({PM}) (model:llm_requests:rate1h{{{SEL}}})", ""),
                    (MODELS_SUCCESS, ""),
                    (models_quantile(0.5), ""),
                    (models_quantile(0.95), ""),
                    (models_quantile(0.99), ""),
                    (f"sum by ({PM}) (model:llm_requests:increase24h{{{SEL}}})", ""),
                    (f"sum by ({PM}) (model:llm_cost_usd:increase24h{{{SEL}}})", ""),
                    (
                        f'sum by ({PM}) (model:gen_ai_client_token_usage_sum:rate1h{{{SEL}, gen_ai_token_type="output"}})',
                        "",
                    ),
                    (MODELS_ATTEMPT_FAILURES, ""),
                ),
                rename={
                    "gen_ai_provider_name": "Provider",
                    "gen_ai_request_model": "Model",
                    "Value #A": "Requests/s (1h)",
                    "Value #B": "Success (1h)",
                    "Value #C": "p50 (1h)",
                    "Value #D": "p95 (1h)",
                    "Value #E": "p99 (1h)",
                    "Value #F": "Requests (24h)",
                    "Value #G": "Cost (24h)",
                    "Value #H": "Output tokens/s (1h)",
                    "Value #I": "Attempt failures (1h)",
                },
                overrides=[
                    col("Value #A", "reqps", decimals=3),
                    col("Value #B", "percentunit", thr=SUCCESS_THR, decimals=1, color_cells=True),
                    col("Value #C", "s", decimals=2),
                    col("Value #D", "s", thr=LATENCY_THR, decimals=2, color_cells=True),
                    col("Value #E", "s", decimals=2),
                    col("Value #F", "short", decimals=0),
                    col("Value #G", "currencyUSD", decimals=4),
                    col("Value #H", "short", decimals=1),
                    col("Value #I", "percentunit", decimals=1),
                ],
                desc="Requests and success: end-to-end requests (retries and fallbacks count once). Latency and"
                " attempt failures: provider calls, each retry and fallback included. One row per model over every"
                " selected instance: ratios of the summed counts, quantiles of the summed buckets.",
            ),
            24,
            8,
        ),
        row("Over time"),
        sized(
            timeseries(
                "Requests/s",
                targets((f"sum by ({PM}) (model:llm_requests:rate5m{{{SEL}}})", MODEL_LEGEND)),
                unit="reqps",
                stack=True,
                desc=REQUESTS_DESC,
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Failed attempts/s by error type",
                targets(
                    (
                        f'sum by ({PM}, error_type) (rate(gen_ai_client_operation_duration_seconds_count{{{SEL}, error_type!=""}}[$__rate_interval]))',
                        MODEL_LEGEND + " {{error_type}}",
                    )
                ),
                unit="reqps",
                stack=True,
                desc="Failed provider calls, including those a retry or fallback recovered from.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Failed attempts/s by HTTP status",
                targets(
                    (
                        "label_replace(sum by (gen_ai_provider_name, gen_ai_request_model, http_response_status_code) ("
                        f"rate(llm_errors_total{{{SEL}}}[$__rate_interval])"
                        '), "http_response_status_code", "unknown", "http_response_status_code", "")',
                        MODEL_LEGEND + " {{http_response_status_code}}",
                    )
                ),
                unit="reqps",
                stack=True,
                desc="The provider's HTTP status of failed calls (429 rate limit, 5xx provider errors, ...); unknown"
                " where the log or client does not say.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Success ratio (1h)",
                targets((f"model:llm_requests:success_ratio_rate1h{{{SEL}}}", MODEL_LEGEND)),
                unit="percentunit",
                thr=SUCCESS_THR,
                vmin=0,
                vmax=1,
                threshold_line=True,
                calcs=("mean", "min", "lastNotNull"),
                desc="Successful / all end-to-end requests (last attempt's outcome). Alert: LLMSuccessRatioLow.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Attempt failure ratio (5m)",
                targets((f"model:gen_ai_client_operation_failures:ratio_rate5m{{{SEL}}}", MODEL_LEGEND)),
                unit="percentunit",
                vmin=0,
                vmax=1,
                calcs=("mean", "max", "lastNotNull"),
                desc="Failed / all provider calls, retried ones included: high while the success ratio holds"
                " means retries and fallbacks are absorbing the failures.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Retries/s",
                targets((f"sum by ({PM}) (model:llm_request_retries:rate5m{{{SEL}}})", MODEL_LEGEND)),
                unit="reqps",
                stack=True,
                desc="Extra attempts (retries and fallbacks) beyond each request's first.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "p95 response time (5m)",
                targets(
                    (f"max by ({PM}) (model:gen_ai_client_operation_duration_seconds:p95_5m{{{SEL}}})", MODEL_LEGEND)
                ),
                unit="s",
                thr=LATENCY_THR,
                threshold_line=True,
                desc=LATENCY_DESC,
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Mean response time (5m)",
                targets(
                    (f"max by ({PM}) (model:gen_ai_client_operation_duration_seconds:mean_5m{{{SEL}}})", MODEL_LEGEND)
                ),
                unit="s",
                thr=LATENCY_THR,
                desc=LATENCY_DESC,
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Tokens/s by kind",
                targets(
                    (
                        f"sum by ({PM}, gen_ai_token_type) (model:llm_tokens:rate5m{{{SEL}}})",
                        MODEL_LEGEND + " {{gen_ai_token_type}}",
                    )
                ),
                unit="short",
                desc="All token kinds: input, output, cache_read, cache_write, reasoning.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Cost per hour (5m rate)",
                targets((f"sum by ({PM}) (model:llm_cost_usd:hourly_rate5m{{{SEL}}})", MODEL_LEGEND)),
                unit="currencyUSD",
                stack=True,
                decimals=3,
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Response-cache hit ratio (1h)",
                targets((f"max by ({PM}) (model:llm_cache_requests:hit_ratio_rate1h{{{SEL}}})", MODEL_LEGEND)),
                unit="percentunit",
                desc="Requests answered from a response cache (LiteLLM's cache_hit) over all requests. LiteLLM's"
                " payload cannot tell a miss from a call with no cache, so the ratio needs no misses.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Tokens saved by the response cache/s",
                targets(
                    (
                        f"sum by ({PM}, gen_ai_token_type) (rate(llm_cache_saved_tokens_total{{{SEL}}}[$__rate_interval]))",
                        MODEL_LEGEND + " {{gen_ai_token_type}}",
                    )
                ),
                unit="short",
                stack=True,
                desc="Input and output tokens that cache hits answered without a provider call (not in the token totals).",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Average cost per request (1h)",
                targets(
                    (
                        f"sum by ({PM}) (model:llm_cost_usd:hourly_rate1h{{{SEL}}}) / 3600"
                        f" / (sum by ({PM}) (model:llm_requests:rate1h{{{SEL}}}) > 0)",
                        MODEL_LEGEND,
                    )
                ),
                unit="currencyUSD",
                decimals=5,
                desc="Per end-to-end request: the cost of its retries and fallbacks included.",
            ),
            12,
            8,
        ),
    ]
    return dashboard(
        "llm-models", "LLM / Models", "Compare models: traffic, success, latency, tokens, cost.", p, llm_vars()
    )


def cost():
    budget = f'min(llm_alert_threshold{{{JI}, threshold="monthly_budget_usd"}}) or on() vector(500)'
    hourly_max = f'min(llm_alert_threshold{{{JI}, threshold="max_cost_per_hour_usd"}}) or on() vector(10)'
    p = [
        row("Spend"),
        sized(
            stat(
                "Last hour",
                targets((f"sum(model:llm_cost_usd:increase1h{{{SEL}}})", "USD")),
                unit="currencyUSD",
                thr=COST_HOUR_THR,
                decimals=2,
                color_mode="background",
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Last 24 hours",
                targets((f"sum(model:llm_cost_usd:increase24h{{{SEL}}})", "USD")),
                unit="currencyUSD",
                thr=DAILY_THR,
                decimals=2,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Last 7 days",
                targets((f"sum(model:llm_cost_usd:increase7d{{{SEL}}})", "USD")),
                unit="currencyUSD",
                decimals=2,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Projected today",
                targets(
                    (f"sum(model:llm_cost_usd:projected_daily_1h{{{SEL}}})", "from 1h rate"),
                    (f"sum(model:llm_cost_usd:projected_daily_24h{{{SEL}}})", "from 24h rate"),
                ),
                unit="currencyUSD",
                thr=DAILY_THR,
                decimals=2,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Projected 30 days",
                targets(
                    (f"sum(model:llm_cost_usd:projected_monthly_1h{{{SEL}}})", "from 1h rate"),
                    (f"sum(model:llm_cost_usd:projected_monthly_24h{{{SEL}}})", "from 24h rate"),
                ),
                unit="currencyUSD",
                thr=BUDGET_THR,
                decimals=2,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Monthly budget",
                targets((budget, "budget")),
                unit="currencyUSD",
                decimals=0,
                graph=False,
                desc='llm_alert_threshold{threshold="monthly_budget_usd"}, 500 when no exporter exports it.',
            ),
            4,
            4,
        ),
        row("Over time"),
        sized(
            timeseries(
                "Hourly cost, last 24 hours",
                targets((f"sum by ({PM}) (increase(llm_cost_usd_total{{{SEL}}}[1h]))", MODEL_LEGEND)),
                unit="currencyUSD",
                bars=True,
                stack=True,
                decimals=3,
                interval="1h",
                time_from="24h",
                calcs=("sum", "max"),
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Daily cost, last 7 days",
                targets((f"sum by ({PM}) (increase(llm_cost_usd_total{{{SEL}}}[1d]))", MODEL_LEGEND)),
                unit="currencyUSD",
                bars=True,
                stack=True,
                decimals=2,
                interval="1d",
                time_from="7d",
                calcs=("sum", "max"),
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Cost per hour vs threshold",
                targets(
                    (f"sum(model:llm_cost_usd:hourly_rate1h{{{SEL}}})", "last hour"),
                    (f"sum(model:llm_cost_usd:hourly_rate5m{{{SEL}}})", "5m rate"),
                    (hourly_max, "max_cost_per_hour_usd"),
                ),
                unit="currencyUSD",
                decimals=2,
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Projected 30-day cost vs budget",
                targets(
                    (f"sum(model:llm_cost_usd:projected_monthly_1h{{{SEL}}})", "from 1h rate"),
                    (f"sum(model:llm_cost_usd:projected_monthly_24h{{{SEL}}})", "from 24h rate"),
                    (budget, "monthly_budget_usd"),
                ),
                unit="currencyUSD",
                decimals=2,
            ),
            12,
            8,
        ),
        row("By model"),
        sized(
            piechart(
                "Cost by model, last 24 hours",
                targets((f"sum by ({PM}) (model:llm_cost_usd:increase24h{{{SEL}}})", MODEL_LEGEND)),
                unit="currencyUSD",
            ),
            8,
            8,
        ),
        sized(
            bargauge(
                "Cost per hour by model (1h)",
                targets((f"sum by ({PM}) (model:llm_cost_usd:hourly_rate1h{{{SEL}}})", MODEL_LEGEND)),
                unit="currencyUSD",
                thr=COST_HOUR_THR,
                decimals=3,
            ),
            8,
            8,
        ),
        sized(
            table(
                "Tokens and cost by model, last 24 hours",
                targets(
                    (f'sum by ({PM}) (increase(llm_tokens_total{{{SEL}, gen_ai_token_type="input"}}[24h]))', ""),
                    (f'sum by ({PM}) (increase(llm_tokens_total{{{SEL}, gen_ai_token_type="output"}}[24h]))', ""),
                    (f"sum by ({PM}) (model:llm_cost_usd:increase24h{{{SEL}}})", ""),
                ),
                rename={
                    "gen_ai_provider_name": "Provider",
                    "gen_ai_request_model": "Model",
                    "Value #A": "Input tokens",
                    "Value #B": "Output tokens",
                    "Value #C": "Cost",
                },
                overrides=[
                    col("Value #A", "short", decimals=0),
                    col("Value #B", "short", decimals=0),
                    col("Value #C", "currencyUSD", decimals=4),
                ],
            ),
            8,
            8,
        ),
        row("Response cache"),
        sized(
            stat(
                "Saved by the response cache (range)",
                targets(
                    (f"sum(increase(llm_cache_saved_cost_usd_total{{{SEL}}}[$__range])) or vector(0)", "USD"),
                ),
                unit="currencyUSD",
                decimals=2,
                graph=False,
                desc="What the cache hits would have cost as provider calls (LiteLLM's saved_cache_cost). Hits"
                " themselves cost $0 and are not in the spend above.",
            ),
            6,
            6,
        ),
        sized(
            timeseries(
                "Saved by the response cache per hour by model",
                targets(
                    (
                        f"3600 * sum by ({PM}) (rate(llm_cache_saved_cost_usd_total{{{SEL}}}[$__rate_interval]))",
                        MODEL_LEGEND,
                    )
                ),
                unit="currencyUSD",
                stack=True,
                decimals=3,
            ),
            18,
            6,
        ),
        row("Completeness"),
        sized(
            stat(
                "Unpriced completions in range",
                targets(
                    (
                        f'sum(increase(llm_exporter_unpriced_completions_total{{{JI}, gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"}}[$__range])) or vector(0)',
                        "unpriced",
                    )
                ),
                thr=ZERO_BAD,
                color_mode="background",
                decimals=0,
                graph=False,
                desc="Completions with no cost in the log and no known price: the totals above are short by their cost.",
            ),
            6,
            6,
        ),
        sized(
            stat(
                "Calls without token usage (range)",
                targets(
                    (
                        f'sum(increase(llm_exporter_usage_missing_total{{{JI}, gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"}}[$__range])) or vector(0)',
                        "calls",
                    )
                ),
                thr=ZERO_BAD,
                color_mode="background",
                decimals=0,
                graph=False,
                desc="Successful calls that reported no tokens (streams without include_usage): their tokens and cost are not counted.",
            ),
            6,
            6,
        ),
        sized(
            timeseries(
                "Unpriced completions by model (per hour)",
                targets(
                    (
                        f'sum by ({PM}) (source_model:llm_exporter_unpriced_completions:increase1h{{{JI}, gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"}})',
                        MODEL_LEGEND,
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                stack=True,
                calcs=("sum",),
            ),
            12,
            6,
        ),
    ]
    return dashboard(
        "llm-cost", "LLM / Cost", "Spend, projections and budget of LLM calls.", p, llm_vars(), time_from="now-24h"
    )


def decisions():
    dsel = f'{SEL}, symbol=~"$symbol"'
    symbol_var = query_var(
        "symbol",
        "Symbol",
        'label_values(llm_decisions_total{job=~"$job", instance=~"$instance", '
        'gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"}, symbol)',
    )
    p = [
        row("Decisions"),
        sized(
            stat(
                "Decisions in range",
                targets((f"sum(increase(llm_decisions_total{{{dsel}}}[$__range]))", "decisions")),
                decimals=0,
                graph=False,
            ),
            6,
            5,
        ),
        sized(
            stat(
                "Validation passed (range)",
                targets(
                    (
                        f'(sum(increase(llm_decisions_total{{{dsel}, validation_result=~"(?i)passed"}}[$__range])) or vector(0))'
                        f" / (sum(increase(llm_decisions_total{{{dsel}}}[$__range])) > 0)",
                        "passed",
                    )
                ),
                unit="percentunit",
                decimals=1,
                graph=False,
                color_mode="background",
                no_value="no decisions",
                thr=thresholds((None, "red"), (0.8, "orange"), (0.95, "green")),
            ),
            6,
            5,
        ),
        sized(
            bargauge(
                "By action (range)",
                targets((f"sum by (action) (increase(llm_decisions_total{{{dsel}}}[$__range]))", "{{action}}")),
                decimals=0,
            ),
            12,
            5,
        ),
        sized(
            timeseries(
                "Decisions per hour by action",
                targets(
                    (f"3600 * sum by (action) (rate(llm_decisions_total{{{dsel}}}[$__rate_interval]))", "{{action}}")
                ),
                unit="short",
                stack=True,
                desc="LONG / SHORT / HOLD / CLOSE and any other action the log names.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Validation results per hour",
                targets(
                    (
                        f"3600 * sum by (validation_result) (rate(llm_decisions_total{{{dsel}}}[$__rate_interval]))",
                        "{{validation_result}}",
                    )
                ),
                unit="short",
                stack=True,
            ),
            12,
            8,
        ),
        sized(
            bargauge(
                "By symbol (range)",
                targets((f"sum by (symbol) (increase(llm_decisions_total{{{dsel}}}[$__range]))", "{{symbol}}")),
                decimals=0,
            ),
            8,
            8,
        ),
        sized(
            piechart(
                "Validation results (range)",
                targets(
                    (
                        f"sum by (validation_result) (increase(llm_decisions_total{{{dsel}}}[$__range]))",
                        "{{validation_result}}",
                    )
                ),
            ),
            8,
            8,
        ),
        sized(
            table(
                "Symbol x action (range)",
                targets((f"sum by (symbol, action) (increase(llm_decisions_total{{{dsel}}}[$__range]))", "")),
                rename={"symbol": "Symbol", "action": "Action", "Value": "Decisions"},
                overrides=[col("Value", "short", decimals=0)],
            ),
            8,
            8,
        ),
        sized(
            table(
                "Per model (range)",
                targets(
                    (
                        f"sum by ({PM}, action, validation_result) (increase(llm_decisions_total{{{dsel}}}[$__range]))",
                        "",
                    )
                ),
                rename={
                    "gen_ai_provider_name": "Provider",
                    "gen_ai_request_model": "Model",
                    "action": "Action",
                    "validation_result": "Validation",
                    "Value": "Decisions",
                },
                overrides=[col("Value", "short", decimals=0)],
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Decisions per hour by model",
                targets(
                    (f"3600 * sum by ({PM}) (rate(llm_decisions_total{{{dsel}}}[$__rate_interval]))", MODEL_LEGEND)
                ),
                unit="short",
                stack=True,
            ),
            12,
            8,
        ),
    ]
    return dashboard(
        "llm-decisions",
        "LLM / Decisions",
        "Trading decisions taken from model answers: actions, symbols, validation.",
        p,
        llm_vars([symbol_var]),
        time_from="now-24h",
    )


def exporter():
    variables = [
        ds_var(),
        query_var("job", "Job", "label_values(llm_exporter_build_info, job)"),
        query_var("instance", "Instance", 'label_values(llm_exporter_build_info{job=~"$job"}, instance)'),
        query_var(
            "source",
            "Source",
            'label_values(llm_exporter_lines_read_total{job=~"$job", instance=~"$instance"}, source)',
        ),
    ]
    p = [
        row("Status"),
        sized(
            stat(
                "Up",
                targets((f"min(up{{{JI}}})", "up")),
                thr=thresholds((None, "red"), (1, "green")),
                color_mode="background",
                graph=False,
                decimals=0,
            ),
            3,
            4,
        ),
        sized(
            table(
                "Version", targets((f"llm_exporter_build_info{{{JI}}}", "")), hide=("Time", "Value", "__name__", "job")
            ),
            5,
            4,
        ),
        sized(
            stat(
                "Config reload OK",
                targets((f"min(llm_exporter_config_last_reload_successful{{{JI}}})", "reload ok")),
                thr=thresholds((None, "red"), (1, "green")),
                color_mode="background",
                graph=False,
                decimals=0,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Since last positions save",
                targets((f"time() - max(llm_exporter_positions_last_save_timestamp_seconds{{{JI}}})", "age")),
                unit="s",
                thr=thresholds((None, "green"), (300, "orange"), (900, "red")),
                decimals=0,
                color_mode="background",
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Positions save errors (range)",
                targets((f"sum(increase(llm_exporter_positions_save_errors_total{{{JI}}}[$__range]))", "errors")),
                thr=ZERO_BAD,
                decimals=0,
                color_mode="background",
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat("Files open", targets((f"sum(llm_exporter_files_open{{{XSEL}}})", "files")), decimals=0, graph=False),
            4,
            4,
        ),
        row("Reading"),
        sized(
            timeseries(
                "Lines read/s",
                targets(
                    (f"sum by (source) (rate(llm_exporter_lines_read_total{{{XSEL}}}[$__rate_interval]))", "{{source}}")
                ),
                unit="short",
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Bytes read/s",
                targets(
                    (f"sum by (source) (rate(llm_exporter_bytes_read_total{{{XSEL}}}[$__rate_interval]))", "{{source}}")
                ),
                unit="Bps",
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Lag (unread bytes)",
                targets((f"sum by (source) (llm_exporter_lag_bytes{{{XSEL}}})", "{{source}}")),
                unit="bytes",
                thr=thresholds((None, "green"), (1048576, "orange"), (10485760, "red")),
                threshold_line=True,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Lines rejected/s by reason",
                targets(
                    (
                        f"sum by (source, reason) (rate(llm_exporter_lines_rejected_total{{{XSEL}}}[$__rate_interval]))",
                        "{{source}} {{reason}}",
                    )
                ),
                unit="short",
                stack=True,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Events ignored/s by type",
                targets(
                    (
                        f"sum by (source, event_type) (rate(llm_exporter_events_ignored_total{{{XSEL}}}[$__rate_interval]))",
                        "{{source}} {{event_type}}",
                    )
                ),
                unit="short",
                stack=True,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Files open",
                targets((f"sum by (source) (llm_exporter_files_open{{{XSEL}}})", "{{source}}")),
                unit="short",
                decimals=0,
            ),
            8,
            8,
        ),
        row("Files and requests"),
        sized(
            stat(
                "Rotations (range)",
                targets((f"sum(increase(llm_exporter_rotations_total{{{XSEL}}}[$__range]))", "rotations")),
                decimals=0,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Truncations (range)",
                targets((f"sum(increase(llm_exporter_truncations_total{{{XSEL}}}[$__range]))", "truncations")),
                decimals=0,
                graph=False,
                thr=ZERO_BAD,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Orphaned requests (range)",
                targets((f"sum(increase(llm_exporter_orphaned_requests_total{{{XSEL}}}[$__range]))", "orphaned")),
                decimals=0,
                graph=False,
                desc="Requests whose response never came.",
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Label values folded (range)",
                targets(
                    (f"sum(increase(llm_exporter_label_values_folded_total{{{JI}}}[$__range])) or vector(0)", "folded")
                ),
                decimals=0,
                graph=False,
                thr=ZERO_BAD,
                desc="Label values replaced by the cardinality limit.",
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Rejected lines (range)",
                targets(
                    (f"sum(increase(llm_exporter_lines_rejected_total{{{XSEL}}}[$__range])) or vector(0)", "rejected")
                ),
                decimals=0,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Unpriced completions (range)",
                targets(
                    (
                        f"sum(increase(llm_exporter_unpriced_completions_total{{{XSEL}}}[$__range])) or vector(0)",
                        "unpriced",
                    )
                ),
                decimals=0,
                graph=False,
                thr=ZERO_BAD,
            ),
            4,
            4,
        ),
        sized(
            timeseries(
                "Rotations and truncations (per hour)",
                targets(
                    (
                        f"sum by (source) (increase(llm_exporter_rotations_total{{{XSEL}}}[1h]))",
                        "{{source}} rotations",
                    ),
                    (
                        f"sum by (source) (increase(llm_exporter_truncations_total{{{XSEL}}}[1h]))",
                        "{{source}} truncations",
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                calcs=("sum",),
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Orphaned requests (per hour)",
                targets(
                    (
                        f"sum by (source) (increase(llm_exporter_orphaned_requests_total{{{XSEL}}}[1h]))",
                        "{{source}}",
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                calcs=("sum",),
            ),
            12,
            8,
        ),
        row("Completeness"),
        sized(
            timeseries(
                "Unpriced completions by model (per hour)",
                targets(
                    (
                        f"sum by (job, source, {PM}) (source_model:llm_exporter_unpriced_completions:increase1h{{{XSEL}}})",
                        "{{job}} {{source}} " + MODEL_LEGEND,
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                stack=True,
                calcs=("sum",),
                desc="Completions with tokens but no cost and no known price, from the exporter (with source) and"
                " from in-app OTLP (job = the application, no source). Alert: LLMUnpricedCompletions.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Calls without token usage (per hour)",
                targets(
                    (
                        f"sum by (job, source, {PM}) (increase(llm_exporter_usage_missing_total{{{XSEL}}}[1h]))",
                        "{{job}} {{source}} " + MODEL_LEGEND,
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                stack=True,
                calcs=("sum",),
                desc="Successful calls without token usage (streams without include_usage): counted as requests,"
                " not in tokens or cost. Alert: LLMUsageMissing.",
            ),
            12,
            8,
        ),
        row("Process and scrape"),
        sized(
            timeseries(
                "Scrape duration",
                targets((f"scrape_duration_seconds{{{JI}}}", "{{instance}}")),
                unit="s",
                thr=thresholds((None, "green"), (1, "orange"), (5, "red")),
                threshold_line=True,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Resident memory", targets((f"process_resident_memory_bytes{{{JI}}}", "{{instance}}")), unit="bytes"
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "CPU",
                targets((f"rate(process_cpu_seconds_total{{{JI}}}[$__rate_interval])", "{{instance}}")),
                unit="percentunit",
            ),
            8,
            8,
        ),
    ]
    return dashboard(
        "llm-exporter",
        "LLM / Exporter",
        "Health of llm-exporter: reading, rejects, lag, files.",
        p,
        variables,
        time_from="now-3h",
    )


DASHBOARDS = {
    "llm-overview.json": overview,
    "llm-models.json": models,
    "llm-cost.json": cost,
    "llm-decisions.json": decisions,
    "llm-exporter.json": exporter,
}


def render(build) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT_DIR / name
        text = render(build)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date: " + ", ".join(stale) + " (run python3 grafana/generate_dashboards.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
