"""Where a line's microseconds go, stage by stage, in one process on one core (figures for
docs/performance.md, "Replay against a bare parse loop").

    PYTHONPATH=src python3 benchmarks/bench_hotpath.py FILE FORMAT [--rounds 5]

Each stage runs over the whole file, already in memory, in 1 MiB reads as the tailer hands them
on (sources.lines.Lines: the Python stages take them split into lines beforehand, the C hot path
takes each read's buffer whole), and the best round is kept.
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
from llm_exporter.pipeline import hotpath
from llm_exporter.pipeline.labels import LabelLimiter
from llm_exporter.pipeline.pricing import PriceBook
from llm_exporter.pipeline.processor import SourcePipeline
from llm_exporter.sources.lines import Lines

CHUNK = 1 << 20


def reads(data: bytes) -> list[Lines]:
    """The file as the tailer hands it on: the whole lines of each 1 MiB read."""
    out, at = [], 0
    while at < len(data):
        end = data.rfind(b"\n", at, at + CHUNK) + 1 or len(data)
        out.append(Lines(None, data[at:end]))
        at = end
    return out


def pipeline(fmt: str, hot: bool = False) -> SourcePipeline:
    made = SourcePipeline(
        "bench", fmt, {}, MetricsStore(), SourceHealth(0.0), PriceBook({}), LabelLimiter(100), 10_000, 300.0
    )
    if not hot:
        made._hot = None
    return made


def stages(fmt: str) -> list[tuple[str, Callable[[list[bytes]], object]]]:
    decode, parse = DECODERS[fmt], PARSERS[fmt]
    typed = importlib.import_module(f"llm_exporter.formats.{fmt}").decode_line

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

    found = [
        ("iterate the lines", loop),
        ("orjson.loads (the bare loop's parse)", orjson_only),
        ("orjson.loads + format parse (generic way)", generic),
        ("msgspec typed decode only", msgspec_only),
        ("typed decode + normalized event", events),
        ("whole pipeline, Python path", pipeline(fmt).process),
    ]
    if fmt in hotpath.FORMATS and hotpath.available():
        found.append(("whole pipeline, C hot path (each read's buffer)", pipeline(fmt, hot=True).process))
    return found


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("format")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    os.sched_setaffinity(0, {0})
    data = Path(args.file).read_bytes()
    whole = reads(data)
    split = [list(lines) for lines in whole]
    n = sum(len(lines) for lines in split)
    print(f"{args.file}: {n:,} lines, {len(data) / n:,.0f} bytes a line, format {args.format}")
    for name, stage in stages(args.format):
        best = float("inf")
        hot = "C hot path" in name
        for _ in range(args.rounds):
            if name.startswith("whole"):
                stage = pipeline(args.format, hot).process  # fresh aggregates each round
            start = time.perf_counter()
            for lines in whole if hot else split:
                stage(lines)
            best = min(best, time.perf_counter() - start)
        print(f"{name:<50} {best / n * 1e6:6.2f} us/line")


if __name__ == "__main__":
    main()
