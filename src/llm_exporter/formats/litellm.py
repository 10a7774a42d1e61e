"""LiteLLM's StandardLoggingPayload, one JSON object per call (bare, or under
`standard_logging_object` as LiteLLM's callbacks receive it)."""

from __future__ import annotations

from typing import Any

from llm_exporter.formats import fields
from llm_exporter.formats.events import Completion, Rejected

# LiteLLM call types -> semconv operation names; async variants share their sync name.
_OPERATIONS = {
    "completion": "chat",
    "acompletion": "chat",
    "text_completion": "text_completion",
    "atext_completion": "text_completion",
    "embedding": "embeddings",
    "aembedding": "embeddings",
    "responses": "chat",
    "aresponses": "chat",
    "anthropic_messages": "chat",
    "generate_content": "generate_content",
    "agenerate_content": "generate_content",
}


def _provider(obj: dict[str, Any]) -> str | None:
    provider = fields.text(obj, "custom_llm_provider")
    if provider is None:
        info = fields.mapping(fields.mapping(obj, "model_map_information"), "model_map_value")
        provider = fields.text(info, "litellm_provider")
    return provider


def _usage(obj: dict[str, Any]) -> dict[str, Any]:
    """The provider's usage object, where LiteLLM kept one (for cache and reasoning tokens)."""
    response = obj.get("response")
    if type(response) is dict and type(response.get("usage")) is dict:
        return response["usage"]
    return fields.mapping(fields.mapping(obj, "metadata"), "usage_object")


def parse(obj: dict[str, Any]) -> Completion:
    nested = obj.get("standard_logging_object")
    if type(nested) is dict:
        obj = nested
    start = fields.number(obj, "startTime")
    end = fields.number(obj, "endTime")
    if start is None or end is None or end < start:
        raise Rejected("wrong_shape", "startTime and endTime must be present, end not before start")
    first_chunk = fields.number(obj, "completionStartTime")
    # LiteLLM sets completionStartTime to endTime for calls that did not stream.
    ttfc = first_chunk - start if first_chunk is not None and start <= first_chunk < end else None
    status = fields.text(obj, "status") or "success"
    error_type = None
    if status != "success":
        error_type = fields.error_class(fields.mapping(obj, "error_information").get("error_class"))
    _, _, cache_read, cache_write, reasoning = fields.token_usage(_usage(obj))
    call_type = fields.text(obj, "call_type")
    cache_hit = obj.get("cache_hit")
    input_tokens, output_tokens = fields.count(obj, "prompt_tokens"), fields.count(obj, "completion_tokens")
    return Completion(
        model=fields.text(obj, "model", required=True),
        provider=_provider(obj),
        operation=_OPERATIONS.get(call_type, call_type) if call_type else None,
        duration=end - start,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        cost=fields.number(obj, "response_cost"),
        error_type=error_type,
        time_to_first_chunk=ttfc,
        cache_hit=cache_hit if type(cache_hit) is bool else None,
        # LiteLLM logs 0 tokens for failed calls: that is no usage, not an empty one.
        has_usage=error_type is None or input_tokens > 0 or output_tokens > 0,
    )
