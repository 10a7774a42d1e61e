"""Replay against a bare parse loop and mtail: one run, the same file, the same core (issue 11).

    PYTHONPATH=src python3 benchmarks/bench_replay.py [--rounds 3] [--completion-lines 300000]
        [--litellm-lines 20000] [--event-lines 200000]

The workloads: completion-format lines (benchmarks/generate.py, about 510 bytes each; again with
a cost logged on every response, which spares the price lookups), real LiteLLM payloads
(tests/testdata/litellm_recorded/*.jsonl repeated, about 13 KB each) and event-format lines (one
line a call, about 200 bytes, made here). Every contender is a whole
process (start-up and imports included), pinned to core 0, timed wall-clock; the best of
`--rounds` interleaved rounds is kept. The project's modules are byte-compiled first, as
`pip install` leaves them (this machine sets PYTHONDONTWRITEBYTECODE, which would otherwise have
every replay compile them again):
- replay: `python -m llm_exporter replay --format F FILE` (output to /dev/null), with the prices
  it looked up in earlier rounds kept (pipeline/price_cache.py, in a cache directory of its own);
- replay, first run: the same with an empty price cache each time (genai-prices imported);
- bare orjson: `for line in open(FILE, 'rb')`, `orjson.loads(line)` and one dict lookup;
- bare msgspec: the same loop with `msgspec.json.decode` (untyped);
- mtail --one_shot with benchmarks/mtail/completions.mtail (completion workload only; Debian's
  `mtail` package), if installed.
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from bench_tailing import PY, WORK, pin
from bench_tailing import generated as completion_file

HERE = Path(__file__).resolve().parent
FIRST_RUN = "replay, first run"
RECORDED = HERE.parent / "tests" / "testdata" / "litellm_recorded"
BARE = """import sys, {module}
decode = {decode}
seen = {{}}
for line in open(sys.argv[1], "rb"):
    seen.get(decode(line).get("{key}"))
"""


def litellm_file(n: int) -> Path:
    path = WORK / f"litellm-{n}.log"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        recorded = b"".join(p.read_bytes() for p in sorted(RECORDED.glob("*.jsonl")))
        per_copy = recorded.count(b"\n")
        path.write_bytes(recorded * -(-n // per_copy))
    return path


def event_file(n: int) -> Path:
    """Event-format lines: four models, split token counts, 5 % failures, half with a cost."""
    path = WORK / f"events-{n}.log"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        rng = random.Random(1)
        models = ["gpt-4", "gpt-4o-mini", "claude-3-haiku-20240307", "llama3:8b"]
        with open(path, "wb") as out:
            for _ in range(n):
                prompt, completion = rng.randrange(50, 3000), rng.randrange(1, 800)
                line = {
                    "timestamp": "2024-01-15T10:00:13.000Z",
                    "model": rng.choice(models),
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                    "latency_ms": rng.randrange(100, 9000),
                    "status": "success" if rng.random() < 0.95 else "error",
                    "tags": {"feature": "chat"},
                }
                if line["status"] == "error":
                    line["error_type"] = "RateLimitError"
                if rng.random() < 0.5:
                    line["cost_usd"] = round(rng.random() / 100, 6)
                out.write(orjson.dumps(line) + b"\n")
    return path


def costed_file(completion: Path) -> Path:
    """The completion workload with a cost logged on every response: nothing to price, so even
    a first run never imports genai-prices."""
    path = completion.with_name(completion.name.replace("completions-", "completions-costed-"))
    if not path.exists():
        with open(completion, "rb") as src, open(path, "wb") as out:
            for line in src:
                if b'"completion_response"' in line:
                    line = line.replace(b'"success":', b'"cost_estimate_usd":0.00123,"success":', 1)
                out.write(line)
    return path


def timed(argv: list[str], first_run: bool = False) -> float:
    """Seconds to run argv, with the benchmark's price cache or (`first_run`) an empty one."""
    cache = Path(tempfile.mkdtemp(dir=WORK)) if first_run else WORK / "price-cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin, env=env)
    seconds = time.perf_counter() - start
    if first_run:
        shutil.rmtree(cache)
    return seconds


def contenders(path: Path, fmt: str, key: str) -> dict[str, list[str]]:
    replay = [PY, "-m", "llm_exporter", "replay", "--format", fmt, str(path)]
    runs = {
        "replay": replay,
        FIRST_RUN: replay,
        "bare orjson loop": [PY, "-c", BARE.format(module="orjson", decode="orjson.loads", key=key), str(path)],
        "bare msgspec loop": [
            PY,
            "-c",
            BARE.format(module="msgspec", decode="msgspec.json.decode", key=key),
            str(path),
        ],
    }
    mtail = shutil.which("mtail")
    if fmt == "completion" and mtail is not None:
        program = HERE / "mtail" / "completions.mtail"
        runs["mtail"] = [mtail, "--one_shot", "--one_shot_format=prometheus", "--progs", str(program)]
        runs["mtail"] += ["--logs", str(path)]
    return runs


def workload(name: str, path: Path, fmt: str, key: str, rounds: int) -> None:
    n = path.read_bytes().count(b"\n")
    runs = contenders(path, fmt, key)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for contender, argv in runs.items():
            best[contender] = min(best[contender], timed(argv, first_run=contender == FIRST_RUN))
    size = path.stat().st_size
    print(f"\n{name}: {path} ({n:,} lines, {size / 1e6:,.0f} MB, {size / n:,.0f} bytes a line), best of {rounds}")
    for contender, seconds in best.items():
        ratio = f"  replay is {seconds / best['replay']:.2f}x this"
        if contender.startswith("replay"):
            ratio = "" if contender == "replay" else f"  {best['bare orjson loop'] / seconds:.2f}x the bare orjson loop"
        print(f"  {contender:<18} {seconds:6.2f} s  {n / seconds:>10,.0f} lines/s{ratio}")
    if "mtail" not in runs and fmt == "completion":
        print("  mtail: not installed (apt-get install mtail): no mtail comparison")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--completion-lines", type=int, default=300_000)
    p.add_argument("--litellm-lines", type=int, default=20_000)
    p.add_argument("--event-lines", type=int, default=200_000)
    args = p.parse_args()
    compileall.compile_dir(HERE.parent / "src", quiet=1)
    print(f"Python {sys.version.split()[0]}, core 0 of {os.cpu_count()}")
    completion = completion_file(args.completion_lines)
    workload("completion", completion, "completion", "event_type", args.rounds)
    workload("completion, costs logged", costed_file(completion), "completion", "event_type", args.rounds)
    workload("litellm", litellm_file(args.litellm_lines), "litellm", "call_type", args.rounds)
    workload("event", event_file(args.event_lines), "event", "model", args.rounds)


if __name__ == "__main__":
    main()
