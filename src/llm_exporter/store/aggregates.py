"""The in-process aggregates behind every LLM metric of the contract.

Observing into prometheus-client's labelled metrics costs several microseconds a call; these
plain slot objects cost a fraction of that, and the collector turns them into metric families
at scrape time. All mutation happens under `MetricsStore.lock`.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping

from llm_exporter.semconv import (
    DURATION_BUCKETS,
    SESSION_CALLS_BUCKETS,
    SESSION_COST_BUCKETS,
    SESSION_DURATION_BUCKETS,
    TOKEN_BUCKETS,
    TOKEN_TYPES,
)

StaticLabels = tuple[tuple[str, str], ...]
# The last call with a span, for OpenMetrics exemplars: (trace id in hex, value, its time or None).
Exemplar = tuple[str, float, float | None]


class Histogram:
    """Bucket counts (not cumulative; index i counts values in (bounds[i-1], bounds[i]], the last
    index counts values past every bound), their sum, and when the series was created.
    `exemplars` (bucket index -> the last call in it with a span) only while spans are sent."""

    __slots__ = ("bounds", "counts", "created", "exemplars", "sum")

    def __init__(self, bounds: tuple[float, ...], created: float) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.created = created
        self.exemplars: dict[int, Exemplar] | None = None

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def exemplar(self, value: float, trace_id: str, when: float | None) -> None:
        if self.exemplars is None:
            self.exemplars = {}
        self.exemplars[bisect_left(self.bounds, value)] = (trace_id, value, when)


def add_tokens(
    tokens: dict[str, int], input_tokens: int, output_tokens: int, cache_read: int, cache_write: int, reasoning: int
) -> None:
    """Add one call's tokens to totals keyed by TOKEN_TYPES (the daemon's series and the in-app
    aggregates keep them alike)."""
    tokens["input"] += input_tokens
    tokens["output"] += output_tokens
    if cache_read:
        tokens["cache_read"] += cache_read
    if cache_write:
        tokens["cache_write"] += cache_write
    if reasoning:
        tokens["reasoning"] += reasoning


# One resource's rate-limit figures from a provider's headers (formats.ratelimit): remaining,
# limit and seconds to reset, each None where the response did not say.
RateLimitReading = tuple[float | None, float | None, float | None]


class RateLimits:
    """The last word of a provider's rate-limit headers per resource, and when it came (on the
    recorder's clock): a reading not refreshed for `stale_after` seconds is dropped, so the
    gauges of a model no longer called go away instead of showing an old figure forever."""

    __slots__ = ("readings",)

    def __init__(self) -> None:
        self.readings: dict[str, tuple[RateLimitReading, float]] = {}

    def update(self, readings: Mapping[str, RateLimitReading], now: float) -> None:
        for resource, reading in readings.items():
            self.readings[resource] = (reading, now)

    def fresh(self, now: float, stale_after: float) -> list[tuple[str, RateLimitReading]]:
        """The readings refreshed within `stale_after` seconds, by resource; drops the others."""
        readings = self.readings
        for resource in [r for r, (_, seen) in readings.items() if now - seen > stale_after]:
            del readings[resource]
        return sorted((resource, reading) for resource, (reading, _) in readings.items())


class Series:
    """Everything recorded for one (static labels, operation, provider, model)."""

    __slots__ = (
        "cache_hits",
        "cache_misses",
        "consecutive_failures",
        "cost",
        "cost_exemplar",
        "created",
        "decisions",
        "duration",
        "duration_buckets",
        "errors",
        "failed_calls",
        "in_flight",
        "labels",
        "ratelimit",
        "requests_failed",
        "requests_ok",
        "retries",
        "saved_cost",
        "saved_input",
        "saved_output",
        "time_to_first_chunk",
        "tokens",
        "unsplit_tokens",
        "usage_input",
        "usage_output",
    )

    def __init__(self, labels: dict[str, str], created: float, duration_buckets: tuple[float, ...]) -> None:
        self.labels = labels
        self.created = created
        self.duration_buckets = duration_buckets  # of the duration and time-to-first-chunk histograms
        self.duration = Histogram(duration_buckets, created)
        self.errors: dict[str, Histogram] = {}  # error_type -> durations of failed calls
        self.usage_input = Histogram(TOKEN_BUCKETS, created)
        self.usage_output = Histogram(TOKEN_BUCKETS, created)
        self.time_to_first_chunk: Histogram | None = None
        self.tokens = dict.fromkeys(TOKEN_TYPES, 0)
        self.cost = 0.0
        self.cost_exemplar: Exemplar | None = None  # the last priced call with a span
        self.in_flight = 0
        self.consecutive_failures = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.saved_cost = 0.0  # what cache hits would have cost
        self.saved_input = 0
        self.saved_output = 0
        self.unsplit_tokens = 0  # tokens logged only as a total
        self.requests_ok = 0  # end-to-end requests, by the outcome of their last attempt
        self.requests_failed = 0
        self.retries = 0  # attempts past the first of the requests above
        self.failed_calls: dict[tuple[str, str], int] = {}  # (error_type, HTTP status or "") -> attempts
        self.decisions: dict[tuple[str, str, str], list[float]] = {}  # -> [count, created]
        self.ratelimit: RateLimits | None = None  # once a response told its rate limits

    def failure_histogram(self, error_type: str, now: float) -> Histogram:
        hist = self.errors.get(error_type)
        if hist is None:
            hist = self.errors[error_type] = Histogram(self.duration_buckets, now)
        return hist

    def first_chunk_histogram(self, now: float) -> Histogram:
        if self.time_to_first_chunk is None:
            self.time_to_first_chunk = Histogram(self.duration_buckets, now)
        return self.time_to_first_chunk


class SessionSeries:
    """The sessions of one set of static labels (a source's): begun, and what the ended ones cost,
    lasted and called."""

    __slots__ = ("begun", "calls", "cost", "created", "duration")

    def __init__(self, created: float) -> None:
        self.created = created
        self.begun = 0
        self.cost = Histogram(SESSION_COST_BUCKETS, created)
        self.duration = Histogram(SESSION_DURATION_BUCKETS, created)
        self.calls = Histogram(SESSION_CALLS_BUCKETS, created)


# What the sample budget (pipeline.labels.SeriesBudget) charges: the samples each part of a
# Series can put in an OpenMetrics scrape as the collectors write it (Prometheus text carries the
# same less every `_created`). tests/test_series_budget.py holds this to a real scrape.
COUNTER_SAMPLES = 2  # _total, _created


def histogram_samples(bounds: tuple[float, ...]) -> int:
    return len(bounds) + 4  # a bucket per bound and +Inf, _count, _sum, _created


class SampleCosts:
    """Samples a source's budget charges, per kind of key, for one duration bucket layout."""

    __slots__ = ("counter", "error_type", "label_set", "ratelimit_resource")

    def __init__(self, duration_buckets: tuple[float, ...]) -> None:
        duration = histogram_samples(duration_buckets)
        self.counter = COUNTER_SAMPLES  # a decision, or an error type's HTTP status
        self.ratelimit_resource = 3  # a rate-limit resource's gauges: remaining, limit, reset
        # An error type: its duration histogram, and its llm_errors_total without a status, where
        # its statuses past the budget fold.
        self.error_type = duration + COUNTER_SAMPLES
        counters = (
            1  # llm_cost_usd
            + len(TOKEN_TYPES)
            + 1  # llm_tokens: unsplit
            + 2  # llm_requests: success, failure
            + 1  # llm_request_retries
            + 2  # llm_cache_requests: hit, miss
            + 3  # llm_cache_saved_cost_usd, llm_cache_saved_tokens: input, output
            + 2  # llm_exporter_unpriced_completions, llm_exporter_usage_missing
        )
        self.label_set = (
            2 * duration  # duration, time to first chunk
            + 2 * histogram_samples(TOKEN_BUCKETS)  # token usage: input, output
            + counters * COUNTER_SAMPLES
            + 2  # gauges: in flight, consecutive failures
            # Where its own error types and decisions past the budget fold: an `_overflow` error
            # type and an `_overflow` decision, paid with the label set so that a fold never
            # exceeds the budget.
            + self.error_type
            + COUNTER_SAMPLES
        )


class MetricsStore:
    def __init__(
        self, clock: Callable[[], float] = time.time, duration_buckets: tuple[float, ...] = DURATION_BUCKETS
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.duration_buckets = duration_buckets
        self.series: dict[tuple[StaticLabels, str, str, str], Series] = {}
        self.sessions: dict[StaticLabels, SessionSeries] = {}

    def get(self, static: StaticLabels, operation: str, provider: str, model: str) -> Series:
        key = (static, operation, provider, model)
        series = self.series.get(key)
        if series is None:
            labels = dict(static)
            labels.update(gen_ai_operation_name=operation, gen_ai_provider_name=provider, gen_ai_request_model=model)
            series = self.series[key] = Series(labels, self.clock(), self.duration_buckets)
        return series

    def session_series(self, static: StaticLabels) -> SessionSeries:
        found = self.sessions.get(static)
        if found is None:
            found = self.sessions[static] = SessionSeries(self.clock())
        return found
