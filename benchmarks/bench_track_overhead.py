"""Per-call overhead of llm_exporter.track() against the bare cost of the three semconv histogram
records a call needs (duration, input tokens, output tokens), side by side in one run; plus a
naive version that also adds every extension counter per call, and an instrumented OpenAI client
call against a local fake server.

    PYTHONPATH=src:tests python3 benchmarks/bench_track_overhead.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def best_of(fn: Callable[[int], None], n: int, rounds: int) -> float:
    """Microseconds per call: the median of `rounds` runs of n calls."""
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn(n)
        results.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(results)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=50_000)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--client-calls", type=int, default=300)
    args = p.parse_args()

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from llm_exporter import semconv
    from llm_exporter.instrumentation import configure, track
    from llm_exporter.instrumentation.configure import reset

    mp = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    meter = mp.get_meter("bare")
    duration = meter.create_histogram(
        "bare.duration", "s", explicit_bucket_boundaries_advisory=semconv.DURATION_BUCKETS
    )
    usage = meter.create_histogram("bare.usage", "{token}", explicit_bucket_boundaries_advisory=semconv.TOKEN_BUCKETS)
    counters = [meter.create_counter(f"bare.counter{i}") for i in range(7)]
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
    attrs_in = {**attrs, "gen_ai.token.type": "input"}
    attrs_out = {**attrs, "gen_ai.token.type": "output"}

    def bare(n: int) -> None:
        for _ in range(n):
            start = time.perf_counter()
            duration.record(time.perf_counter() - start, attrs)
            usage.record(1200, attrs_in)
            usage.record(300, attrs_out)

    def naive(n: int) -> None:
        for _ in range(n):
            start = time.perf_counter()
            duration.record(time.perf_counter() - start, attrs)
            usage.record(1200, attrs_in)
            usage.record(300, attrs_out)
            for c in counters:  # cost, five token kinds, in-flight
                c.add(1, attrs)

    configure(meter_provider=mp, traces=False)

    def tracked(n: int) -> None:
        for _ in range(n):
            with track(model="gpt-4o-mini", provider="openai") as call:
                call.record_usage(input_tokens=1200, output_tokens=300, cache_read_tokens=200)

    tracked(1000)  # resolve the price once, warm the series
    bare(1000)
    figures = {}
    for name, fn in (("bare", bare), ("track", tracked), ("naive", naive), ("bare (again)", bare)):
        figures[name] = best_of(fn, args.calls, args.rounds)

    tp = TracerProvider(shutdown_on_exit=False)  # spans on, no exporter: the span's own cost
    configure(meter_provider=mp, tracer_provider=tp)
    tracked(1000)
    figures["track + span"] = best_of(tracked, args.calls, args.rounds)
    reset()

    client_figures = {}
    try:
        import openai

        from fakes.llm_server import FakeLLMServer
        from llm_exporter.instrumentation import instrument, uninstrument

        with FakeLLMServer() as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
            messages = [{"role": "user", "content": "hi"}]

            def client_calls(n: int) -> None:
                for _ in range(n):
                    client.chat.completions.create(model="gpt-4o-mini", messages=messages)

            client_calls(50)
            configure(meter_provider=mp, traces=False)
            for _ in range(2):
                client_figures["openai plain"] = best_of(client_calls, args.client_calls, 3)
                instrument("openai")
                client_figures["openai instrumented"] = best_of(client_calls, args.client_calls, 3)
                uninstrument("openai")
            reset()
    except ImportError:
        pass

    base = (figures["bare"] + figures["bare (again)"]) / 2
    print(f"calls per round: {args.calls}, rounds: {args.rounds} (median), Python {sys.version.split()[0]}")
    print(f"{'variant':<34} {'us/call':>8} {'x bare':>7}")
    for name, us in figures.items():
        print(f"{name:<34} {us:8.2f} {us / base:7.2f}")
    if client_figures:
        plain, inst = client_figures["openai plain"], client_figures["openai instrumented"]
        print(f"{'openai client call, plain':<34} {plain:8.1f}")
        print(f"{'openai client call, instrumented':<34} {inst:8.1f}  (+{inst - plain:.1f} us)")
    ratio = figures["track"] / base
    print(f"track() / bare three records: {ratio:.2f} (target <= 1.5): {'OK' if ratio <= 1.5 else 'OVER'}")


if __name__ == "__main__":
    main()
