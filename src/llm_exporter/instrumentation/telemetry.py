"""The in-app half of the metric contract: instruments, cheap aggregates, pricing, spans.

Per call, only the three semconv histograms (duration, input and output tokens) go through the
OpenTelemetry SDK. The extensions (cost, token totals by kind, in-flight calls, consecutive
failures, decisions, cache use, requests, errors) and the unpriced and usage-missing counts are
plain numbers in a `_Series` slot object, updated under one lock, and read by observable
instruments when a reader collects: the SDK's per-record cost (several microseconds a record) is
paid three times a call, not ten.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from llm_exporter import __version__, semconv
from llm_exporter.pipeline.labels import LabelLimiter
from llm_exporter.pipeline.sessions import Session, Sessions
from llm_exporter.providers import resolve
from llm_exporter.semconv import OVERFLOW_VALUE
from llm_exporter.store.aggregates import RateLimitReading, RateLimits

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Tracer, TracerProvider

    from llm_exporter.instrumentation.completion_logger import CompletionLogger
    from llm_exporter.pipeline.pricing import Price, PriceBook

SCOPE = "llm_exporter"
# Distinct values per label before new ones fold into "_overflow" (the daemon's default too).
DEFAULT_MAX_LABEL_VALUES = 500
# Seconds a provider's rate-limit figures stay after the last response that told them (the
# daemon's limits.ratelimit_stale_seconds default too).
DEFAULT_RATELIMIT_STALE_SECONDS = 600.0
# A session ends after this long without a call; at most this many are open (the daemon's
# limits.session_idle_seconds and limits.max_open_sessions defaults).
DEFAULT_SESSION_IDLE_SECONDS = 1800.0
DEFAULT_MAX_OPEN_SESSIONS = 10_000
FOLDED = ("llm_exporter.label_values_folded", "{value}", "llm_exporter_label_values_folded_total")

Attributes = dict[str, str]
# What the semconv histograms add to a series' attributes where known:
# (gen_ai.response.model, server.address, server.port).
Where = tuple[str | None, str | None, int | None]


class HistogramAttrs:
    """The attribute dicts of the semconv histograms for one series and one `Where`, built once."""

    __slots__ = ("attrs", "errors", "input", "output")

    def __init__(self, attrs: dict[str, str | int]) -> None:
        self.attrs = attrs
        self.input = {**attrs, semconv.ATTR_TOKEN_TYPE: "input"}
        self.output = {**attrs, semconv.ATTR_TOKEN_TYPE: "output"}
        self.errors: dict[str, dict[str, str | int]] = {}

    def failure(self, error_type: str) -> dict[str, str | int]:
        attrs = self.errors.get(error_type)
        if attrs is None:
            attrs = self.errors[error_type] = {**self.attrs, semconv.ATTR_ERROR_TYPE: error_type}
        return attrs


class _Series:
    """Everything kept for one (operation, provider, model): its attribute dicts, built once, and
    the extension aggregates."""

    __slots__ = (
        "attrs",
        "cache_hits",
        "cache_misses",
        "cost",
        "decisions",
        "errors",
        "failures",
        "folded",
        "in_flight",
        "model",
        "operation",
        "price",
        "provider",
        "ratelimit",
        "requests_failed",
        "requests_ok",
        "tokens",
        "unpriced",
        "usage_missing",
        "where",
    )

    def __init__(self, operation: str, provider: str, model: str, price: Price | None) -> None:
        self.operation = operation
        self.provider = provider
        self.model = model
        self.attrs: Attributes = {
            semconv.ATTR_OPERATION: operation,
            semconv.ATTR_PROVIDER: provider,
            semconv.ATTR_REQUEST_MODEL: model,
        }
        # Histogram attributes by Where; (None, None, None) is the series' own.
        self.where: dict[Where, HistogramAttrs] = {(None, None, None): HistogramAttrs(dict(self.attrs))}
        self.price = price
        # A label folded by the cardinality limit: the price is the raw model's, looked up per call.
        self.folded = OVERFLOW_VALUE in (operation, provider, model)
        # A cost series only where a cost is known (a price, or a cost the caller gave): an unpriced
        # model gets no false $0 but an unpriced count, from 0 so that increase() sees its first call.
        self.cost: float | None = None if price is None else 0.0
        self.unpriced: int | None = 0 if price is None and not self.folded else None
        self.usage_missing = 0
        self.requests_ok = 0
        self.requests_failed = 0
        # (error type, HTTP status or None) -> failed calls
        self.errors: dict[tuple[str, int | None], int] = {}
        self.tokens = dict.fromkeys(semconv.TOKEN_TYPES, 0)
        self.in_flight = 0
        self.failures = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.decisions: dict[tuple[str, str, str], int] = {}
        self.ratelimit: RateLimits | None = None  # once a response told its rate limits


def _is_sdk_provider(provider: object) -> bool:
    """Whether a global provider is a real one (not the API's proxy or no-op default)."""
    name = type(provider).__name__
    return not (name.startswith("Proxy") or name.startswith("NoOp") or name.startswith("_Proxy"))


class Telemetry:
    """Instruments on one MeterProvider, the aggregates behind the observable ones, the price book,
    an optional tracer and an optional CompletionLogger that every call is also written to.

    Past `max_label_values` distinct values of a label (model, provider, operation, error type,
    decision action, symbol, validation result), new values fold into "_overflow", as in the
    daemon: a stream of made-up model names cannot grow the series without bound. Folded values
    are counted in `llm_exporter.label_values_folded` by Prometheus label name.

    The rate-limit gauges (`llm.ratelimit.*`) show what the last response of each series said,
    for `ratelimit_stale_seconds` on `clock` after it came; then the series is no longer
    observed, so it is no longer exported."""

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        prices: PriceBook | None = None,
        capture_content: bool = False,
        completion_logger: CompletionLogger | None = None,
        spans: bool | None = None,
        max_label_values: int = DEFAULT_MAX_LABEL_VALUES,
        duration_buckets: tuple[float, ...] = semconv.DURATION_BUCKETS,
        ratelimit_stale_seconds: float = DEFAULT_RATELIMIT_STALE_SECONDS,
        session_idle_seconds: float = DEFAULT_SESSION_IDLE_SECONDS,
        max_open_sessions: int = DEFAULT_MAX_OPEN_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` dates rate-limit readings and times sessions (tests step one of their own)."""
        from opentelemetry import metrics, trace

        from llm_exporter.pipeline.pricing import PriceBook

        self.lock = threading.Lock()
        self.series: dict[tuple[str, str, str], _Series] = {}
        if max_label_values < 1:
            raise ValueError(f"max_label_values must be at least 1, not {max_label_values}")
        self.limit = LabelLimiter(max_label_values)  # called under self.lock only
        self.prices = prices if prices is not None else PriceBook()
        self.capture_content = capture_content
        self.completion_logger = completion_logger
        if ratelimit_stale_seconds <= 0:
            raise ValueError(f"ratelimit_stale_seconds must be positive, not {ratelimit_stale_seconds}")
        self.ratelimit_stale_seconds = ratelimit_stale_seconds
        self.clock = clock
        # Sessions (calls given a session id), under self.lock: idle ones end at each call with a
        # session and at each collection, the open ones at exit.
        self.sessions = Sessions(
            max_open_sessions, session_idle_seconds, clock, self._session_begun, self._session_ended
        )
        self.sessions_begun = 0
        self.sessions_evicted = 0
        atexit.register(_end_sessions, weakref.ref(self))

        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter(SCOPE, __version__)
        self.duration = meter.create_histogram(
            semconv.DURATION[0],
            unit=semconv.DURATION[1],
            description="Duration of GenAI client operations.",
            explicit_bucket_boundaries_advisory=duration_buckets,
        )
        self.token_usage = meter.create_histogram(
            semconv.TOKEN_USAGE[0],
            unit=semconv.TOKEN_USAGE[1],
            description="Number of input and output tokens used per call.",
            explicit_bucket_boundaries_advisory=semconv.TOKEN_BUCKETS,
        )
        self.time_to_first_chunk = meter.create_histogram(
            semconv.TIME_TO_FIRST_CHUNK[0],
            unit=semconv.TIME_TO_FIRST_CHUNK[1],
            description="Time to the first chunk of streamed GenAI calls.",
            explicit_bucket_boundaries_advisory=duration_buckets,
        )
        self.time_per_output_chunk = meter.create_histogram(
            semconv.TIME_PER_OUTPUT_CHUNK[0],
            unit=semconv.TIME_PER_OUTPUT_CHUNK[1],
            description="Time between consecutive chunks of streamed GenAI calls, after the first.",
            explicit_bucket_boundaries_advisory=semconv.DURATION_BUCKETS,
        )
        self.session_cost = meter.create_histogram(
            semconv.SESSION_COST[0],
            unit=semconv.SESSION_COST[1],
            description="Cost of whole sessions, in US dollars, when they end.",
            explicit_bucket_boundaries_advisory=semconv.SESSION_COST_BUCKETS,
        )
        self.session_duration = meter.create_histogram(
            semconv.SESSION_DURATION[0],
            unit=semconv.SESSION_DURATION[1],
            description="First call's start to last call's end of sessions, when they end.",
            explicit_bucket_boundaries_advisory=semconv.SESSION_DURATION_BUCKETS,
        )
        self.session_calls = meter.create_histogram(
            semconv.SESSION_CALLS[0],
            unit=semconv.SESSION_CALLS[1],
            description="Calls in a session, when it ends.",
            explicit_bucket_boundaries_advisory=semconv.SESSION_CALLS_BUCKETS,
        )
        observables = (
            (meter.create_observable_counter, semconv.COST, self._observe_cost, "Money spent, in US dollars."),
            (
                meter.create_observable_counter,
                semconv.TOKENS,
                self._observe_tokens,
                "Tokens by kind; cache and reasoning tokens are subsets of input and output.",
            ),
            (
                meter.create_observable_up_down_counter,
                semconv.IN_FLIGHT,
                self._observe_in_flight,
                "Calls started and not yet finished.",
            ),
            (
                meter.create_observable_gauge,
                semconv.CONSECUTIVE_FAILURES,
                self._observe_failures,
                "Failed calls in a row since the last success.",
            ),
            (
                meter.create_observable_counter,
                semconv.DECISIONS,
                self._observe_decisions,
                "Decisions the model's answers led to.",
            ),
            (
                meter.create_observable_counter,
                semconv.CACHE_REQUESTS,
                self._observe_cache,
                "Calls answered from a response cache (hit) or not (miss).",
            ),
            (
                meter.create_observable_counter,
                FOLDED,
                self._observe_folded,
                f"Label values past the cardinality limit, folded into {OVERFLOW_VALUE!r}.",
            ),
            (
                meter.create_observable_counter,
                semconv.REQUESTS,
                self._observe_requests,
                "Calls as the application made them, by outcome (success or failure).",
            ),
            (
                meter.create_observable_counter,
                semconv.ERRORS,
                self._observe_errors,
                "Failed calls by error type and, where the provider answered, its HTTP status.",
            ),
            (
                meter.create_observable_counter,
                semconv.UNPRICED,
                self._observe_unpriced,
                "Calls with tokens and no known cost, so llm.cost.usd lacks them.",
            ),
            (
                meter.create_observable_counter,
                semconv.USAGE_MISSING,
                self._observe_usage_missing,
                "Successful calls that reported no token usage.",
            ),
            (
                meter.create_observable_counter,
                semconv.SESSIONS,
                self._observe_sessions,
                "Sessions begun: the first call seen with a new session id.",
            ),
            (
                meter.create_observable_up_down_counter,
                semconv.SESSIONS_OPEN,
                self._observe_sessions_open,
                "Sessions open: seen a call of within the session idle time.",
            ),
            (
                meter.create_observable_counter,
                semconv.SESSIONS_EVICTED,
                self._observe_sessions_evicted,
                "Sessions ended before they were idle: the table of open ones was full.",
            ),
        )
        for create, (name, unit, _), callback, description in observables:
            create(name, [callback], unit=unit, description=description)
        for index, (spec, description) in enumerate(
            (
                (semconv.RATELIMIT_REMAINING, "What the provider's last response said is left of its rate limit."),
                (semconv.RATELIMIT_LIMIT, "The rate limit the provider's last response announced."),
                (semconv.RATELIMIT_RESET, "Seconds until the rate limit is whole again, as the last response said."),
            )
        ):
            meter.create_observable_gauge(
                spec[0], [self._ratelimit_callback(index)], unit=spec[1], description=description
            )

        self.tracer: Tracer | None = None
        tp = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        if spans is None:
            spans = tracer_provider is not None or _is_sdk_provider(tp)
        if spans:
            self.tracer = tp.get_tracer(SCOPE, __version__)

    # -- series -----------------------------------------------------------------------------------

    def get_series(self, model: str | None, provider: str | None, operation: str | None) -> _Series:
        key = (operation or semconv.DEFAULT_OPERATION, provider or "", model or semconv.UNKNOWN)
        series = self.series.get(key)
        if series is None:
            with self.lock:
                series = self.series.get(key)
                if series is None:
                    series = self._new_series(*key)
                    if not series.folded:  # folded keys are not kept: made-up names cannot grow the dict
                        self.series[key] = series
        return series

    def _new_series(self, operation: str, provider: str, model: str) -> _Series:
        provider_name, model = resolve(model, provider or None)
        limit = self.limit
        operation = limit(semconv.LABEL_OPERATION, operation)
        provider_name = limit(semconv.LABEL_PROVIDER, provider_name)
        model = limit(semconv.LABEL_MODEL, model)
        # Another spelling of the same provider shares the series, and so do all folded ones.
        same = self.series.get((operation, provider_name, model))
        if same is not None:
            return same
        folded = OVERFLOW_VALUE in (operation, provider_name, model)
        series = _Series(operation, provider_name, model, None if folded else self.prices.lookup(provider_name, model))
        if folded:
            self.series[(operation, provider_name, model)] = series
        return series

    def histogram_attrs(self, series: _Series, where: Where) -> HistogramAttrs:
        """The semconv histograms' attributes of a call of `series` answered by `where`; response
        model and server address under the cardinality limit."""
        found = series.where.get(where)
        if found is None:
            response_model, address, port = where
            with self.lock:
                found = series.where.get(where)
                if found is None:
                    attrs: dict[str, str | int] = dict(series.attrs)
                    if response_model is not None:
                        attrs[semconv.ATTR_RESPONSE_MODEL] = self.limit(semconv.LABEL_RESPONSE_MODEL, response_model)
                    if address is not None:
                        attrs[semconv.ATTR_SERVER_ADDRESS] = self.limit(semconv.LABEL_SERVER_ADDRESS, address)
                        if port is not None:
                            attrs[semconv.ATTR_SERVER_PORT] = port
                    found = HistogramAttrs(attrs)
                    if OVERFLOW_VALUE not in attrs.values():  # folded ones are not kept, as for series
                        series.where[where] = found
        return found

    def failure_attrs(self, attrs: HistogramAttrs, error_type: str) -> dict[str, str | int]:
        """The attributes of a failed call, its error type under the cardinality limit."""
        found = attrs.errors.get(error_type)
        if found is None:
            with self.lock:
                value = self.limit(semconv.LABEL_ERROR_TYPE, error_type)
            found = attrs.failure(value)
        return found

    def billed_price(
        self, series: _Series, model: str | None, provider: str | None, response_model: str | None
    ) -> Price | None:
        """The price of a call of `series`: its request model's, else its response model's
        (PriceBook.billed). Where the series folded, its own price is not its model's: the call's
        model is looked up."""
        if not series.folded:
            if series.price is not None:
                return series.price
            return self.prices.billed(series.provider, series.model, response_model)
        if model:
            return self.prices.billed(*resolve(model, provider), response_model)
        return None

    # -- observable callbacks -----------------------------------------------------------------------

    def _unique(self) -> list[_Series]:
        with self.lock:
            seen: dict[int, _Series] = {}
            for s in self.series.values():
                seen.setdefault(id(s), s)
            return list(seen.values())

    def _observe_cost(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(s.cost, s.attrs) for s in self._unique() if s.cost is not None]

    def _observe_tokens(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        out = []
        for s in self._unique():
            for kind, n in s.tokens.items():
                out.append(Observation(n, {**s.attrs, semconv.ATTR_TOKEN_TYPE: kind}))
        return out

    def _observe_in_flight(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(s.in_flight, s.attrs) for s in self._unique()]

    def _observe_failures(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(s.failures, s.attrs) for s in self._unique()]

    def _observe_decisions(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        out = []
        for s in self._unique():
            with self.lock:
                items = list(s.decisions.items())
            for (action, symbol, result), n in items:
                out.append(Observation(n, {**s.attrs, "action": action, "symbol": symbol, "validation_result": result}))
        return out

    def _observe_cache(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        out = []
        for s in self._unique():
            if s.cache_hits or s.cache_misses:
                out.append(Observation(s.cache_hits, {**s.attrs, "result": "hit"}))
                out.append(Observation(s.cache_misses, {**s.attrs, "result": "miss"}))
        return out

    def _observe_folded(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        with self.lock:
            folded = list(self.limit.folded.items())
        return [Observation(n, {"label": label}) for label, n in folded]

    def _observe_requests(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        out = []
        for s in self._unique():
            # Both outcomes from the start: a success ratio exists, and is 0, when every call fails.
            out.append(Observation(s.requests_ok, {**s.attrs, semconv.LABEL_OUTCOME: "success"}))
            out.append(Observation(s.requests_failed, {**s.attrs, semconv.LABEL_OUTCOME: "failure"}))
        return out

    def _observe_errors(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        out = []
        for s in self._unique():
            with self.lock:
                items = list(s.errors.items())
            for (error_type, status), n in items:
                attrs: dict[str, str | int] = {**s.attrs, semconv.ATTR_ERROR_TYPE: error_type}
                if status is not None:
                    attrs[semconv.ATTR_HTTP_STATUS] = status
                out.append(Observation(n, attrs))
        return out

    def _observe_unpriced(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(s.unpriced, s.attrs) for s in self._unique() if s.unpriced is not None]

    def _observe_usage_missing(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(s.usage_missing, s.attrs) for s in self._unique()]

    def _ratelimit_callback(self, index: int) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """The callback of one rate-limit gauge: figure `index` of each fresh reading."""

        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            from opentelemetry.metrics import Observation

            now = self.clock()
            out = []
            for s in self._unique():
                with self.lock:
                    fresh = [] if s.ratelimit is None else s.ratelimit.fresh(now, self.ratelimit_stale_seconds)
                for resource, reading in fresh:
                    figure = reading[index]
                    if figure is not None:
                        out.append(Observation(figure, {**s.attrs, semconv.LABEL_RESOURCE: resource}))
            return out

        return observe

    def ratelimit(self, series: _Series, readings: dict[str, RateLimitReading]) -> None:
        """A response's rate-limit figures, by resource, for the series' gauges."""
        with self.lock:
            if series.ratelimit is None:
                series.ratelimit = RateLimits()
            series.ratelimit.update(readings, self.clock())

    def _observe_sessions(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        # Only once an app has sessions: one that never gives a session id exports none.
        return [Observation(self.sessions_begun)] if self.sessions_begun else []

    def _observe_sessions_open(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Also ends the sessions gone idle since the last call: an app that went quiet has its
        sessions observed at the next export (a histogram recorded here goes out in this one)."""
        from opentelemetry.metrics import Observation

        with self.lock:
            self.sessions.expire()
            return [Observation(len(self.sessions))] if self.sessions_begun else []

    def _observe_sessions_evicted(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(self.sessions_evicted)] if self.sessions_begun else []

    # -- sessions -----------------------------------------------------------------------------------

    def session_call(self, session_id: str, start: float, end: float, cost: float | None) -> None:
        """A call of a session, from `start` to `end` on `clock`."""
        with self.lock:
            self.sessions.call(session_id, start, end, cost, None)
            self.sessions.expire()

    def end_sessions(self) -> None:
        """End every open session (at exit, before the providers' last export)."""
        with self.lock:
            self.sessions.end_all()

    def _session_begun(self) -> None:
        self.sessions_begun += 1

    def _session_ended(self, session: Session, evicted: bool) -> None:
        self.session_cost.record(session.cost)
        self.session_duration.record(session.duration)
        self.session_calls.record(session.calls)
        if evicted:
            self.sessions_evicted += 1

    # -- decisions ----------------------------------------------------------------------------------

    def decision(self, series: _Series, action: str, symbol: str, validation_result: str) -> None:
        with self.lock:
            limit = self.limit
            key = (
                limit("action", action.upper()),
                limit("symbol", symbol),
                limit("validation_result", validation_result.upper()),
            )
            series.decisions[key] = series.decisions.get(key, 0) + 1


def _end_sessions(ref: weakref.ref[Telemetry]) -> None:
    """At exit: the telemetry's open sessions end (registered after configure()'s provider
    shutdowns, so it runs before them and the last export carries these sessions)."""
    telemetry = ref()
    if telemetry is not None:
        telemetry.end_sessions()
