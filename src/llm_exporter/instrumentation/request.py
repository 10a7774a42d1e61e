"""The span attributes a request's arguments give (the GenAI spans convention's request
attributes, and OpenAI's refinement), built only when spans are on. Only arguments the call has
are set: `gen_ai.request.stream` only for streams, `gen_ai.request.choice.count` only when not 1,
`openai.request.service_tier` only when not `auto`, as the convention asks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_exporter import semconv

# (argument, attribute) pairs copied as they are when they have the attribute's type.
_NUMBERS = (
    ("temperature", semconv.ATTR_REQUEST_TEMPERATURE),
    ("top_p", semconv.ATTR_REQUEST_TOP_P),
    ("top_k", semconv.ATTR_REQUEST_TOP_K),
    ("frequency_penalty", semconv.ATTR_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.ATTR_REQUEST_PRESENCE_PENALTY),
)
_INTS = (
    ("max_tokens", semconv.ATTR_REQUEST_MAX_TOKENS),
    ("max_completion_tokens", semconv.ATTR_REQUEST_MAX_TOKENS),
    ("max_output_tokens", semconv.ATTR_REQUEST_MAX_TOKENS),
    ("seed", semconv.ATTR_REQUEST_SEED),
)
# response_format / text.format types -> gen_ai.output.type
_OUTPUT_TYPES = {"text": "text", "json_object": "json", "json_schema": "json"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _output_type(kwargs: Mapping[str, Any]) -> str | None:
    fmt = kwargs.get("response_format")
    if fmt is None:
        text = kwargs.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        fmt = kwargs.get("text_format")  # Responses parse(text_format=...)
    if isinstance(fmt, dict):
        return _OUTPUT_TYPES.get(fmt.get("type"))  # type: ignore[arg-type]
    # A pydantic model class (the parse helpers); anything else (the clients' "omitted" markers) says nothing.
    return "json" if isinstance(fmt, type) else None


def common(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Sampling settings, stop sequences, stream, choice count and output type, in any client's
    argument names (OpenAI, Anthropic, LiteLLM)."""
    attrs: dict[str, Any] = {}
    for name, attr in _NUMBERS:
        value = kwargs.get(name)
        if _is_number(value):
            attrs[attr] = float(value)
    for name, attr in _INTS:
        value = kwargs.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            attrs[attr] = value
    stop = kwargs.get("stop")
    if stop is None:
        stop = kwargs.get("stop_sequences")
    if isinstance(stop, str):
        attrs[semconv.ATTR_REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, (list, tuple)) and stop:
        attrs[semconv.ATTR_REQUEST_STOP_SEQUENCES] = [str(s) for s in stop]
    n = kwargs.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attrs[semconv.ATTR_REQUEST_CHOICE_COUNT] = n
    if kwargs.get("stream") is True:
        attrs[semconv.ATTR_REQUEST_STREAM] = True
    output_type = _output_type(kwargs)
    if output_type is not None:
        attrs[semconv.ATTR_OUTPUT_TYPE] = output_type
    return attrs


def _openai(api_type: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    attrs = common(kwargs)
    attrs[semconv.ATTR_OPENAI_API_TYPE] = api_type
    tier = kwargs.get("service_tier")
    if isinstance(tier, str) and tier != "auto":
        attrs[semconv.ATTR_OPENAI_REQUEST_SERVICE_TIER] = tier
    return attrs


def openai_chat(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return _openai("chat_completions", kwargs)


def openai_responses(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return _openai("responses", kwargs)
