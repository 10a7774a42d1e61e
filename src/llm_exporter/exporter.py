"""The exporter's state that outlives config reloads, and the sources built from a config.

sources (tailers) -> pipelines -> one metrics store -> collectors. Reloading swaps the sources,
prices, limits and thresholds; the store, the health counters and the read offsets of unchanged
sources stay, so no count is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from llm_exporter.config import Config, SourceConfig
from llm_exporter.metrics.billing import BillingCollector
from llm_exporter.metrics.collector import HealthCollector, LLMCollector
from llm_exporter.metrics.probes import ProbeCollector
from llm_exporter.pipeline.billing import Biller
from llm_exporter.pipeline.labels import LabelLimiter
from llm_exporter.pipeline.price_cache import cache_dir
from llm_exporter.pipeline.pricing import PriceBook
from llm_exporter.pipeline.processor import SourcePipeline
from llm_exporter.sources.positions import Position, SavedSessions, load_state, save_positions
from llm_exporter.sources.probes import Prober
from llm_exporter.sources.tailer import OpenFiles, Tailer, default_max_open_files
from llm_exporter.store.aggregates import MetricsStore
from llm_exporter.store.health import Health, SourceHealth

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from prometheus_client import CollectorRegistry

    from llm_exporter.exposition.traces import CallSpans

log = logging.getLogger(__name__)


class Source:
    """One configured source: its tailer feeding its pipeline."""

    def __init__(self, config: SourceConfig, pipeline: SourcePipeline, tailer: Tailer) -> None:
        self.config = config
        self.pipeline = pipeline
        self.tailer = tailer


def build_pipeline(
    sc: SourceConfig,
    config: Config,
    store: MetricsStore,
    health: SourceHealth,
    prices: PriceBook,
    limiter: LabelLimiter,
    clock: Callable[[], float],
) -> SourcePipeline:
    """A source's pipeline as the config says (the live exporter's, and the backfill's)."""
    return SourcePipeline(
        sc.name,
        sc.format,
        sc.labels,
        store,
        health,
        prices,
        limiter,
        config.limits.pending_requests,
        config.limits.pending_ttl_seconds,
        clock,
        sc.label_fields,
        config.limits.request_settle_seconds,
        config.limits.max_samples,
        config.limits.max_series,
        config.limits.session_idle_seconds,
        config.limits.max_open_sessions,
    )


class Exporter:
    def __init__(
        self,
        config: Config,
        clock: Callable[[], float] = time.monotonic,
        use_positions: bool = True,
        span_exporter: SpanExporter | None = None,
    ) -> None:
        """`span_exporter` replaces the OTLP one of the `otlp:` section's traces (tests)."""
        self.clock = clock
        self.store = MetricsStore(duration_buckets=config.histograms.duration_buckets)
        self.health = Health()
        self.config = config
        self.limiter = LabelLimiter(config.limits.max_label_values)
        self.prices = PriceBook(config.pricing.overrides, cache_dir())
        self.sources: dict[str, Source] = {}
        self.prober = Prober(config.probes, self.limiter)
        self.biller = Biller(config.billing, self.limiter)
        self.open_files = OpenFiles(config.limits.max_open_files or default_max_open_files())
        self.behind = False  # the last poll ran out of its budget: more is waiting to be read
        self.use_positions = use_positions and config.positions_file is not None
        saved, sessions = self._load_positions() if self.use_positions else ([], {})
        self._span_exporter = span_exporter
        self.spans: CallSpans | None = None
        self._build_sources(config, saved, initial=True)
        self._configure_spans(config)
        for name, entries in sessions.items():
            source = self.sources.get(name)
            if source is not None:  # a source gone from the config: its sessions end with it, unseen
                source.pipeline.restore_sessions(entries)

    # -- config ---------------------------------------------------------------------------------

    def _load_positions(self) -> tuple[list[Position], SavedSessions]:
        assert self.config.positions_file is not None
        try:
            return load_state(self.config.positions_file)
        except ValueError as exc:
            self.health.positions_load_errors += 1
            log.error("%s; sources start where their start_at says", exc)
            return [], {}

    def _build_sources(self, config: Config, saved: Iterable[Position], initial: bool) -> None:
        saved = list(saved)
        old = self.sources
        names = {sc.name for sc in config.sources}
        gone = {name: source for name, source in old.items() if name not in names}
        # Offsets of files whose source is gone (renamed or removed, in this process or before a
        # restart): a source that follows the same files resumes them instead of counting their
        # history again. The tailer only takes those of files it finds (by device and inode).
        orphans = [p for p in saved if p.source not in names]
        orphans += [p for source in gone.values() for p in source.tailer.positions()]
        self.sources = {}
        for sc in config.sources:
            previous = old.get(sc.name)
            if previous is not None and previous.config == sc:
                previous.pipeline.prices = self.prices
                previous.pipeline.failing.ttl = config.limits.request_settle_seconds
                previous.pipeline.sessions.idle = config.limits.session_idle_seconds
                previous.pipeline.sessions.max_open = config.limits.max_open_sessions
                previous.pipeline.set_budget(config.limits.max_samples, config.limits.max_series)
                previous.tailer.max_line = config.limits.max_line_bytes
                previous.tailer.rotate_wait = config.rotate_wait_seconds
                self.sources[sc.name] = previous
                continue
            if previous is not None:  # changed: keep the offsets it had
                positions = previous.tailer.positions()
            else:
                positions = [p for p in saved if p.source == sc.name]
                # A rename keeps the path: the same source, with its requests in flight.
                previous = next((g for g in gone.values() if g.config.path == sc.path), None)
                if previous is not None:
                    del gone[previous.config.name]
            if previous is not None:
                previous.tailer.close()
            positions += [replace(p, source=sc.name) for p in orphans]
            # start_at applies to a source's first scan: at start-up, or when a reload adds it.
            source = self._source(sc, config, positions, initial or sc.name not in old)
            if previous is not None:
                source.pipeline.adopt(previous.pipeline)
            self.sources[sc.name] = source
        for source in gone.values():
            source.tailer.close()
            source.pipeline.abandon()

    def _source(self, sc: SourceConfig, config: Config, positions: Iterable[Position], initial: bool) -> Source:
        health = self.health.source(sc.name)
        pipeline = build_pipeline(sc, config, self.store, health, self.prices, self.limiter, self.clock)
        tailer = Tailer(
            sc,
            pipeline.process,
            pipeline.reject,
            health,
            config.limits.max_line_bytes,
            config.rotate_wait_seconds,
            self.clock,
            positions,
            initial=initial,
            open_files=self.open_files,
        )
        return Source(sc, pipeline, tailer)

    def reload(self, config: Config) -> None:
        """Apply a new config; counts, in-flight requests and offsets of unchanged sources stay."""
        with self.store.lock:
            self.limiter.max_values = config.limits.max_label_values
            self.open_files.limit = config.limits.max_open_files or default_max_open_files()
            self.prices.save()  # the new book finds them there
            self.prices = PriceBook(config.pricing.overrides, cache_dir())
            self._build_sources(config, (), initial=False)
            self._configure_spans(config)
            self.config = config
        if config.histograms.duration_buckets != self.store.duration_buckets:  # one family, one set of `le` values
            log.warning("histograms.extended_duration_buckets changed: it takes effect at the next start")
        self.prober.configure(config.probes)
        self.biller.configure(config.billing)
        self.use_positions = config.positions_file is not None

    def _configure_spans(self, config: Config) -> None:
        """Start, restart (changed settings: after sending what the old ones held) or stop the
        spans of the calls read, and give each source's pipeline its share of them."""
        if self.spans is None and (config.otlp is None or not config.otlp.traces):
            return  # OpenTelemetry (an optional dependency) is imported only for traces
        from llm_exporter.exposition.traces import CallSpans, SourceSpans, trace_settings

        settings = trace_settings(config.otlp)
        if self.spans is not None and self.spans.settings != settings:
            self.spans.close()
            self.spans = None
        if self.spans is None and settings is not None:
            self.spans = CallSpans(settings, self.health, self._span_exporter)
        limits = config.limits
        for name, source in self.sources.items():
            current = source.pipeline.spans
            if self.spans is None:
                source.pipeline.spans = None
            elif not isinstance(current, SourceSpans) or current.calls is not self.spans:
                source.pipeline.spans = SourceSpans(
                    self.spans, name, limits.pending_requests, limits.pending_ttl_seconds, self.clock
                )

    # -- work -------------------------------------------------------------------------------------

    def poll_once(self, rescan: bool = True, budget: int | None = None) -> int:
        """Read every source to its end once, or each to its share of `budget` bytes (then
        `behind` says a source has more waiting); returns bytes read."""
        share = None if budget is None else max(budget // max(len(self.sources), 1), 1)
        read = 0
        self.behind = False
        for source in self.sources.values():
            n = source.tailer.poll_once(rescan, share)
            self.behind = self.behind or (share is not None and n >= share)
            read += n
        for source in self.sources.values():
            # Sessions idle by the clock end only once the backlog is read: its later lines may go on with them.
            source.pipeline.expire(sessions=not self.behind)
        return read

    def drain(self) -> None:
        """Poll until nothing new is read (replay, and the first pass over existing logs)."""
        rescan = True
        while self.poll_once(rescan):
            rescan = False

    def settle(self) -> None:
        """Count the requests still awaiting a retry as failed and end the open sessions: nothing
        more will come (replay)."""
        for source in self.sources.values():
            source.pipeline.settle()
        self.end_sessions()

    def end_sessions(self) -> None:
        """End every open session (a replay's end; the daemon's shutdown without a positions file)."""
        for source in self.sources.values():
            source.pipeline.end_sessions()

    def save_positions(self) -> bool:
        if not self.use_positions:
            return False
        assert self.config.positions_file is not None
        positions = [p for s in self.sources.values() for p in s.tailer.positions()]
        sessions = {name: saved for name, s in self.sources.items() if (saved := s.pipeline.sessions.saved())}
        try:
            save_positions(self.config.positions_file, positions, sessions)
        except OSError as exc:
            self.health.positions_save_errors += 1
            log.error("cannot save positions to %s: %s", self.config.positions_file, exc.strerror or exc)
            return False
        self.health.positions_last_save = time.time()
        return True

    def close(self) -> None:
        for source in self.sources.values():
            source.tailer.close()
        self.prober.close()
        self.prices.save()
        if self.spans is not None:
            self.spans.close()  # sends what it holds
            self.spans = None

    # -- exposition -----------------------------------------------------------------------------

    def collectors(
        self, openmetrics: bool = False
    ) -> list[LLMCollector | HealthCollector | ProbeCollector | BillingCollector]:
        """This exporter's collectors, in exposition order; `openmetrics` adds `_created` samples."""
        return [
            LLMCollector(
                self.store,
                lambda: self.config,
                openmetrics,
                self.clock,
                lambda: self.config.limits.ratelimit_stale_seconds,
            ),
            HealthCollector(self.health, lambda: self.limiter, created=openmetrics),
            ProbeCollector(self.prober),
            BillingCollector(self.biller),
        ]

    def registry(self, openmetrics: bool = False, process: bool = True) -> CollectorRegistry:
        """A prometheus_client registry of the collectors, and the process' own metrics."""
        from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

        registry = CollectorRegistry(auto_describe=False)
        for collector in self.collectors(openmetrics):
            registry.register(collector)  # type: ignore[arg-type]  # a Collector by shape
        if process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
        return registry
