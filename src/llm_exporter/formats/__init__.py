"""Formats: a decoded JSON object in, a normalized event out (formats.events).

Each format also has a typed decoder, bytes in, for the lines of its usual shape: it skips what
it does not read and gives what `parse` gives, or None for a line `parse` must see (a wrong type,
a lenient number, a missing field): the generic way keeps every rejection reason as it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm_exporter.formats import auto, completion, event, litellm
from llm_exporter.formats.events import Event

Parser = Callable[[dict[str, Any]], Event]
Decoder = Callable[[bytes], Event | None]

PARSERS: dict[str, Parser] = {
    "auto": auto.parse,
    "completion": completion.parse,
    "event": event.parse,
    "litellm": litellm.parse,
}

DECODERS: dict[str, Decoder] = {
    "completion": completion.decode,
    "event": event.decode,
    "litellm": litellm.decode,
}
