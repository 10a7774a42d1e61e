"""LiteLLM's StandardLoggingPayload, one JSON object per call (bare, or under
`standard_logging_object` as LiteLLM's callbacks receive it)."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct

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


def _cost(cost: float | None, cache_hit: bool | None) -> float | None:
    """The logged cost, unless it is LiteLLM's "could not price" 0. LiteLLM writes 0.0 for a
    model it cannot price, with the reason in `response_cost_failure_debug_info` (SDK) or
    without one (its proxy, recorded): a 0 is trusted only for a cache hit, and otherwise the
    tokens are priced here (a free model is then priced at 0 by an override, or unpriced)."""
    if not cost and cache_hit is not True:
        return None
    return cost


def _time_to_first_chunk(start: float, end: float, first_chunk: float | None) -> float | None:
    # LiteLLM sets completionStartTime to endTime for calls that did not stream.
    return first_chunk - start if first_chunk is not None and start <= first_chunk < end else None


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
    ttfc = _time_to_first_chunk(start, end, fields.number(obj, "completionStartTime"))
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
        cost=_cost(fields.cost(obj, "response_cost"), cache_hit),
        error_type=error_type,
        time_to_first_chunk=ttfc,
        cache_hit=cache_hit,
        saved_cost=fields.cost(obj, "saved_cache_cost") if cache_hit else None,
        trace_id=fields.text(obj, "trace_id"),
        http_status=http_status,
        time=fields.timestamp(end),
        session_id=fields.session(obj.get("session_id")),
    )


# -- typed decoding (see fields: what it leaves to `parse`) -------------------------------------


class _ErrorInformation(Struct, gc=False):
    error_class: Any = None
    error_code: Any = None


class _Response(Struct, gc=False):
    usage: fields.Usage | None = None


class _Metadata(Struct, gc=False):
    usage_object: fields.Usage | None = None


class _ModelMapValue(Struct, gc=False):
    litellm_provider: fields.Text | None = None


class _ModelMapInformation(Struct, gc=False):
    model_map_value: _ModelMapValue | None = None


class _Payload(Struct, gc=False):
    """The fields read, each optional here: a payload without the required ones goes to `parse`."""

    standard_logging_object: _Payload | None = None
    startTime: fields.Number | None = None
    endTime: fields.Number | None = None
    completionStartTime: fields.Number | None = None
    status: fields.Text | None = None
    error_information: _ErrorInformation | None = None
    response: _Response | None = None
    metadata: _Metadata | None = None
    call_type: fields.Text | None = None
    cache_hit: bool | None = None
    model: fields.Text | None = None
    custom_llm_provider: fields.Text | None = None
    model_map_information: _ModelMapInformation | None = None
    prompt_tokens: fields.Tokens | None = None
    completion_tokens: fields.Tokens | None = None
    response_cost: fields.Cost | None = None
    saved_cache_cost: fields.Cost | None = None
    trace_id: fields.Text | None = None
    session_id: Any = None


decode_line = msgspec.json.Decoder(_Payload).decode


def decode(line: bytes) -> Completion | None:
    """`parse(orjson.loads(line))` for the payloads of the usual shape, None for the others."""
    obj = fields.typed(decode_line, line)
    if obj is None:
        return None
    if obj.standard_logging_object is not None:
        obj = obj.standard_logging_object
    start, end = obj.startTime, obj.endTime
    if start is None or end is None or end < start or (end - start) * 1000 > fields.MAX_DURATION_MS:
        return None
    error_type = http_status = None
    if obj.status is not None and obj.status != "success":
        error = obj.error_information or _ErrorInformation()
        error_type = fields.error_class(error.error_class)
        http_status = fields.http_status(error.error_code)
    response = obj.response
    usage = response.usage if response is not None and response.usage is not None else None
    if usage is None and obj.metadata is not None:
        usage = obj.metadata.usage_object
    _, _, cache_read, cache_write, reasoning, _ = fields.typed_usage(usage)
    provider = obj.custom_llm_provider
    if provider is None:
        info = obj.model_map_information
        value = info.model_map_value if info is not None else None
        provider = value.litellm_provider if value is not None else None
    call_type = obj.call_type
    cache_hit = True if obj.cache_hit is True else None
    if obj.model is None:
        return None
    # Positional (three times faster than by keyword): the fields in their declared order.
    return Completion(
        obj.model,
        provider,
        _OPERATIONS.get(call_type, call_type) if call_type else None,
        end - start,
        obj.prompt_tokens or 0,
        obj.completion_tokens or 0,
        cache_read,
        cache_write,
        reasoning,
        _cost(obj.response_cost, cache_hit),
        error_type,
        _time_to_first_chunk(start, end, obj.completionStartTime),
        cache_hit,
        None,  # request_id
        0,  # unsplit_tokens: this format reads prompt and completion tokens only
        obj.saved_cache_cost if cache_hit else None,
        obj.trace_id,
        http_status,
        fields.timestamp(end),
        fields.session(obj.session_id),
    )
