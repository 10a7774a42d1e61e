"""Cardinality limits. Per label: past `max_values` distinct values of a label, new values fold
into one overflow value, so a log full of made-up model names cannot explode Prometheus; so does
a value longer than MAX_VALUE_LENGTH, which no real name is and which would be repeated on every
sample of its series (a million-character model name made a 63 MB /metrics). Per source: a
label set, error type or decision that would take the source past `max_samples` samples (what
Prometheus' `sample_limit` counts) folds into one overflow label set, error type or decision, so
labels that each stay under their limit (300 operations x 300 providers) cannot multiply."""

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


class SampleBudget:
    """The samples one source's label sets may expose in a scrape. `take(key, samples)` says whether
    `key` fits, charged the `samples` it can expose (store.aggregates.SampleCosts), once. `reserved`
    (the overflow label set, where the keys that do not fit go) is charged from the start."""

    def __init__(self, max_samples: int, reserved: object, reserved_samples: int) -> None:
        self.max_samples = max_samples
        self.used = reserved_samples
        self._keys: set[object] = {reserved}

    def take(self, key: object, samples: int) -> bool:
        keys = self._keys
        if key in keys:
            return True
        if self.used + samples <= self.max_samples:
            keys.add(key)
            self.used += samples
            return True
        return False
