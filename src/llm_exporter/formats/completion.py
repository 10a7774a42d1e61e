"""The completion log of seed 001: request, response, decision and performance events joined by
`request_id`. Responses carry no model; the pipeline takes it from the request."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, Struct, UnsetType

from llm_exporter.formats import fields, usage
from llm_exporter.formats.events import Completion, Decision, Event, Ignored, Rejected, Request
from llm_exporter.formats.usage import AnyUsage


class _Error(Struct, gc=False):
    type: Any = None
    status_code: Any = None


class Line(Struct, gc=False):
    """Every key any event type reads, each of any JSON type (the rules below judge them); the
    others are skipped undecoded. (Untracked by the garbage collector: decoded JSON holds no
    reference cycles.)"""

    event_type: Any = None
    timestamp: Any = None
    session_id: Any = None
    request_id: Any = None
    model: Any = None
    provider: Any = None
    operation: Any = None
    response_time_ms: Any = None
    success: Any = True
    error: _Error | list | str | int | float | bool | None = None
    error_type: Any = None
    status_code: Any = UNSET  # present as null is not absent
    token_usage: AnyUsage | UnsetType = UNSET  # read before `usage`, and alone when present (even as null)
    usage: AnyUsage = None
    time_to_first_chunk_ms: Any = None
    cost_estimate_usd: Any = None
    response_model: Any = None
    action: Any = None
    symbol: Any = None
    validation_result: Any = None


def _request(line: Line) -> Request:
    return Request(
        fields.identifier(line.request_id, "request_id", required=True),  # type: ignore[arg-type]
        fields.text(line.model, "model", required=True),  # type: ignore[arg-type]
        fields.text(line.provider, "provider"),
        fields.text(line.operation, "operation"),
        line.timestamp,
        fields.session(line.session_id),
    )


def _response(line: Line) -> Completion:
    duration_ms = fields.number(line.response_time_ms, "response_time_ms", fields.MAX_DURATION_MS)
    if duration_ms is None:
        raise Rejected("wrong_shape", "response_time_ms is missing")
    success = line.success
    if type(success) is not bool:
        raise Rejected("wrong_shape", "success must be true or false")
    error_type = status = None
    if not success:
        error = line.error
        error_class = error.type if type(error) is _Error else error
        status = line.status_code
        if status is UNSET:
            status = error.status_code if type(error) is _Error else None
        error_type = fields.error_class(line.error_type or error_class)
        status = fields.http_status(status)
    if line.token_usage is UNSET:
        counts = usage.strict(fields.mapping(line.usage, "usage"))
    else:
        counts = usage.strict(fields.mapping(line.token_usage, "token_usage"))
    ttfc_ms = fields.number(line.time_to_first_chunk_ms, "time_to_first_chunk_ms", fields.MAX_DURATION_MS)
    # Positional, in the fields' declared order (a keyword call costs more, once a line).
    return Completion(
        fields.text(line.model, "model"),
        fields.text(line.provider, "provider"),
        fields.text(line.operation, "operation"),
        duration_ms / 1000.0,
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        fields.number(line.cost_estimate_usd, "cost_estimate_usd", fields.MAX_COST_USD),
        error_type,
        None if ttfc_ms is None else ttfc_ms / 1000.0,
        None,  # cache_hit: this format cannot say
        fields.identifier(line.request_id, "request_id"),
        counts[5],
        None,  # saved_cost
        None,  # trace_id
        status,
        fields.text(line.response_model, "response_model"),
        None,  # ratelimit: this format does not keep headers
        line.timestamp,
        fields.session(line.session_id),
    )


def _decision(line: Line) -> Decision:
    return Decision(
        fields.identifier(line.request_id, "request_id"),
        fields.text(line.action, "action", required=True).upper(),  # type: ignore[union-attr]
        fields.text(line.symbol, "symbol") or "",
        (fields.text(line.validation_result, "validation_result") or "").upper(),
        fields.text(line.model, "model"),
        line.timestamp,
        fields.session(line.session_id),
    )


_BY_TYPE = {
    "completion_request": _request,
    "completion_response": _response,
    "trading_decision": _decision,
}


def event(line: Line) -> Event:
    event_type = line.event_type
    if type(event_type) is not str:
        raise Rejected("wrong_shape", "event_type is missing")
    handler = _BY_TYPE.get(event_type)
    if handler is None:  # performance_metrics: Prometheus derives those figures itself
        return Ignored(event_type)
    return handler(line)
