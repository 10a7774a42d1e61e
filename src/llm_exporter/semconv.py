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
BUDGET = ("llm.budget.usd", "{USD}", "llm_budget_usd")
REQUESTS = ("llm.requests", "{request}", "llm_requests_total")
ERRORS = ("llm.errors", "{error}", "llm_errors_total")
UNPRICED = ("llm_exporter.unpriced_completions", "{completion}", "llm_exporter_unpriced_completions_total")
USAGE_MISSING = ("llm_exporter.usage_missing", "{completion}", "llm_exporter_usage_missing_total")
# A provider's rate-limit headers, per `resource` (requests, tokens, input_tokens,
# output_tokens): no unit for the counts, as they count requests or tokens by resource.
RATELIMIT_REMAINING = ("llm.ratelimit.remaining", "", "llm_ratelimit_remaining")
RATELIMIT_LIMIT = ("llm.ratelimit.limit", "", "llm_ratelimit_limit")
RATELIMIT_RESET = ("llm.ratelimit.reset", "s", "llm_ratelimit_reset_seconds")
LABEL_RESOURCE = "resource"  # the OpenTelemetry attribute of the same name
LABEL_OUTCOME = "outcome"
ATTR_HTTP_STATUS = "http.response.status_code"
LABEL_HTTP_STATUS = "http_response_status_code"
# Daemon-only extensions (LiteLLM logs tell retries and what a cache saved).
REQUEST_RETRIES = ("llm.request.retries", "{retry}", "llm_request_retries_total")
CACHE_SAVED_COST = ("llm.cache.saved_cost.usd", "{USD}", "llm_cache_saved_cost_usd_total")
CACHE_SAVED_TOKENS = ("llm.cache.saved_tokens", "{token}", "llm_cache_saved_tokens_total")
# Sessions (calls sharing a session id), daemon and in-app alike: begun when their first call is
# seen, observed when they end. A histogram's name takes no `_total`; `{USD}` and `{call}` drop.
SESSIONS = ("llm.sessions", "{session}", "llm_sessions_total")
SESSION_COST = ("llm.session.cost.usd", "{USD}", "llm_session_cost_usd")
SESSION_DURATION = ("llm.session.duration", "s", "llm_session_duration_seconds")
SESSION_CALLS = ("llm.session.calls", "{call}", "llm_session_calls")
SESSIONS_EVICTED = ("llm_exporter.sessions_evicted", "{session}", "llm_exporter_sessions_evicted_total")
SESSIONS_OPEN = ("llm_exporter.sessions_open", "{session}", "llm_exporter_sessions_open")

# The semconv boundaries 0.01 ... 81.92 s (x2), exactly: series of one Prometheus family from
# several instrumentations then share their `le` values and sum into correct quantiles.
DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
)  # fmt: skip
# Opt-in (`histograms.extended_duration_buckets`, `configure(extended_duration_buckets=True)`) for
# reasoning models that run past 82 s: the same boundaries continued to 655.36 s.
EXTENDED_DURATION_BUCKETS: tuple[float, ...] = (*DURATION_BUCKETS, 163.84, 327.68, 655.36)
# semconv boundaries 1, 4, 16 ... 67108864 (x4).
TOKEN_BUCKETS: tuple[float, ...] = tuple(float(4**i) for i in range(14))
# Sessions: a chat turn costs a tenth of a cent, an agent's day tens of dollars; a session lasts
# from one call (0 s) to a working day; it makes one call to thousands.
SESSION_COST_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0
)  # fmt: skip
SESSION_DURATION_BUCKETS: tuple[float, ...] = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0
)  # fmt: skip
SESSION_CALLS_BUCKETS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0)

# -- In-app GenAI convention (issue 10) -----------------------------------------------------------
# Streams: one observation per chunk after the first, from the end of the previous chunk.
TIME_PER_OUTPUT_CHUNK = (
    "gen_ai.client.operation.time_per_output_chunk",
    "s",
    "gen_ai_client_operation_time_per_output_chunk_seconds",
)
# Recommended on the three client histograms (and the spans) where known.
ATTR_RESPONSE_MODEL = "gen_ai.response.model"
ATTR_SERVER_ADDRESS = "server.address"
ATTR_SERVER_PORT = "server.port"
LABEL_RESPONSE_MODEL = "gen_ai_response_model"
LABEL_SERVER_ADDRESS = "server_address"
LABEL_SERVER_PORT = "server_port"
# Span-only attributes of the GenAI spans convention (and its OpenAI refinement).
ATTR_RESPONSE_ID = "gen_ai.response.id"
ATTR_FINISH_REASONS = "gen_ai.response.finish_reasons"
ATTR_RESPONSE_TTFC = "gen_ai.response.time_to_first_chunk"
ATTR_USAGE_INPUT = "gen_ai.usage.input_tokens"
ATTR_USAGE_OUTPUT = "gen_ai.usage.output_tokens"
ATTR_USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
ATTR_USAGE_CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
ATTR_USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
ATTR_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
ATTR_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
ATTR_REQUEST_TOP_P = "gen_ai.request.top_p"
ATTR_REQUEST_TOP_K = "gen_ai.request.top_k"
ATTR_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
ATTR_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
ATTR_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
ATTR_REQUEST_SEED = "gen_ai.request.seed"
ATTR_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
ATTR_REQUEST_STREAM = "gen_ai.request.stream"
ATTR_OUTPUT_TYPE = "gen_ai.output.type"
ATTR_INPUT_MESSAGES = "gen_ai.input.messages"
ATTR_OUTPUT_MESSAGES = "gen_ai.output.messages"
ATTR_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
ATTR_OPENAI_API_TYPE = "openai.api.type"
ATTR_OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"
ATTR_OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"
ATTR_OPENAI_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"

# Span vocabulary of the daemon's spans of logged calls, shared with the in-app spans (with the
# GenAI attributes above).
ATTR_COST = COST[0]  # llm.cost.usd: the call's cost in US dollars
ATTR_CACHE_HIT = "llm.cache.hit"
ATTR_SESSION = "session.id"
# A trading decision: an event on its call's span while that is open, else a child span of it
# (always in the daemon: the decision line comes after the call's span has been sent).
DECISION_EVENT = "llm.decision"
ATTR_DECISION_ACTION = "llm.decision.action"
ATTR_DECISION_SYMBOL = "llm.decision.symbol"
ATTR_DECISION_VALIDATION = "llm.decision.validation_result"
