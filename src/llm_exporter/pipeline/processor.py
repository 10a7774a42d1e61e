"""One source's pipeline: raw lines in, the metrics store updated.

decode JSON -> format parser -> join request and response -> price -> cap labels -> record.
A bad line is counted by reason and reported in the log at most once per interval; it never
raises and never disturbs the lines around it.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar

import orjson

from llm_exporter.config import DEFAULT_MAX_SAMPLES
from llm_exporter.formats import FORMATS, PARSERS
from llm_exporter.formats.events import Completion, Decision, Event, Ignored, Rejected, Request
from llm_exporter.formats.ratelimit import Readings
from llm_exporter.formats.usage import reported_output
from llm_exporter.pipeline.join import BoundedTable
from llm_exporter.pipeline.labels import LabelLimiter, SampleBudget
from llm_exporter.pipeline.pricing import PriceBook
from llm_exporter.pipeline.sessions import SavedSession, Session, Sessions
from llm_exporter.providers import resolve
from llm_exporter.semconv import DEFAULT_OPERATION, OVERFLOW_VALUE, UNKNOWN
from llm_exporter.store.aggregates import (
    Histogram,
    MetricsStore,
    RateLimits,
    SampleCosts,
    Series,
    StaticLabels,
    add_tokens,
)
from llm_exporter.store.health import SourceHealth

log = logging.getLogger(__name__)
K = TypeVar("K")

MAX_CACHED_CALLS = 4096  # (labels, model, provider, operation) -> series resolutions remembered
REPORT_INTERVAL = 5.0  # seconds between log reports of rejected lines, per source
# What a format's decoder raises for a line it does not read (msgspec's errors and invalid UTF-8
# are ValueErrors; nesting past msgspec's depth is a RecursionError).
UNDECODABLE = (ValueError, RecursionError)


def classify_undecodable(line: bytes) -> str:
    if b"\x00" in line:
        return "nul_byte"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    return "invalid_json"


class SpanSink(Protocol):
    """Where a source's calls go as spans while traces are on: the exporter plugs one in
    (exposition.traces), so the pipeline never imports what sends them."""

    def request(self, event: Request) -> None: ...

    def completion(
        self, event: Completion, labels: Mapping[str, str], model: str, cost: float | None
    ) -> tuple[str, float | None] | None:
        """Send the call's span; its trace id (hex) and end time when it goes out, for exemplars."""

    def decision(self, event: Decision) -> None: ...


class _Call:
    """What a request leaves for its response: the series and the model as requested (which
    the series' label may have folded away, and which pricing needs)."""

    __slots__ = ("model", "series")

    def __init__(self, series: Series, model: str) -> None:
        self.series = series
        self.model = model


class _Attempts:
    """Failed attempts of one client request (one trace_id) awaiting a retry or fallback."""

    __slots__ = ("n", "series")

    def __init__(self, series: Series, n: int) -> None:
        self.series = series
        self.n = n


class SourcePipeline:
    def __init__(
        self,
        name: str,
        fmt: str,
        static_labels: dict[str, str],
        store: MetricsStore,
        health: SourceHealth,
        prices: PriceBook,
        limiter: LabelLimiter,
        pending_size: int,
        pending_ttl: float,
        clock: Callable[[], float] = time.monotonic,
        label_fields: dict[str, str] | None = None,
        settle_seconds: float = 120.0,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        max_series: int | None = None,
        session_idle: float = 1800.0,
        max_open_sessions: int = 10_000,
    ) -> None:
        self.name = name
        self.parse = PARSERS[fmt]
        self.static: StaticLabels = tuple(sorted(static_labels.items()))
        self.label_fields = tuple((name, tuple(path.split("."))) for name, path in sorted((label_fields or {}).items()))
        # label_fields may name any field: those lines are read whole (orjson), then the format's
        # rules; so are auto's, which need the keys to tell the format.
        known = None if self.label_fields else FORMATS.get(fmt)
        self.decode = known.decode if known is not None else None
        self.rules = known.event if known is not None else None
        self._labels = self.static  # the static labels plus the current line's label_fields
        self._calls: dict[tuple[object, ...], _Call] = {}
        self.store = store
        self.health = health
        self.prices = prices
        self.limit = limiter
        self.costs = SampleCosts(store.duration_buckets)
        self.budget = SampleBudget(max_samples, self._overflow_key(), self.costs.label_set)
        self.set_budget(max_samples, max_series)
        self.pending: BoundedTable[_Call] = BoundedTable(pending_size, pending_ttl, clock, self._orphaned)
        self.answered: BoundedTable[_Call] = BoundedTable(pending_size, pending_ttl, clock)
        self.failing: BoundedTable[_Attempts] = BoundedTable(pending_size, settle_seconds, clock, self._request_failed)
        self._clock = clock
        self.sessions = Sessions(max_open_sessions, session_idle, clock, self._session_begun, self._session_ended)
        health.open_sessions = self.sessions
        self.spans: SpanSink | None = None  # set by the exporter while traces are on
        self._last_report = -REPORT_INTERVAL
        self._unreported = 0
        self._handlers = {
            Completion: self._completion,
            Request: self._request,
            Decision: self._decision,
            Ignored: self._ignored,
        }

    def set_budget(self, max_samples: int, max_series: int | None) -> None:
        """limits.max_samples; or the deprecated max_series, read as it was: that many label sets
        (the costliest) and the overflow one."""
        self.budget.max_samples = max_samples if max_series is None else (max_series + 1) * self.costs.label_set

    # -- entry points -------------------------------------------------------------------------

    def process(self, lines: Iterable[bytes]) -> None:
        """Whole lines, without their newline; takes the store lock once for the batch. The
        garbage collector waits for the end of the batch: a line leaves no reference cycle behind,
        and a collection every few hundred allocations (the join tables' entries reaching the
        oldest generation) cost about a tenth of a line's instructions (benchmarks/bench_stages.py)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            with self.store.lock:
                event, handle = self.event, self.handle
                for line in lines:
                    found = event(line)
                    if found is not None:
                        handle(found)
                self._expire()
        finally:
            if collecting:
                gc.enable()

    def event(self, line: bytes) -> Event | None:
        """One line's event (counted as read); None for a blank line or one rejected (and counted).
        The backfill orders events by their time before it hands them to `handle`."""
        self.health.lines += 1
        if line[-1:] == b"\r":
            line = line[:-1]
        try:
            decode = self.decode
            if decode is not None:
                try:
                    if not line.isascii():  # msgspec skips the keys it does not read unchecked
                        line.decode("utf-8")
                    decoded = decode(line)
                except UNDECODABLE:  # orjson's way tells why (or reads what msgspec would not)
                    pass
                else:
                    return self.rules(decoded)
            return self._parse(line)
        except Rejected as exc:
            self.reject(exc.reason, exc.detail)
        except Exception as exc:  # a line this code did not foresee must not stop the daemon
            self._unexpected(exc)
        return None

    def handle(self, event: Event) -> None:
        """Record one event; the caller holds the store lock (or is the store's only user)."""
        try:
            self._handlers[type(event)](event)
        except Exception as exc:
            self._unexpected(exc)

    def _unexpected(self, exc: Exception) -> None:
        self.reject("unexpected", f"{type(exc).__name__} while reading the line (please report)")

    def _parse(self, line: bytes) -> Event | None:
        """A line read whole by orjson, then the format's rules; None for a blank line or one
        rejected (and counted) here."""
        if not line or line.isspace():
            return None
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            self.reject(classify_undecodable(line), "not a JSON line")
            return None
        if type(obj) is not dict:
            self.reject("not_object", f"a JSON {type(obj).__name__}, not an object")
            return None
        if self.label_fields:
            self._labels = self._line_labels(obj)
        return self.parse(obj)

    def reject(self, reason: str, detail: str) -> None:
        self.health.reject(reason)
        now = self._clock()
        if now - self._last_report >= REPORT_INTERVAL:
            more = f" ({self._unreported} more rejected lines since the last report)" if self._unreported else ""
            log.warning("source %s: rejected a line, %s: %s%s", self.name, reason, detail, more)
            self._last_report = now
            self._unreported = 0
        else:
            self._unreported += 1

    def expire(self, sessions: bool = True) -> None:
        """Count requests past their time-to-live as orphaned even when no line arrives; end the
        sessions idle for limits.session_idle_seconds (unless `sessions` is False: a backlog is
        still being read, whose later lines may go on with them)."""
        with self.store.lock:
            self._expire()
            if sessions:
                self.sessions.expire()

    def _expire(self) -> None:
        self.pending.expire()
        self.answered.expire()
        self.failing.expire()

    def adopt(self, previous: SourcePipeline) -> None:
        """Carry on what a previous pipeline of this source awaited (a reload changed or renamed
        it): requests awaiting their response, answered ones awaiting their decision, failed
        attempts awaiting a retry. Called under the store lock."""
        self.pending.adopt(previous.pending)
        self.answered.adopt(previous.answered)
        self.failing.adopt(previous.failing)
        self.sessions.adopt(previous.sessions)

    def abandon(self) -> None:
        """The source is gone (a reload removed it): what it awaited will never come. Requests
        count as orphaned (no longer in flight), failed attempts as failed requests. Called
        under the store lock."""
        self.pending.drain()
        self.failing.drain()
        self.sessions.end_all()

    def settle(self) -> None:
        """Count every request still awaiting a retry as failed (the end of a replay)."""
        with self.store.lock:
            self.failing.drain()

    def end_sessions(self) -> None:
        """End every open session (the end of a replay or a backfill)."""
        with self.store.lock:
            self.sessions.end_all()

    def restore_sessions(self, saved: list[SavedSession]) -> None:
        """Open again the sessions a previous run saved beside its positions."""
        with self.store.lock:
            self.health.positions_rejected += self.sessions.restore(saved)

    def _line_labels(self, obj: dict) -> StaticLabels:
        """The static labels plus the opted-in fields this line has (scalars only; capped)."""
        labels = list(self.static)
        for name, path in self.label_fields:
            value: object = obj
            for key in path:
                value = value.get(key) if type(value) is dict else None
            if type(value) is bool:
                value = "true" if value else "false"
            elif type(value) in (int, float):
                value = str(value)
            if type(value) is str and value:
                labels.append((name, self.limit(name, value)))
        return tuple(sorted(labels))

    # -- events ---------------------------------------------------------------------------------

    def _series(self, model: str | None, provider: str | None, operation: str | None) -> _Call:
        key = (self._labels, model, provider, operation)
        call = self._calls.get(key)
        if call is None:
            call = self._resolve(model, provider, operation)
            # Folded calls are resolved each time, so every fold is counted as before; past the
            # cap (made-up names), so is everything else.
            if len(self._calls) < MAX_CACHED_CALLS and OVERFLOW_VALUE not in call.series.labels.values():
                self._calls[key] = call
        return call

    def _resolve(self, model: str | None, provider: str | None, operation: str | None) -> _Call:
        raw_model = model or UNKNOWN
        provider_name, model_label = resolve(raw_model, provider)
        limit = self.limit
        key = (
            self._labels,
            limit("gen_ai_operation_name", operation or DEFAULT_OPERATION),
            limit("gen_ai_provider_name", provider_name),
            limit("gen_ai_request_model", model_label),
        )
        if not self.budget.take(key, self.costs.label_set):
            self.health.series_folded += 1
            key = self._overflow_key()
        return _Call(self.store.get(*key), raw_model)

    def _overflow_key(self) -> tuple[StaticLabels, str, str, str]:
        return (self.static, OVERFLOW_VALUE, OVERFLOW_VALUE, OVERFLOW_VALUE)

    def _child(self, series: Series, entries: dict, key: K, overflow: K, samples: int) -> K:
        """A per-series sub-key (decision, error) within the source's sample budget; `overflow`
        was paid for with the series (or its error type)."""
        if key in entries or self.budget.take((id(series), key), samples):
            return key
        self.health.series_folded += 1
        return overflow

    def _ratelimit(self, series: Series, readings: Readings) -> None:
        """A response's rate-limit figures for the series' gauges; each resource's three samples
        are charged to the source's sample budget when the series first shows it (most sources
        never do), and one past the budget is left out (counted as folded)."""
        if series.ratelimit is None:
            series.ratelimit = RateLimits()
        shown = series.ratelimit.readings
        cost = self.costs.ratelimit_resource
        fitting = {
            resource: reading
            for resource, reading in readings.items()
            if resource in shown or self.budget.take((id(series), "ratelimit", resource), cost)
        }
        self.health.series_folded += len(readings) - len(fitting)
        series.ratelimit.update(fitting, self._clock())

    def _request(self, event: Request) -> None:
        call = self._series(event.model, event.provider, event.operation)
        call.series.in_flight += 1
        self.pending.put(event.request_id, call)
        if self.spans is not None:
            self.spans.request(event)

    def _orphaned(self, call: _Call) -> None:
        call.series.in_flight -= 1
        self.health.orphaned += 1

    def _completion(self, event: Completion) -> None:
        call = self.pending.pop(event.request_id) if event.request_id else None
        if call is not None:
            call.series.in_flight -= 1
        if event.model is not None and (call is None or call.model != event.model):
            call = self._series(event.model, event.provider, event.operation)
        elif call is None:
            call = self._series(None, event.provider, event.operation)
        if event.request_id:
            self.answered.put(event.request_id, call)
        series = call.series
        hist = None
        if event.cache_hit is True:
            cost = self._cache_hit(event, call)
        else:
            if event.cache_hit is False:
                series.cache_misses += 1
            hist, cost = self._provider_call(event, call)
            if event.ratelimit is not None:
                self._ratelimit(series, event.ratelimit)
        self._count_request(event, series)
        trace_id = None
        if self.spans is not None:
            sent = self.spans.completion(event, series.labels, call.model, cost)
            if sent is not None:  # the call's trace as the exemplar of what it added to
                trace_id, when = sent
                if hist is not None:
                    hist.exemplar(event.duration, trace_id, when)
                if cost:
                    series.cost_exemplar = (trace_id, cost, when)
        if event.session_id is not None:
            end = event.time
            if end is None:  # a line without a legible time: when it is read
                end = self.store.clock()
            self.sessions.call(event.session_id, end - event.duration, end, cost, trace_id)

    def _session_begun(self) -> None:
        self.store.session_series(self.static).begun += 1

    def _session_ended(self, session: Session, evicted: bool) -> None:
        found = self.store.session_series(self.static)
        found.cost.observe(session.cost)
        if session.trace is not None:  # the session's trace: its calls' spans went out
            found.cost.exemplar(session.cost, session.trace, session.last)
        found.duration.observe(session.duration)
        found.calls.observe(session.calls)
        if evicted:
            self.health.sessions_evicted += 1

    def _cache_hit(self, event: Completion, call: _Call) -> float | None:
        """An answer from a response cache: no provider call, so no duration, tokens or cost of
        its own, and what it saved. Never spent and saved at once: LiteLLM writes `response_cost`
        0.0 and `saved_cache_cost` on a hit (recorded); a cost logged on a hit without a saved cost
        (older LiteLLM, hand-made lines) is the answer's price, so what the hit saved."""
        series = call.series
        series.cache_hits += 1
        input_tokens, output_tokens = event.input_tokens or 0, event.output_tokens or 0
        saved = event.saved_cost or event.cost
        if not saved:
            price = self.prices.lookup(series.labels["gen_ai_provider_name"], call.model)
            saved = price.cost(input_tokens, output_tokens) if price is not None else 0.0
        series.saved_cost += saved
        series.saved_input += input_tokens
        series.saved_output += output_tokens
        return None if event.cost is None else 0.0

    def _provider_call(self, event: Completion, call: _Call) -> tuple[Histogram, float | None]:
        """Record a call to the provider; returns the duration histogram it went to, its cost."""
        series = call.series
        labels = series.labels
        input_tokens = event.input_tokens
        output_tokens = reported_output(labels["gen_ai_operation_name"], event.output_tokens)
        has_usage = bool(input_tokens or output_tokens)
        cost = event.cost
        if cost is None and (has_usage or event.unsplit_tokens):
            provider = labels["gen_ai_provider_name"]
            price = self.prices.billed(provider, call.model, event.response_model) if has_usage else None
            if price is not None:
                cost = price.cost(
                    input_tokens or 0, output_tokens or 0, event.cache_read_tokens, event.cache_write_tokens
                )
            else:  # no known price, or tokens not split into input and output
                self._count(self.health.unpriced, series)
        if cost is not None:
            series.cost += cost

        if event.error_type is None:
            hist = series.duration
            hist.observe(event.duration)
            series.consecutive_failures = 0
        else:
            error_type = self.limit("error_type", event.error_type)
            error_type = self._child(series, series.errors, error_type, OVERFLOW_VALUE, self.costs.error_type)
            hist = series.failure_histogram(error_type, self.store.clock())
            hist.observe(event.duration)
            series.consecutive_failures += 1
            key = (error_type, "")  # paid for with its error type
            if event.http_status:
                key = self._child(series, series.failed_calls, (error_type, event.http_status), key, self.costs.counter)
            series.failed_calls[key] = series.failed_calls.get(key, 0) + 1
        if has_usage:  # each count the response reported, 0 included
            if input_tokens is not None:
                series.usage_input.observe(input_tokens)
            if output_tokens is not None:
                series.usage_output.observe(output_tokens)
        elif event.error_type is None and not event.unsplit_tokens:
            self._count(self.health.usage_missing, series)
        add_tokens(
            series.tokens,
            input_tokens or 0,
            output_tokens or 0,
            event.cache_read_tokens,
            event.cache_write_tokens,
            event.reasoning_tokens,
        )
        series.unsplit_tokens += event.unsplit_tokens
        if event.time_to_first_chunk is not None:
            series.first_chunk_histogram(self.store.clock()).observe(event.time_to_first_chunk)
        return hist, cost

    @staticmethod
    def _count(counts: dict[tuple[str, str, str], int], series: Series) -> None:
        labels = series.labels
        key = (labels["gen_ai_operation_name"], labels["gen_ai_provider_name"], labels["gen_ai_request_model"])
        counts[key] = counts.get(key, 0) + 1

    def _count_request(self, event: Completion, series: Series) -> None:
        """End-to-end requests: attempts sharing a trace_id are one request, whose outcome is
        its last attempt's. A failure waits (settle_seconds) for a retry or fallback."""
        trace_id = event.trace_id
        if trace_id is None:
            if event.error_type is None:
                series.requests_ok += 1
            else:
                series.requests_failed += 1
            return
        earlier = self.failing.pop(trace_id)
        if event.error_type is None:
            series.requests_ok += 1
            if earlier is not None:
                series.retries += earlier.n
        else:
            self.failing.put(trace_id, _Attempts(series, 1 if earlier is None else earlier.n + 1))

    @staticmethod
    def _request_failed(attempts: _Attempts) -> None:
        attempts.series.requests_failed += 1
        attempts.series.retries += attempts.n - 1

    def _decision(self, event: Decision) -> None:
        call = self.answered.get(event.request_id) if event.request_id else None
        if call is None:
            call = self.pending.get(event.request_id) if event.request_id else None
        if call is None:
            call = self._series(event.model, None, None)
        if self.spans is not None:
            self.spans.decision(event)
        limit = self.limit
        decisions = call.series.decisions
        key = self._child(
            call.series,
            decisions,
            (
                limit("action", event.action),
                limit("symbol", event.symbol),
                limit("validation_result", event.validation_result),
            ),
            (OVERFLOW_VALUE,) * 3,
            self.costs.counter,
        )
        entry = decisions.get(key)
        if entry is None:
            decisions[key] = [1, self.store.clock()]
        else:
            entry[0] += 1

    def _ignored(self, event: Ignored) -> None:
        ignored = self.health.ignored
        event_type = self.limit("event_type", event.event_type)
        ignored[event_type] = ignored.get(event_type, 0) + 1
