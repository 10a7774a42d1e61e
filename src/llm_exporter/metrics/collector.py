"""Collectors that turn the store and the health counters into metric families at scrape time.

`created=True` adds each counter's and histogram's `_created` sample, for OpenMetrics scrapes:
with it Prometheus can count the first calls of a model it has never seen before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING

from llm_exporter import __version__, semconv
from llm_exporter.metrics.families import Exemplar, Family
from llm_exporter.pipeline.labels import LabelLimiter
from llm_exporter.semconv import (
    LABEL_ERROR_TYPE,
    LABEL_HTTP_STATUS,
    LABEL_OUTCOME,
    LABEL_RESOURCE,
    LABEL_TOKEN_TYPE,
    TOKEN_TYPES,
)
from llm_exporter.store.aggregates import Exemplar as Last
from llm_exporter.store.aggregates import Histogram, MetricsStore
from llm_exporter.store.health import Health

if TYPE_CHECKING:
    from llm_exporter.config import BudgetConfig, Config


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


@cache
def _les(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """The `le` label values of a histogram's buckets, formatted once per bucket layout."""
    return tuple(_le(bound) for bound in bounds)


def _exemplar(last: Last | None) -> Exemplar | None:
    return None if last is None else Exemplar({"trace_id": last[0]}, last[1], last[2])


def _family(name: str, doc: str, typ: str, unit: str = "") -> Family:
    return Family(name, doc, typ, unit)


class _Families:
    """Helpers shared by both collectors, parametrised by whether `_created` samples are wanted."""

    def __init__(self, created: bool) -> None:
        self.created = created

    def histogram(self, family: Family, labels: dict[str, str], hist: Histogram) -> None:
        """`exemplars` go to OpenMetrics scrapes only (the only exposition with a place for them)."""
        name = family.name
        total = 0
        bucket = f"{name}_bucket"
        exemplars = hist.exemplars if self.created else None
        if exemplars is None:
            for le, n in zip(_les(hist.bounds), hist.counts, strict=False):
                total += n
                family.add_sample(bucket, {**labels, "le": le}, total)
        else:
            for i, (le, n) in enumerate(zip(_les(hist.bounds), hist.counts, strict=False)):
                total += n
                family.add_sample(bucket, {**labels, "le": le}, total, exemplar=_exemplar(exemplars.get(i)))
        total += hist.counts[-1]
        family.add_sample(
            f"{name}_bucket",
            {**labels, "le": "+Inf"},
            total,
            exemplar=None if exemplars is None else _exemplar(exemplars.get(len(hist.bounds))),
        )
        family.add_sample(f"{name}_count", labels, total)
        family.add_sample(f"{name}_sum", labels, hist.sum)
        if self.created:
            family.add_sample(f"{name}_created", labels, hist.created)

    def counter(
        self, family: Family, labels: dict[str, str], value: float, created: float, last: Last | None = None
    ) -> None:
        exemplar = _exemplar(last) if self.created else None
        family.add_sample(f"{family.name}_total", labels, value, exemplar=exemplar)
        if self.created:
            family.add_sample(f"{family.name}_created", labels, created)


class LLMCollector:
    """The contract's LLM metrics. The rate-limit gauges show the readings the pipelines recorded
    (on `clock`, theirs) within the last `ratelimit_stale()` seconds; older ones are dropped."""

    def __init__(
        self,
        store: MetricsStore,
        config: Callable[[], Config],
        created: bool,
        clock: Callable[[], float],
        ratelimit_stale: Callable[[], float],
    ) -> None:
        self.store = store
        self.config = config  # read at each scrape: a reload changes thresholds and budgets
        self.f = _Families(created)
        self.clock = clock
        self.ratelimit_stale = ratelimit_stale

    def collect(self) -> Iterable[Family]:
        f = self.f
        duration = _family(
            semconv.DURATION[2], "Duration of LLM calls; failed calls carry error_type.", "histogram", "seconds"
        )
        usage = _family(semconv.TOKEN_USAGE[2], "Tokens used per LLM call, by gen_ai_token_type.", "histogram")
        ttfc = _family(
            semconv.TIME_TO_FIRST_CHUNK[2], "Time to the first chunk of streamed LLM calls.", "histogram", "seconds"
        )
        cost = _family("llm_cost_usd", "Money spent on LLM calls, in US dollars.", "counter")
        tokens = _family(
            "llm_tokens", "Tokens by kind; cache and reasoning tokens are subsets of input and output.", "counter"
        )
        in_flight = _family(semconv.IN_FLIGHT[2], "LLM calls started and not yet finished.", "gauge")
        failures = _family(
            semconv.CONSECUTIVE_FAILURES[2], "Failed LLM calls in a row since the last success.", "gauge"
        )
        decisions = _family("llm_decisions", "Decisions the model's answers led to.", "counter")
        cache = _family(
            "llm_cache_requests", "LLM calls answered from a response cache (hit) or not (miss).", "counter"
        )
        saved_cost = _family(
            "llm_cache_saved_cost_usd", "What the calls answered from a response cache would have cost.", "counter"
        )
        saved_tokens = _family(
            "llm_cache_saved_tokens", "Tokens of the calls answered from a response cache.", "counter"
        )
        requests = _family(
            "llm_requests",
            "End-to-end requests by the outcome of their last attempt (retries and fallbacks count once).",
            "counter",
        )
        retries = _family("llm_request_retries", "Attempts past the first of the requests counted.", "counter")
        errors = _family(
            "llm_errors", "Failed LLM calls by error class and the provider's HTTP status, where known.", "counter"
        )
        ratelimit = (
            _family(
                semconv.RATELIMIT_REMAINING[2],
                "What the provider's last response said is left of its rate limit.",
                "gauge",
            ),
            _family(semconv.RATELIMIT_LIMIT[2], "The rate limit the provider's last response announced.", "gauge"),
            _family(
                semconv.RATELIMIT_RESET[2].removesuffix("_seconds"),
                "Seconds until the rate limit is whole again, as the provider's last response said.",
                "gauge",
                "seconds",
            ),
        )
        now, stale_after = self.clock(), self.ratelimit_stale()
        config = self.config()
        owners: set[tuple[tuple[str, str], ...]] = set()
        with self.store.lock:
            for _, series in sorted(self.store.series.items()):
                labels = series.labels
                if config.budgets:
                    owners.add(tuple(sorted((k, v) for k, v in labels.items() if k not in semconv.SHARED_LABELS)))
                f.histogram(duration, labels, series.duration)
                for error_type, hist in sorted(series.errors.items()):
                    f.histogram(duration, {**labels, LABEL_ERROR_TYPE: error_type}, hist)
                f.histogram(usage, {**labels, LABEL_TOKEN_TYPE: "input"}, series.usage_input)
                f.histogram(usage, {**labels, LABEL_TOKEN_TYPE: "output"}, series.usage_output)
                if series.time_to_first_chunk is not None:
                    f.histogram(ttfc, labels, series.time_to_first_chunk)
                f.counter(cost, labels, series.cost, series.created, series.cost_exemplar)
                for kind in TOKEN_TYPES:
                    f.counter(tokens, {**labels, LABEL_TOKEN_TYPE: kind}, series.tokens[kind], series.created)
                if series.unsplit_tokens:
                    f.counter(tokens, {**labels, LABEL_TOKEN_TYPE: "unsplit"}, series.unsplit_tokens, series.created)
                f.counter(requests, {**labels, LABEL_OUTCOME: "success"}, series.requests_ok, series.created)
                f.counter(requests, {**labels, LABEL_OUTCOME: "failure"}, series.requests_failed, series.created)
                f.counter(retries, labels, series.retries, series.created)
                for (error_type, status), n in sorted(series.failed_calls.items()):
                    error_labels = {**labels, LABEL_ERROR_TYPE: error_type}
                    if status:
                        error_labels[LABEL_HTTP_STATUS] = status
                    f.counter(errors, error_labels, n, series.created)
                in_flight.add_sample(in_flight.name, labels, series.in_flight)
                failures.add_sample(failures.name, labels, series.consecutive_failures)
                for (action, symbol, result), (n, created) in sorted(series.decisions.items()):
                    f.counter(
                        decisions,
                        {**labels, "action": action, "symbol": symbol, "validation_result": result},
                        n,
                        created,
                    )
                if series.ratelimit is not None:
                    for resource, reading in series.ratelimit.fresh(now, stale_after):
                        for family, figure in zip(ratelimit, reading, strict=True):
                            if figure is not None:
                                family.add_sample(family.name, {**labels, LABEL_RESOURCE: resource}, figure)
                if series.cache_hits or series.cache_misses:
                    f.counter(cache, {**labels, "result": "hit"}, series.cache_hits, series.created)
                    f.counter(cache, {**labels, "result": "miss"}, series.cache_misses, series.created)
                    f.counter(saved_cost, labels, series.saved_cost, series.created)
                    for kind, n in (("input", series.saved_input), ("output", series.saved_output)):
                        f.counter(saved_tokens, {**labels, LABEL_TOKEN_TYPE: kind}, n, series.created)
        sessions = _family("llm_sessions", "Sessions begun: the first call seen with a new session id.", "counter")
        session_cost = _family(
            semconv.SESSION_COST[2], "Cost of whole sessions, in US dollars, when they end.", "histogram"
        )
        session_duration = _family(
            semconv.SESSION_DURATION[2],
            "First call's start to last call's end of sessions, when they end.",
            "histogram",
            "seconds",
        )
        session_calls = _family(semconv.SESSION_CALLS[2], "Calls in a session, when it ends.", "histogram")
        with self.store.lock:
            for static, found in sorted(self.store.sessions.items()):
                labels = dict(static)
                f.counter(sessions, labels, found.begun, found.created)
                f.histogram(session_cost, labels, found.cost)
                f.histogram(session_duration, labels, found.duration)
                f.histogram(session_calls, labels, found.calls)
        thresholds = _family(semconv.ALERT_THRESHOLD[2], "Alert thresholds from the exporter's config.", "gauge")
        for labels, value in config.thresholds.gauge_samples():
            thresholds.add_sample(thresholds.name, labels, value)
        yield from (
            duration,
            usage,
            ttfc,
            cost,
            tokens,
            requests,
            retries,
            errors,
            in_flight,
            failures,
            decisions,
            cache,
            saved_cost,
            saved_tokens,
            sessions,
            session_cost,
            session_duration,
            session_calls,
            thresholds,
        )
        # Only while some response told its rate limits: most sources never will.
        yield from (family for family in ratelimit if family.samples)
        if config.budgets:
            yield from _budget_families(config.budgets, owners)


def _budget_families(budgets: list[BudgetConfig], owners: set[tuple[tuple[str, str], ...]]) -> tuple[Family, Family]:
    """llm_budget_usd per budget, and llm_budget_owner_info: each owner label set (a series'
    labels but the shared ones) seen since the start that a budget's match covers. PromQL can only
    join on label names written in the rule, never on "the labels this budget names"; this
    pairing lets one rule sum any budget's owners (prometheus/rules/llm_owner_budget.yml)."""
    budget = _family(semconv.BUDGET[2], "Monthly budgets from the exporter's config, per owner.", "gauge")
    info = _family(
        "llm_budget_owner_info", "Owner label sets seen on the LLM series, with each budget that covers them.", "gauge"
    )
    for b in budgets:
        budget.add_sample(budget.name, {**b.match, "budget": b.key}, b.monthly_usd)
        wanted = tuple(b.match.items())
        for owner in sorted(owners):
            labels = dict(owner)
            if all(labels.get(k) == v for k, v in wanted):
                info.add_sample(info.name, {**labels, "budget": b.key}, 1)
    return budget, info


class HealthCollector:
    """`llm_exporter_*`: the exporter's own health, per configured source (never a file path)."""

    def __init__(self, health: Health, limiter: Callable[[], LabelLimiter], created: bool) -> None:
        self.health = health
        self.limiter = limiter
        self.f = _Families(created)

    def _per_source(self, name: str, doc: str, typ: str, get: Callable) -> Family:
        family = _family(name, doc, typ)
        for source, h in sorted(self.health.sources.items()):
            if typ == "counter":
                self.f.counter(family, {"source": source}, get(h), h.created)
            else:
                family.add_sample(name, {"source": source}, get(h))
        return family

    def _per_source_by(self, name: str, doc: str, label: str, get: Callable) -> Family:
        family = _family(name, doc, "counter")
        for source, h in sorted(self.health.sources.items()):
            for value, n in sorted(get(h).items()):
                self.f.counter(family, {"source": source, label: value}, n, h.created)
        return family

    def _per_model(self, name: str, doc: str, get: Callable) -> Family:
        family = _family(name, doc, "counter")
        for source, h in sorted(self.health.sources.items()):
            for (operation, provider, model), n in sorted(get(h).items()):
                labels = {
                    "source": source,
                    semconv.LABEL_OPERATION: operation,
                    semconv.LABEL_PROVIDER: provider,
                    semconv.LABEL_MODEL: model,
                }
                self.f.counter(family, labels, n, h.created)
        return family

    def collect(self) -> Iterator[Family]:
        health = self.health
        info = _family("llm_exporter_build_info", "A gauge of 1 labelled with the exporter's version.", "gauge")
        info.add_sample(info.name, {"version": __version__}, 1)
        yield info
        yield self._per_source("llm_exporter_lines_read", "Lines read from log files.", "counter", lambda h: h.lines)
        yield self._per_source("llm_exporter_bytes_read", "Bytes read from log files.", "counter", lambda h: h.bytes)
        yield self._per_source_by(
            "llm_exporter_lines_rejected", "Lines that could not be used, by reason.", "reason", lambda h: h.rejected
        )
        yield self._per_source_by(
            "llm_exporter_events_ignored",
            "Well-formed events with no metric, by type.",
            "event_type",
            lambda h: h.ignored,
        )
        yield self._per_source_by(
            "llm_exporter_file_errors",
            "Files that could not be opened or read, by reason.",
            "reason",
            lambda h: h.file_errors,
        )
        yield self._per_source("llm_exporter_files_open", "Log files being followed.", "gauge", lambda h: h.files_open)
        yield self._per_source(
            "llm_exporter_source_files",
            "Files matching the source's glob at its last scan (0: a wrong path, or no logs yet).",
            "gauge",
            lambda h: h.source_files,
        )
        yield self._per_source(
            "llm_exporter_rotations", "Log files seen rotated (renamed or replaced).", "counter", lambda h: h.rotations
        )
        yield self._per_source(
            "llm_exporter_truncations", "Log files seen truncated.", "counter", lambda h: h.truncations
        )
        yield self._per_source(
            "llm_exporter_lag_bytes",
            "Bytes written to followed files and not yet read.",
            "gauge",
            lambda h: h.lag_bytes,
        )
        yield self._per_source(
            "llm_exporter_orphaned_requests",
            "Requests that never got a response within the time-to-live, or were pushed out of a full pending table.",
            "counter",
            lambda h: h.orphaned,
        )
        yield self._per_model(
            "llm_exporter_unpriced_completions",
            "Completions with tokens whose model has no known price, so llm_cost_usd_total lacks them.",
            lambda h: h.unpriced,
        )
        yield self._per_model(
            "llm_exporter_usage_missing",
            "Successful calls that carried no token usage (streams without usage, for one).",
            lambda h: h.usage_missing,
        )
        yield self._per_source(
            "llm_exporter_series_folded",
            "Lines whose label set, error type or decision was past the source's sample budget "
            f"(limits.max_samples), folded into {semconv.OVERFLOW_VALUE!r}.",
            "counter",
            lambda h: h.series_folded,
        )
        yield self._per_source(
            semconv.SESSIONS_OPEN[2],
            "Sessions open: seen a call of within limits.session_idle_seconds.",
            "gauge",
            lambda h: len(h.open_sessions),
        )
        yield self._per_source(
            "llm_exporter_sessions_evicted",
            "Sessions ended before they were idle: the table of open ones was full (limits.max_open_sessions).",
            "counter",
            lambda h: h.sessions_evicted,
        )
        folded = _family(
            "llm_exporter_label_values_folded",
            f"Label values past the cardinality limit, folded into {semconv.OVERFLOW_VALUE!r}.",
            "counter",
        )
        for label, n in sorted(self.limiter().folded.items()):
            folded.add_sample(f"{folded.name}_total", {"label": label}, n)
        yield folded
        saves = _family("llm_exporter_positions_save_errors", "Failed saves of the positions file.", "counter")
        saves.add_sample(f"{saves.name}_total", {}, health.positions_save_errors)
        yield saves
        loads = _family(
            "llm_exporter_positions_load_errors",
            "Positions files found unreadable or corrupt at start (sources then start where start_at says).",
            "counter",
        )
        rejected = sum(h.positions_rejected for h in health.sources.values())
        loads.add_sample(f"{loads.name}_total", {}, health.positions_load_errors + rejected)
        yield loads
        if health.positions_last_save is not None:
            last = _family(
                "llm_exporter_positions_last_save_timestamp_seconds", "When the positions file was last saved.", "gauge"
            )
            last.add_sample(last.name, {}, health.positions_last_save)
            yield last
        if health.otlp_pushes:
            pushes = _family("llm_exporter_otlp_pushes", "Pushes of the metrics over OTLP, by result.", "counter")
            for result, n in sorted(health.otlp_pushes.items()):
                pushes.add_sample(f"{pushes.name}_total", {"result": result}, n)
            yield pushes
        if health.otlp_spans:
            spans = _family(
                "llm_exporter_otlp_spans", "Spans of the calls read, sent over OTLP or not, by result.", "counter"
            )
            for result, n in sorted(health.otlp_spans.items()):
                spans.add_sample(f"{spans.name}_total", {"result": result}, n)
            yield spans
        reload_ok = _family(
            "llm_exporter_config_last_reload_successful", "Whether the last config (re)load succeeded.", "gauge"
        )
        reload_ok.add_sample(reload_ok.name, {}, 1 if health.config_reload_ok else 0)
        yield reload_ok
