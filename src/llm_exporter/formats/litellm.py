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


def _cost(obj: dict[str, Any], cache_hit: bool | None) -> float | None:
    """The logged cost, unless it is LiteLLM's "could not price" 0. LiteLLM writes 0.0 for a
    model it cannot price, with the reason in `response_cost_failure_debug_info` (SDK) or
    without one (its proxy, recorded): a 0 is trusted only for a cache hit, and otherwise the
    tokens are priced here (a free model is then priced at 0 by an override, or unpriced)."""
    cost = fields.cost(obj, "response_cost")
    if not cost and cache_hit is not True:
        return None
    return cost


def parse(obj: dict[str, Any]) -> Completion:
    nested = obj.get("standard_logging_object")
    if type(nested) is dict:
        obj = nested
    start = fields.number(obj, "startTime")
    end = fields.number(obj, "endTime")
    if start is None or end is None or end < start:
        raise Rejected("wrong_shape", "startTime and endTime must be present, end not before start")
    if (end - start) * 1000 > fields.MAX_DURATION_MS:
        raise Rejected("out_of_range", f"endTime - startTime is past {fields.MAX_DURATION_MS / 1000:g} s")
    first_chunk = fields.number(obj, "completionStartTime")
    # LiteLLM sets completionStartTime to endTime for calls that did not stream.
    ttfc = first_chunk - start if first_chunk is not None and start <= first_chunk < end else None
    success = (fields.text(obj, "status") or "success") == "success"
    error_type = http_status = None
    if not success:
        error = fields.mapping(obj, "error_information")
        error_type = fields.error_class(error.get("error_class"))
        http_status = fields.http_status(error.get("error_code"))
    _, _, cache_read, cache_write, reasoning, _ = fields.token_usage(_usage(obj))
    call_type = fields.text(obj, "call_type")
    # A hit where LiteLLM says so. Never a miss: LiteLLM writes `cache_hit: false` on failures
    # and streams even with no cache configured, and a real miss looks exactly like a call made
    # with no cache (recorded: both have `cache_hit: null` and no `cache_key`).
    cache_hit = True if obj.get("cache_hit") is True else None
    return Completion(
        model=fields.text(obj, "model", required=True),
        provider=_provider(obj),
        operation=_OPERATIONS.get(call_type, call_type) if call_type else None,
        duration=end - start,
        input_tokens=fields.count(obj, "prompt_tokens"),
        output_tokens=fields.count(obj, "completion_tokens"),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        cost=_cost(obj, cache_hit),
        error_type=error_type,
        time_to_first_chunk=ttfc,
        cache_hit=cache_hit,
        saved_cost=fields.cost(obj, "saved_cache_cost") if cache_hit else None,
        trace_id=fields.text(obj, "trace_id"),
        http_status=http_status,
    )
