"""The real litellm.completion / acompletion (sync, async, streamed) against the fake OpenAI
server, instrumented, with exact values at the real OTLP receiver."""

from __future__ import annotations

import asyncio

import pytest

from fakes.llm_server import OPENAI_USAGE, FakeLLMServer
from llm_exporter import semconv
from llm_exporter.instrumentation import instrument, uninstrument
from llm_exporter.instrumentation.litellm import model_and_provider

from .conftest import OTel, by_name, one, total

litellm = pytest.importorskip("litellm")
openai = pytest.importorskip("openai")

# As LiteLLM's own StandardLoggingPayload names the call: the `openai/` prefix is the provider.
ATTRS = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
MESSAGES = [{"role": "user", "content": "hi"}]
# gpt-4o-mini: $0.15 per million input, $0.075 cached, $0.60 output (genai-prices, the daemon's PriceBook)
PER_CALL = 1000 * 0.15e-6 + 200 * 0.075e-6 + 300 * 0.60e-6


def _tokens(points: list, attrs: dict) -> dict:
    return {p.attributes["gen_ai.token.type"]: p.value for p in by_name(points, semconv.TOKENS[0], **attrs)}


def test_model_and_provider_as_litellm_logs_them() -> None:
    instrument("litellm")
    try:
        assert model_and_provider(("openai/gpt-4o-mini",), {}) == ("gpt-4o-mini", "openai")
        assert model_and_provider((), {"model": "anthropic/claude-sonnet-4-5"}) == ("claude-sonnet-4-5", "anthropic")
        assert model_and_provider((), {"model": "gpt-4o", "custom_llm_provider": "azure"}) == ("gpt-4o", "azure")
        assert model_and_provider((), {"model": "my-org/my-model"}) == ("my-org/my-model", None)  # not a provider
        assert model_and_provider((), {}) == (None, None)
    finally:
        uninstrument("litellm")


def test_completion_acompletion_and_streams(otel: OTel, llm_server: FakeLLMServer) -> None:
    # openai is instrumented too: LiteLLM calls the openai client underneath, which must not count twice.
    assert instrument("litellm", "openai") == ["litellm", "openai"]
    kwargs = {
        "model": "openai/gpt-4o-mini",
        "api_base": llm_server.url + "/v1",
        "api_key": "test",
        "messages": MESSAGES,
    }
    resp = litellm.completion(**kwargs)
    assert resp.choices[0].message.content == "Hello world"
    stream = litellm.completion(**kwargs, stream=True, stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello world"

    async def run_async() -> None:
        aresp = await litellm.acompletion(**kwargs)
        assert aresp.usage.prompt_tokens == OPENAI_USAGE["prompt_tokens"]
        astream = await litellm.acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
        assert "".join([c.choices[0].delta.content or "" async for c in astream if c.choices]) == "Hello world"

    asyncio.run(run_async())
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(**{**kwargs, "model": "openai/fail-429"}, num_retries=0)
    assert sum(1 for path, _ in llm_server.requests if path.endswith("/chat/completions")) >= 5

    points = otel.flush()
    server = {"server.address": "127.0.0.1", "server.port": llm_server.httpd.server_address[1]}
    # LiteLLM names the snapshot in plain answers and the requested model in its stream chunks.
    plain = one(points, semconv.DURATION[0], **ATTRS, **server, **{"gen_ai.response.model": "gpt-4o-mini-2024-07-18"})
    streamed = one(points, semconv.DURATION[0], **ATTRS, **server, **{"gen_ai.response.model": "gpt-4o-mini"})
    assert (plain.count, streamed.count) == (2, 2)  # none twice through the openai client
    assert total(points, semconv.TOKEN_USAGE[0], **ATTRS, **{"gen_ai.token.type": "input"}) == (4, 4 * 1200)
    assert total(points, semconv.TOKEN_USAGE[0], **ATTRS, **{"gen_ai.token.type": "output"}) == (4, 4 * 300)
    assert _tokens(points, ATTRS) == {
        "input": 4800,
        "output": 1200,
        "cache_read": 800,
        "cache_write": 0,
        "reasoning": 200,
    }
    assert one(points, semconv.COST[0], **ATTRS).value == pytest.approx(4 * PER_CALL, rel=1e-12)
    assert total(points, semconv.TIME_TO_FIRST_CHUNK[0], **ATTRS)[0] == 2
    assert one(points, semconv.IN_FLIGHT[0], **ATTRS).value == 0
    failed = one(points, semconv.DURATION[0], **{**ATTRS, "gen_ai.request.model": "fail-429"})
    assert (failed.count, failed.attributes["error.type"]) == (1, "RateLimitError")
    [error] = by_name(points, semconv.ERRORS[0], **{**ATTRS, "gen_ai.request.model": "fail-429"})
    assert (error.value, error.attributes["error.type"], error.attributes[semconv.ATTR_HTTP_STATUS]) == (
        1,
        "RateLimitError",
        429,
    )
    outcomes = by_name(points, semconv.REQUESTS[0], **{**ATTRS, "gen_ai.request.model": "fail-429"})
    assert {p.attributes["outcome"]: p.value for p in outcomes} == {"success": 0, "failure": 1}
    assert {p.attributes["outcome"]: p.value for p in by_name(points, semconv.REQUESTS[0], **ATTRS)} == {
        "success": 4,
        "failure": 0,
    }
    # Nothing under the openai client's own view of the same requests.
    assert not by_name(points, semconv.DURATION[0], **{"gen_ai.request.model": "openai/gpt-4o-mini"})
    assert len(by_name(points, semconv.DURATION[0])) == 3

    spans = [s for s in otel.spans() if s.name == "chat gpt-4o-mini"]
    attrs = {kv.key: kv.value for kv in spans[-4].attributes}
    assert attrs["gen_ai.response.model"].string_value == "gpt-4o-mini-2024-07-18"
    assert attrs["gen_ai.usage.input_tokens"].int_value == 1200


def test_uninstrument_restores_litellm(otel: OTel) -> None:
    original = litellm.completion
    instrument("litellm")
    assert litellm.completion is not original and litellm.completion.__wrapped__ is original
    uninstrument("litellm")
    assert litellm.completion is original


def test_embedding_and_router(otel: OTel, llm_server: FakeLLMServer) -> None:
    """litellm.embedding, and a Router's calls (it calls the module functions for its deployment,
    so the series is the deployment's model, not the group's alias), each recorded once."""
    assert instrument("litellm", "openai") == ["litellm", "openai"]
    api = {"api_base": llm_server.url + "/v1", "api_key": "test"}
    assert litellm.embedding(model="openai/text-embedding-3-small", input=["hi"], **api).usage.prompt_tokens == 8
    router = litellm.Router(
        model_list=[{"model_name": "fast", "litellm_params": {"model": "openai/gpt-4o-mini", **api}}]
    )
    assert router.completion(model="fast", messages=MESSAGES).choices[0].message.content == "Hello world"

    async def run_async() -> None:
        await router.acompletion(model="fast", messages=MESSAGES)
        await router.aembedding(model="fast", input=["hi"])

    asyncio.run(run_async())
    points = otel.flush()
    server = {"server.address": "127.0.0.1", "server.port": llm_server.httpd.server_address[1]}
    embeddings = {**ATTRS, "gen_ai.operation.name": "embeddings"}
    assert total(points, semconv.DURATION[0], **embeddings, **server)[0] == 1  # the Router's embedding
    small = {**embeddings, "gen_ai.request.model": "text-embedding-3-small"}
    assert total(points, semconv.TOKEN_USAGE[0], **small, **server, **{"gen_ai.token.type": "input"}) == (1, 8)
    assert total(points, semconv.DURATION[0], **ATTRS, **server) == (
        2,
        pytest.approx(total(points, semconv.DURATION[0], **ATTRS)[1]),
    )
    assert total(points, semconv.TOKEN_USAGE[0], **ATTRS, **{"gen_ai.token.type": "input"}) == (2, 2 * 1200)
    assert not by_name(points, semconv.DURATION[0], **{"gen_ai.request.model": "fast"})
    assert len(by_name(points, semconv.DURATION[0])) == 3  # chat, and the two embedding models
