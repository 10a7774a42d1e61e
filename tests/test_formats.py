"""Each format turns a JSON object into the normalized event the pipeline expects."""

from __future__ import annotations

import pytest

from llm_exporter.formats import PARSERS
from llm_exporter.formats.events import Completion, Decision, Ignored, Rejected, Request
from llm_exporter.providers import infer_provider, normalize_provider


def test_completion_request_response_decision() -> None:
    parse = PARSERS["completion"]
    req = parse({"event_type": "completion_request", "request_id": "r1", "model": "o3-mini", "prompt_preview": "x"})
    assert req == Request(request_id="r1", model="o3-mini", provider=None, operation=None)
    resp = parse(
        {
            "event_type": "completion_response",
            "request_id": "r1",
            "success": True,
            "response_time_ms": 1767,
            "token_usage": {"prompt_tokens": 150, "completion_tokens": 75, "total_tokens": 225},
            "cost_estimate_usd": 0.000675,
        }
    )
    assert resp == Completion(
        model=None,
        provider=None,
        operation=None,
        duration=1.767,
        input_tokens=150,
        output_tokens=75,
        cost=0.000675,
        request_id="r1",
    )
    dec = parse(
        {
            "event_type": "trading_decision",
            "request_id": "r1",
            "action": "long",
            "symbol": "BTC-USD",
            "validation_result": "passed",
        }
    )
    assert dec == Decision(request_id="r1", action="LONG", symbol="BTC-USD", validation_result="PASSED")
    assert parse({"event_type": "performance_metrics", "total_completions": 10}) == Ignored("performance_metrics")


def test_completion_failure_error_class_never_a_message() -> None:
    parse = PARSERS["completion"]
    base = {"event_type": "completion_response", "request_id": "r", "success": False, "response_time_ms": 10}
    assert parse({**base, "error_type": "RateLimitError"}).error_type == "RateLimitError"
    assert parse({**base, "error": {"type": "timeout", "message": "x"}}).error_type == "timeout"
    # A free-text message (which could hold a prompt) never becomes a label value.
    assert parse({**base, "error": "the model said: buy everything now"}).error_type == "_OTHER"
    assert parse(base).error_type == "_OTHER"


def test_openai_and_anthropic_usage_details() -> None:
    parse = PARSERS["completion"]
    base = {"event_type": "completion_response", "request_id": "r", "response_time_ms": 5}
    openai = parse(
        {
            **base,
            "token_usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 300,
                "prompt_tokens_details": {"cached_tokens": 400},
                "completion_tokens_details": {"reasoning_tokens": 120},
            },
        }
    )
    assert (openai.input_tokens, openai.output_tokens, openai.cache_read_tokens, openai.reasoning_tokens) == (
        1000,
        300,
        400,
        120,
    )
    anthropic = parse(
        {
            **base,
            "token_usage": {
                "input_tokens": 10,
                "output_tokens": 30,
                "cache_read_input_tokens": 500,
                "cache_creation_input_tokens": 90,
            },
        }
    )
    # Anthropic's input_tokens excludes the cache: input is the sum, cache kinds stay subsets.
    assert (anthropic.input_tokens, anthropic.cache_read_tokens, anthropic.cache_write_tokens) == (600, 500, 90)


def test_event_format() -> None:
    parse = PARSERS["event"]
    ok = parse(
        {
            "model": "gpt-4",
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "total_tokens": 150,
            "latency_ms": 850,
            "cost_usd": 0.003,
            "status": "success",
            "tags": {"user_id": "123"},
        }
    )
    assert ok == Completion(
        model="gpt-4", provider=None, operation=None, duration=0.85, input_tokens=100, output_tokens=50, cost=0.003
    )
    failed = parse({"model": "gpt-4", "latency_ms": 10, "status": "error", "error_message": "Rate limit reached"})
    assert failed.error_type == "_OTHER"
    assert parse({"model": "gpt-4", "latency_ms": 10, "status": "error", "error_type": "APIError"}).error_type == (
        "APIError"
    )


def _litellm(**over: object) -> dict:
    payload = {
        "call_type": "acompletion",
        "model": "gpt-4o",
        "custom_llm_provider": "openai",
        "status": "success",
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "startTime": 100.0,
        "endTime": 102.0,
        "completionStartTime": 102.0,
        "response_cost": 0.0005,
        "cache_hit": False,
    }
    payload.update(over)
    return payload


def test_litellm_payload() -> None:
    parse = PARSERS["litellm"]
    c = parse(_litellm())
    assert c == Completion(
        model="gpt-4o",
        provider="openai",
        operation="chat",
        duration=2.0,
        input_tokens=100,
        output_tokens=20,
        cost=0.0005,
    )
    # completionStartTime before endTime marks a stream: time to first chunk.
    assert parse(_litellm(completionStartTime=100.5)).time_to_first_chunk == 0.5
    nested = parse({"standard_logging_object": _litellm(call_type="aembedding")})
    assert nested.operation == "embeddings"
    failed = parse(_litellm(status="failure", error_information={"error_class": "RateLimitError", "error_code": "429"}))
    assert (failed.error_type, failed.http_status, failed.cache_hit) == ("RateLimitError", "429", None)
    usage = {
        "usage": {
            "prompt_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 60},
            "completion_tokens_details": {"reasoning_tokens": 7},
        }
    }
    detailed = parse(_litellm(response=usage))
    assert (detailed.cache_read_tokens, detailed.reasoning_tokens) == (60, 7)
    mapped = parse(
        _litellm(custom_llm_provider=None, model_map_information={"model_map_value": {"litellm_provider": "bedrock"}})
    )
    assert mapped.provider == "bedrock"


def test_litellm_unpriced_zero_is_no_cost() -> None:
    """LiteLLM writes 0.0 when it cannot price a model: that 0 is no cost at all."""
    parse = PARSERS["litellm"]
    unpriced = _litellm(response_cost=0.0, response_cost_failure_debug_info={"error_str": "model isn't mapped yet"})
    assert parse(unpriced).cost is None
    assert parse(_litellm(response_cost=None)).cost is None
    # LiteLLM's proxy writes the same 0.0 without saying why: only a cache hit's 0 is trusted.
    assert parse(_litellm(response_cost=0.0)).cost is None
    assert parse(_litellm(response_cost=0.0, cache_hit=True)).cost == 0.0


def test_litellm_cache_hit_and_miss() -> None:
    parse = PARSERS["litellm"]
    hit = parse(_litellm(cache_hit=True, saved_cache_cost=0.0005, response_cost=0.0))
    assert (hit.cache_hit, hit.saved_cost, hit.cost) == (True, 0.0005, 0.0)
    # `false` (failures, streams with no cache configured) and `null` (a real miss, or no cache
    # at all: the payloads are alike) say nothing.
    assert parse(_litellm(cache_hit=False)).cache_hit is None
    assert parse(_litellm(cache_hit=None)).cache_hit is None
    assert parse(_litellm(cache_hit=False, status="failure")).cache_hit is None


def test_litellm_trace_id_groups_attempts() -> None:
    assert PARSERS["litellm"](_litellm(trace_id="t-1")).trace_id == "t-1"
    assert PARSERS["litellm"](_litellm()).trace_id is None


@pytest.mark.parametrize(
    ("obj", "tokens"),
    [
        # Decimal strings, as loggers that stringify write them.
        ({"prompt_tokens": "1200", "completion_tokens": "300", "cost_usd": "0.0123"}, (1200, 300, 0)),
        ({"prompt_tokens": 1200.0, "completion_tokens": " 300 "}, (1200, 300, 0)),
        # An OpenAI-style usage object instead of flat counts.
        ({"usage": {"prompt_tokens": 50, "completion_tokens": 7}}, (50, 7, 0)),
        ({"usage": {"input_tokens": 50, "output_tokens": 7}}, (50, 7, 0)),
        # Only a total: counted as unsplit, never as 0.
        ({"total_tokens": 99}, (None, None, 99)),
        ({"usage": {"total_tokens": "99"}}, (None, None, 99)),
    ],
)
def test_event_lenient_numbers_and_usage(obj: dict, tokens: tuple[int, int, int]) -> None:
    c = PARSERS["event"]({"model": "gpt-4o", "latency_ms": "850", **obj})
    assert (c.input_tokens, c.output_tokens, c.unsplit_tokens) == tokens
    assert c.duration == 0.85
    if "cost_usd" in obj:
        assert c.cost == 0.0123


def test_completion_usage_object_is_token_usage() -> None:
    parse = PARSERS["completion"]
    base = {"event_type": "completion_response", "request_id": "r", "response_time_ms": "5"}
    assert parse({**base, "usage": {"prompt_tokens": "10", "completion_tokens": 2}}).input_tokens == 10
    assert parse({**base, "token_usage": {"total_tokens": 12}}).unsplit_tokens == 12
    failed = parse({**base, "success": False, "error": {"type": "RateLimitError", "status_code": 429}})
    assert (failed.error_type, failed.http_status) == ("RateLimitError", "429")


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1,200", "0x10", "", "12 tokens", True])
def test_numbers_that_stay_rejected(value: object) -> None:
    with pytest.raises(Rejected) as exc:
        PARSERS["event"]({"model": "gpt-4o", "latency_ms": 5, "prompt_tokens": value})
    assert exc.value.reason == "wrong_shape"


@pytest.mark.parametrize(
    ("value", "status"), [(429, "429"), ("503", "503"), (429.0, "429"), ("rate", None), (42, None)]
)
def test_http_status_only_real_codes(value: object, status: str | None) -> None:
    c = PARSERS["event"]({"model": "m", "latency_ms": 5, "status": "error", "status_code": value})
    assert c.http_status == status


@pytest.mark.parametrize(
    ("fmt", "obj", "detail"),
    [
        (
            "completion",
            {"event_type": "completion_response", "request_id": "r", "response_time_ms": "fast"},
            "response_time_ms must be a number",
        ),
        ("completion", {"event_type": "completion_request", "request_id": "r"}, "model is missing"),
        ("completion", {"request_id": "r"}, "event_type is missing"),
        ("event", {"model": "gpt-4", "latency_ms": 5, "prompt_tokens": -3}, "prompt_tokens must be"),
        ("litellm", _litellm(endTime=99.0), "startTime and endTime"),
        ("auto", {"hello": "world"}, "matches no known format"),
    ],
)
def test_wrong_shape_names_the_field(fmt: str, obj: dict, detail: str) -> None:
    with pytest.raises(Rejected) as exc:
        PARSERS[fmt](obj)
    assert exc.value.reason == "wrong_shape"
    assert detail in exc.value.detail


@pytest.mark.parametrize(
    ("given", "semconv"),
    [
        ("openai", "openai"),
        ("bedrock", "aws.bedrock"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("Gemini", "gcp.gemini"),
        ("azure", "azure.ai.openai"),
        ("mistral", "mistral_ai"),
        ("xai", "x_ai"),
        ("ollama_chat", "ollama"),
        ("somecloud", "somecloud"),
    ],
)
def test_provider_names_follow_semconv(given: str, semconv: str) -> None:
    assert normalize_provider(given) == semconv


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o-mini", "openai"),
        ("o3-mini", "openai"),
        ("claude-3-5-sonnet-20241022", "anthropic"),
        ("gemini-1.5-pro", "gcp.gemini"),
        ("llama3:8b", "ollama"),
        ("openai/gpt-4o", "openai"),
        ("bedrock/anthropic.claude-3", "aws.bedrock"),
        ("my-finetune", "unknown"),
    ],
)
def test_provider_inferred_from_model(model: str, provider: str) -> None:
    assert infer_provider(model) == provider
