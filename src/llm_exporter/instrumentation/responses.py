"""Token usage and response facts from the response shapes of the known clients, as objects
(the clients' pydantic models) or as plain dicts.

Usage goes through the one usage normaliser the log formats use too (formats/usage.py, which
lists the shapes), leniently: a value it cannot read counts as 0, never an error in the app.
An OpenAI Responses API answer's finish reason is `stop` for a completed response, else the
reason it is incomplete (`max_output_tokens`, `content_filter`) or its status; Ollama's counts
(`prompt_eval_count`, `eval_count`) are on the response itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_exporter.formats.usage import lenient


def get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


@dataclass(slots=True)
class Usage:
    """A call's tokens; input or output None where the response does not report it."""

    input_tokens: int | None = 0
    output_tokens: int | None = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(slots=True)
class ResponseInfo:
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    service_tier: str | None = None
    system_fingerprint: str | None = None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def responses_finish_reason(response: Any) -> str | None:
    """The finish reason of an OpenAI Responses API answer (see the module doc); None while it
    is still queued or in progress."""
    status = get(response, "status")
    if status == "completed":
        return "stop"
    if status in ("queued", "in_progress"):
        return None
    return _str(get(get(response, "incomplete_details"), "reason")) or _str(status)


def usage_from(usage: Any) -> Usage | None:
    """A Usage from a client's usage object or dict (any shape formats/usage.py knows); None
    where it tells neither input nor output tokens."""
    tokens = lenient(usage)
    return None if tokens is None else Usage(*tokens[:5])


def extract(response: Any) -> ResponseInfo:
    """What a response says about usage, the model that answered, its id and finish reasons."""
    info = ResponseInfo()
    if response is None:
        return info
    info.model = _str(get(response, "model"))
    info.id = _str(get(response, "id"))
    info.service_tier = _str(get(response, "service_tier"))
    info.system_fingerprint = _str(get(response, "system_fingerprint"))
    usage = get(response, "usage")
    if usage is not None:
        info.usage = usage_from(usage)
    elif get(response, "eval_count") is not None or get(response, "prompt_eval_count") is not None:  # Ollama
        info.usage = usage_from(response)
    choices = get(response, "choices")
    if isinstance(choices, list):
        info.finish_reasons = [r for r in (get(c, "finish_reason") for c in choices) if isinstance(r, str)]
    elif get(response, "object") == "response":  # OpenAI Responses API
        reason = responses_finish_reason(response)
        if reason is not None:
            info.finish_reasons = [reason]
    else:
        reason = get(response, "stop_reason") or get(response, "done_reason")
        if isinstance(reason, str):
            info.finish_reasons = [reason]
    return info
