"""The daemon's OTLP push: what /metrics serves, sent over OTLP (gRPC or HTTP/protobuf) too.

The hot path pays nothing: no OpenTelemetry instrument is touched per log line. Every interval
the pusher reads the aggregates the daemon already keeps, through the same collectors /metrics
uses (with `_created` samples for the start times), turns them into OpenTelemetry metric data
under the contract's OpenTelemetry names and units (semconv.py), and hands that to the OTLP
exporter of the OpenTelemetry SDK. Cumulative temporality throughout, as Prometheus expects; the
default OpenTelemetry -> Prometheus translation turns the names back into the /metrics ones.

Settings: the config's `otlp:` section, else the standard `OTEL_EXPORTER_OTLP_*` variables
(endpoint, protocol, headers); without either no push runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from llm_exporter import __version__, semconv
from llm_exporter.exposition import otel

if TYPE_CHECKING:
    from llm_exporter.config import OTLPConfig
    from llm_exporter.metrics.families import Family
    from llm_exporter.store.health import Health

log = logging.getLogger(__name__)

# Prometheus family name -> (OpenTelemetry name, unit) for the contract's metrics.
_CONTRACT = {
    spec[2].removesuffix("_total"): spec[:2]
    for spec in (
        semconv.DURATION,
        semconv.TOKEN_USAGE,
        semconv.TIME_TO_FIRST_CHUNK,
        semconv.COST,
        semconv.TOKENS,
        semconv.IN_FLIGHT,
        semconv.CONSECUTIVE_FAILURES,
        semconv.DECISIONS,
        semconv.CACHE_REQUESTS,
        semconv.ALERT_THRESHOLD,
        semconv.BUDGET,
        semconv.REQUESTS,
        semconv.REQUEST_RETRIES,
        semconv.ERRORS,
        semconv.CACHE_SAVED_COST,
        semconv.CACHE_SAVED_TOKENS,
        semconv.UNPRICED,
        semconv.USAGE_MISSING,
        semconv.RATELIMIT_REMAINING,
        semconv.RATELIMIT_LIMIT,
        semconv.RATELIMIT_RESET,
    )
}
# Prometheus label -> OpenTelemetry attribute, where they differ.
_ATTRIBUTES = {
    semconv.LABEL_OPERATION: semconv.ATTR_OPERATION,
    semconv.LABEL_PROVIDER: semconv.ATTR_PROVIDER,
    semconv.LABEL_MODEL: semconv.ATTR_REQUEST_MODEL,
    semconv.LABEL_TOKEN_TYPE: semconv.ATTR_TOKEN_TYPE,
    semconv.LABEL_ERROR_TYPE: semconv.ATTR_ERROR_TYPE,
    semconv.LABEL_HTTP_STATUS: semconv.ATTR_HTTP_STATUS,
}


@dataclass
class OTLPSettings:
    protocol: str = "grpc"
    endpoint: str | None = None  # None: the exporter's env vars or its default
    headers: dict[str, str] = field(default_factory=dict)
    interval: float = 60.0
    timeout: float = 5.0
    insecure: bool | None = None
    resource_attributes: dict[str, str] = field(default_factory=dict)


def settings_from(config: OTLPConfig | None, environ: Mapping[str, str] | None = None) -> OTLPSettings | None:
    """The push settings, or None when neither the config nor the environment asks for a push
    (or the config says `metrics: false`)."""
    if config is not None and not config.metrics:
        return None
    env = os.environ if environ is None else environ
    env_endpoint = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if config is None and not env_endpoint:
        return None
    protocol = otel.signal_protocol("METRICS", config.protocol if config is not None else None, env, "grpc")
    if config is None:
        return OTLPSettings(protocol=protocol)
    return OTLPSettings(
        protocol=protocol,
        endpoint=config.endpoint,
        headers=dict(config.headers),
        interval=config.interval_seconds,
        timeout=config.timeout_seconds,
        insecure=config.insecure,
        resource_attributes=dict(config.resource_attributes),
    )


def resource(attributes: Mapping[str, str]) -> Any:
    """The daemon's OpenTelemetry resource (its metrics' and its spans')."""
    from opentelemetry.sdk.resources import Resource

    return Resource.create({"service.name": "llm-exporter", "service.version": __version__, **attributes})


def _attributes(labels: Mapping[str, str]) -> dict[str, str]:
    return {_ATTRIBUTES.get(k, k): v for k, v in labels.items() if k != "le"}


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "le"))


def convert(families: Iterable[Family], now_ns: int, default_start_ns: int) -> list[Any]:
    """Prometheus metric families (with `_created` samples) -> OpenTelemetry SDK metric data."""
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Gauge,
        Histogram,
        HistogramDataPoint,
        Metric,
        NumberDataPoint,
        Sum,
    )

    cumulative = AggregationTemporality.CUMULATIVE
    out = []
    for family in families:
        name, unit = _CONTRACT.get(family.name, (family.name, ""))
        created: dict[tuple[tuple[str, str], ...], int] = {}
        for s in family.samples:
            if s.name.endswith("_created"):
                created[_key(s.labels)] = int(s.value * 1e9)
        data: Any
        if family.type == "histogram":
            series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
            for s in family.samples:
                entry = series.setdefault(_key(s.labels), {"labels": s.labels, "buckets": [], "count": 0, "sum": 0.0})
                if s.name.endswith("_bucket"):
                    entry["buckets"].append((float(s.labels["le"]), int(s.value)))
                elif s.name.endswith("_count"):
                    entry["count"] = int(s.value)
                elif s.name.endswith("_sum"):
                    entry["sum"] = s.value
            points = []
            for key, entry in series.items():
                cumulative_counts = [n for _, n in sorted(entry["buckets"])]
                counts = [b - a for a, b in zip([0, *cumulative_counts], cumulative_counts, strict=False)]
                bounds = [le for le, _ in sorted(entry["buckets"]) if le != float("inf")]
                points.append(
                    HistogramDataPoint(
                        attributes=_attributes(entry["labels"]),
                        start_time_unix_nano=created.get(key, default_start_ns),
                        time_unix_nano=now_ns,
                        count=entry["count"],
                        sum=entry["sum"],
                        bucket_counts=counts,
                        explicit_bounds=bounds,
                        min=None,  # type: ignore[arg-type]  # not kept by the daemon
                        max=None,  # type: ignore[arg-type]
                    )
                )
            data = Histogram(data_points=points, aggregation_temporality=cumulative)
        elif family.type == "counter":
            points = [
                NumberDataPoint(
                    attributes=_attributes(s.labels),
                    start_time_unix_nano=created.get(_key(s.labels), default_start_ns),
                    time_unix_nano=now_ns,
                    value=s.value,
                )
                for s in family.samples
                if s.name.endswith("_total")
            ]
            data = Sum(data_points=points, aggregation_temporality=cumulative, is_monotonic=True)
        elif family.type == "gauge":
            points = [
                NumberDataPoint(
                    attributes=_attributes(s.labels),
                    start_time_unix_nano=default_start_ns,
                    time_unix_nano=now_ns,
                    value=s.value,
                )
                for s in family.samples
            ]
            if family.name == semconv.IN_FLIGHT[2]:  # an up-down counter in the app, the same here
                data = Sum(data_points=points, aggregation_temporality=cumulative, is_monotonic=False)
            else:
                data = Gauge(data_points=points)
        else:
            continue
        if data.data_points:
            out.append(Metric(name=name, description=family.documentation, unit=unit, data=data))
    return out


class MetricsSource(Protocol):
    """What the pusher reads: the collectors /metrics uses, and the health counters it adds to."""

    health: Health

    def collectors(self, openmetrics: bool = False) -> list[Any]: ...


class OTLPPusher:
    """Pushes the exporter's metrics every `settings.interval` seconds from a thread of its own,
    and once more on close()."""

    def __init__(self, exporter: MetricsSource, settings: OTLPSettings, otlp_exporter: Any = None) -> None:
        self.exporter = exporter
        self.settings = settings
        self.start_ns = time.time_ns()
        self.resource = resource(settings.resource_attributes)
        if otlp_exporter is None:
            extra: dict[str, Any] = {}
            if settings.insecure is not None and settings.protocol == "grpc":
                extra["insecure"] = settings.insecure
            endpoint = otel.signal_endpoint("METRICS", settings.endpoint, settings.protocol)
            otlp_exporter = otel.metric_exporter(
                settings.protocol, endpoint, settings.headers, settings.timeout, **extra
            )
        self.otlp = otlp_exporter
        self.collectors = exporter.collectors(openmetrics=True)
        self.health = exporter.health
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> Any:
        from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics, ScopeMetrics
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        families = (family for collector in self.collectors for family in collector.collect())
        metrics = convert(families, time.time_ns(), self.start_ns)
        scope = ScopeMetrics(scope=InstrumentationScope("llm_exporter", __version__), metrics=metrics, schema_url="")
        return MetricsData(
            resource_metrics=[ResourceMetrics(resource=self.resource, scope_metrics=[scope], schema_url="")]
        )

    def push(self) -> bool:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        try:
            result = self.otlp.export(self.snapshot(), timeout_millis=self.settings.timeout * 1000)
        except Exception as exc:
            log.warning("OTLP push failed: %s", exc)
            result = MetricExportResult.FAILURE
        ok = result == MetricExportResult.SUCCESS
        outcome = "success" if ok else "failure"
        self.health.otlp_pushes[outcome] = self.health.otlp_pushes.get(outcome, 0) + 1
        return ok

    def _run(self) -> None:
        while not self._stop.wait(self.settings.interval):
            self.push()
        self.push()  # the last one, for close()

    def start(self) -> OTLPPusher:
        self._thread = threading.Thread(target=self._run, name="otlp-push", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Push what is there one last time and shut the exporter down, within `settings.timeout`
        seconds in all: an endpoint that does not answer must not hold the daemon's exit (the
        exporter's shutdown ends a push still waiting to retry; the thread is a daemon)."""
        self._stop.set()
        if self._thread is None:
            self.push()  # never started
        else:
            self._thread.join(self.settings.timeout)
            if self._thread.is_alive():
                log.warning("OTLP push did not finish within %ss; stopping without it", self.settings.timeout)
        self.otlp.shutdown()
