"""The daemon's spans: each completion read from a log as an OTLP span, with the log's own times.

Opt-in: `otlp: {traces: true}`. A call's span runs from its request event (the completion
format) or from its response's time minus its duration (LiteLLM's startTime) to its response,
with the GenAI attributes of the in-app spans (semconv.py); prompt and response text never. The
calls of one session (`session_id`, else LiteLLM's `trace_id`) share one trace, whose id is a
hash of the session id: the same in every run, and sampled (`traces_sample_ratio`, by trace id)
as a whole. A trading decision is a child span of its call, whose span has gone by then.

The tailing thread never waits: spans go to the SDK's BatchSpanProcessor, whose thread exports
them. At most `traces_max_queue_size` spans wait or are being exported; past that a span is
dropped and counted (llm_exporter_otlp_spans_total{result="dropped"}).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, set_span_in_context

from llm_exporter import __version__, semconv
from llm_exporter.exposition.otel import signal_endpoint, signal_protocol
from llm_exporter.formats.usage import reported_output
from llm_exporter.pipeline.join import BoundedTable

if TYPE_CHECKING:
    from llm_exporter.config import OTLPConfig
    from llm_exporter.formats.events import Completion, Decision, Request
    from llm_exporter.store.health import Health

SCOPE = "llm_exporter.daemon"
ATTR_SOURCE = "llm_exporter.source"  # the config's source name, as in the `source` label
RESULTS = ("exported", "failed", "dropped")


@dataclass
class TraceSettings:
    protocol: str = "grpc"
    endpoint: str | None = None  # None: the exporter's env vars or its default
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    insecure: bool | None = None
    resource_attributes: dict[str, str] = field(default_factory=dict)
    sample_ratio: float = 1.0
    max_queue_size: int = 2048


def trace_settings(config: OTLPConfig | None, environ: Mapping[str, str] | None = None) -> TraceSettings | None:
    """The span settings of the `otlp:` section, or None when it does not ask for traces."""
    if config is None or not config.traces:
        return None
    env = os.environ if environ is None else environ
    protocol = signal_protocol("TRACES", config.protocol, env, "grpc")
    return TraceSettings(
        protocol=protocol,
        endpoint=signal_endpoint("TRACES", config.endpoint, protocol),
        headers=dict(config.headers),
        timeout=config.timeout_seconds,
        insecure=config.insecure,
        resource_attributes=dict(config.resource_attributes),
        sample_ratio=config.traces_sample_ratio,
        max_queue_size=config.traces_max_queue_size,
    )


def session_trace_id(session: str) -> int:
    """The trace id of a session's calls: a hash of its id, the same in every run."""
    return int.from_bytes(hashlib.sha256(session.encode()).digest()[:16], "big") or 1


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


class _SessionIds(RandomIdGenerator):
    """The session's trace id for the next root span (CallSpans.start sets it), else a random one."""

    def __init__(self) -> None:
        self.trace_id: int | None = None

    def generate_trace_id(self) -> int:
        return self.trace_id if self.trace_id is not None else super().generate_trace_id()


class _Counting(SpanExporter):
    """The OTLP exporter, counting what it sent or failed to send and freeing the queue's slots."""

    def __init__(self, inner: SpanExporter, done: Callable[[int, bool], None]) -> None:
        self.inner = inner
        self.done = done

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = False
        try:
            ok = self.inner.export(spans) == SpanExportResult.SUCCESS
        finally:
            self.done(len(spans), ok)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


_ROOT = Context()  # no parent: a span started in it is the root of a trace of its own


class CallSpans:
    """The daemon's tracer provider and the bound on the spans it holds; one for every source."""

    def __init__(self, settings: TraceSettings, health: Health, span_exporter: SpanExporter | None = None) -> None:
        from llm_exporter.exposition.otlp import resource

        if span_exporter is None:
            from llm_exporter.exposition.otel import span_exporter as otlp_span_exporter

            extra: dict[str, Any] = {}
            if settings.insecure is not None and settings.protocol == "grpc":
                extra["insecure"] = settings.insecure
            span_exporter = otlp_span_exporter(
                settings.protocol, settings.endpoint, settings.headers, settings.timeout, **extra
            )
        self.settings = settings
        self.health = health
        health.otlp_spans = dict.fromkeys(RESULTS, 0)  # every key now: scrapes iterate it unlocked
        self.held = 0  # spans queued or being exported
        self._lock = threading.Lock()
        self._ids = _SessionIds()
        self.provider = TracerProvider(
            resource=resource(settings.resource_attributes),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
            id_generator=self._ids,
        )
        size = settings.max_queue_size
        self.provider.add_span_processor(
            BatchSpanProcessor(
                _Counting(span_exporter, self._done),
                max_queue_size=size,
                max_export_batch_size=min(size, 512),
                export_timeout_millis=settings.timeout * 1000,
            )
        )
        self.tracer = self.provider.get_tracer(SCOPE, __version__)

    def _done(self, n: int, ok: bool) -> None:
        with self._lock:
            self.held -= n
            self.health.otlp_spans["exported" if ok else "failed"] += n

    def start(
        self, name: str, start_ns: int, attributes: dict[str, Any], session: str | None, parent: SpanContext | None
    ) -> Span:
        """A span in the session's trace (a random one without a session), or a child of `parent`."""
        if parent is not None:
            return self.tracer.start_span(
                name, set_span_in_context(NonRecordingSpan(parent)), attributes=attributes, start_time=start_ns
            )
        self._ids.trace_id = session_trace_id(session) if session else None
        try:
            return self.tracer.start_span(name, _ROOT, kind=SpanKind.CLIENT, attributes=attributes, start_time=start_ns)
        finally:
            self._ids.trace_id = None

    def finish(self, span: Span, end_ns: int) -> bool:
        """End a sampled span where the bound leaves room: True when it goes out. A span that
        is never ended is never exported."""
        if not span.is_recording():
            return False
        with self._lock:
            if self.held >= self.settings.max_queue_size:
                self.health.otlp_spans["dropped"] += 1
                return False
            self.held += 1
        span.end(end_time=end_ns)
        return True

    def close(self) -> None:
        """Export what is held (waiting at most the export timeout), then stop."""
        self.provider.shutdown()


class SourceSpans:
    """One source's spans, and what they need from line to line: when each pending request
    started, and the span of each answered call (for its decision). Bounded like the pipeline's
    own tables."""

    def __init__(self, calls: CallSpans, source: str, size: int, ttl: float, clock: Callable[[], float]) -> None:
        self.calls = calls
        self.source = source
        self.started: BoundedTable[tuple[float | None, str | None]] = BoundedTable(size, ttl, clock)
        self.answered: BoundedTable[SpanContext] = BoundedTable(size, ttl, clock)

    def request(self, event: Request) -> None:
        self.started.put(event.request_id, (event.time, event.session_id))

    def completion(
        self, event: Completion, labels: Mapping[str, str], model: str, cost: float | None
    ) -> tuple[str, float | None] | None:
        """Send the call's span; returns its trace id (hex) and end time when it goes out."""
        started = self.started.pop(event.request_id) if event.request_id else None
        request_time, session = started if started is not None else (None, None)
        session = event.session_id or session or event.trace_id
        end = event.time
        if end is None:
            end = request_time + event.duration if request_time is not None else time.time()
        start = request_time if request_time is not None and request_time <= end else end - event.duration
        operation = labels[semconv.LABEL_OPERATION]
        attributes: dict[str, Any] = {
            semconv.ATTR_OPERATION: operation,
            semconv.ATTR_PROVIDER: labels[semconv.LABEL_PROVIDER],
            semconv.ATTR_REQUEST_MODEL: model,
            ATTR_SOURCE: self.source,
        }
        if session:
            attributes[semconv.ATTR_SESSION] = session
        if event.input_tokens or event.output_tokens:
            if event.input_tokens is not None:
                attributes[semconv.ATTR_USAGE_INPUT] = event.input_tokens
            output = reported_output(operation, event.output_tokens)
            if output is not None:
                attributes[semconv.ATTR_USAGE_OUTPUT] = output
        if cost is not None:
            attributes[semconv.ATTR_COST] = cost
        if event.cache_hit is not None:
            attributes[semconv.ATTR_CACHE_HIT] = event.cache_hit
        if event.error_type is not None:
            attributes[semconv.ATTR_ERROR_TYPE] = event.error_type
            if event.http_status is not None:
                attributes[semconv.ATTR_HTTP_STATUS] = int(event.http_status)
        span = self.calls.start(f"{operation} {model}", _ns(start), attributes, session, None)
        if event.error_type is not None:
            span.set_status(Status(StatusCode.ERROR, event.error_type))
        context = span.get_span_context()
        sent = self.calls.finish(span, _ns(end))
        if event.request_id and (sent or not context.trace_flags.sampled):
            self.answered.put(event.request_id, context)  # a dropped span is no parent
        if not sent:
            return None
        return format(context.trace_id, "032x"), end if event.time is not None or request_time is not None else None

    def decision(self, event: Decision) -> None:
        """A child span of the decision's call (sampled with it), else a span in its session."""
        parent = self.answered.get(event.request_id) if event.request_id else None
        when = _ns(event.time if event.time is not None else time.time())
        attributes = {
            semconv.ATTR_DECISION_ACTION: event.action,
            semconv.ATTR_DECISION_SYMBOL: event.symbol,
            semconv.ATTR_DECISION_VALIDATION: event.validation_result,
            ATTR_SOURCE: self.source,
        }
        self.calls.finish(self.calls.start(semconv.DECISION_EVENT, when, attributes, event.session_id, parent), when)
