"""LLM / Models: the models compared."""

# ruff: noqa: E501  (PromQL strings read better unwrapped)
from __future__ import annotations

from .common import (
    JI,
    LATENCY_DESC,
    LATENCY_THR,
    MODEL_LEGEND,
    PM,
    RATELIMIT_THR,
    REQUESTS_DESC,
    SEL,
    SUCCESS_THR,
    dashboard,
    llm_vars,
)
from .panels import Json, col, row, sized, stat, table, targets, thresholds, timeseries, value_map

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


def models_quantile(q: float) -> str:
    return f"histogram_quantile({q}, sum by (le, {PM}) (rate(gen_ai_client_operation_duration_seconds_bucket{{{SEL}}}[1h])))"


# The probed model servers (`probes:` in the exporter's config). A server has no model label:
# its panels filter by provider only. Several exporters may probe one server: a server or model
# counts as up or available only when every exporter probing it says so, as the alerts see it.
PROBE_SEL = f'{JI}, gen_ai_provider_name=~"$provider"'
SERVER = "gen_ai_provider_name, server_address"
SERVER_MODEL = f"{SERVER}, gen_ai_request_model"
SERVER_LEGEND = "{{server_address}} ({{gen_ai_provider_name}})"
UP_DOWN = value_map((0, "down", "red"), (1, "up", "green"))


def probe_panels() -> list[Json]:
    return [
        row("Model servers (probes)"),
        sized(
            stat(
                "Model servers up",
                targets((f"min by ({SERVER}) (llm_probe_up{{{PROBE_SEL}}})", SERVER_LEGEND)),
                thr=thresholds((None, "red"), (1, "green")),
                color_mode="background",
                graph=False,
                decimals=0,
                mappings=UP_DOWN,
                desc="Whether each probed server answered its model list (llm_probe_up), as the exporters probing"
                " it see it. Alert: LLMModelServerDown.",
            ),
            6,
            8,
        ),
        sized(
            table(
                "Models available",
                targets(
                    (f"min by ({SERVER_MODEL}) (llm_model_available{{{SEL}}})", ""),
                    (f"max by ({SERVER_MODEL}) (llm_model_loaded{{{SEL}}})", ""),
                    (f"max by ({SERVER_MODEL}) (llm_model_size_bytes{{{SEL}}})", ""),
                ),
                rename={
                    "server_address": "Server",
                    "gen_ai_provider_name": "Provider",
                    "gen_ai_request_model": "Model",
                    "Value #A": "Available",
                    "Value #B": "Loaded",
                    "Value #C": "Size",
                },
                overrides=[
                    col(
                        "Value #A",
                        "short",
                        thr=thresholds((None, "red"), (1, "green")),
                        color_cells=True,
                        mappings=value_map((0, "gone", None), (1, "yes", None)),
                    ),
                    col("Value #B", "short", mappings=value_map((0, "no", None), (1, "loaded", None))),
                    col("Value #C", "bytes", decimals=1),
                ],
                desc="Each model a probed server lists (llm_model_available; gone: listed before, not now; alert"
                " LLMModelUnavailable), loaded in memory (llm_model_loaded) and its size (llm_model_size_bytes):"
                " Ollama only. A server that does not answer lists nothing: see Model servers up.",
            ),
            18,
            8,
        ),
        sized(
            timeseries(
                "Models available and loaded per server",
                targets(
                    (
                        f"sum by ({SERVER}) (min by ({SERVER_MODEL}) (llm_model_available{{{SEL}}}))",
                        SERVER_LEGEND + " available",
                    ),
                    (
                        f"sum by ({SERVER}) (max by ({SERVER_MODEL}) (llm_model_loaded{{{SEL}}}))",
                        SERVER_LEGEND + " loaded",
                    ),
                ),
                unit="short",
                decimals=0,
                desc="How many models each server lists and (Ollama) holds in memory.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Probe duration",
                targets((f"max by ({SERVER}) (llm_probe_duration_seconds{{{PROBE_SEL}}})", SERVER_LEGEND)),
                unit="s",
                desc="How long each server took to answer its model list (the last probe; a timeout reads as the"
                " probe's timeout_seconds).",
            ),
            12,
            8,
        ),
    ]


def models() -> Json:
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
        *probe_panels(),
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
                "Rate limit left",
                targets(
                    (
                        f"min by ({PM}, resource) (model:llm_ratelimit_remaining:ratio{{{SEL}}})",
                        MODEL_LEGEND + " {{resource}}",
                    )
                ),
                unit="percentunit",
                thr=RATELIMIT_THR,
                vmin=0,
                vmax=1,
                threshold_line=True,
                calcs=("min", "lastNotNull"),
                desc="Share of each provider rate limit (requests, tokens, input_tokens, output_tokens) left, as the"
                " provider's last response said (llm_ratelimit_remaining / llm_ratelimit_limit; the lowest any instance"
                " saw). From OpenAI, Azure and Anthropic responses in the app and LiteLLM logs; a line ends"
                " limits.ratelimit_stale_seconds after the model's last call. Alert: LLMRateLimitNearlyExhausted.",
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
