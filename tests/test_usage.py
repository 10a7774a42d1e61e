"""The one usage normaliser (formats/usage.py) against the usage shapes real producers write, one
row a shape: strictly as a log line's usage, leniently as a client's dict or pydantic object."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from llm_exporter.formats import usage
from llm_exporter.formats.events import Rejected
from llm_exporter.instrumentation.responses import Usage, extract, usage_from

# Recorded: tests/testdata/litellm_recorded/ (`response.usage` of a proxy call, per provider).
LITELLM_OPENAI = {
    "completion_tokens": 300,
    "prompt_tokens": 1200,
    "total_tokens": 1500,
    "completion_tokens_details": {"reasoning_tokens": 50},
    "prompt_tokens_details": {"cached_tokens": 200},
}
LITELLM_ANTHROPIC = {
    "completion_tokens": 250,
    "prompt_tokens": 1400,
    "total_tokens": 1650,
    "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": 250},
    "prompt_tokens_details": {
        "audio_tokens": None,
        "cache_write_tokens": 100,
        "cached_tokens": 300,
        "image_tokens": None,
        "text_tokens": 1000,
        "video_tokens": None,
        "initial_prompt_tokens": None,
        "cache_creation_tokens": 100,
    },
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 300,
    "iterations": None,
    "inference_geo": None,
    "speed": None,
    "service_tier": None,
}
LITELLM_OLLAMA = {
    "completion_tokens": 298,
    "prompt_tokens": 26,
    "total_tokens": 324,
    "completion_tokens_details": None,
    "prompt_tokens_details": None,
}

# (shape, usage as the producer writes it, (input, output, cache_read, cache_write, reasoning, unsplit))
SHAPES: list[tuple[str, dict[str, Any], usage.Tokens]] = [
    ("OpenAI chat, as LiteLLM logs it (recorded)", LITELLM_OPENAI, (1200, 300, 200, 0, 50, 0)),
    (
        "OpenAI chat with cache writes and audio",
        {
            "prompt_tokens": 1000,
            "completion_tokens": 10,
            "total_tokens": 1010,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 400, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        (1000, 10, 0, 400, 0, 0),
    ),
    # No output count: None, never a 0 the response did not say.
    ("OpenAI embeddings", {"prompt_tokens": 8, "total_tokens": 8}, (8, None, 0, 0, 0, 0)),
    (
        "OpenAI Responses: input counts the cached tokens",
        {
            "input_tokens": 900,
            "input_tokens_details": {"cached_tokens": 300, "cache_write_tokens": 0},
            "output_tokens": 150,
            "output_tokens_details": {"reasoning_tokens": 40},
            "total_tokens": 1050,
        },
        (900, 150, 300, 0, 40, 0),
    ),
    (
        "Anthropic messages: input counts neither cache reads nor writes",
        {
            "input_tokens": 1000,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 300,
            "output_tokens": 250,
        },
        (1400, 250, 300, 100, 0, 0),
    ),
    ("Anthropic, as LiteLLM logs it (recorded)", LITELLM_ANTHROPIC, (1400, 250, 300, 100, 0, 0)),
    (
        "Bedrock (Converse), as LiteLLM logs it",
        {
            "prompt_tokens": 1400,
            "completion_tokens": 250,
            "total_tokens": 1650,
            "cache_read_input_tokens": 300,
            "cache_creation_input_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 300, "cache_creation_tokens": 100},
        },
        (1400, 250, 300, 100, 0, 0),
    ),
    (
        "Gemini, as LiteLLM logs it",
        {
            "prompt_tokens": 57,
            "completion_tokens": 74,
            "total_tokens": 131,
            "prompt_tokens_details": {"cached_tokens": 21, "text_tokens": 57},
            "completion_tokens_details": {"reasoning_tokens": 12},
        },
        (57, 74, 21, 0, 12, 0),
    ),
    (
        "LangChain usage_metadata: input counts cache reads and writes",
        {
            "input_tokens": 120,
            "output_tokens": 30,
            "total_tokens": 150,
            "input_token_details": {"cache_read": 20, "cache_creation": 10},
            "output_token_details": {"reasoning": 5},
        },
        (120, 30, 20, 10, 5, 0),
    ),
    (
        "Ollama, its own response",
        {"model": "llama3", "done": True, "prompt_eval_count": 26, "eval_count": 298},
        (26, 298, 0, 0, 0, 0),
    ),
    ("Ollama, as LiteLLM logs it (recorded)", LITELLM_OLLAMA, (26, 298, 0, 0, 0, 0)),
    ("Ollama /api/embed", {"model": "all-minilm", "prompt_eval_count": 6}, (6, None, 0, 0, 0, 0)),
    ("only a total", {"total_tokens": 500}, (None, None, 0, 0, 0, 500)),
]  # fmt: skip


@pytest.mark.parametrize(("shape", "payload", "expected"), SHAPES, ids=[s[0] for s in SHAPES])
def test_every_shape_strictly_and_leniently(shape: str, payload: dict[str, Any], expected: usage.Tokens) -> None:
    assert usage.strict(msgspec.convert(payload, usage.Usage)) == expected
    lenient = usage.lenient(payload)
    assert lenient == (None if expected[:2] == (None, None) else expected)  # in-app: no split, no usage


def test_flat_counts_of_an_event_line() -> None:
    line = msgspec.convert(
        {"prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 30, "reasoning_tokens": 5}, usage.Usage
    )
    assert usage.strict(line, flat=True) == (100, 20, 30, 0, 5, 0)
    assert usage.strict(line) == (100, 20, 0, 0, 0, 0)  # a usage object's own keys only
    anthropic = msgspec.convert({"input_tokens": 100, "cache_read_input_tokens": 30, "output_tokens": 20}, usage.Usage)
    assert usage.strict(anthropic, flat=True) == (130, 20, 30, 0, 0, 0)


def test_the_clients_objects_read_as_their_dicts() -> None:
    from anthropic.types import Usage as AnthropicUsage
    from openai.types import CompletionUsage
    from openai.types.responses import ResponseUsage

    cases = [
        (CompletionUsage.model_validate(SHAPES[0][1]), SHAPES[0][2]),
        (ResponseUsage.model_validate(SHAPES[3][1]), SHAPES[3][2]),
        (AnthropicUsage.model_validate(SHAPES[4][1]), SHAPES[4][2]),
    ]
    for obj, expected in cases:
        assert usage.lenient(obj) == expected
        assert usage_from(obj) == Usage(*expected[:5])


def test_litellm_usage_keeps_anthropic_cache_counts_as_extras() -> None:
    from litellm.types.utils import Usage as LiteLLMUsage

    obj = LiteLLMUsage(
        prompt_tokens=1400,
        completion_tokens=250,
        total_tokens=1650,
        cache_read_input_tokens=300,
        cache_creation_input_tokens=100,
    )
    assert obj.__pydantic_extra__  # the counts are pydantic extras, not fields
    assert usage.lenient(obj) == (1400, 250, 300, 100, 0, 0)


def test_in_app_ollama_counts_are_on_the_response() -> None:
    ollama = next(payload for shape, payload, _ in SHAPES if shape == "Ollama, its own response")
    assert extract(ollama).usage == Usage(26, 298)


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"prompt_tokens": "x", "completion_tokens": 1}, "prompt_tokens must be a non-negative integer"),
        ({"prompt_tokens": 1, "completion_tokens": -1}, "completion_tokens must be a non-negative integer"),
        ({"input_tokens": 1, "output_tokens": 2.5}, "output_tokens must be a non-negative integer"),
        ({"prompt_tokens": 1, "prompt_tokens_details": [1]}, "prompt_tokens_details must be an object, not list"),
        (
            {"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": True}},
            "cached_tokens must be a non-negative integer",
        ),
        ({"input_tokens": 1, "input_tokens_details": "x"}, "input_tokens_details must be an object, not str"),
        ({"prompt_eval_count": None, "eval_count": {}}, "eval_count must be a non-negative integer"),
        ({"total_tokens": [500]}, "total_tokens must be a non-negative integer"),
    ],
)  # fmt: skip
def test_log_lines_reject_a_wrong_type_by_its_field_and_the_app_reads_it_as_0(payload: dict, detail: str) -> None:
    with pytest.raises(Rejected) as caught:
        usage.strict(msgspec.convert(payload, usage.Usage))
    assert (caught.value.reason, caught.value.detail) == ("wrong_shape", detail)
    lenient = usage.lenient(payload)
    assert lenient is None or all(n is None or (type(n) is int and n >= 0) for n in lenient)


def test_the_app_never_raises() -> None:
    for odd in (object(), 5, "usage", [1, 2], {"prompt_tokens": float("inf"), "completion_tokens": float("nan")}):
        assert usage.lenient(odd) in (None, (0, 0, 0, 0, 0, 0))
    assert usage.lenient({"prompt_tokens": 10.0, "completion_tokens": True}) == (10, 0, 0, 0, 0, 0)
