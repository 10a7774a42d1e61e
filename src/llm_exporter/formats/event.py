"""The flat event of seed 004: one line per call with model, tokens, latency, cost and status."""

from __future__ import annotations

from typing import Any

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


def parse(obj: dict[str, Any]) -> Completion:
    latency_ms = fields.milliseconds(obj, "latency_ms")
    if latency_ms is None:
        raise Rejected("wrong_shape", "latency_ms is missing")
    status = fields.text(obj, "status") or "success"
    error_type = http_status = None
    if status.lower() not in _OK:
        error_type = fields.error_class(obj.get("error_type") or obj.get("error_message"))
        http_status = fields.http_status(obj.get("status_code"))
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
    )
