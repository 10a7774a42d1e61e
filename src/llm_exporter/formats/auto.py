"""Per-line format detection, for sources whose lines may come in any supported shape."""

from __future__ import annotations

from typing import Any

from llm_exporter.formats import completion, event, litellm
from llm_exporter.formats.events import Event, Rejected


def parse(obj: dict[str, Any]) -> Event:
    if "event_type" in obj:
        return completion.parse(obj)
    if "standard_logging_object" in obj or "startTime" in obj:
        return litellm.parse(obj)
    if "latency_ms" in obj:
        return event.parse(obj)
    raise Rejected("wrong_shape", "matches no known format (no event_type, startTime or latency_ms)")
