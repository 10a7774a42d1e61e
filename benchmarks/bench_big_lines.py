"""The daemon following LiteLLM lines of several MB (not a test: figures go to docs/performance.md).

    python benchmarks/bench_big_lines.py [--lines 40] [--line-mb 5] [--piece-kb 64]

Three runs of the real daemon (default config but for the source), each following a file that
is appended while it runs, the same total size each:
- big: `--lines` LiteLLM lines of `--line-mb` MB each (a long prompt logged whole in `messages`),
  each written in `--piece-kb` pieces, so the daemon sees most lines arrive in parts;
- small: LiteLLM lines of about 1.2 KB, the baseline;
- over: lines of 1.5x the default `max_line_bytes`, which must all be rejected as too_long.
Reported: peak RSS (VmHWM) and throughput, and ratios big/small. The daemon is pinned to core 0,
the writer to core 1. Then, in this process and stepped with poll_once(): one big line written in
4 KiB pieces with a poll after each, against the same line written whole; a ratio near 1 means
a line arriving in pieces is assembled in time linear in its size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench_tailing import WORK, Daemon, peak_rss_mb

from llm_exporter.config import LimitsConfig, parse_config
from llm_exporter.exporter import Exporter

MAX_LINE = LimitsConfig().max_line_bytes
# The first call of the example LiteLLM log, a StandardLoggingPayload.
PAYLOAD = json.loads(
    (Path(__file__).resolve().parent.parent / "examples" / "logs" / "litellm.jsonl").read_text().splitlines()[0]
)
TURN = (
    'Here is the next part of the contract, clause by clause; quote the "shall" sentences back.\n'
    "\tSection 4.2: the supplier shall deliver within 30 days (see annex B, ü, é, 日本).\n"
)


def line(n: int, size: int) -> bytes:
    """LiteLLM's line for call `n`: a conversation of about `size` bytes logged whole, or a
    single short turn (a line of about 1.2 KB) when `size` is 0."""
    message = TURN * 40
    each = len(json.dumps(message))  # non-ASCII characters are escaped: count the bytes logged
    turns = [{"role": "user" if i % 2 else "assistant", "content": message} for i in range(size // each)]
    payload = {**PAYLOAD, "id": f"chatcmpl-{n}", "trace_id": f"tr-{n}"}
    payload["messages"] = turns or [{"role": "user", "content": TURN}]
    return json.dumps(payload).encode() + b"\n"


def run(name: str, lines: list[bytes], piece: int, want: str) -> dict[str, float]:
    """Follow a file while `lines` are appended; wait until `want` counts every line."""
    log = WORK / f"big-lines-{name}.log"
    log.write_bytes(b"")
    d = Daemon(str(log), fmt="litellm")
    d.wait_ready()
    idle = peak_rss_mb(d.proc.pid)
    total = sum(map(len, lines))
    start = time.perf_counter()
    with open(log, "ab", buffering=0) as out:
        for text in lines:
            for i in range(0, len(text), piece):
                out.write(text[i : i + piece])
    while d.metric(want) < len(lines):
        time.sleep(0.02)
    took = time.perf_counter() - start
    result = {
        "lines": len(lines),
        "line_mb": total / len(lines) / 1e6,
        "mb": total / 1e6,
        "s": took,
        "mb_s": total / 1e6 / took,
        "idle_mb": idle,
        "peak_mb": peak_rss_mb(d.proc.pid),
        "counted": d.metric("gen_ai_client_operation_duration_seconds_count"),
        "too_long": d.metric("llm_exporter_lines_rejected_total"),
    }
    d.stop()
    log.unlink()
    print(
        f"{name:5}: {result['lines']:7,} lines of {result['line_mb']:8.4f} MB = {result['mb']:.0f} MB in "
        f"{took:5.2f} s: {result['mb_s']:6.1f} MB/s, {len(lines) / took:9,.1f} lines/s; counted "
        f"{result['counted']:,.0f}, rejected {result['too_long']:,.0f}; RSS idle {idle:.1f} MB, "
        f"peak {result['peak_mb']:.1f} MB"
    )
    return result


def assembly(size: int, piece: int = 4096) -> None:
    """One line of `size` bytes written whole and polled once, then written in `piece`-byte
    writes with a poll after each."""
    text = line(0, size)
    took = []
    for step in (len(text), piece):
        directory = Path(tempfile.mkdtemp(prefix="bench-", dir=WORK))
        log = directory / "app.log"
        log.write_bytes(b"")
        source = {"name": "app", "path": str(log), "format": "litellm"}
        exporter = Exporter(parse_config({"sources": [source]}, "bench"), use_positions=False)
        exporter.poll_once()
        start = time.perf_counter()
        with open(log, "ab", buffering=0) as out:
            for i in range(0, len(text), step):
                out.write(text[i : i + step])
                exporter.poll_once(rescan=False)
        took.append(time.perf_counter() - start)
        exporter.close()
        shutil.rmtree(directory)
    whole, pieces = took
    print(
        f"one {len(text) / 1e6:.1f} MB line, stepped in-process: whole, 1 poll {whole * 1000:.1f} ms; "
        f"in {piece // 1024} KiB pieces, {-(-len(text) // piece):,} polls {pieces * 1000:.1f} ms; "
        f"pieces / whole {pieces / whole:.1f}x"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=40)
    p.add_argument("--line-mb", type=float, default=5)
    p.add_argument("--piece-kb", type=int, default=64, help="bytes per write of the writer, in KiB")
    args = p.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    os.sched_setaffinity(0, {1})
    piece = args.piece_kb * 1024
    big = [line(n, int(args.line_mb * 1e6)) for n in range(args.lines)]
    total = sum(map(len, big))
    small = [line(n, 0) for n in range(total // len(line(0, 0)))]
    over = [line(n, MAX_LINE * 3 // 2) for n in range(max(1, total // (MAX_LINE * 3 // 2)))]
    print(f"max_line_bytes (default) {MAX_LINE / 1e6:.1f} MB; writer pieces {args.piece_kb} KiB")
    b = run("big", big, piece, "gen_ai_client_operation_duration_seconds_count")
    s = run("small", small, piece, "gen_ai_client_operation_duration_seconds_count")
    o = run("over", over, piece, "llm_exporter_lines_rejected_total")
    line_mb = b["line_mb"]
    print(
        f"big / small: throughput (MB/s) {b['mb_s'] / s['mb_s']:.2f}x, peak RSS {b['peak_mb'] / s['peak_mb']:.2f}x; "
        f"peak RSS above idle: big {(b['peak_mb'] - b['idle_mb']) / line_mb:.1f} line sizes, "
        f"small {s['peak_mb'] - s['idle_mb']:.1f} MB; over-long lines "
        f"{(o['peak_mb'] - o['idle_mb']) / (MAX_LINE / 1e6):.2f}x max_line_bytes above idle"
    )
    assembly(int(args.line_mb * 1e6))


if __name__ == "__main__":
    main()
