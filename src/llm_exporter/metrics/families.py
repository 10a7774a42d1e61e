"""Metric families as the collectors build them: name, help, type, unit and samples.

They have the shape of prometheus_client's (a sample is a name, labels, value, timestamp,
exemplar, native histogram), so the daemon's prometheus_client registry collects them with its
process metrics; every exposition writes them with llm_exporter.exposition.render. Replay never
imports prometheus_client, whose package imports its HTTP servers, urllib and ssl (about 25 ms).
"""

from __future__ import annotations

from typing import Any, NamedTuple

TYPES = frozenset({"counter", "gauge", "histogram"})  # the ones the collectors build


class Exemplar(NamedTuple):
    labels: dict[str, str]
    value: float
    timestamp: float | None = None


class Sample(NamedTuple):
    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | None = None
    exemplar: Exemplar | None = None
    native_histogram: Any = None  # never set here; prometheus_client's writers (the tests' reference) read it


class Family:
    """One metric family; a unit is appended to the name unless the name ends with it."""

    __slots__ = ("documentation", "name", "samples", "type", "unit")

    def __init__(self, name: str, documentation: str, typ: str, unit: str = "") -> None:
        if typ not in TYPES:
            raise ValueError(f"metric type {typ!r} is not one of {sorted(TYPES)}")
        if unit and not name.endswith("_" + unit):
            name += "_" + unit
        self.name = name
        self.documentation = documentation
        self.type = typ
        self.unit = unit
        self.samples: list[Sample] = []

    def add_sample(self, name: str, labels: dict[str, str], value: float, exemplar: Exemplar | None = None) -> None:
        self.samples.append(Sample(name, labels, value, None, exemplar))

    def __repr__(self) -> str:
        return f"Family({self.name!r}, {self.type!r}, {len(self.samples)} samples)"
