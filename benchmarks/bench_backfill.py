"""Backfill against replay on the same file (issue 12): lines per second, whole processes.

    PYTHONPATH=src python3 benchmarks/bench_backfill.py [--lines 300000] [--days 3] [--rounds 3]

The file is generate.py's completion log with its calls spread over `--days` days. Both commands
run pinned to core 0 (promtool, which backfill starts, is pinned there too), start-up included;
the best of `--rounds` is kept:
- replay: `python -m llm_exporter replay --format completion FILE`;
- backfill: `python -m llm_exporter backfill --log-path FILE --format completion --output DIR
  --to END` at the default 1m step: reading, sampling every series each minute of the span, and
  promtool writing the blocks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate import lines

START = 1709251200  # 2024-03-01T00:00:00Z
PY = sys.executable


def pin() -> None:
    os.sched_setaffinity(0, {0})


def timed(argv: list[str]) -> float:
    begin = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin)
    return time.perf_counter() - begin


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lines", type=int, default=300_000)
    p.add_argument("--days", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    try:
        log = work / "app.log"
        spacing = args.days * 86400 / (args.lines / 3)
        with open(log, "wb") as out:
            for k, line in enumerate(lines(args.lines, start=START, spacing=spacing)):
                if k >= args.lines:
                    break
                out.write(line + b"\n")
        end = str(int(START + args.days * 86400))
        replay = [PY, "-m", "llm_exporter", "replay", "--format", "completion", str(log)]
        best = {"replay": float("inf"), "backfill": float("inf")}
        for _ in range(args.rounds):
            best["replay"] = min(best["replay"], timed(replay))
            output = work / "blocks"
            shutil.rmtree(output, ignore_errors=True)
            backfill = [PY, "-m", "llm_exporter", "backfill", "--log-path", str(log), "--format", "completion"]
            backfill += ["--output", str(output), "--to", end, "--instance", "bench:8464"]
            best["backfill"] = min(best["backfill"], timed(backfill))
        blocks = len(os.listdir(work / "blocks"))
        size = sum(f.stat().st_size for f in (work / "blocks").rglob("*") if f.is_file())
        mb = log.stat().st_size / 1e6
        print(f"{args.lines:,} lines ({mb:.0f} MB) over {args.days:g} days, best of {args.rounds}")
        for name, seconds in best.items():
            print(f"  {name:<9} {seconds:6.2f} s  {args.lines / seconds:>10,.0f} lines/s")
        print(f"  backfill wrote {blocks} blocks, {size / 1e6:.1f} MB, sampled every 1m")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
