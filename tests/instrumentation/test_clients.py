"""The real openai, anthropic and ollama clients against the fake local server, instrumented,
with metrics and spans arriving at the real OTLP receiver (gRPC and HTTP)."""

from __future__ import annotations

import asyncio

import pytest

from fakes.llm_server import ANTHROPIC_USAGE, OLLAMA_COUNTS, FakeLLMServer
from llm_exporter import semconv
from llm_exporter.instrumentation import instrument, track, uninstrument

from .conftest import OTel, by_name, one

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
ollama = pytest.importorskip("ollama")

OPENAI = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
ANTHROPIC = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
}
OLLAMA = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "ollama", "gen_ai.request.model": "llama3.2"}
MESSAGES = [{"role": "user", "content": "hi"}]
# The anthropic client warns about models nearing end of life; the fake server does not care.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _tokens(points: list, attrs: dict) -> dict:
    return {p.attributes["gen_ai.token.type"]: p.value for p in by_name(points, semconv.TOKENS[0], **attrs)}


def _span_attrs(span) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    for kv in span.attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = [x.string_value for x in v.array_value.values] if kind == "array_value" else getattr(v, kind)
    return out


def test_openai_sync_stream_async_and_errors(otel: OTel, llm_server: FakeLLMServer) -> None:
    assert "openai" in instrument("openai")
    client = openai.OpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
    resp = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert resp.choices[0].message.content == "Hello world"

    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello world"
    with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as no_usage:
        assert len(list(no_usage)) == 4

    async def run_async() -> None:
        aclient = openai.AsyncOpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        astream = await aclient.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert len([c async for c in astream]) == 5

    asyncio.run(run_async())
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="fail-429", messages=MESSAGES)

    points = otel.flush()
    duration = one(points, semconv.DURATION[0], **OPENAI)
    assert duration.count == 5  # 2 plain, 3 streamed
    usage_in = one(points, semconv.TOKEN_USAGE[0], **OPENAI, **{"gen_ai.token.type": "input"})
    usage_out = one(points, semconv.TOKEN_USAGE[0], **OPENAI, **{"gen_ai.token.type": "output"})
    # The stream without include_usage reports no tokens.
    assert (usage_in.count, usage_in.value, usage_out.value) == (4, 4 * 1200, 4 * 300)
    assert _tokens(points, OPENAI) == {
        "input": 4800,
        "output": 1200,
        "cache_read": 4 * 200,
        "cache_write": 0,
        "reasoning": 4 * 50,
    }
    # gpt-4o-mini: $0.15 per million input, $0.075 cached, $0.60 output (genai-prices, the daemon's PriceBook)
    per_call = 1000 * 0.15e-6 + 200 * 0.075e-6 + 300 * 0.60e-6
    assert one(points, semconv.COST[0], **OPENAI).value == pytest.approx(4 * per_call, rel=1e-12)
    ttfc = one(points, semconv.TIME_TO_FIRST_CHUNK[0], **OPENAI)
    assert ttfc.count == 3 and ttfc.bounds == list(semconv.DURATION_BUCKETS)
    failed = one(
        points, semconv.DURATION[0], **{**OPENAI, "gen_ai.request.model": "fail-429", "error.type": "RateLimitError"}
    )
    assert failed.count == 1
    assert one(points, semconv.IN_FLIGHT[0], **OPENAI).value == 0

    spans = [s for s in otel.spans() if s.name == "chat gpt-4o-mini"]
    assert len(spans) >= 5
    attrs = _span_attrs(spans[-5])
    assert attrs["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attrs["gen_ai.response.id"] == "chatcmpl-1"
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["gen_ai.usage.input_tokens"] == 1200 and attrs["gen_ai.usage.output_tokens"] == 300
    assert "gen_ai.input.messages" not in attrs  # content capture is off by default
    assert spans[-5].kind == 3  # CLIENT


def test_anthropic_create_stream_helper_and_async(otel: OTel, llm_server: FakeLLMServer) -> None:
    assert "anthropic" in instrument("anthropic")
    client = anthropic.Anthropic(base_url=llm_server.url, api_key="test", max_retries=0)
    model = "claude-sonnet-4-5"
    msg = client.messages.create(model=model, max_tokens=100, messages=MESSAGES)
    assert msg.content[0].text == "Hello world"
    events = list(client.messages.create(model=model, max_tokens=100, messages=MESSAGES, stream=True))
    assert events[-1].type == "message_stop"
    with client.messages.stream(model=model, max_tokens=100, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == "Hello world"
        assert stream.get_final_message().usage.output_tokens == 250

    async def run_async() -> None:
        aclient = anthropic.AsyncAnthropic(base_url=llm_server.url, api_key="test", max_retries=0)
        async with aclient.messages.stream(model=model, max_tokens=100, messages=MESSAGES) as astream:
            assert "".join([t async for t in astream.text_stream]) == "Hello world"
        await aclient.messages.create(model=model, max_tokens=100, messages=MESSAGES)

    asyncio.run(run_async())
    points = otel.flush()
    assert one(points, semconv.DURATION[0], **ANTHROPIC).count == 5
    # Anthropic's input_tokens excludes cache reads and writes; input is their sum.
    calls_in = ANTHROPIC_USAGE["input_tokens"] + 300 + 100
    usage_in = one(points, semconv.TOKEN_USAGE[0], **ANTHROPIC, **{"gen_ai.token.type": "input"})
    usage_out = one(points, semconv.TOKEN_USAGE[0], **ANTHROPIC, **{"gen_ai.token.type": "output"})
    assert (usage_in.count, usage_in.value, usage_out.value) == (5, 5 * calls_in, 5 * 250)
    assert _tokens(points, ANTHROPIC) == {
        "input": 5 * calls_in,
        "output": 1250,
        "cache_read": 1500,
        "cache_write": 500,
        "reasoning": 0,
    }
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 cache write per million
    per_call = 1000 * 3e-6 + 300 * 0.3e-6 + 100 * 3.75e-6 + 250 * 15e-6
    assert one(points, semconv.COST[0], **ANTHROPIC).value == pytest.approx(5 * per_call, rel=1e-9)
    assert one(points, semconv.TIME_TO_FIRST_CHUNK[0], **ANTHROPIC).count == 3
    spans = [s for s in otel.spans() if s.name == f"chat {model}"]
    assert _span_attrs(spans[-1])["gen_ai.response.finish_reasons"] == ["end_turn"]


def test_anthropic_raw_responses(otel: OTel, llm_server: FakeLLMServer) -> None:
    """`messages.with_raw_response.create`, plain and streamed, sync and async: tokens from the
    parsed body, the streamed one finished with its parsed stream."""
    assert "anthropic" in instrument("anthropic")
    client = anthropic.Anthropic(base_url=llm_server.url, api_key="test", max_retries=0)
    model = "claude-sonnet-4-5"
    raw = client.messages.with_raw_response.create(model=model, max_tokens=100, messages=MESSAGES)
    assert raw.parse().content[0].text == "Hello world"
    raw_stream = client.messages.with_raw_response.create(model=model, max_tokens=100, messages=MESSAGES, stream=True)
    assert list(raw_stream.parse())[-1].type == "message_stop"

    async def run_async() -> None:
        aclient = anthropic.AsyncAnthropic(base_url=llm_server.url, api_key="test", max_retries=0)
        araw = await aclient.messages.with_raw_response.create(model=model, max_tokens=100, messages=MESSAGES)
        assert (await araw.parse()).usage.output_tokens == 250
        astream = await aclient.messages.with_raw_response.create(
            model=model, max_tokens=100, messages=MESSAGES, stream=True
        )
        assert [e async for e in await astream.parse()][-1].type == "message_stop"

    asyncio.run(run_async())
    points = otel.flush()
    attrs = {**ANTHROPIC, "gen_ai.response.model": model, "server.address": "127.0.0.1"}
    assert one(points, semconv.DURATION[0], **attrs).count == 4
    calls_in = ANTHROPIC_USAGE["input_tokens"] + 300 + 100
    usage_in = one(points, semconv.TOKEN_USAGE[0], **attrs, **{"gen_ai.token.type": "input"})
    assert (usage_in.count, usage_in.value) == (4, 4 * calls_in)
    assert one(points, semconv.TIME_TO_FIRST_CHUNK[0], **attrs).count == 2
    assert one(points, semconv.IN_FLIGHT[0], **ANTHROPIC).value == 0


def test_ollama_chat_and_stream(otel: OTel, llm_server: FakeLLMServer) -> None:
    assert "ollama" in instrument("ollama")
    client = ollama.Client(host=llm_server.url)
    resp = client.chat(model="llama3.2", messages=MESSAGES)
    assert resp.message.content == "Hello world"
    parts = list(client.chat(model="llama3.2", messages=MESSAGES, stream=True))
    assert parts[-1].done

    async def run_async() -> None:
        aclient = ollama.AsyncClient(host=llm_server.url)
        astream = await aclient.chat(model="llama3.2", messages=MESSAGES, stream=True)
        assert len([p async for p in astream]) == 4

    asyncio.run(run_async())
    points = otel.flush()
    assert one(points, semconv.DURATION[0], **OLLAMA).count == 3
    usage_in = one(points, semconv.TOKEN_USAGE[0], **OLLAMA, **{"gen_ai.token.type": "input"})
    assert (usage_in.count, usage_in.value) == (3, 3 * OLLAMA_COUNTS["prompt_eval_count"])
    assert _tokens(points, OLLAMA)["output"] == 3 * OLLAMA_COUNTS["eval_count"]
    assert one(points, semconv.TIME_TO_FIRST_CHUNK[0], **OLLAMA).count == 2
    # llama3.2 has no price: no cost is invented (not even $0), each call is counted as unpriced
    assert not by_name(points, semconv.COST[0], **OLLAMA)
    assert one(points, semconv.UNPRICED[0], **OLLAMA).value == 3


def test_uninstrument_restores_the_clients(otel: OTel, llm_server: FakeLLMServer) -> None:
    original = openai.resources.chat.completions.Completions.create
    instrument("openai")
    assert openai.resources.chat.completions.Completions.create is not original
    uninstrument("openai")
    assert openai.resources.chat.completions.Completions.create is original
    client = openai.OpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with track(model="other-model"):  # something to export
        pass
    points = otel.flush()
    assert one(points, semconv.DURATION[0], **{"gen_ai.request.model": "other-model"}).count == 1
    assert not by_name(points, semconv.DURATION[0], **OPENAI)


def test_content_capture_is_opt_in(receiver, llm_server: FakeLLMServer) -> None:  # type: ignore[no-untyped-def]
    from llm_exporter.instrumentation.configure import reset

    from .conftest import make_otel

    o = make_otel(receiver, "http", capture_content=True)
    try:
        instrument("openai")
        client = openai.OpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        o.tracer_provider.force_flush()
        attrs = _span_attrs([s for s in o.spans() if s.name == "chat gpt-4o-mini"][-1])
        assert '"content": "hi"' in attrs["gen_ai.input.messages"]
        assert "Hello world" in attrs["gen_ai.output.messages"]
    finally:
        uninstrument()
        o.meter_provider.shutdown()
        o.tracer_provider.shutdown()
        reset()
