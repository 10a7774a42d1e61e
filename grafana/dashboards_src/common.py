"""What the dashboards share: label selectors, template variables, the dashboard frame, thresholds."""

# ruff: noqa: E501  (PromQL strings read better unwrapped)
from __future__ import annotations

from collections.abc import Iterable

from .panels import DS, Json, annotation, layout, thresholds

# Label matchers shared by the LLM dashboards.
SEL = 'job=~"$job", instance=~"$instance", gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"'
# Exporter health: job, instance, source.
XSEL = 'job=~"$job", instance=~"$instance", source=~"$source"'
JI = 'job=~"$job", instance=~"$instance"'

PM = "gen_ai_provider_name, gen_ai_request_model"
MODEL_LEGEND = "{{gen_ai_provider_name}}/{{gen_ai_request_model}}"


def ds_var() -> Json:
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


def query_var(name: str, label: str, query: str, multi: bool = True) -> Json:
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


def llm_vars(extra: Iterable[Json] = ()) -> list[Json]:
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


def dashboard(
    uid: str,
    title: str,
    desc: str,
    panels: list[Json],
    variables: list[Json],
    time_from: str = "now-6h",
    annotations: Iterable[Json] = (),
) -> Json:
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
                },
                *annotations,
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
# Share of a rate limit left: LLMRateLimitNearlyExhausted's defaults (critical under half of 0.1).
RATELIMIT_THR = thresholds((None, "red"), (0.05, "orange"), (0.1, "green"))

REQUESTS_DESC = "End-to-end requests as the application saw them: LiteLLM retries and fallbacks of one call count once."
LATENCY_DESC = (
    "Quantiles from the duration histogram: one observation per attempt (provider call), failed attempts"
    " included; response-cache hits are not provider calls and are not in it."
)


# Decision markers: one annotation query per action colour, HOLD and any action the log names
# besides LONG, SHORT and CLOSE under "other". A marker is a step in which decisions were taken:
# the counter's growth since the previous step (x - x offset $__interval tiles the range with no
# gap and no overlap, unlike increase() over windows that lose the samples between them), or a
# series that did not exist a step ago (its first decisions).
DECISION_MARKERS = (
    ("LONG", '=~"(?i)long"', "#73BF69"),
    ("SHORT", '=~"(?i)short"', "#F2495C"),
    ("CLOSE", '=~"(?i)close"', "#5794F2"),
    ("HOLD and other actions", '!~"(?i)(long|short|close)"', "#8E8E8E"),
)


def decision_markers(sel: str) -> list[Json]:
    """The decision markers of the decisions that sel (label matchers) selects."""
    out = []
    for name, action, color in DECISION_MARKERS:
        d = f"llm_decisions_total{{{sel}, action{action}}}"
        expr = (
            f"sum by (action, symbol, validation_result, {PM}) "
            f"(({d} - {d} offset $__interval) or ({d} unless {d} offset $__interval)) > 0"
        )
        out.append(
            annotation(
                f"Decisions: {name}",
                expr,
                color,
                title="{{action}} {{symbol}}",
                text="validation: {{validation_result}}, model: " + MODEL_LEGEND,
                tags=("action", "symbol", "validation_result"),
                step="1m",
            )
        )
    return out
