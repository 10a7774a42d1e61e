"""Rate-limit headroom in the app (issue 23 point 5): the real openai (Azure's client too) and
anthropic clients against the fake server, whose answers carry each provider's rate-limit
headers, set `llm.ratelimit.*` for the call's model from every kind of response, plain,
streamed and raw; the gauges arrive at the real OTLP receiver under the contract's names and
stop being exported once stale (the telemetry's clock stepped, no waiting)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from fakes import llm_server as fake
from fakes.llm_server import ANTHROPIC_RATELIMIT, OPENAI_RATELIMIT, RATELIMIT_RESETS, FakeLLMServer
from fakes.otlp_receiver import prometheus_name
from llm_exporter import semconv
from llm_exporter.instrumentation import instrument, track
from testkit import FakeClock

from .conftest import OTel

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")
anthropic = pytest.importorskip("anthropic")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLLMServer]:
    """The fake server, its answers with each provider's rate-limit headers."""
    with FakeLLMServer(ratelimit=True) as server:
        yield server


GAUGES = {semconv.RATELIMIT_REMAINING[0]: 0, semconv.RATELIMIT_LIMIT[0]: 1, semconv.RATELIMIT_RESET[0]: 2}


def headroom(points: list, model: str) -> dict[str, tuple[float | None, float | None, float | None]]:
    """resource -> (remaining, limit, reset seconds) exported for one model."""
    out: dict[str, list[Any]] = {}
    for p in points:
        if p.name in GAUGES and p.attributes.get(semconv.ATTR_REQUEST_MODEL) == model:
            out.setdefault(p.attributes["resource"], [None, None, None])[GAUGES[p.name]] = p.value
    return {resource: tuple(figures) for resource, figures in out.items()}  # type: ignore[misc]


OPENAI_HEADROOM = {
    "requests": (OPENAI_RATELIMIT["requests"][1], OPENAI_RATELIMIT["requests"][0], 0.012),
    "tokens": (OPENAI_RATELIMIT["tokens"][1], OPENAI_RATELIMIT["tokens"][0], 90.5),
}
ANTHROPIC_HEADROOM = {
    resource.replace("-", "_"): (remaining, limit, RATELIMIT_RESETS[resource])
    for resource, (limit, remaining) in ANTHROPIC_RATELIMIT.items()
}


def test_openai_plain_streamed_raw_and_async_calls_set_the_ratelimit_gauges(
    otel: OTel, llm_server: FakeLLMServer
) -> None:
    instrument("openai")
    client = openai.OpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
    client.chat.completions.create(model="plain", messages=MESSAGES)
    list(client.chat.completions.create(model="streamed", messages=MESSAGES, stream=True))
    client.chat.completions.with_raw_response.create(model="raw", messages=MESSAGES)
    raw = client.chat.completions.with_raw_response.create(model="raw-streamed", messages=MESSAGES, stream=True)
    list(raw.parse())
    client.responses.create(model="responses", input="hi")
    client.embeddings.create(model="embeddings", input="hi")

    async def run_async() -> None:
        aclient = openai.AsyncOpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
        await aclient.chat.completions.create(model="async", messages=MESSAGES)
        stream = await aclient.chat.completions.create(model="async-streamed", messages=MESSAGES, stream=True)
        [c async for c in stream]

    asyncio.run(run_async())
    points = otel.flush()
    models = ("plain", "streamed", "raw", "raw-streamed", "responses", "embeddings", "async", "async-streamed")
    for model in models:
        assert headroom(points, model) == OPENAI_HEADROOM, model
    # The contract's names, through the default OpenTelemetry -> Prometheus translation.
    assert {(p.name, p.unit, p.kind, prometheus_name(p)) for p in points if p.name in GAUGES} == {
        (name, unit, "gauge", prometheus) for name, unit, prometheus in
        (semconv.RATELIMIT_REMAINING, semconv.RATELIMIT_LIMIT, semconv.RATELIMIT_RESET)
    }  # fmt: skip
    assert {p.attributes[semconv.ATTR_PROVIDER] for p in points if p.name in GAUGES} == {"openai"}


def test_azure_openai_calls_set_the_ratelimit_gauges(otel: OTel, llm_server: FakeLLMServer) -> None:
    """AzureOpenAI's deployment URLs (`?api-version=`) answer with the same x-ratelimit-* headers,
    under Azure's provider. (The recorded corpus checks each kind of Azure answer on its own:
    tests/instrumentation/test_providers_recorded.py.)"""
    instrument("openai")
    client = openai.AzureOpenAI(azure_endpoint=llm_server.url, api_version="2024-10-21", api_key="test", max_retries=0)
    client.chat.completions.with_raw_response.create(model="prod-chat", messages=MESSAGES)
    list(client.chat.completions.create(model="legacy-chat", messages=MESSAGES, stream=True))
    points = otel.flush()
    for model in ("prod-chat", "legacy-chat"):
        assert headroom(points, model) == OPENAI_HEADROOM, model
    assert {p.attributes[semconv.ATTR_PROVIDER] for p in points if p.name in GAUGES} == {"azure.ai.openai"}


def test_anthropic_plain_streamed_raw_and_async_calls_set_the_ratelimit_gauges(
    otel: OTel, llm_server: FakeLLMServer
) -> None:
    """Resets are RFC 3339 times: seconds from the answer's Date, so exact."""
    instrument("anthropic")
    client = anthropic.Anthropic(base_url=llm_server.url, api_key="test", max_retries=0)
    kw: dict[str, Any] = {"max_tokens": 10, "messages": MESSAGES}
    client.messages.create(model="plain", **kw)
    list(client.messages.create(model="streamed", stream=True, **kw))
    with client.messages.stream(model="helper", **kw) as stream:
        stream.get_final_message()
    client.messages.with_raw_response.create(model="raw", **kw)

    async def run_async() -> None:
        aclient = anthropic.AsyncAnthropic(base_url=llm_server.url, api_key="test", max_retries=0)
        await aclient.messages.create(model="async", **kw)
        async with aclient.messages.stream(model="async-helper", **kw) as astream:
            await astream.get_final_message()

    asyncio.run(run_async())
    points = otel.flush()
    for model in ("plain", "streamed", "helper", "raw", "async", "async-helper"):
        assert headroom(points, model) == ANTHROPIC_HEADROOM, model


def test_a_429_sets_the_remaining_gauges_to_zero(otel: OTel, llm_server: FakeLLMServer) -> None:
    instrument("openai")
    client = openai.OpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="fail-429", messages=MESSAGES)
    assert headroom(otel.flush(), "fail-429") == {
        "requests": (0, OPENAI_RATELIMIT["requests"][0], 0.012),
        "tokens": (0, OPENAI_RATELIMIT["tokens"][0], 90.5),
    }


def test_ratelimit_gauges_stop_being_exported_when_calls_stop(otel: OTel, llm_server: FakeLLMServer) -> None:
    clock = FakeClock()
    otel.telemetry.clock = clock
    instrument("openai")
    client = openai.OpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    clock.advance(600)  # the default ratelimit_stale_seconds: still shown
    assert headroom(otel.flush(), "gpt-4o-mini") == OPENAI_HEADROOM
    clock.advance(1)
    points = otel.flush()
    assert headroom(points, "gpt-4o-mini") == {}
    assert [p for p in points if p.name == semconv.DURATION[0]], "the model's other series stay"
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert headroom(otel.flush(), "gpt-4o-mini") == OPENAI_HEADROOM


def test_track_records_the_headers_any_client_gives(otel: OTel) -> None:
    """A client the package does not patch: the app hands its response headers to the call."""
    with track(model="my-model", provider="openai") as call:
        call.record_headers({"x-ratelimit-remaining-requests": "3", "x-ratelimit-limit-requests": "4", "x": "y"})
    with track(model="other-model", provider="openai") as call:
        call.record_headers({"x-ratelimit-remaining-requests": "not a number"})
        call.record_headers(None)
    points = otel.flush()
    assert headroom(points, "my-model") == {"requests": (3, 4, None)}
    assert headroom(points, "other-model") == {}


def test_configure_refuses_a_stale_window_that_is_not_positive() -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    from llm_exporter.instrumentation.telemetry import Telemetry

    with pytest.raises(ValueError, match="ratelimit_stale_seconds must be positive"):
        Telemetry(meter_provider=MeterProvider(), spans=False, ratelimit_stale_seconds=0)


def test_litellm_calls_through_the_openai_client_set_the_ratelimit_gauges(
    otel: OTel, llm_server: FakeLLMServer
) -> None:
    """LiteLLM's call is the one recorded (the openai client underneath is not recorded again), and
    the headers of the openai client's response are its."""
    litellm = pytest.importorskip("litellm")
    instrument("litellm", "openai")
    kwargs = {"api_base": llm_server.url + "/v1", "api_key": "test", "messages": MESSAGES}
    litellm.completion(model="openai/gpt-4o-mini", **kwargs)
    list(litellm.completion(model="openai/gpt-4o", stream=True, **kwargs))
    points = otel.flush()
    assert headroom(points, "gpt-4o-mini") == OPENAI_HEADROOM
    assert headroom(points, "gpt-4o") == OPENAI_HEADROOM


def test_absurd_headers_fail_no_call_and_reach_no_gauge(otel: OTel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures no rate limit has, from a real client's response, and a header sent twice (httpx
    joins the two values): the call is recorded as usual, its headroom left out."""
    monkeypatch.setattr(fake, "EXTRA_HEADERS", fake.ABSURD_RATELIMIT)
    instrument("openai")
    with FakeLLMServer() as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)
        client.chat.completions.create(model="absurd", messages=MESSAGES)
    with track(model="twice", provider="openai") as call:
        call.record_headers(
            httpx.Headers([("x-ratelimit-remaining-requests", "5"), ("x-ratelimit-remaining-requests", "7")])
        )
    points = otel.flush()
    assert headroom(points, "absurd") == {}
    assert headroom(points, "twice") == {}
    calls = {
        p.attributes[semconv.ATTR_REQUEST_MODEL]: p.value
        for p in points
        if p.name == semconv.REQUESTS[0] and p.attributes["outcome"] == "success"
    }
    assert calls == {"absurd": 1, "twice": 1}
