"""OpenAI's helpers: `chat.completions.stream()` (which calls `create(stream=True)`, so it is
recorded through it) and `chat.completions.parse()` (which posts on its own, so it is patched),
sync and async, with exact values at the real OTLP receiver."""

from __future__ import annotations

import asyncio

import pytest

from fakes.llm_server import FakeLLMServer
from llm_exporter import semconv
from llm_exporter.instrumentation import instrument

from .conftest import OTel, one

openai = pytest.importorskip("openai")

ATTRS = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
MESSAGES = [{"role": "user", "content": "hi"}]


def test_stream_and_parse_helpers(otel: OTel, llm_server: FakeLLMServer) -> None:
    instrument("openai")
    client = openai.OpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.done" in kinds and final.choices[0].message.content == "Hello world"
    parsed = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES)
    assert parsed.choices[0].message.content == "Hello world"

    async def run_async() -> None:
        aclient = openai.AsyncOpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
        async with aclient.chat.completions.stream(
            model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
        ) as astream:
            assert (await astream.get_final_completion()).usage.completion_tokens == 300
        await aclient.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES)

    asyncio.run(run_async())
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.parse(model="fail-429", messages=MESSAGES)

    points = otel.flush()
    assert one(points, semconv.DURATION[0], **ATTRS).count == 4
    usage_in = one(points, semconv.TOKEN_USAGE[0], **ATTRS, **{"gen_ai.token.type": "input"})
    usage_out = one(points, semconv.TOKEN_USAGE[0], **ATTRS, **{"gen_ai.token.type": "output"})
    assert (usage_in.count, usage_in.value, usage_out.value) == (4, 4 * 1200, 4 * 300)
    assert one(points, semconv.TIME_TO_FIRST_CHUNK[0], **ATTRS).count == 2  # the two streams
    per_call = 1000 * 0.15e-6 + 200 * 0.075e-6 + 300 * 0.60e-6
    assert one(points, semconv.COST[0], **ATTRS).value == pytest.approx(4 * per_call, rel=1e-12)
    failed = one(points, semconv.DURATION[0], **{**ATTRS, "gen_ai.request.model": "fail-429"})
    assert failed.attributes["error.type"] == "RateLimitError" and failed.count == 1
    assert one(points, semconv.IN_FLIGHT[0], **ATTRS).value == 0
