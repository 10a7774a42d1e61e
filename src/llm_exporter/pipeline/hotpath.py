"""The completion format's hot path: its common lines recorded in C (pipeline/_hotpath.c).

From bytes to aggregates a completion line costs the Python path about 2.8 µs, and this path
0.8 µs, half of it the decode (docs/performance.md). The C side reads each line of a read buffer
in place, decodes it with formats.completion.decode_hot and records it only when everything it
touches already exists: a known series, its pending request, its price, its label values, its
error or decision key. Any other line (undecodable, rejected, another event type, a first
sighting, a full table) goes whole to the Python path, `SourcePipeline.line`, with nothing done in
C: the Python code stays the one definition of what a line means. tests/test_hotpath.py holds
the two paths to the same exposition on the golden sample and on generated and mutated logs.

The extension is optional (setup.py): without it, or with LLM_EXPORTER_PURE_PYTHON=1 set, every
line takes the Python path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from msgspec import UNSET

from llm_exporter.formats import completion, fields
from llm_exporter.metrics.store import Histogram, Series
from llm_exporter.pipeline.pricing import Price, UnitPrice

if TYPE_CHECKING:
    from llm_exporter.pipeline.processor import SourcePipeline

try:
    from llm_exporter.pipeline._hotpath import HotPath
except ImportError:  # not built: the Python path does it all
    HotPath = None

log = logging.getLogger(__name__)

# buffer of whole lines -> how many of them were recorded (the others went to `slow`)
Feed = Callable[[memoryview | bytes], int]


def available() -> bool:
    return HotPath is not None and not os.environ.get("LLM_EXPORTER_PURE_PYTHON")


def hot_path(pipeline: SourcePipeline, fmt: str, call_type: type) -> Feed | None:
    """The C feed for a pipeline reading `fmt`, or None where lines take the Python path."""
    if fmt != "completion" or pipeline.decode is None or not available():
        return None
    try:
        return HotPath(  # type: ignore[misc]
            pipeline=pipeline,
            decode=completion.decode_hot,
            slow=pipeline.line,
            unset=UNSET,
            request=completion.HOT_REQUEST,
            response=completion.HOT_RESPONSE,
            decision=completion.HOT_DECISION,
            usage=fields.Usage,
            details=fields.TokenDetails,
            series=Series,
            histogram=Histogram,
            call=call_type,
            price=Price,
            unit_price=UnitPrice,
        )
    except TypeError as exc:  # a slot renamed without the C side: slower, still right
        log.warning("the C hot path is off: %s", exc)
        return None
