"""CompletionLogger: the seed-001 JSONL completion log, for apps that prefer a file the daemon tails.

One JSON object a line: `completion_request` (request_id, model, provider, operation),
`completion_response` (request_id, success, response_time_ms, token_usage, cost_estimate_usd,
error_type, time_to_first_chunk_ms) and `trading_decision` (request_id, action, symbol,
validation_result), the format `llm_exporter.formats.completion` reads. Files rotate by size
(50 MB x 5 files by default: `llm_completions.log`, `.log.1` ... `.log.5`); point the daemon at
`llm_completions.log*` with `format: completion` and rotated files are followed by inode.

Prompt and response previews are written only when their lengths are set above 0.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import orjson

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUP_COUNT = 5


def _timestamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _usage_dict(token_usage: Any) -> dict[str, Any] | None:
    """OpenAI-style usage (prompt_tokens counts cached tokens) from a Usage, a mapping in either
    OpenAI or Anthropic style, or None."""
    if token_usage is None:
        return None
    if isinstance(token_usage, Mapping):
        from llm_exporter.instrumentation.responses import usage_from

        usage = usage_from(token_usage)
        if usage is None:
            return dict(token_usage)
    else:
        usage = token_usage
    # Only the counts the response reported: an embeddings line has no completion_tokens.
    counts = {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens}
    out: dict[str, Any] = {key: n for key, n in counts.items() if n is not None}
    out["total_tokens"] = sum(out.values())
    if usage.cache_read_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cache_read_tokens}
    if usage.cache_write_tokens:
        out["cache_creation_input_tokens"] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out


class CompletionLogger:
    def __init__(
        self,
        path: str | os.PathLike[str],
        max_bytes: int = DEFAULT_MAX_BYTES,
        backup_count: int = DEFAULT_BACKUP_COUNT,
        session_id: str | None = None,
        prompt_preview_length: int = 0,
        response_preview_length: int = 0,
    ) -> None:
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self.path = path
        self.session_id = session_id or secrets.token_hex(4)
        self.prompt_preview_length = prompt_preview_length
        self.response_preview_length = response_preview_length
        self._handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._lock = threading.Lock()
        self._count = 0

    def _write(self, event: dict[str, Any]) -> None:
        line = orjson.dumps(event).decode()
        record = logging.LogRecord("llm_exporter.completions", logging.INFO, self.path, 0, line, None, None)
        self._handler.emit(record)

    def log_completion_request(
        self,
        model: str,
        prompt: str | None = None,
        provider: str | None = None,
        operation: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        request_id: str | None = None,
        **extra: Any,
    ) -> str:
        """A call starts; returns its request id (for the response and decisions)."""
        with self._lock:
            self._count += 1
            number = self._count
        request_id = request_id or f"req_{secrets.token_hex(6)}"
        event: dict[str, Any] = {
            "event_type": "completion_request",
            "timestamp": _timestamp(),
            "session_id": self.session_id,
            "request_id": request_id,
            "completion_number": number,
            "model": model,
        }
        if provider:
            event["provider"] = provider
        if operation:
            event["operation"] = operation
        if temperature is not None:
            event["temperature"] = temperature
        if max_tokens is not None:
            event["max_tokens"] = max_tokens
        if prompt is not None:
            event["prompt_length"] = len(prompt)
            if self.prompt_preview_length > 0:
                event["prompt_preview"] = prompt[: self.prompt_preview_length]
        event.update(extra)
        self._write(event)
        return request_id

    def log_completion_response(
        self,
        request_id: str | None,
        success: bool = True,
        response_time: float | None = None,
        token_usage: Any = None,
        cost_estimate_usd: float | None = None,
        error_type: str | None = None,
        time_to_first_chunk: float | None = None,
        response: Any = None,
        response_time_ms: float | None = None,
        **extra: Any,
    ) -> None:
        """A call finished. Times in seconds (`response_time`, `time_to_first_chunk`) or
        `response_time_ms`; `token_usage` as a Usage or an OpenAI/Anthropic-style mapping."""
        if response_time_ms is None:
            response_time_ms = (response_time or 0.0) * 1000.0
        event: dict[str, Any] = {
            "event_type": "completion_response",
            "timestamp": _timestamp(),
            "session_id": self.session_id,
            "request_id": request_id,
            "success": success,
            "response_time_ms": round(response_time_ms, 6),
        }
        usage = _usage_dict(token_usage)
        if usage is not None:
            event["token_usage"] = usage
        if cost_estimate_usd is not None:
            event["cost_estimate_usd"] = cost_estimate_usd
        if not success:
            event["error_type"] = error_type or "_OTHER"
        if time_to_first_chunk is not None:
            event["time_to_first_chunk_ms"] = round(time_to_first_chunk * 1000.0, 6)
        if response is not None and self.response_preview_length > 0:
            text = response if isinstance(response, str) else orjson.dumps(response, default=str).decode()
            event["response_preview"] = text[: self.response_preview_length]
        event.update(extra)
        self._write(event)

    def log_trading_decision(
        self,
        action: str,
        symbol: str = "",
        validation_result: str = "",
        request_id: str | None = None,
        model: str | None = None,
        **extra: Any,
    ) -> None:
        """A decision an answer led to; joined to its completion by `request_id`."""
        event: dict[str, Any] = {
            "event_type": "trading_decision",
            "timestamp": _timestamp(),
            "session_id": self.session_id,
            "request_id": request_id,
            "action": action,
            "symbol": symbol,
            "validation_result": validation_result,
        }
        if model and not request_id:
            event["model"] = model
        event.update(extra)
        self._write(event)

    def close(self) -> None:
        self._handler.close()

    def __enter__(self) -> CompletionLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
