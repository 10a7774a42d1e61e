"""The flat event of seed 004: one line per call with model, tokens, latency, cost and status."""

from __future__ import annotations

from typing import Any

import msgspec

from llm_exporter.formats import fields
from llm_exporter.formats.events import Completion, Rejected

_OK = frozenset({"success", "ok", "succeeded", "completed"})


def _usage(obj: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    """Flat counts (`prompt_tokens`, `completion_tokens`, `cached_tokens`, `reasoning_tokens`,
    or `total_tokens` alone), else an OpenAI- or Anthropic-style `usage` object."""
    if not fields.has_tokens(obj) and "usage" in obj:
        return fields.token_usage(fields.mapping(obj, "usage"))
    input_tokens, output_tokens, _, _, _, unsplit = fields.token_usage(obj)
    return (
        input_tokens,
        output_tokens,
        fields.count(obj, "cached_tokens"),
        0,
        fields.count(obj, "reasoning_tokens"),
        unsplit,
    )


def _failure(error_type: Any, error_message: Any, status_code: Any) -> tuple[str, str | None]:
    return fields.error_class(error_type or error_message), fields.http_status(status_code)


def parse(obj: dict[str, Any]) -> Completion:
    latency_ms = fields.milliseconds(obj, "latency_ms")
    if latency_ms is None:
        raise Rejected("wrong_shape", "latency_ms is missing")
    status = fields.text(obj, "status") or "success"
    error_type = http_status = None
    if status.lower() not in _OK:
        error_type, http_status = _failure(obj.get("error_type"), obj.get("error_message"), obj.get("status_code"))
    input_tokens, output_tokens, cache_read, cache_write, reasoning, unsplit = _usage(obj)
    return Completion(
        model=fields.text(obj, "model", required=True),
        provider=fields.text(obj, "provider"),
        operation=fields.text(obj, "operation"),
        duration=latency_ms / 1000.0,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        unsplit_tokens=unsplit,
        cost=fields.cost(obj, "cost_usd"),
        error_type=error_type,
        http_status=http_status,
        time=fields.timestamp(obj.get("timestamp")),
        session_id=fields.session(obj.get("session_id")),
    )


# -- typed decoding (see fields: what it leaves to `parse`) -------------------------------------


class _Line(fields.Usage, kw_only=True):
    """The flat counts share the usage object's names; `usage` is read only without them."""

    model: fields.Text
    latency_ms: fields.Milliseconds
    timestamp: fields.Time = None
    session_id: Any = None
    provider: fields.Text | None = None
    operation: fields.Text | None = None
    status: fields.Text | None = None
    error_type: Any = None
    error_message: Any = None
    status_code: Any = None
    cost_usd: fields.Cost | None = None
    cached_tokens: fields.Tokens | None = None
    reasoning_tokens: fields.Tokens | None = None
    usage: fields.Usage | msgspec.UnsetType = msgspec.UNSET  # present as null is not absent


decode_line = msgspec.json.Decoder(_Line).decode


def decode(line: bytes) -> Completion | None:
    """`parse(orjson.loads(line))` for the lines of the usual shape, None for the others."""
    obj = fields.typed(decode_line, line)
    if obj is None:
        return None
    error_type = http_status = None
    if obj.status is not None and obj.status.lower() not in _OK:
        error_type, http_status = _failure(obj.error_type, obj.error_message, obj.status_code)
    completion = obj.completion_tokens
    has_tokens = not (
        obj.prompt_tokens is None
        and (completion is None or completion is msgspec.UNSET)
        and obj.input_tokens is None
        and obj.output_tokens is None
        and obj.total_tokens is None
    )
    if not has_tokens and obj.usage is not msgspec.UNSET:
        usage = fields.typed_usage(obj.usage)
    else:
        flat = fields.typed_usage(obj)
        usage = (flat[0], flat[1], obj.cached_tokens or 0, 0, obj.reasoning_tokens or 0, flat[5])
    # Positional (three times faster than by keyword): the fields in their declared order.
    return Completion(
        obj.model,
        obj.provider,
        obj.operation,
        obj.latency_ms / 1000.0,
        *usage[:5],
        obj.cost_usd,
        error_type,
        None,  # time_to_first_chunk
        None,  # cache_hit
        None,  # request_id
        usage[5],
        None,  # saved_cost
        None,  # trace_id
        http_status,
        fields.timestamp(obj.timestamp),
        fields.session(obj.session_id),
    )
