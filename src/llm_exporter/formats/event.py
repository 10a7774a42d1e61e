"""The flat event of seed 004: one line per call with model, tokens, latency, cost and status."""

from __future__ import annotations

from typing import Any

from llm_exporter.formats import fields
from llm_exporter.formats.events import Completion, Rejected

_OK = frozenset({"success", "ok", "succeeded", "completed"})


def parse(obj: dict[str, Any]) -> Completion:
    latency_ms = fields.number(obj, "latency_ms")
    if latency_ms is None:
        raise Rejected("wrong_shape", "latency_ms is missing")
    status = fields.text(obj, "status") or "success"
    error_type = None
    if status.lower() not in _OK:
        error_type = fields.error_class(obj.get("error_type") or obj.get("error_message"))
    input_tokens = fields.count(obj, "prompt_tokens")
    output_tokens = fields.count(obj, "completion_tokens")
    return Completion(
        model=fields.text(obj, "model", required=True),
        provider=fields.text(obj, "provider"),
        operation=fields.text(obj, "operation"),
        duration=latency_ms / 1000.0,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=fields.count(obj, "cached_tokens"),
        reasoning_tokens=fields.count(obj, "reasoning_tokens"),
        cost=fields.number(obj, "cost_usd"),
        error_type=error_type,
        has_usage="prompt_tokens" in obj or "completion_tokens" in obj,
    )
