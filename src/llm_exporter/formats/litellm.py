"""LiteLLM's StandardLoggingPayload, one JSON object per call (bare, or under
`standard_logging_object` as LiteLLM's callbacks receive it)."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from llm_exporter.formats import fields, ratelimit, usage
from llm_exporter.formats.events import Completion, Rejected
from llm_exporter.formats.usage import AnyUsage

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


class _ErrorInformation(Struct, gc=False):
    error_class: Any = None
    error_code: Any = None


class _Response(Struct, gc=False):
    usage: AnyUsage = None
    model: Any = None


class _Metadata(Struct, gc=False):
    usage_object: AnyUsage = None


class _HiddenParams(Struct, gc=False):
    additional_headers: Any = None  # the provider's response headers (rate limits among them)


class _ModelMapValue(Struct, gc=False):
    litellm_provider: Any = None


class _ModelMapInformation(Struct, gc=False):
    model_map_value: _ModelMapValue | list | str | int | float | bool | None = None


class Payload(Struct, gc=False):
    """Every key read, each of any JSON type (the rules below judge them); the rest of the
    payload (messages, the response's choices...) is skipped undecoded."""

    standard_logging_object: Payload | list | str | int | float | bool | None = None
    startTime: Any = None
    endTime: Any = None
    completionStartTime: Any = None
    status: Any = None
    error_information: _ErrorInformation | list | str | int | float | bool | None = None
    response: _Response | list | str | int | float | bool | None = None
    metadata: _Metadata | list | str | int | float | bool | None = None
    hidden_params: _HiddenParams | list | str | int | float | bool | None = None
    call_type: Any = None
    cache_hit: Any = None
    model: Any = None
    custom_llm_provider: Any = None
    model_map_information: _ModelMapInformation | list | str | int | float | bool | None = None
    prompt_tokens: Any = None
    completion_tokens: Any = None
    response_cost: Any = None
    saved_cache_cost: Any = None
    trace_id: Any = None
    session_id: Any = None


def _provider(obj: Payload) -> str | None:
    provider = fields.text(obj.custom_llm_provider, "custom_llm_provider")
    if provider is None:
        info = fields.mapping(obj.model_map_information, "model_map_information")
        value = fields.mapping(info.model_map_value, "model_map_value") if info is not None else None
        provider = fields.text(value.litellm_provider, "litellm_provider") if value is not None else None
    return provider


def _usage(obj: Payload) -> usage.Usage | None:
    """The provider's usage object, where LiteLLM kept one (for cache and reasoning tokens)."""
    response = obj.response
    if type(response) is _Response and type(response.usage) is usage.Usage:
        return response.usage
    metadata = fields.mapping(obj.metadata, "metadata")
    return fields.mapping(metadata.usage_object, "usage_object") if metadata is not None else None


def _response_model(obj: Payload) -> str | None:
    """The model the provider's response names (an Azure deployment's is the model billed)."""
    response = obj.response
    return fields.text(response.model, "response.model") if type(response) is _Response else None


def _cost(cost: float | None, cache_hit: bool | None) -> float | None:
    """The logged cost, unless it is LiteLLM's "could not price" 0. LiteLLM writes 0.0 for a
    model it cannot price, with the reason in `response_cost_failure_debug_info` (SDK) or
    without one (its proxy, recorded): a 0 is trusted only for a cache hit, and otherwise the
    tokens are priced here (a free model is then priced at 0 by an override, or unpriced)."""
    if not cost and cache_hit is not True:
        return None
    return cost


def _ratelimit(obj: Payload, end: float) -> ratelimit.Readings | None:
    """The provider's rate-limit headers, as LiteLLM kept them; read, never judged (a payload
    whose headers say nothing legible is still a call)."""
    hidden = obj.hidden_params
    return ratelimit.read(hidden.additional_headers, end) if type(hidden) is _HiddenParams else None


def _time_to_first_chunk(start: float, end: float, first_chunk: float | None) -> float | None:
    # LiteLLM sets completionStartTime to endTime for calls that did not stream.
    return first_chunk - start if first_chunk is not None and start <= first_chunk < end else None


def event(obj: Payload) -> Completion:
    nested = obj.standard_logging_object
    if type(nested) is Payload:
        obj = nested
    start = fields.number(obj.startTime, "startTime")
    end = fields.number(obj.endTime, "endTime")
    if start is None or end is None or end < start:
        raise Rejected("wrong_shape", "startTime and endTime must be present, end not before start")
    if (end - start) * 1000 > fields.MAX_DURATION_MS:
        raise Rejected("out_of_range", f"endTime - startTime is past {fields.MAX_DURATION_MS / 1000:g} s")
    ttfc = _time_to_first_chunk(start, end, fields.number(obj.completionStartTime, "completionStartTime"))
    success = (fields.text(obj.status, "status") or "success") == "success"
    error_type = http_status = None
    if not success:
        error = fields.mapping(obj.error_information, "error_information")
        if error is None:
            error = _ErrorInformation()
        error_type = fields.error_class(error.error_class)
        http_status = fields.http_status(error.error_code)
    _, _, cache_read, cache_write, reasoning, _ = usage.strict(_usage(obj))
    call_type = fields.text(obj.call_type, "call_type")
    # A hit where LiteLLM says so. Never a miss: LiteLLM writes `cache_hit: false` on failures
    # and streams even with no cache configured, and a real miss looks exactly like a call made
    # with no cache (recorded: both have `cache_hit: null` and no `cache_key`).
    cache_hit = True if obj.cache_hit is True else None
    # Positional, in the fields' declared order (a keyword call costs more, once a line).
    return Completion(
        fields.text(obj.model, "model", required=True),
        _provider(obj),
        _OPERATIONS.get(call_type, call_type) if call_type else None,
        end - start,
        None if obj.prompt_tokens is None else fields.count(obj.prompt_tokens, "prompt_tokens"),
        None if obj.completion_tokens is None else fields.count(obj.completion_tokens, "completion_tokens"),
        cache_read,
        cache_write,
        reasoning,
        _cost(fields.number(obj.response_cost, "response_cost", fields.MAX_COST_USD), cache_hit),
        error_type,
        ttfc,
        cache_hit,
        None,  # request_id
        0,  # unsplit_tokens: this format reads prompt and completion tokens only
        fields.number(obj.saved_cache_cost, "saved_cache_cost", fields.MAX_COST_USD) if cache_hit else None,
        fields.identifier(obj.trace_id, "trace_id"),
        http_status,
        _response_model(obj),
        _ratelimit(obj, end),
        end,
        fields.session(obj.session_id),
    )
