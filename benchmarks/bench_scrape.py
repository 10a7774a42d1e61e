"""The worst-case scrape of one source filled to its sample budget (`limits.max_samples`), by budget
(not a test: run by hand, figures go to docs/performance.md).

    python benchmarks/bench_scrape.py [10000 25000 50000 100000 200000]

Each budget runs in a fresh child process pinned to core 0. The source is filled through its
pipeline with the costliest label sets there are: model names of the longest value kept
(MAX_VALUE_LENGTH), every histogram, counter and token type of a label set, an error type with
its HTTP status and a decision each, and once the budget is full, one more of each, which fold
into the label set's own `_overflow` ones (and the status into its error type's count without
one); past the budget the rest fold into the overflow label set: every sample the budget charges
is exposed.
Then /metrics is fetched over HTTP from the exporter's own server, five times in each way an
operator's Prometheus may ask (Prometheus text or OpenMetrics, gzip or not), and the median of
each is reported, from the request to the last byte of the answer: wall time, and the process'
CPU time (server and client), which a busy machine disturbs less.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

TEXT = "text/plain;version=0.0.4"
OPENMETRICS = "application/openmetrics-text;version=1.0.0"
WAYS = {
    "text": (TEXT, "identity"),
    "text_gzip": (TEXT, "gzip"),
    "openmetrics": (OPENMETRICS, "identity"),
    "openmetrics_gzip": (OPENMETRICS, "gzip"),
}


def fill(pipeline: object, max_samples: int) -> None:
    from llm_exporter.formats.events import Completion, Decision
    from llm_exporter.pipeline.labels import MAX_VALUE_LENGTH

    label_sets = max_samples // pipeline.costs.label_set + 10  # and some past the budget
    for i in range(label_sets):
        model = f"model-{i}-".ljust(MAX_VALUE_LENGTH, "x")
        call = {"model": model, "provider": "openai", "operation": "chat", "request_id": f"r{i}"}
        for event in (
            Completion(
                **call,
                duration=1.5,
                input_tokens=1000,
                output_tokens=200,
                cache_read_tokens=100,
                cache_write_tokens=50,
                reasoning_tokens=20,
                unsplit_tokens=7,
                time_to_first_chunk=0.3,
                cache_hit=False,
            ),
            Completion(**call, duration=0.01, cache_hit=True, cost=0.001),
            Completion(**call, duration=0.5),  # no usage
            Completion(**call, duration=0.2, error_type="RateLimitError", http_status="429"),
            Decision(request_id=f"r{i}", action="LONG", symbol="S", validation_result="ok"),
        ):
            pipeline.handle(event)
    # The budget full, one more error type and decision each fold into the label set's own
    # `_overflow` ones, which its cost includes, and one more status into its error type's count
    # without a status, which the error type's cost includes.
    for i in range(label_sets):
        pipeline.handle(Decision(request_id=f"r{i}", action="SHORT", symbol="T", validation_result="ok"))
        model = f"model-{i}-".ljust(MAX_VALUE_LENGTH, "x")
        pipeline.handle(Completion(model, "openai", "chat", 0.2, error_type="APIError", http_status="503"))
        pipeline.handle(Completion(model, "openai", "chat", 0.2, error_type="RateLimitError", http_status="500"))


def measure(max_samples: int) -> dict[str, float]:
    from llm_exporter.config import parse_config
    from llm_exporter.exporter import Exporter
    from llm_exporter.exposition.http import MetricsServer

    with tempfile.TemporaryDirectory() as tmp:
        raw = {
            "sources": [{"name": "app", "path": str(Path(tmp) / "app.log"), "format": "event"}],
            "limits": {"max_samples": max_samples, "max_label_values": max_samples},
        }
        exporter = Exporter(parse_config(raw, "bench"))
        fill(exporter.sources["app"].pipeline, max_samples)
        ready = threading.Event()
        ready.set()
        server = MetricsServer(("127.0.0.1", 0), exporter.registry(), exporter.registry(openmetrics=True), None, ready)
        server.serve_in_thread()
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        out: dict[str, float] = {"max_samples": max_samples}
        try:
            for way, (accept, encoding) in WAYS.items():
                times, cpu, body = [], [], b""
                for _ in range(5):
                    request = urllib.request.Request(url, headers={"Accept": accept, "Accept-Encoding": encoding})
                    start, start_cpu = time.perf_counter(), time.process_time()
                    with urllib.request.urlopen(request, timeout=60) as resp:
                        body = resp.read()
                    times.append(time.perf_counter() - start)
                    cpu.append(time.process_time() - start_cpu)
                out[f"{way}_s"] = statistics.median(times)
                out[f"{way}_cpu_s"] = statistics.median(cpu)
                out[f"{way}_mb"] = len(body) / 1e6
                if encoding == "identity":
                    # Samples of the LLM metrics of the budget (the exporter's own and the process'
                    # are a few dozen more, whatever the budget).
                    lines = (line for line in body.splitlines() if line and not line.startswith(b"#"))
                    out[f"{way}_samples"] = sum(1 for line in lines if b"model-" in line or b"_overflow" in line)
        finally:
            server.shutdown()
            server.server_close()
            exporter.close()
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        os.sched_setaffinity(0, {0})
        print(json.dumps(measure(int(sys.argv[2]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 25_000, 50_000, 100_000, 200_000]
    print(
        "| max_samples | samples (OpenMetrics / text) | /metrics (OpenMetrics, gzip) | text | text, gzip "
        "| OpenMetrics | OpenMetrics, gzip | CPU µs a sample (OpenMetrics, gzip) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        print(
            f"| {n:,} | {r['openmetrics_samples']:,.0f} / {r['text_samples']:,.0f} | "
            f"{r['openmetrics_mb']:.1f} MB, {r['openmetrics_gzip_mb']:.1f} MB | "
            + " | ".join(f"{r[f'{way}_s']:.2f} s ({r[f'{way}_cpu_s']:.2f} s CPU)" for way in WAYS)
            + f" | {r['openmetrics_gzip_cpu_s'] / r['openmetrics_samples'] * 1e6:.1f} |"
        )


if __name__ == "__main__":
    main()
