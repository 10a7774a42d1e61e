"""In-app, the duration and time-to-first-chunk histograms have exactly the GenAI semconv
boundaries (as a real OTLP receiver gets them); `configure(extended_duration_buckets=True)` adds
the longer ones."""

from __future__ import annotations

from fakes.otlp_receiver import OTLPReceiver
from llm_exporter import semconv
from llm_exporter.instrumentation import track
from llm_exporter.instrumentation.configure import reset

from .conftest import OTel, make_otel, one

# The convention's list, written out rather than computed.
SEMCONV = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]


def bounds(otel: OTel) -> tuple[list[float], list[float]]:
    with track(model="o3", provider="openai") as call:
        call.record_first_chunk()
        call.record_usage(input_tokens=10, output_tokens=5)
    points = otel.flush()
    return (
        one(points, semconv.DURATION[0], **{"gen_ai.request.model": "o3"}).bounds,
        one(points, semconv.TIME_TO_FIRST_CHUNK[0], **{"gen_ai.request.model": "o3"}).bounds,
    )


def test_semconv_boundaries_by_default(otel: OTel) -> None:
    assert bounds(otel) == (SEMCONV, SEMCONV)


def test_extended_boundaries_on_request(receiver: OTLPReceiver) -> None:
    otel = make_otel(receiver, "http", extended_duration_buckets=True)
    try:
        extended = [*SEMCONV, 163.84, 327.68, 655.36]
        assert bounds(otel) == (extended, extended)
    finally:
        otel.meter_provider.shutdown()
        otel.tracer_provider.shutdown()
        reset()
