"""The completion and event formats' hot path: their common lines recorded in C
(pipeline/_hotpath.c).

From bytes to aggregates a completion line costs the Python path about 2.8 µs, and this path about
0.6 µs (docs/performance.md). The C side reads each line of a read buffer in place: _json.c
validates it as JSON, as strictly as orjson, and locates the values of the keys the format reads;
only those are built, as formats.completion.parse or formats.event.parse reads them. It records a
line only when everything it touches already exists: a known series, its pending request, its
price, its label values, its error or decision key. Any other line (JSON the reader leaves alone,
rejected, another event type, a first sighting, a full table) goes whole to the Python path,
`SourcePipeline.line`, with nothing done in C: the Python code stays the one definition of what a
line means. tests/test_hotpath_reader.py holds the reader to orjson and the parsers on lines
written every way JSON allows and damaged byte by byte; tests/test_hotpath.py holds the two paths
to the same exposition on the golden samples and on generated and mutated logs;
tests/test_hotpath_sanitized.py runs both on a build with AddressSanitizer and UBSan.

The extension is optional (setup.py): without it, or with LLM_EXPORTER_PURE_PYTHON=1 set, every
line takes the Python path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from llm_exporter.formats import fields
from llm_exporter.metrics.store import Histogram, Series
from llm_exporter.pipeline.pricing import Price, UnitPrice
from llm_exporter.semconv import OTHER_ERROR

if TYPE_CHECKING:
    from llm_exporter.pipeline.processor import SourcePipeline

try:
    from llm_exporter.pipeline._hotpath import HotPath
except ImportError:  # not built: the Python path does it all
    HotPath = None

log = logging.getLogger(__name__)

# buffer of whole lines -> how many of them were recorded (the others went to `slow`)
Feed = Callable[[memoryview | bytes], int]


FORMATS = ("completion", "event")  # the formats the C side reads (the LiteLLM one stays in Python)


def available() -> bool:
    return HotPath is not None and not os.environ.get("LLM_EXPORTER_PURE_PYTHON")


def hot_path(pipeline: SourcePipeline, fmt: str, call_type: type) -> Feed | None:
    """The C feed for a pipeline reading `fmt`, or None where lines take the Python path."""
    if fmt not in FORMATS or pipeline.decode is None or not available():
        return None
    try:
        return HotPath(  # type: ignore[misc]
            pipeline=pipeline,
            format=fmt,
            slow=pipeline.line,
            series=Series,
            histogram=Histogram,
            call=call_type,
            price=Price,
            unit_price=UnitPrice,
            max_tokens=fields.MAX_TOKENS,
            max_cost=fields.MAX_COST_USD,
            max_ms=fields.MAX_DURATION_MS,
            other_error=OTHER_ERROR,
        )
    except TypeError as exc:  # a slot renamed without the C side: slower, still right
        log.warning("the C hot path is off: %s", exc)
        return None
