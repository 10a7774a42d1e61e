"""Where a line's microseconds go, stage by stage, in one process, the file in memory:

    PYTHONPATH=src python3 benchmarks/bench_stages.py FILE FORMAT [--rounds 5] [--lines N]

Stages, each timed alone over the same lines (best of `--rounds`, CPU time of this thread):
- `orjson.loads` alone (what the bare loop parses with);
- the format's decode alone (msgspec, bytes into its Struct);
- decode and the format's rules (the event);
- the whole pipeline: `SourcePipeline.process` on the lines (decode, rules, join, price, record),
  on a fresh store each round, the prices it looked up kept (as a replay after the first).
The difference between the last two is the recording; between the two before, the rules.

Instructions, which no neighbour on a shared machine disturbs: `--only STAGE` runs the set-up and
that one stage once (`--only none`: the set-up alone), for callgrind; a stage's instructions a
line are its run's less the set-up's, divided by the lines:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python3 benchmarks/bench_stages.py \
        FILE FORMAT --lines 5000 --only decode      # and --only none, orjson, rules, pipeline
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from llm_exporter.formats import FORMATS


def best(rounds: int, n: int, run: Callable[[], object]) -> float:
    """Microseconds a line, the best of `rounds`."""
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.thread_time()
        run()
        times.append(time.thread_time() - start)
    return min(times) / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("file", type=Path)
    p.add_argument("format", choices=sorted(FORMATS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--only", choices=["none", "orjson", "decode", "rules", "pipeline"])
    args = p.parse_args()
    lines = args.file.read_bytes().splitlines()[: args.lines]
    n = len(lines)
    fmt = FORMATS[args.format]
    decode, rules = fmt.decode, fmt.event

    def loads() -> None:
        for line in lines:
            orjson.loads(line)

    def decoded() -> None:
        for line in lines:
            decode(line)

    def events() -> None:
        for line in lines:
            rules(decode(line))

    def pipeline() -> None:
        raw = {"sources": [{"name": "bench", "path": str(args.file), "format": args.format}]}
        source = Exporter(parse_config(raw, "bench")).sources["bench"]
        source.pipeline.process(lines)

    pipeline()  # the prices looked up once, as every replay after a user's first
    stages = {"orjson": loads, "decode": decoded, "rules": events, "pipeline": pipeline}
    if args.only is not None:
        if args.only != "none":
            stages[args.only]()
        return
    print(f"{args.file} ({n:,} lines, {sum(map(len, lines)) / n:,.0f} bytes a line), format {args.format}")
    names = ["orjson.loads alone", "decode alone", "decode + rules (the event)", "whole pipeline"]
    for name, run in zip(names, stages.values(), strict=True):
        print(f"  {name:<28} {best(args.rounds, n, run):6.2f} µs a line")


if __name__ == "__main__":
    main()
