"""OpenTelemetry plumbing shared by the daemon's push and spans (exposition.otlp, .traces) and the
in-app instrumentation: OTLP protocols and endpoints as the standard `OTEL_EXPORTER_OTLP_*`
variables name them, the SDK's OTLP exporters, and one rate limit on their failure logs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

PROTOCOLS = ("grpc", "http/protobuf")


class _ExporterLogFilter(logging.Filter):
    """Lets one warning through every WINDOW seconds, in place of the SDK exporters' warnings and
    errors (a retry each, for every export, while the collector is down): one collector down is
    one problem, whether metrics, spans or both fail to reach it."""

    WINDOW = 600.0

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.next_at = 0.0  # monotonic time from which the next record is logged

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        now = time.monotonic()
        with self.lock:
            if now < self.next_at:
                return False
            self.next_at = now + self.WINDOW
        log.warning(
            "OTLP export failing, carrying on without it: %s (more in the next %d minutes not logged)",
            record.getMessage(),
            self.WINDOW // 60,
        )
        return False


_EXPORT_FAILURES = _ExporterLogFilter()


def _quiet(exporter: Any) -> Any:
    """Filter the logs of the exporter's own modules through the one shared filter."""
    for cls in type(exporter).__mro__:
        if cls.__module__.startswith("opentelemetry.exporter."):
            logging.getLogger(cls.__module__).addFilter(_EXPORT_FAILURES)
    return exporter


def signal_protocol(signal: str, protocol: str | None, environ: Mapping[str, str], default: str) -> str:
    """The OTLP protocol of one signal (METRICS, TRACES): the one configured, else the signal's
    variable, else OTEL_EXPORTER_OTLP_PROTOCOL, else `default`."""
    return (
        protocol
        or environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or default
    )


def protocol(signal: str, protocol: str | None, environ: Mapping[str, str]) -> str:
    value = signal_protocol(signal, protocol, environ, "http/protobuf").strip()
    if value not in PROTOCOLS:
        raise ValueError(f"OTLP protocol must be one of {', '.join(PROTOCOLS)}, not {value!r}")
    return value


def signal_endpoint(signal: str, endpoint: str | None, protocol: str) -> str | None:
    """The per-signal URL for http/protobuf: `/v1/metrics` or `/v1/traces` on a base endpoint, as
    the OTLP spec does for OTEL_EXPORTER_OTLP_ENDPOINT (an endpoint already naming one signal's
    path is taken as the base too); None leaves it to the env."""
    if endpoint is None or protocol == "grpc":
        return endpoint
    base = endpoint.rstrip("/").removesuffix("/v1/metrics").removesuffix("/v1/traces")
    return f"{base}/v1/{signal.lower()}"


def _exporter_args(
    endpoint: str | None, headers: Mapping[str, str] | None, timeout: float | None, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """An OTLP exporter's arguments: only those given, so the exporter reads the others from the env."""
    args = dict(kwargs)
    if endpoint is not None:
        args["endpoint"] = endpoint
    if headers:
        args["headers"] = dict(headers)
    if timeout is not None:
        args["timeout"] = timeout
    return args


def metric_exporter(
    protocol: str, endpoint: str | None, headers: Mapping[str, str] | None, timeout: float | None, **kwargs: Any
) -> Any:
    """An OTLP metric exporter with cumulative temporality (what Prometheus expects)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # type: ignore[assignment]
    return _quiet(OTLPMetricExporter(**_exporter_args(endpoint, headers, timeout, kwargs)))


def span_exporter(
    protocol: str,
    endpoint: str | None,
    headers: Mapping[str, str] | None,
    timeout: float | None = None,
    **kwargs: Any,
) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
    return _quiet(OTLPSpanExporter(**_exporter_args(endpoint, headers, timeout, kwargs)))
