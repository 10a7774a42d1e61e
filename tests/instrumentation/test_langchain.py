"""The LangChain callback handler with real langchain-core: ChatOpenAI (langchain-openai) against
the fake OpenAI server and langchain-core's fake models, exact values at the real OTLP receiver,
and the same calls through its CompletionLogger read back by the daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fakes.llm_server import FakeLLMServer
from llm_exporter import semconv
from llm_exporter.instrumentation import instrument, record_decision
from llm_exporter.instrumentation.completion_logger import CompletionLogger
from testkit import make_exporter, scrape, value

from .conftest import OTel, by_name, one

pytest.importorskip("langchain_core")
from langchain_core.language_models import FakeListLLM, GenericFakeChatModel
from langchain_core.messages import AIMessage

import llm_exporter
from llm_exporter.instrumentation.langchain import LLMExporterCallbackHandler

OPENAI = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
# gpt-4o-mini: $0.15 per million input, $0.075 cached, $0.60 output (genai-prices, the daemon's PriceBook)
PER_CALL = 1000 * 0.15e-6 + 200 * 0.075e-6 + 300 * 0.60e-6


def _tokens(points: list, attrs: dict) -> dict:
    return {p.attributes["gen_ai.token.type"]: p.value for p in by_name(points, semconv.TOKENS[0], **attrs)}


def test_public_name() -> None:
    assert llm_exporter.LLMExporterCallbackHandler is LLMExporterCallbackHandler


def test_chat_openai_invoke_stream_async_and_error(otel: OTel, llm_server: FakeLLMServer, tmp_path: Path) -> None:
    chat_openai = pytest.importorskip("langchain_openai").ChatOpenAI
    # The openai client underneath is instrumented too: each call must still count once.
    instrument("openai")
    exporter, log = make_exporter(tmp_path, "completion")
    completions = CompletionLogger(log)
    handler = LLMExporterCallbackHandler(completion_logger=completions)
    config = {"callbacks": [handler]}
    base = {"base_url": llm_server.url + "/v1", "api_key": "test", "max_retries": 0}
    llm = chat_openai(model="gpt-4o-mini", **base)
    assert llm.invoke("hi", config=config).content == "Hello world"
    streaming = chat_openai(model="gpt-4o-mini", stream_usage=True, **base)
    assert "".join(c.content for c in streaming.stream("hi", config=config)) == "Hello world"
    record_decision(action="long", symbol="BTC-USD", validation_result="passed", call=handler.last_call)

    async def run_async() -> None:
        import httpx

        # A client of this event loop: langchain-openai's default one is shared across loops.
        async with httpx.AsyncClient() as http:
            msg = await chat_openai(model="gpt-4o-mini", http_async_client=http, **base).ainvoke("hi", config=config)
        assert msg.usage_metadata["input_tokens"] == 1200

    asyncio.run(run_async())
    with pytest.raises(Exception, match="slow down") as failure:
        chat_openai(model="fail-429", **base).invoke("hi", config=config)
    assert type(failure.value).__name__ == "OpenAIRateLimitError"  # LangChain's wrapper of openai's error
    completions.close()

    points = otel.flush()
    assert one(points, semconv.DURATION[0], **OPENAI).count == 3
    usage_in = one(points, semconv.TOKEN_USAGE[0], **OPENAI, **{"gen_ai.token.type": "input"})
    usage_out = one(points, semconv.TOKEN_USAGE[0], **OPENAI, **{"gen_ai.token.type": "output"})
    assert (usage_in.count, usage_in.value, usage_out.value) == (3, 3600, 900)
    assert _tokens(points, OPENAI) == {
        "input": 3600,
        "output": 900,
        "cache_read": 600,
        "cache_write": 0,
        "reasoning": 150,
    }
    assert one(points, semconv.COST[0], **OPENAI).value == pytest.approx(3 * PER_CALL, rel=1e-12)
    assert one(points, semconv.TIME_TO_FIRST_CHUNK[0], **OPENAI).count == 1
    assert one(points, semconv.IN_FLIGHT[0], **OPENAI).value == 0
    failed = one(points, semconv.DURATION[0], **{**OPENAI, "gen_ai.request.model": "fail-429"})
    assert (failed.count, failed.attributes["error.type"]) == (1, "RateLimitError")
    error = one(points, semconv.ERRORS[0], **{**OPENAI, "gen_ai.request.model": "fail-429"})
    assert (error.value, error.attributes["error.type"], error.attributes[semconv.ATTR_HTTP_STATUS]) == (
        1,
        "RateLimitError",
        429,
    )
    decision = one(points, semconv.DECISIONS[0], **OPENAI)
    assert (decision.attributes["action"], decision.attributes["symbol"], decision.value) == ("LONG", "BTC-USD", 1)
    assert len(by_name(points, semconv.DURATION[0])) == 2  # nothing recorded twice by the openai patch

    spans = [s for s in otel.spans() if s.name == "chat gpt-4o-mini"]
    attrs = {kv.key: kv.value for kv in spans[-3].attributes}
    assert attrs["gen_ai.response.model"].string_value == "gpt-4o-mini-2024-07-18"
    assert attrs["gen_ai.response.id"].string_value == "chatcmpl-1"
    assert [v.string_value for v in attrs["gen_ai.response.finish_reasons"].array_value.values] == ["stop"]

    # The same calls, written by the handler's CompletionLogger and read by the daemon.
    exporter.drain()
    samples = scrape(exporter)
    labels = {"gen_ai_request_model": "gpt-4o-mini", "gen_ai_provider_name": "openai"}
    assert value(samples, "gen_ai_client_operation_duration_seconds_count", **labels) == 3 + 0
    assert value(samples, "llm_tokens_total", gen_ai_token_type="input", **labels) == 3600
    assert value(samples, "llm_tokens_total", gen_ai_token_type="cache_read", **labels) == 600
    assert value(samples, "llm_tokens_total", gen_ai_token_type="reasoning", **labels) == 150
    assert value(samples, "llm_cost_usd_total", **labels) == pytest.approx(3 * PER_CALL, rel=1e-9)
    assert value(samples, "llm_decisions_total", action="LONG", symbol="BTC-USD", **labels) == 1
    assert value(samples, "gen_ai_client_operation_time_to_first_chunk_seconds_count", **labels) == 1
    assert (
        value(
            samples,
            "gen_ai_client_operation_duration_seconds_count",
            error_type="RateLimitError",
            gen_ai_request_model="fail-429",
        )
        == 1
    )
    exporter.close()


class FakeClaude(GenericFakeChatModel):
    """Reports itself the way ChatAnthropic does (LangChain's `ls_*` run metadata)."""

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "anthropic"
        params["ls_model_name"] = "claude-sonnet-4-5"
        return params


def test_fake_models_usage_metadata_streams_and_llms(otel: OTel) -> None:
    handler = LLMExporterCallbackHandler()
    usage = {
        "input_tokens": 120,
        "output_tokens": 30,
        "total_tokens": 150,
        "input_token_details": {"cache_read": 20, "cache_creation": 10},
        "output_token_details": {"reasoning": 5},
    }
    answers = iter([AIMessage(content="one", usage_metadata=usage), AIMessage(content="two words")])
    chat = FakeClaude(messages=answers)
    config = {"callbacks": [handler]}
    assert chat.invoke("hi", config=config).content == "one"
    assert [c.content for c in chat.stream("hi", config=config)] == ["two", " ", "words"]
    llm = FakeListLLM(responses=["plain text"])
    assert llm.invoke("hi", config={"callbacks": [handler]}) == "plain text"

    points = otel.flush()
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
    }
    assert one(points, semconv.DURATION[0], **attrs).count == 2
    usage_in = one(points, semconv.TOKEN_USAGE[0], **attrs, **{"gen_ai.token.type": "input"})
    assert (usage_in.count, usage_in.value) == (1, 120)  # the stream reported no usage: none invented
    assert _tokens(points, attrs) == {"input": 120, "output": 30, "cache_read": 20, "cache_write": 10, "reasoning": 5}
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 cache write per million
    cost = 90 * 3e-6 + 20 * 0.3e-6 + 10 * 3.75e-6 + 30 * 15e-6
    assert one(points, semconv.COST[0], **attrs).value == pytest.approx(cost, rel=1e-9)
    assert one(points, semconv.TIME_TO_FIRST_CHUNK[0], **attrs).count == 1
    text = one(points, semconv.DURATION[0], **{"gen_ai.operation.name": "text_completion"})
    assert (text.count, text.attributes["gen_ai.request.model"]) == (1, "unknown")
    # A model that names no model: langchain-core's own `ls_provider` (its class name), model unknown.
    GenericFakeChatModel(messages=iter([AIMessage(content="x")])).invoke("hi", config=config)
    points = otel.flush()
    fake = one(points, semconv.DURATION[0], **{"gen_ai.provider.name": "genericfakechatmodel"})
    assert (fake.count, fake.attributes["gen_ai.request.model"]) == (1, "unknown")
