"""The daemon's log: logfmt (the default) or JSON lines, as Prometheus exporters write them.

    ts=2025-01-31T12:00:00.123Z level=warn logger=llm_exporter.daemon msg="source app: no file matches" source=app

Keys: ts (RFC 3339, UTC, milliseconds), level (debug, info, warn, error), logger, msg, then any
`extra={...}` fields of the call, then exc (a traceback, on one line) when there is one.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

LEVELS = ("debug", "info", "warn", "error")
FORMATS = ("logfmt", "json")
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn"}
# What a logfmt value may hold unquoted: printable ASCII without space, quote, equals or backslash.
_BARE = re.compile(r"[!#-<>-\[\]-~]+")
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
# watchfiles logs every batch of changes at info ("1 change detected"): one line per write to a
# followed file. That is debugging detail here.
_CHATTY = ("watchfiles",)


def _level(record: logging.LogRecord) -> str:
    return _LEVEL_NAMES.get(record.levelno, "debug" if record.levelno < logging.INFO else "error")


def _fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, Any]:
    ts = datetime.fromtimestamp(record.created, timezone.utc)
    fields: dict[str, Any] = {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
        "level": _level(record),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for key, value in vars(record).items():
        if key not in _STANDARD and key not in fields:
            fields[key] = value
    if record.exc_info:
        fields["exc"] = formatter.formatException(record.exc_info)
    return fields


def logfmt_value(value: object) -> str:
    text = str(value)
    return text if _BARE.fullmatch(text) else json.dumps(text, ensure_ascii=False)


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={logfmt_value(value)}" for key, value in _fields(record, self).items())


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record, self), ensure_ascii=False, default=str)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so that configuring again replaces it rather than adding a second one. Without a
    stream of its own it writes to the current sys.stderr, like logging's last-resort handler."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._own = stream  # StreamHandler stored sys.stderr for None

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return self._own or sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._own = value


def configure_logging(level: str = "info", fmt: str = "logfmt", stream: TextIO | None = None) -> None:
    """Log to `stream` (stderr) at `level` in `fmt`; watchfiles' per-change lines only at debug."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(stream)
    handler.setFormatter(JSONFormatter() if fmt == "json" else LogfmtFormatter())
    root.addHandler(handler)
    root.setLevel(logging.WARNING if level == "warn" else getattr(logging, level.upper()))
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "debug" else logging.WARNING)
