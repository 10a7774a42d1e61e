"""The exposition writer (llm_exporter.exposition.render: /metrics, /probe, replay, backfill) is
byte for byte prometheus_client's."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.utils import floatToGoString

from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from llm_exporter.exposition import render
from llm_exporter.metrics.families import Exemplar, Family
from testkit import EXAMPLES, TESTDATA

VALUES = [0, 1, 7, 2**53 + 1, 0.0, -0.0, 1.5, 0.1, 1e-7, 999999.0, 1e6, 1234567.0, 12345678.9, 1e15, 1e16]
VALUES += [1e17, 1.5e21, -1234567.0, -1e20, float("inf"), float("-inf"), float("nan"), 1700000000.123]


class _Registry:
    """What prometheus_client's expositions read: an object with collect()."""

    def __init__(self, families: list[Family]) -> None:
        self.families = families

    def collect(self) -> Iterable[Family]:
        return self.families


def _both(families: list[Family]) -> None:
    registry = _Registry(families)
    assert render.text(families) == generate_latest(registry)  # type: ignore[arg-type]
    assert render.openmetrics(families) == generate_openmetrics(registry)


def test_numbers_as_go_formats_them() -> None:
    rng = random.Random(11)
    values = VALUES + [rng.choice((1, -1)) * 10 ** rng.uniform(-12, 25) for _ in range(5000)]
    values += [rng.randrange(10**12) for _ in range(500)] + [rng.randrange(-10, 2 * 10**6) for _ in range(500)]
    for v in values:
        assert render.number(v) == floatToGoString(v), v


def test_escaping_units_created_and_exemplars() -> None:
    odd = ["", 'a "quoted" \\ back\\slash', "two\nlines", "é ✓ 日本", "\\n literal", "trailing \\"]
    doc = 'Help with a \\ backslash, a "quote" and a\nnewline.'
    counter = Family("llm_things", doc, "counter")
    for i, value in enumerate(odd):
        labels = {"b_label": value, "a_label": str(i)}
        counter.add_sample("llm_things_total", labels, VALUES[i], Exemplar({"trace_id": value}, 0.5, 1700000000.25))
        counter.add_sample("llm_things_created", labels, 1700000000.0 + i)
    histogram = Family("llm_wait", "Waits.", "histogram", "seconds")
    total = 0
    for i, le in enumerate(("0.1", "1.0", "+Inf")):
        total += i
        exemplar = Exemplar({"trace_id": f"t{i}"}, 0.05 * i, None if i else 1700000001.5)
        histogram.add_sample("llm_wait_seconds_bucket", {"model": "m", "le": le}, total, exemplar)
    histogram.add_sample("llm_wait_seconds_count", {"model": "m"}, total)
    histogram.add_sample("llm_wait_seconds_sum", {"model": "m"}, 1.25)
    histogram.add_sample("llm_wait_seconds_created", {"model": "m"}, 1700000000.5)
    gauge = Family("llm_values", "Every value.", "gauge", "bytes")
    for i, v in enumerate(VALUES):
        gauge.add_sample(gauge.name, {"i": str(i)}, v)
    unlabelled = Family("llm_one", "No labels.", "counter")
    unlabelled.add_sample("llm_one_total", {}, 3)
    empty = Family("llm_none", "No samples.", "gauge")
    _both([counter, histogram, gauge, unlabelled, empty])


def test_process_metrics_alike() -> None:
    """/metrics writes prometheus_client's process and platform families too."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    families = list(registry.collect())  # once: CPU time and memory move between collections
    assert {f.name for f in families} >= {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"}
    _both(families)


def test_timestamped_samples_for_promtool() -> None:
    """Backfill's lines: a series written once, samples of one moment stamped to the millisecond."""
    series = render.series("llm_things_total", {"model": 'a "b"\\', "job": "j"})
    assert series == 'llm_things_total{job="j",model="a \\"b\\"\\\\"}'
    lines = [render.sample(series, 3), render.sample("llm_up", 1234567.0)]
    text = render.at(1709251200.0006, lines) + render.at(1709251260.25, [render.sample("llm_up", 0)]) + render.EOF
    assert text == (
        'llm_things_total{job="j",model="a \\"b\\"\\\\"} 3.0 1709251200.001\n'
        "llm_up 1.234567e+06 1709251200.001\n"
        "llm_up 0.0 1709251260.250\n"
        "# EOF\n"
    )
    assert render.at(1709251200.0, []) == ""


def _replayed(log: Path, fmt: str) -> Exporter:
    config = parse_config({"sources": [{"name": "replay", "path": str(log), "format": fmt}]}, "test")
    exporter = Exporter(config, use_positions=False)
    exporter.drain()
    exporter.settle()
    exporter.close()
    return exporter


@pytest.mark.parametrize(
    ("log", "fmt"),
    [
        (TESTDATA / "golden" / "completion.log", "completion"),
        (TESTDATA / "golden" / "event.log", "event"),
        (TESTDATA / "golden" / "litellm.log", "litellm"),
        (TESTDATA / "litellm_recorded" / "proxy.jsonl", "litellm"),
        (EXAMPLES / "logs" / "llm_completions.log", "completion"),
    ],
)
def test_replayed_logs_expose_alike(log: Path, fmt: str) -> None:
    exporter = _replayed(log, fmt)
    for openmetrics in (False, True):
        families = [f for c in exporter.collectors(openmetrics) for f in c.collect()]
        registry = exporter.registry(openmetrics, process=False)
        if openmetrics:
            assert render.openmetrics(families) == generate_openmetrics(registry)
        else:
            assert render.text(families) == generate_latest(registry)
