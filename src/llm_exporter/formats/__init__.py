"""Formats: a decoded JSON object in, a normalized event out (formats.events)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm_exporter.formats import auto, completion, event, litellm
from llm_exporter.formats.events import Event

Parser = Callable[[dict[str, Any]], Event]

PARSERS: dict[str, Parser] = {
    "auto": auto.parse,
    "completion": completion.parse,
    "event": event.parse,
    "litellm": litellm.parse,
}
