"""What sessions cost (issue 25): a line's pipeline time with and without a session id, the memory
of an open session, and the positions save with the table of open sessions full (not a test: run
by hand, figures go to docs/performance.md).

    PYTHONPATH=src python3 benchmarks/bench_sessions.py [--lines 200000] [--open 10000]

The pipeline workload is event-format lines (one line a call, an RFC 3339 time, a cost logged),
replayed in-process through the live pipeline: the same lines with a session id (a new session
every 20 calls, 36-character ids) and with none, the best of five interleaved rounds each.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from bench_tailing import pin

from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter


def write(path: Path, n: int, sessions: bool) -> None:
    ids = [str(uuid.UUID(int=i)) for i in range(n // 20 + 1)]
    with open(path, "w") as out:
        for i in range(n):
            session = f',"session_id":"{ids[i // 20]}"' if sessions else ""
            stamp = f"2026-01-{1 + i // 86400:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.123Z"
            out.write(
                f'{{"timestamp":"{stamp}","model":"gpt-4o-mini","latency_ms":{300 + i % 700},'
                f'"prompt_tokens":{i % 900},"completion_tokens":7,"cost_usd":0.001,"status":"success"{session}}}\n'
            )


def replay_seconds(path: Path) -> float:
    raw = {"sources": [{"name": "app", "path": str(path), "format": "event"}]}
    exporter = Exporter(parse_config(raw, "bench"), use_positions=False)
    gc.collect()
    start = time.perf_counter()
    exporter.drain()
    exporter.settle()
    seconds = time.perf_counter() - start
    exporter.close()
    return seconds


def pipeline(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with_ids, without = Path(tmp) / "sessions.log", Path(tmp) / "plain.log"
        write(with_ids, n, True)
        write(without, n, False)
        best = {with_ids: float("inf"), without: float("inf")}
        for _ in range(5):
            for path in (without, with_ids):
                best[path] = min(best[path], replay_seconds(path))
    per_line = {path: best[path] / n * 1e6 for path in best}
    print(f"pipeline: {per_line[without]:.2f} us a line without a session id, {per_line[with_ids]:.2f} us with one")
    print(f"  ratio with / without: {best[with_ids] / best[without]:.3f}")


def table(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "app.log"
        log.write_text("")
        raw = {
            "sources": [{"name": "app", "path": str(log), "format": "event"}],
            "positions_file": str(Path(tmp) / "positions.json"),
            "limits": {"max_open_sessions": n},
        }
        exporter = Exporter(parse_config(raw, "bench"))
        sessions = exporter.sources["app"].pipeline.sessions
        ids = [str(uuid.uuid4()) for _ in range(n)]
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i, session in enumerate(ids):
            sessions.call(session, 1767225600.0 + i, 1767225601.0 + i, 0.001, "0" * 32)
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        saves = []
        for _ in range(5):
            start = time.perf_counter()
            assert exporter.save_positions()
            saves.append(time.perf_counter() - start)
        size = (Path(tmp) / "positions.json").stat().st_size
        exporter.close()
    print(f"{n} open sessions (36-character ids, a trace id each): {held / n:.0f} bytes each, {held / 2**20:.1f} MiB")
    print(f"  positions save: {min(saves) * 1e3:.1f} ms (best of 5, fsync included), file {size / 2**20:.2f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--open", type=int, default=10_000)
    args = parser.parse_args()
    pin()
    pipeline(args.lines)
    table(args.open)


if __name__ == "__main__":
    main()
