"""OpenMetrics sample lines with timestamps, as promtool's backfill reads them."""

from __future__ import annotations

import math

from prometheus_client.utils import floatToGoString


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(v: float) -> str:
    return repr(v) if math.isfinite(v) else floatToGoString(v)


def ts(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 1000}.{ms % 1000:03d}"
