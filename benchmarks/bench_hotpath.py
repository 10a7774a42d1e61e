"""Where a line's microseconds go, stage by stage, in one process on one core (figures for
docs/performance.md, "Replay against a bare parse loop").

    PYTHONPATH=src python3 benchmarks/bench_hotpath.py FILE FORMAT [--rounds 5]

Each stage runs over the whole file, already in memory and split into lines as the tailer hands
them on (1 MiB chunks), and the best round is kept; each stage's cost is its time less the stage
before it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from llm_exporter.formats import DECODERS, PARSERS
from llm_exporter.metrics.health import SourceHealth
from llm_exporter.metrics.store import MetricsStore
from llm_exporter.pipeline.labels import LabelLimiter
from llm_exporter.pipeline.pricing import PriceBook
from llm_exporter.pipeline.processor import SourcePipeline

CHUNK = 1 << 20


def chunks(data: bytes) -> list[list[bytes]]:
    """The file as the tailer hands it on: lists of whole lines, one per 1 MiB read."""
    out, rest = [], b""
    for at in range(0, len(data), CHUNK):
        lines = (rest + data[at : at + CHUNK]).split(b"\n")
        rest = lines.pop()
        out.append(lines)
    return out


def pipeline(fmt: str) -> SourcePipeline:
    return SourcePipeline(
        "bench", fmt, {}, MetricsStore(), SourceHealth(0.0), PriceBook({}), LabelLimiter(100), 10_000, 300.0
    )


def stages(fmt: str) -> list[tuple[str, Callable[[list[bytes]], object]]]:
    decode, parse = DECODERS[fmt], PARSERS[fmt]
    typed = importlib.import_module(f"llm_exporter.formats.{fmt}")._decode

    def loop(lines: list[bytes]) -> None:
        for _line in lines:
            pass

    def orjson_only(lines: list[bytes]) -> None:
        loads = orjson.loads
        for line in lines:
            loads(line)

    def generic(lines: list[bytes]) -> None:
        loads = orjson.loads
        for line in lines:
            parse(loads(line))

    def msgspec_only(lines: list[bytes]) -> None:
        for line in lines:
            typed(line)

    def events(lines: list[bytes]) -> None:
        for line in lines:
            decode(line)

    process = pipeline(fmt).process
    return [
        ("iterate the lines", loop),
        ("orjson.loads (the bare loop's parse)", orjson_only),
        ("orjson.loads + format parse (generic way)", generic),
        ("msgspec typed decode only", msgspec_only),
        ("typed decode + normalized event", events),
        ("whole pipeline (decode, join, price, aggregate)", process),
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("format")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    os.sched_setaffinity(0, {0})
    data = Path(args.file).read_bytes()
    parts = chunks(data)
    n = sum(len(lines) for lines in parts)
    print(f"{args.file}: {n:,} lines, {len(data) / n:,.0f} bytes a line, format {args.format}")
    for name, stage in stages(args.format):
        best = float("inf")
        for _ in range(args.rounds):
            if name.startswith("whole"):
                stage = pipeline(args.format).process  # fresh aggregates each round
            start = time.perf_counter()
            for lines in parts:
                stage(lines)
            best = min(best, time.perf_counter() - start)
        print(f"{name:<50} {best / n * 1e6:6.2f} us/line")


if __name__ == "__main__":
    main()
