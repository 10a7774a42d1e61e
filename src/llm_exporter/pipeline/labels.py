"""Cardinality limits. Per label: past `max_values` distinct values of a label, new values fold
into one overflow value, so a log full of made-up model names cannot explode Prometheus; so does
a value longer than MAX_VALUE_LENGTH, which no real name is and which would be repeated on every
sample of its series (a million-character model name made a 63 MB /metrics). Per
source: past `max_series` label sets, new ones fold into one overflow label set, so labels
that each stay under their limit (300 operations x 300 providers) cannot multiply."""

from __future__ import annotations

from llm_exporter.semconv import OVERFLOW_VALUE

# Characters at most in a label value. The longest real names are Bedrock inference-profile ARNs
# (about 120); folding, not truncating, keeps two long names from silently sharing a series.
MAX_VALUE_LENGTH = 256


class LabelLimiter:
    def __init__(self, max_values: int) -> None:
        self.max_values = max_values
        self._seen: dict[str, set[str]] = {}
        self.folded: dict[str, int] = {}  # label name -> values folded

    def __call__(self, label: str, value: str) -> str:
        seen = self._seen.get(label)
        if seen is None:
            seen = self._seen[label] = set()
        if value in seen:
            return value
        if len(seen) < self.max_values and len(value) <= MAX_VALUE_LENGTH:
            seen.add(value)
            return value
        self.folded[label] = self.folded.get(label, 0) + 1
        return OVERFLOW_VALUE


class SeriesBudget:
    """The label sets one source may create; `take(key)` says whether `key` fits."""

    def __init__(self, max_series: int) -> None:
        self.max_series = max_series
        self._keys: set[object] = set()

    def take(self, key: object) -> bool:
        keys = self._keys
        if key in keys:
            return True
        if len(keys) < self.max_series:
            keys.add(key)
            return True
        return False
