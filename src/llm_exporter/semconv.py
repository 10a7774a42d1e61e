"""The metric contract in one place: OpenTelemetry names, Prometheus names, labels, buckets.

See ../shared/spec/metrics.md. The Prometheus names are what the default OpenTelemetry ->
Prometheus translation makes of the OpenTelemetry names; both halves live here so the daemon
and the in-app instrumentation can never drift apart.
"""

from __future__ import annotations

# OpenTelemetry GenAI attributes and their Prometheus label names (dots become underscores).
ATTR_OPERATION = "gen_ai.operation.name"
ATTR_PROVIDER = "gen_ai.provider.name"
ATTR_REQUEST_MODEL = "gen_ai.request.model"
ATTR_TOKEN_TYPE = "gen_ai.token.type"
ATTR_ERROR_TYPE = "error.type"

LABEL_OPERATION = "gen_ai_operation_name"
LABEL_PROVIDER = "gen_ai_provider_name"
LABEL_MODEL = "gen_ai_request_model"
LABEL_TOKEN_TYPE = "gen_ai_token_type"
LABEL_ERROR_TYPE = "error_type"

SHARED_LABELS = (LABEL_OPERATION, LABEL_PROVIDER, LABEL_MODEL)

DEFAULT_OPERATION = "chat"
UNKNOWN = "unknown"
OTHER_ERROR = "_OTHER"
# Value that label values past the cardinality limit fold into.
OVERFLOW_VALUE = "_overflow"

TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")

# Core histograms: (OpenTelemetry instrument, unit, Prometheus base name).
DURATION = ("gen_ai.client.operation.duration", "s", "gen_ai_client_operation_duration_seconds")
TOKEN_USAGE = ("gen_ai.client.token.usage", "{token}", "gen_ai_client_token_usage")
TIME_TO_FIRST_CHUNK = (
    "gen_ai.client.operation.time_to_first_chunk",
    "s",
    "gen_ai_client_operation_time_to_first_chunk_seconds",
)

# Extensions. The default translation drops curly-brace units and appends unknown ones as they
# are (unit `USD` would give `llm_cost_USD_total`), and turns unit `1` on a gauge into `_ratio`:
# so the unit sits in the name where Prometheus has no suffix for it, and units are `{...}`.
COST = ("llm.cost.usd", "{USD}", "llm_cost_usd_total")
TOKENS = ("llm.tokens", "{token}", "llm_tokens_total")
IN_FLIGHT = ("llm.requests.in_flight", "{request}", "llm_requests_in_flight")
CONSECUTIVE_FAILURES = ("llm.consecutive_failures", "{failure}", "llm_consecutive_failures")
DECISIONS = ("llm.decisions", "{decision}", "llm_decisions_total")
CACHE_REQUESTS = ("llm.cache.requests", "{request}", "llm_cache_requests_total")
ALERT_THRESHOLD = ("llm.alert.threshold", "{threshold}", "llm_alert_threshold")
REQUESTS = ("llm.requests", "{request}", "llm_requests_total")
ERRORS = ("llm.errors", "{error}", "llm_errors_total")
UNPRICED = ("llm_exporter.unpriced_completions", "{completion}", "llm_exporter_unpriced_completions_total")
USAGE_MISSING = ("llm_exporter.usage_missing", "{completion}", "llm_exporter_usage_missing_total")
LABEL_OUTCOME = "outcome"
ATTR_HTTP_STATUS = "http.response.status_code"
LABEL_HTTP_STATUS = "http_response_status_code"
# Daemon-only extensions (LiteLLM logs tell retries and what a cache saved).
REQUEST_RETRIES = ("llm.request.retries", "{retry}", "llm_request_retries_total")
CACHE_SAVED_COST = ("llm.cache.saved_cost.usd", "{USD}", "llm_cache_saved_cost_usd_total")
CACHE_SAVED_TOKENS = ("llm.cache.saved_tokens", "{token}", "llm_cache_saved_tokens_total")

# semconv boundaries 0.01 ... 81.92 (x2), extended for slow reasoning calls.
DURATION_BUCKETS: tuple[float, ...] = (*(0.01 * 2**i for i in range(14)), 163.84, 327.68)
# semconv boundaries 1, 4, 16 ... 67108864 (x4).
TOKEN_BUCKETS: tuple[float, ...] = tuple(float(4**i) for i in range(14))

# Span vocabulary, shared by the in-app spans and the daemon's spans of logged calls.
ATTR_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
ATTR_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
ATTR_COST = COST[0]  # llm.cost.usd: the call's cost in US dollars
ATTR_CACHE_HIT = "llm.cache.hit"
ATTR_SESSION = "session.id"
# A trading decision: an event on its call's span while that is open, else a child span of it
# (always in the daemon: the decision line comes after the call's span has been sent).
DECISION_EVENT = "llm.decision"
ATTR_DECISION_ACTION = "llm.decision.action"
ATTR_DECISION_SYMBOL = "llm.decision.symbol"
ATTR_DECISION_VALIDATION = "llm.decision.validation_result"
