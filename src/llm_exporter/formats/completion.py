"""The completion log of seed 001: request, response, decision and performance events joined by
`request_id`. Responses carry no model; the pipeline takes it from the request."""

from __future__ import annotations

from typing import Any

from llm_exporter.formats import fields
from llm_exporter.formats.events import Completion, Decision, Event, Ignored, Rejected, Request


def _request(obj: dict[str, Any]) -> Request:
    return Request(
        request_id=fields.text(obj, "request_id", required=True),  # type: ignore[arg-type]
        model=fields.text(obj, "model", required=True),  # type: ignore[arg-type]
        provider=fields.text(obj, "provider"),
        operation=fields.text(obj, "operation"),
    )


def _response(obj: dict[str, Any]) -> Completion:
    duration_ms = fields.milliseconds(obj, "response_time_ms")
    if duration_ms is None:
        raise Rejected("wrong_shape", "response_time_ms is missing")
    success = obj.get("success", True)
    if type(success) is not bool:
        raise Rejected("wrong_shape", "success must be true or false")
    error_type = status = None
    if not success:
        error = obj.get("error")
        error = error if type(error) is dict else {"type": error}
        error_type = fields.error_class(obj.get("error_type") or error.get("type"))
        status = fields.http_status(obj.get("status_code", error.get("status_code")))
    usage = fields.token_usage(fields.mapping(obj, "token_usage" if "token_usage" in obj else "usage"))
    ttfc_ms = fields.milliseconds(obj, "time_to_first_chunk_ms")
    return Completion(
        model=fields.text(obj, "model"),
        provider=fields.text(obj, "provider"),
        operation=fields.text(obj, "operation"),
        duration=duration_ms / 1000.0,
        input_tokens=usage[0],
        output_tokens=usage[1],
        cache_read_tokens=usage[2],
        cache_write_tokens=usage[3],
        reasoning_tokens=usage[4],
        unsplit_tokens=usage[5],
        cost=fields.cost(obj, "cost_estimate_usd"),
        error_type=error_type,
        time_to_first_chunk=None if ttfc_ms is None else ttfc_ms / 1000.0,
        request_id=fields.text(obj, "request_id"),
        http_status=status,
    )


def _decision(obj: dict[str, Any]) -> Decision:
    return Decision(
        request_id=fields.text(obj, "request_id"),
        action=fields.text(obj, "action", required=True).upper(),  # type: ignore[union-attr]
        symbol=fields.text(obj, "symbol") or "",
        validation_result=(fields.text(obj, "validation_result") or "").upper(),
        model=fields.text(obj, "model"),
    )


_BY_TYPE = {
    "completion_request": _request,
    "completion_response": _response,
    "trading_decision": _decision,
}


def parse(obj: dict[str, Any]) -> Event:
    event_type = obj.get("event_type")
    if type(event_type) is not str:
        raise Rejected("wrong_shape", "event_type is missing")
    handler = _BY_TYPE.get(event_type)
    if handler is None:  # performance_metrics: Prometheus derives those figures itself
        return Ignored(event_type)
    return handler(obj)
