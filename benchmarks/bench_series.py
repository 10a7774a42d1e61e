"""What a label set costs: memory, /metrics bytes and scrape time at 1k, 10k and 100k label sets
(not a test: run by hand, figures go to docs/performance.md).

    python benchmarks/bench_series.py [1000 10000 100000]

Each size runs in a fresh child process pinned to core 0: the store is filled through the real
pipeline with one completion per label set (distinct models), then scraped five times.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(n: int) -> dict[str, float]:
    from llm_exporter.config import parse_config
    from llm_exporter.exporter import Exporter
    from llm_exporter.exposition import render

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "app.log"
        with open(log, "w") as out:
            for i in range(n):
                out.write(
                    f'{{"model":"model-{i}","provider":"openai","latency_ms":{i % 5000},'
                    f'"prompt_tokens":{i % 900},"completion_tokens":7,"cost_usd":0.001}}\n'
                )
        raw = {
            "sources": [{"name": "app", "path": str(log), "format": "event"}],
            "limits": {"max_samples": 10**9, "max_label_values": n},  # no sample budget: all n are measured
        }
        exporter = Exporter(parse_config(raw, "bench"))
        before = _rss_mb()
        exporter.drain()
        after = _rss_mb()
        assert len(exporter.store.series) == n
        registry = exporter.registry(process=False)
        times, body = [], b""
        for _ in range(5):
            start = time.perf_counter()
            body = render.text(registry.collect())  # what /metrics does
            times.append(time.perf_counter() - start)
        exporter.close()
    return {
        "label_sets": n,
        "rss_per_label_set_kb": (after - before) * 1024 / n,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "metrics_mb": len(body) / 1e6,
        "samples_per_label_set": sum(1 for line in body.splitlines() if not line.startswith(b"#")) / n,
        "scrape_s_median": statistics.median(times),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        os.sched_setaffinity(0, {0})
        print(json.dumps(measure(int(sys.argv[2]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10_000, 100_000]
    print("| label sets | samples each | RSS per label set | peak RSS | /metrics | scrape (median of 5) |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        print(
            f"| {n:,} | {r['samples_per_label_set']:.0f} | {r['rss_per_label_set_kb']:.1f} KB | "
            f"{r['peak_rss_mb']:.0f} MB | {r['metrics_mb']:.1f} MB | {r['scrape_s_median']:.2f} s |"
        )


if __name__ == "__main__":
    main()
