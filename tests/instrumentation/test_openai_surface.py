"""The whole OpenAI surface through the real `openai` client against the fake server, checked at
the real OTLP receiver: chat (plain, stream, async, raw, raw stream, parse) and the Responses API
(plain, stream, async, raw, the stream helper). For each: one duration within 5 ms of the app's
own timing, time to first chunk and time per output chunk for streams only, tokens and cost
equal to what the server reported, and `gen_ai.response.model`, `server.address`, `server.port`
on the three semconv histograms. Then the span: current during the call (an httpx client span
nests under it, `traceparent` goes out) with the convention's attributes, and captured content
in its message schema."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from fakes.llm_server import OPENAI_USAGE, RESPONSES_USAGE, FakeLLMServer
from fakes.otlp_receiver import OTLPReceiver
from llm_exporter import semconv
from llm_exporter.instrumentation import instrument, uninstrument
from llm_exporter.instrumentation.configure import reset

from .conftest import OTel, by_name, make_otel, one

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "user", "content": "hi"}]
BASE = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
SNAPSHOT = "gpt-4o-mini-2024-07-18"
# gpt-4o-mini: $0.15 per million input, $0.075 cached, $0.60 output (genai-prices, the daemon's PriceBook)
IN, CACHED, OUT = 0.15e-6, 0.075e-6, 0.60e-6


def _expected(usage: dict[str, Any], chat: bool) -> dict[str, Any]:
    if chat:
        inp, out = usage["prompt_tokens"], usage["completion_tokens"]
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    else:
        inp, out = usage["input_tokens"], usage["output_tokens"]
        cached = usage["input_tokens_details"]["cached_tokens"]
        reasoning = usage["output_tokens_details"]["reasoning_tokens"]
    cost = (inp - cached) * IN + cached * CACHED + out * OUT
    return {"input": inp, "output": out, "cache_read": cached, "reasoning": reasoning, "cost": cost}


CHAT = _expected(OPENAI_USAGE, chat=True)
RESPONSES = _expected(RESPONSES_USAGE, chat=False)
STREAM_USAGE = {"stream": True, "stream_options": {"include_usage": True}}


@pytest.fixture
def otel(receiver: OTLPReceiver) -> Iterator[OTel]:
    o = make_otel(receiver, "http", batch_spans=True)
    yield o
    uninstrument()
    o.meter_provider.shutdown()
    o.tracer_provider.shutdown()
    reset()


def _client(server: FakeLLMServer, **kwargs: Any) -> Any:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0, **kwargs)


def _async_client(server: FakeLLMServer) -> Any:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)


# Each case makes one call with the client given (made beforehand: building one takes longer than
# a call) and reads its whole answer; returns the answer's text and the seconds that took.
def _timed(call: Callable[[], str]) -> tuple[str, float]:
    start = time.perf_counter()
    text = call()
    return text, time.perf_counter() - start


def _timed_async(make_client: Callable[[], Any], call: Callable[[Any], Awaitable[str]]) -> tuple[str, float]:
    """An async client lives in one event loop: each run makes its own, before the clock starts."""

    async def run() -> tuple[str, float]:
        ac = make_client()
        start = time.perf_counter()
        text = await call(ac)
        return text, time.perf_counter() - start

    return asyncio.run(run())


def chat_plain(c: Any, ac: Any) -> tuple[str, float]:
    return _timed(lambda: c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content)


def chat_stream(c: Any, ac: Any) -> tuple[str, float]:
    def call() -> str:
        stream = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **STREAM_USAGE)
        return "".join(x.choices[0].delta.content or "" for x in stream if x.choices)

    return _timed(call)


def chat_async(c: Any, ac: Any) -> tuple[str, float]:
    async def call(ac: Any) -> str:
        resp = await ac.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return resp.choices[0].message.content

    return _timed_async(ac, call)


def chat_raw(c: Any, ac: Any) -> tuple[str, float]:
    def call() -> str:
        raw = c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        assert raw.headers["content-type"] == "application/json"
        return raw.parse().choices[0].message.content

    return _timed(call)


def chat_raw_stream(c: Any, ac: Any) -> tuple[str, float]:
    def call() -> str:
        raw = c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, **STREAM_USAGE)
        return "".join(x.choices[0].delta.content or "" for x in raw.parse() if x.choices)

    return _timed(call)


def chat_parse(c: Any, ac: Any) -> tuple[str, float]:
    return _timed(lambda: c.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content)


def responses_plain(c: Any, ac: Any) -> tuple[str, float]:
    return _timed(lambda: c.responses.create(model="gpt-4o-mini", input="hi").output_text)


def responses_stream(c: Any, ac: Any) -> tuple[str, float]:
    def call() -> str:
        events = c.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        return "".join(e.delta for e in events if e.type == "response.output_text.delta")

    return _timed(call)


def responses_async(c: Any, ac: Any) -> tuple[str, float]:
    async def call(ac: Any) -> str:
        return (await ac.responses.create(model="gpt-4o-mini", input="hi")).output_text

    return _timed_async(ac, call)


def responses_raw(c: Any, ac: Any) -> tuple[str, float]:
    return _timed(lambda: c.responses.with_raw_response.create(model="gpt-4o-mini", input="hi").parse().output_text)


def responses_helper(c: Any, ac: Any) -> tuple[str, float]:
    def call() -> str:
        with c.responses.stream(model="gpt-4o-mini", input="hi") as stream:
            for _ in stream:
                pass
            return stream.get_final_response().output_text

    return _timed(call)


def responses_parse(c: Any, ac: Any) -> tuple[str, float]:
    return _timed(lambda: c.responses.parse(model="gpt-4o-mini", input="hi").output_text)


# (case, expected tokens and cost, chunks: None for a plain call, else how many chunks it streams)
CASES: list[tuple[Callable[[Any, Any], tuple[str, float]], dict[str, Any], int | None]] = [
    (chat_plain, CHAT, None),
    (chat_stream, CHAT, 5),  # role, three text deltas, the usage chunk
    (chat_async, CHAT, None),
    (chat_raw, CHAT, None),
    (chat_raw_stream, CHAT, 5),
    (chat_parse, CHAT, None),
    (responses_plain, RESPONSES, None),
    (responses_stream, RESPONSES, 3),  # the three output_text deltas
    (responses_async, RESPONSES, None),
    (responses_raw, RESPONSES, None),
    (responses_helper, RESPONSES, 3),
    (responses_parse, RESPONSES, None),
]


@pytest.mark.parametrize(("case", "expected", "chunks"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_call_kind(
    otel: OTel,
    llm_server: FakeLLMServer,
    case: Callable[[Any, Any], tuple[str, float]],
    expected: dict,
    chunks: int | None,
) -> None:
    client = _client(llm_server)
    aclient = functools.partial(_async_client, llm_server)
    # Warm up, uninstrumented, with another client (one's `with_raw_response` keeps the method it
    # was made with): the client library loads its modules on first use.
    case(_client(llm_server), aclient)
    instrument("openai")
    otel.telemetry.get_series("gpt-4o-mini", "openai", "chat")  # and the first call's price lookup
    gc.collect()
    gc.disable()  # a collection of the whole test session's garbage is no part of either timing
    try:
        text, app_seconds = case(client, aclient)
    finally:
        gc.enable()
    assert text == "Hello world"
    points = otel.flush()

    attrs = {
        **BASE,
        semconv.ATTR_RESPONSE_MODEL: SNAPSHOT,
        semconv.ATTR_SERVER_ADDRESS: "127.0.0.1",
        semconv.ATTR_SERVER_PORT: llm_server.httpd.server_address[1],
    }
    [duration] = by_name(points, semconv.DURATION[0])
    assert duration.attributes == {**duration.attributes, **attrs} and "error.type" not in duration.attributes
    assert duration.count == 1
    # Between what the server took and what the app saw: bounds that hold however busy the machine.
    assert llm_server.served[-1] <= duration.value <= app_seconds
    usage_in = one(points, semconv.TOKEN_USAGE[0], **attrs, **{"gen_ai.token.type": "input"})
    usage_out = one(points, semconv.TOKEN_USAGE[0], **attrs, **{"gen_ai.token.type": "output"})
    assert (usage_in.value, usage_out.value) == (expected["input"], expected["output"])
    tokens = {p.attributes["gen_ai.token.type"]: p.value for p in by_name(points, semconv.TOKENS[0], **BASE)}
    assert tokens == {
        "input": expected["input"],
        "output": expected["output"],
        "cache_read": expected["cache_read"],
        "cache_write": 0,
        "reasoning": expected["reasoning"],
    }
    assert one(points, semconv.COST[0], **BASE).value == pytest.approx(expected["cost"], rel=1e-12)
    if chunks is None:
        assert not by_name(points, semconv.TIME_TO_FIRST_CHUNK[0])
        assert not by_name(points, semconv.TIME_PER_OUTPUT_CHUNK[0])
    else:
        ttfc = one(points, semconv.TIME_TO_FIRST_CHUNK[0], **attrs)
        per_chunk = one(points, semconv.TIME_PER_OUTPUT_CHUNK[0], **attrs)
        assert ttfc.count == 1 and 0 < ttfc.value < duration.value
        assert per_chunk.count == chunks - 1  # one per chunk after the first
        assert per_chunk.bounds == list(semconv.DURATION_BUCKETS)
        assert ttfc.value + per_chunk.value <= duration.value
    assert one(points, semconv.IN_FLIGHT[0], **BASE).value == 0


def _span_attrs(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = (
            [getattr(x, x.WhichOneof("value")) for x in v.array_value.values]
            if kind == "array_value"
            else getattr(v, kind)
        )
    return out


def test_span_is_current_and_the_request_carries_its_trace(otel: OTel, llm_server: FakeLLMServer) -> None:
    httpx2 = pytest.importorskip("httpx2")
    httpx_instrumentation = pytest.importorskip("opentelemetry.instrumentation.httpx")
    instrument("openai")
    http_client = httpx2.Client()
    httpx_instrumentation.HTTPX2ClientInstrumentor().instrument_client(
        http_client, tracer_provider=otel.tracer_provider
    )
    client = _client(llm_server, http_client=http_client)
    otel.tracer_provider.force_flush()
    before = len(otel.spans())
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.2,
        top_p=0.9,
        max_tokens=64,
        frequency_penalty=0.1,
        presence_penalty=0.3,
        stop=["\n\n"],
        seed=7,
        n=2,
        service_tier="default",
        response_format={"type": "json_object"},
        **STREAM_USAGE,
    )
    assert len(list(stream)) == 5
    headers = llm_server.headers[-1]
    otel.tracer_provider.force_flush()
    spans = otel.spans()[before:]
    [genai] = [s for s in spans if s.name == "chat gpt-4o-mini"]
    [http] = [s for s in spans if s.parent_span_id == genai.span_id]
    assert http.trace_id == genai.trace_id and http.kind == 3  # CLIENT
    # W3C trace context: version-trace id-parent id-flags, the parent being the HTTP client span, sampled
    version, trace_id, parent_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", genai.trace_id.hex(), http.span_id.hex())
    assert int(flags, 16) & 1

    attrs = _span_attrs(genai)
    assert attrs == {
        **attrs,
        **BASE,
        "server.address": "127.0.0.1",
        "server.port": llm_server.httpd.server_address[1],
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": 0.3,
        "gen_ai.request.stop_sequences": ["\n\n"],
        "gen_ai.request.seed": 7,
        "gen_ai.request.choice.count": 2,
        "gen_ai.request.stream": True,
        "gen_ai.output.type": "json",
        "openai.api.type": "chat_completions",
        "openai.request.service_tier": "default",
        "gen_ai.response.model": SNAPSHOT,
        "gen_ai.response.id": "chatcmpl-2",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": CHAT["input"],
        "gen_ai.usage.output_tokens": CHAT["output"],
        "gen_ai.usage.cache_read.input_tokens": CHAT["cache_read"],
        "gen_ai.usage.reasoning.output_tokens": CHAT["reasoning"],
    }
    assert (
        0 < attrs["gen_ai.response.time_to_first_chunk"] < (genai.end_time_unix_nano - genai.start_time_unix_nano) / 1e9
    )
    # Sampling-relevant attributes are there from the start, for samplers.
    assert genai.start_time_unix_nano <= http.start_time_unix_nano
    # Not a streaming call, temperature not given: not set.
    client.responses.create(model="gpt-4o-mini", input="hi")
    otel.tracer_provider.force_flush()
    responses_span = _span_attrs([s for s in otel.spans() if s.name == "chat gpt-4o-mini"][-1])
    assert "gen_ai.request.stream" not in responses_span and "gen_ai.request.temperature" not in responses_span
    assert responses_span["openai.api.type"] == "responses"
    assert responses_span["openai.response.service_tier"] == "default"
    assert responses_span["gen_ai.response.finish_reasons"] == ["stop"]
    assert responses_span["gen_ai.usage.cache_read.input_tokens"] == RESPONSES["cache_read"]
    http_client.close()


def test_no_traceparent_goes_out_where_the_http_client_is_not_instrumented(
    otel: OTel, llm_server: FakeLLMServer
) -> None:
    """The README says a traceparent needs the HTTP client instrumented: without it, none goes out
    (the call's span is still recorded)."""
    instrument("openai")
    _client(llm_server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "traceparent" not in llm_server.headers[-1]
    otel.tracer_provider.force_flush()
    assert [s.name for s in otel.spans()][-1:] == ["chat gpt-4o-mini"]


def test_content_in_the_conventions_message_schema(receiver: OTLPReceiver, llm_server: FakeLLMServer) -> None:
    o = make_otel(receiver, "http", capture_content=True)
    try:
        instrument("openai")
        client = _client(llm_server)
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "system", "content": "be brief"}, *MESSAGES]
        )
        client.responses.create(model="gpt-4o-mini", input="hi", instructions="be brief")
        o.tracer_provider.force_flush()
        chat, responses = [_span_attrs(s) for s in o.spans() if s.name == "chat gpt-4o-mini"][-2:]
        assert json.loads(chat["gen_ai.input.messages"]) == [
            {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
            {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
        ]
        assert json.loads(chat["gen_ai.output.messages"]) == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Hello world"}], "finish_reason": "stop"}
        ]
        assert json.loads(responses["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
        ]
        assert json.loads(responses["gen_ai.system_instructions"]) == [{"type": "text", "content": "be brief"}]
        assert json.loads(responses["gen_ai.output.messages"]) == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Hello world"}], "finish_reason": "stop"}
        ]
    finally:
        uninstrument()
        o.meter_provider.shutdown()
        o.tracer_provider.shutdown()
        reset()
