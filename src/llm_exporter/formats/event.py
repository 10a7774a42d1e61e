"""The flat event of seed 004: one line per call with model, tokens, latency, cost and status."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType

from llm_exporter.formats import fields, usage
from llm_exporter.formats.events import Completion, Rejected
from llm_exporter.formats.usage import AnyUsage

_OK = frozenset({"success", "ok", "succeeded", "completed"})


class Line(usage.Usage, kw_only=True):
    """Every key read, each of any JSON type (the rules below judge them). The line's own token
    counts are a usage object's keys (flat counts); `usage` is read only without them."""

    model: Any = None
    latency_ms: Any = None
    timestamp: Any = None
    session_id: Any = None
    provider: Any = None
    operation: Any = None
    status: Any = None
    error_type: Any = None
    error_message: Any = None
    status_code: Any = None
    cost_usd: Any = None
    usage: AnyUsage | UnsetType = UNSET  # present as null is not absent


def event(line: Line) -> Completion:
    latency_ms = fields.number(line.latency_ms, "latency_ms", fields.MAX_DURATION_MS)
    if latency_ms is None:
        raise Rejected("wrong_shape", "latency_ms is missing")
    status = fields.text(line.status, "status") or "success"
    error_type = http_status = None
    if status.lower() not in _OK:
        error_type = fields.error_class(line.error_type or line.error_message)
        http_status = fields.http_status(line.status_code)
    if line.usage is not UNSET and not usage.has_tokens(line):
        counts = usage.strict(fields.mapping(line.usage, "usage"))
    else:
        counts = usage.strict(line, flat=True)
    # Positional, in the fields' declared order (a keyword call costs more, once a line).
    return Completion(
        fields.text(line.model, "model", required=True),
        fields.text(line.provider, "provider"),
        fields.text(line.operation, "operation"),
        latency_ms / 1000.0,
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        fields.number(line.cost_usd, "cost_usd", fields.MAX_COST_USD),
        error_type,
        None,  # time_to_first_chunk
        None,  # cache_hit
        None,  # request_id
        counts[5],
        None,  # saved_cost
        None,  # trace_id
        http_status,
        None,  # response_model
        None,  # ratelimit: this format does not keep headers
        line.timestamp,
        fields.session(line.session_id),
    )
