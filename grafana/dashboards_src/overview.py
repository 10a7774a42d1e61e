"""LLM / Overview: requests, success, latency, tokens and cost at a glance."""

from __future__ import annotations

from .common import (
    CONSEC_THR,
    COST_HOUR_THR,
    JI,
    LATENCY_DESC,
    LATENCY_THR,
    MODEL_LEGEND,
    PM,
    REQUESTS_DESC,
    SEL,
    SUCCESS_THR,
    ZERO_BAD,
    dashboard,
    decision_markers,
    llm_vars,
)
from .panels import Json, col, row, sized, stat, table, targets, thresholds, timeseries, trace_table

SUCCESS_ALL = (
    f"1 - (sum(model:llm_request_failures:rate5m{{{SEL}}}) or vector(0))"
    f" / (sum(model:llm_requests:rate5m{{{SEL}}}) > 0)"
)
# The Models table, one row per model over every selected instance: a ratio of the summed counts
# and a quantile of the summed buckets (an average of per-instance ratios or the slowest

# Sessions carry a source's static labels only (a session may call several models): job and
# instance select them, the provider and model variables do not.
SESSIONS_DESC = (
    "Sessions: the calls sharing a session_id (LiteLLM's session_id, the completion log's, the app's)."
    " A session is counted when its first call is seen, and its cost observed when it ends"
    " (idle for limits.session_idle_seconds, 30 minutes by default)."
    " Not filtered by provider or model: a session may call several."
)


def session_cost_quantile(q: float, window: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (increase(llm_session_cost_usd_bucket{{{JI}}}[{window}])))"


# Every call span (a GenAI operation), with the attributes the table shows as columns.
RECENT_CALLS = (
    '{ span.gen_ai.operation.name != "" } | select(span.gen_ai.provider.name, span.gen_ai.request.model,'
    " span.gen_ai.usage.input_tokens, span.gen_ai.usage.output_tokens, span.llm.cost.usd, span.error.type,"
    " span.session.id)"
)


def overview() -> Json:
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
        sized(
            stat(
                "Unique sessions (24h)",
                targets((f"sum(increase(llm_sessions_total{{{JI}}}[24h]))", "sessions")),
                decimals=0,
                graph=False,
                desc=SESSIONS_DESC,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Cost per session p50 / p95 (24h)",
                targets((session_cost_quantile(0.5, "24h"), "p50"), (session_cost_quantile(0.95, "24h"), "p95")),
                unit="currencyUSD",
                decimals=3,
                graph=False,
                desc=SESSIONS_DESC + " Quantiles of the sessions that ended in the last 24 hours, from the"
                " llm_session_cost_usd buckets.",
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
        row("Sessions"),
        sized(
            timeseries(
                "Cost per session (1h): p50 / p95 / p99, sessions as exemplars",
                targets(
                    (session_cost_quantile(0.5, "1h"), "p50"),
                    (session_cost_quantile(0.95, "1h"), "p95"),
                    (session_cost_quantile(0.99, "1h"), "p99"),
                    exemplar=True,
                ),
                unit="currencyUSD",
                decimals=3,
                desc=SESSIONS_DESC + " The cost distribution of the sessions that ended in the hour before each"
                " point. A dot is a session (the last one ended in its bucket) at its cost: with the exporter's"
                " otlp.traces on and Prometheus' exemplar storage, it opens that session's calls in Tempo.",
            ),
            16,
            8,
        ),
        sized(
            timeseries(
                "Sessions begun and ended per hour",
                targets(
                    (f"sum(increase(llm_sessions_total{{{JI}}}[1h]))", "begun"),
                    (f"sum(increase(llm_session_cost_usd_count{{{JI}}}[1h]))", "ended"),
                ),
                unit="short",
                decimals=0,
                desc=SESSIONS_DESC,
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
        row("Traces"),
        sized(
            trace_table(
                "Recent calls",
                RECENT_CALLS,
                limit=20,
                spans_per_trace=5,
                desc="The last calls' spans from the trace backend (Tempo): llm-exporter's otlp traces (one trace"
                " per session) and in-app spans. Up to 5 calls of each of the 20 latest traces in the time range;"
                " open one for its session's calls and decisions. Not filtered by the variables above.",
                overrides=[col("llm.cost.usd", "currencyUSD", decimals=4)],
            ),
            24,
            10,
        ),
    ]
    return dashboard(
        "llm-overview",
        "LLM / Overview",
        "Requests, success, latency, tokens and cost of LLM calls.",
        p,
        llm_vars(),
        annotations=decision_markers(SEL),
    )
