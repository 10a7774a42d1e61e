"""Formats: a log line in, a normalized event out (formats.events).

Each format is one module: a msgspec Struct declaring the keys it reads (each of any JSON type,
so msgspec never judges a line) and `event`, its rules on the decoded values, written once. A
line is decoded straight into the Struct; a dict already parsed (per-line detection, label_fields)
is converted into the same Struct and goes through the same rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from llm_exporter.formats import completion, event, litellm
from llm_exporter.formats.events import Event, Rejected


class Format:
    """One format: `decode` a line's bytes into its Struct (raises ValueError for a line that is
    no JSON object, or not one msgspec reads; RecursionError past its nesting depth), `read` a
    dict through the same rules, `event` the rules themselves."""

    __slots__ = ("decode", "event", "struct")

    def __init__(self, struct: type[msgspec.Struct], rules: Callable[[Any], Event]) -> None:
        self.struct = struct
        self.decode: Callable[[bytes], Any] = msgspec.json.Decoder(struct).decode
        self.event = rules

    def read(self, obj: dict[str, Any]) -> Event:
        return self.event(msgspec.convert(obj, self.struct))


FORMATS: dict[str, Format] = {
    "completion": Format(completion.Line, completion.event),
    "event": Format(event.Line, event.event),
    "litellm": Format(litellm.Payload, litellm.event),
}


def detect(obj: dict[str, Any]) -> Event:
    """Per-line format detection, for sources whose lines may come in any supported shape."""
    if "event_type" in obj:
        return FORMATS["completion"].read(obj)
    if "standard_logging_object" in obj or "startTime" in obj:
        return FORMATS["litellm"].read(obj)
    if "latency_ms" in obj:
        return FORMATS["event"].read(obj)
    raise Rejected("wrong_shape", "matches no known format (no event_type, startTime or latency_ms)")


# Every format by name, as a dict (orjson's) in: `auto` detects each line's format.
PARSERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "auto": detect,
    **{name: fmt.read for name, fmt in FORMATS.items()},
}
