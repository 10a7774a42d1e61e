"""Fixtures: a real OTLP receiver (gRPC and HTTP), SDK providers exporting to it, the fake LLM
server, and a fresh configure() per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fakes.llm_server import FakeLLMServer
from fakes.otlp_receiver import OTLPReceiver, Point
from llm_exporter.exposition.otel import metric_exporter, span_exporter
from llm_exporter.instrumentation import configure, uninstrument
from llm_exporter.instrumentation.configure import reset

# LiteLLM fetches its model price map from the network at import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as r:
        yield r


@pytest.fixture(scope="session")
def llm_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as s:
        yield s


@dataclass
class OTel:
    receiver: OTLPReceiver
    transport: str
    meter_provider: Any
    tracer_provider: Any
    telemetry: Any

    def flush(self) -> list[Point]:
        """Export now and return what the receiver decoded from this export."""
        before = len(self.receiver.metric_requests)
        self.meter_provider.force_flush()
        self.tracer_provider.force_flush()
        self.receiver.wait_metrics(before + 1)
        return self.receiver.latest_points(self.transport)

    def spans(self) -> list[Any]:
        return self.receiver.spans(self.transport)


def make_otel(receiver: OTLPReceiver, transport: str, batch_spans: bool = False, **configure_kwargs: Any) -> OTel:
    """SDK providers exporting to `receiver`; spans one by one as they end, or in batches (as an
    application would: then ending a span does not wait for an export)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if transport == "grpc":
        endpoint, spans_endpoint = receiver.grpc_endpoint, receiver.grpc_endpoint
        extra = {"insecure": True}
    else:
        endpoint = receiver.http_endpoint + "/v1/metrics"
        spans_endpoint = receiver.http_endpoint + "/v1/traces"
        extra = {}
    protocol = "grpc" if transport == "grpc" else "http/protobuf"
    resource = Resource.create({"service.name": "test-app"})
    reader = PeriodicExportingMetricReader(
        metric_exporter(protocol, endpoint, None, 5.0, **extra), export_interval_millis=3_600_000
    )
    mp = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
    tp = TracerProvider(resource=resource, shutdown_on_exit=False)
    processor = BatchSpanProcessor if batch_spans else SimpleSpanProcessor
    tp.add_span_processor(processor(span_exporter(protocol, spans_endpoint, None)))
    telemetry = configure(meter_provider=mp, tracer_provider=tp, **configure_kwargs)
    return OTel(receiver, transport, mp, tp, telemetry)


@pytest.fixture(params=["grpc", "http"])
def otel(request: pytest.FixtureRequest, receiver: OTLPReceiver) -> Iterator[OTel]:
    o = make_otel(receiver, request.param)
    yield o
    uninstrument()
    o.meter_provider.shutdown()
    o.tracer_provider.shutdown()
    reset()


def by_name(points: list[Point], name: str, **attributes: Any) -> list[Point]:
    return [p for p in points if p.name == name and all(p.attributes.get(k) == v for k, v in attributes.items())]


def one(points: list[Point], name: str, **attributes: Any) -> Point:
    found = by_name(points, name, **attributes)
    assert len(found) == 1, f"{name} {attributes}: {len(found)} points"
    return found[0]


def total(points: list[Point], name: str, **attributes: Any) -> tuple[int, float]:
    """(count, sum) of a histogram over every series with these attributes (they differ in the
    ones not given, such as gen_ai.response.model)."""
    found = by_name(points, name, **attributes)
    assert found, f"{name} {attributes}: no points"
    return sum(p.count for p in found), sum(p.value for p in found)
