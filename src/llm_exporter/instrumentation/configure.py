"""Where the in-app telemetry goes: the app's own providers when it set them, else OTLP set up
from the standard `OTEL_*` environment variables (or `configure(...)` arguments).

Environment variables read (by this module or by the OpenTelemetry exporters themselves):
`OTEL_SDK_DISABLED`, `OTEL_METRICS_EXPORTER` / `OTEL_TRACES_EXPORTER` (`otlp`, the default,
`console` or `none`), `OTEL_EXPORTER_OTLP_PROTOCOL` and its `_METRICS_` / `_TRACES_` variants
(`grpc` or `http/protobuf`, the default), `OTEL_EXPORTER_OTLP_ENDPOINT` and its variants,
`OTEL_EXPORTER_OTLP_HEADERS` and its variants, `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds),
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`, and
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (prompt and response text on spans).

Providers this module creates are shut down at exit, which exports what is left, within
`shutdown_timeout` seconds: a collector that is down never holds the app's exit longer. The OTLP
exporters' warnings (a collector that is down makes them log every retry of every export) come
out as one line per exporter every 10 minutes at most.

Without the OpenTelemetry SDK (the `otlp` extra), `track()`, `instrument()` and
`record_decision()` do nothing but log one warning saying what to install.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from llm_exporter.exposition import otel
from llm_exporter.instrumentation.telemetry import (
    DEFAULT_MAX_LABEL_VALUES,
    DEFAULT_MAX_OPEN_SESSIONS,
    DEFAULT_RATELIMIT_STALE_SECONDS,
    DEFAULT_SESSION_IDLE_SECONDS,
    Telemetry,
    _is_sdk_provider,
)
from llm_exporter.semconv import DURATION_BUCKETS, EXTENDED_DURATION_BUCKETS

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from llm_exporter.instrumentation.completion_logger import CompletionLogger

log = logging.getLogger(__name__)

_lock = threading.Lock()
_telemetry: Telemetry | None = None

# Seconds the exit waits for the last export of the providers built here: a collector that is up
# answers in milliseconds (a remote one over TLS in a few round trips), one that is down must not
# keep the app from exiting.
DEFAULT_SHUTDOWN_TIMEOUT = 0.5
MISSING_SDK = (
    "OpenTelemetry SDK not installed: llm_exporter's in-app instrumentation records nothing. "
    "Install it with: pip install opentelemetry-sdk opentelemetry-exporter-otlp"
)


@functools.cache
def sdk_available() -> bool:
    """Whether the OpenTelemetry SDK imports; logs MISSING_SDK the first time it does not."""
    try:
        import opentelemetry.sdk.metrics  # noqa: F401
    except ImportError:
        log.warning(MISSING_SDK)
        return False
    return True


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _build_meter_provider(
    protocol: str | None,
    endpoint: str | None,
    headers: Mapping[str, str] | None,
    export_interval: float | None,
    resource: Any,
    environ: Mapping[str, str],
) -> MeterProvider | None:
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

    kind = (environ.get("OTEL_METRICS_EXPORTER") or "otlp").strip().lower()
    if kind == "none":
        return None
    if kind == "console":
        exporter: Any = ConsoleMetricExporter()
    else:
        proto = otel.protocol("METRICS", protocol, environ)
        exporter = otel.metric_exporter(proto, otel.signal_endpoint("METRICS", endpoint, proto), headers, None)
    interval_ms = None if export_interval is None else export_interval * 1000.0
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_ms)
    return SdkMeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)


def _build_tracer_provider(
    protocol: str | None,
    endpoint: str | None,
    headers: Mapping[str, str] | None,
    resource: Any,
    environ: Mapping[str, str],
) -> tuple[TracerProvider, Any] | None:
    """A tracer provider and its span processor (shut down at exit by `_shut_down_at_exit`)."""
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    kind = (environ.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower()
    if kind == "none":
        return None
    if kind == "console":
        exporter: Any = ConsoleSpanExporter()
    else:
        proto = otel.protocol("TRACES", protocol, environ)
        exporter = otel.span_exporter(proto, otel.signal_endpoint("TRACES", endpoint, proto), headers)
    provider = SdkTracerProvider(resource=resource, shutdown_on_exit=False)
    processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider, processor


def _shut_down_at_exit(shutdowns: list[Callable[[], Any]], timeout: float) -> None:
    """Run the shutdowns at exit, at once, and wait `timeout` seconds at most: they run in daemon
    threads, as the SDK's exports do, so one still waiting on a collector that is down does not
    hold the exit (the span processor's shutdown takes no timeout of its own). The threads start
    now and wait for the exit: Python 3.12.0 and 3.12.1 refuse to start a thread in an exit hook."""
    exiting = threading.Event()

    def run(shutdown: Callable[[], Any]) -> None:
        exiting.wait()
        shutdown()

    threads = [threading.Thread(target=run, args=(s,), name="otel-shutdown", daemon=True) for s in shutdowns]
    for t in threads:
        t.start()

    def at_exit() -> None:
        exiting.set()
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(deadline - time.monotonic(), 0.0))

    atexit.register(at_exit)


def configure(
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    export_interval: float | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    meter_provider: MeterProvider | None = None,
    tracer_provider: TracerProvider | None = None,
    traces: bool | None = None,
    capture_content: bool | None = None,
    price_overrides: Mapping[str, Any] | None = None,
    completion_logger: CompletionLogger | None = None,
    max_label_values: int = DEFAULT_MAX_LABEL_VALUES,
    extended_duration_buckets: bool = False,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    session_idle_seconds: float = DEFAULT_SESSION_IDLE_SECONDS,
    max_open_sessions: int = DEFAULT_MAX_OPEN_SESSIONS,
    environ: Mapping[str, str] | None = None,
    ratelimit_stale_seconds: float = DEFAULT_RATELIMIT_STALE_SECONDS,
) -> Telemetry:
    """Set where metrics and spans go; returns the telemetry every instrumented call then uses.

    Explicit providers win; else the global providers the app set; else new SDK providers with
    OTLP exporters (set as the global ones), configured by the arguments and the `OTEL_*`
    variables. `export_interval` is in seconds. `price_overrides` are US dollars per million
    tokens by model name, as in the daemon's `pricing.overrides`. `traces=False` records no spans;
    `completion_logger` also writes every call to a seed-001 JSONL log for the daemon to tail.
    `max_label_values` caps the distinct values of each label (model, provider, error type,
    decision fields): past it new values fold into "_overflow", as the daemon's
    `limits.max_label_values` does. The duration and time-to-first-chunk histograms have the
    semconv boundaries (0.01 ... 81.92 s); `extended_duration_buckets=True` adds 163.84, 327.68 and
    655.36 for reasoning models, as the daemon's `histograms.extended_duration_buckets` does (other
    instrumentations' series of the same families then have other `le` values). The rate-limit
    gauges of a model are no longer exported `ratelimit_stale_seconds` after its last response
    that told them, as the daemon's `limits.ratelimit_stale_seconds`. A session (calls given a
    session id) ends after `session_idle_seconds` without a call, observed at the next call or
    export, and at exit; past `max_open_sessions` open ones the least recently active ends early
    (counted), as the daemon's `limits.session_idle_seconds` and `max_open_sessions` say. Providers
    built here get `shutdown_timeout` seconds at exit for their last export. Without the SDK installed
    this raises ImportError naming the extra to install.
    """
    global _telemetry
    env = os.environ if environ is None else environ
    if not sdk_available():
        raise ImportError(MISSING_SDK)
    from opentelemetry import metrics, trace

    from llm_exporter.config import PriceOverride, validate
    from llm_exporter.pipeline.pricing import PriceBook

    disabled = _truthy(env.get("OTEL_SDK_DISABLED"))
    resource = None
    if meter_provider is None or (tracer_provider is None and traces is not False):
        from opentelemetry.sdk.resources import Resource

        attrs: dict[str, str] = {"service.name": "llm-app"} if not env.get("OTEL_SERVICE_NAME") else {}
        attrs.update(resource_attributes or {})
        resource = Resource.create(attrs)

    with _lock:
        built: list[Callable[[], Any]] = []  # shutdowns of the providers built here, for the exit
        if meter_provider is None:
            current = metrics.get_meter_provider()
            if _is_sdk_provider(current):
                meter_provider = current
            elif not disabled:
                meter_provider = _build_meter_provider(protocol, endpoint, headers, export_interval, resource, env)
                if meter_provider is not None:
                    metrics.set_meter_provider(meter_provider)
                    built.append(functools.partial(meter_provider.shutdown, timeout_millis=shutdown_timeout * 1000))
        spans = traces
        if tracer_provider is None and traces is not False:
            current_tp = trace.get_tracer_provider()
            if _is_sdk_provider(current_tp):
                tracer_provider = current_tp
            elif not disabled:
                made = _build_tracer_provider(protocol, endpoint, headers, resource, env)
                if made is not None:
                    tracer_provider, processor = made
                    trace.set_tracer_provider(tracer_provider)
                    built.append(processor.shutdown)
        if built:
            _shut_down_at_exit(built, shutdown_timeout)
        if tracer_provider is None:
            spans = False
        overrides = {name: validate(PriceOverride, dict(p)) for name, p in (price_overrides or {}).items()}
        if meter_provider is None:
            from opentelemetry.metrics import NoOpMeterProvider

            meter_provider = NoOpMeterProvider()
        _telemetry = Telemetry(
            meter_provider=meter_provider,
            tracer_provider=tracer_provider,
            prices=PriceBook(overrides),
            capture_content=(
                capture_content
                if capture_content is not None
                else _truthy(env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"))
            ),
            completion_logger=completion_logger,
            spans=spans,
            max_label_values=max_label_values,
            duration_buckets=EXTENDED_DURATION_BUCKETS if extended_duration_buckets else DURATION_BUCKETS,
            ratelimit_stale_seconds=ratelimit_stale_seconds,
            session_idle_seconds=session_idle_seconds,
            max_open_sessions=max_open_sessions,
        )
        return _telemetry


def get_telemetry() -> Telemetry:
    """The configured telemetry; the first use without `configure()` configures from the env."""
    telemetry = _telemetry
    if telemetry is None:
        telemetry = configure()
    return telemetry


def telemetry_or_none() -> Telemetry | None:
    """get_telemetry(), or None without the OpenTelemetry SDK (warned about once)."""
    return _telemetry or (get_telemetry() if sdk_available() else None)


def reset() -> None:
    """Forget the configured telemetry (the providers stay as they are); for tests."""
    global _telemetry
    with _lock:
        _telemetry = None
