"""What each OpenAI instrumentation adds to a call, side by side in one run: llm_exporter, the
official `opentelemetry-instrumentation-openai-v2`, OpenLIT (`openlit`) and OpenLLMetry
(`opentelemetry-instrumentation-openai`), on identical calls of the real `openai` client whose
HTTP goes to an in-process `httpx.MockTransport` (no sockets: stable numbers).

Each instrumentation patches the same client, so each runs in a subprocess of its own, which
times pairs of runs of the same calls back to back: through the client's own
`Completions.create` kept from before instrumenting (the baseline; a check fails the subprocess
if these calls made spans) and through the instrumented one. The table gives the median of the
paired differences, so load on the machine hits both sides alike. Every subprocess has an SDK
TracerProvider (SimpleSpanProcessor to an in-memory exporter: spans on) and a MeterProvider with
an in-memory reader (metrics on, for those that record any); prompt and response content
capture is off everywhere (the default of all four, set explicitly for OpenLIT, whose default is
on).

The peers are not dependencies of this project. Install them for the benchmark only, each in a
virtualenv of its own (their pins differ) that still sees this environment's packages:

    for peer in opentelemetry-instrumentation-openai-v2 opentelemetry-instrumentation-openai; do
        python3 -m venv --system-site-packages /tmp/venv-$peer && /tmp/venv-$peer/bin/pip install $peer
    done
    # openai-v2 2.4b0 imports opentelemetry.util.genai.instruments, which opentelemetry-util-genai
    # 1.3b0 (what pip picks) no longer has:
    /tmp/venv-opentelemetry-instrumentation-openai-v2/bin/pip install 'opentelemetry-util-genai==1.1b0'
    # openlit 1.45 pins openai<3 and anthropic<1 (this environment has openai 3.x, anthropic 2.x,
    # which it runs with): pip's resolver backtracks for many minutes, so install it without them.
    python3 -m venv --system-site-packages /tmp/venv-openlit
    /tmp/venv-openlit/bin/pip install --no-deps openlit
    /tmp/venv-openlit/bin/pip install boto3 schedule xmltodict opentelemetry-instrumentation-httpx \
        opentelemetry-instrumentation-{aiohttp-client,asgi,django,falcon,fastapi,flask,pyramid} \
        opentelemetry-instrumentation-{requests,starlette,tornado,urllib,urllib3}

    PYTHONPATH=src python3 benchmarks/bench_peers.py \
        --python openai-v2=/tmp/venv-opentelemetry-instrumentation-openai-v2/bin/python \
        --python openlit=/tmp/venv-openlit/bin/python \
        --python openllmetry=/tmp/venv-opentelemetry-instrumentation-openai/bin/python

A peer that cannot be imported or run is reported with its error instead of numbers.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

VARIANTS = ("llm_exporter", "openai-v2", "openlit", "openllmetry")
MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Say hi"}]
COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_bench",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi there!"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
}


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": choices,
        "usage": usage,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


# A streamed answer in five chunks, the last one with the usage (stream_options.include_usage).
STREAM = b"".join(
    [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hi"}),
        _chunk({"content": " there!"}),
        _chunk({}, finish="stop"),
        _chunk({}, usage=COMPLETION["usage"]),  # type: ignore[arg-type]
        b"data: [DONE]\n\n",
    ]
)


def _client() -> Any:
    import httpx
    import openai

    body = json.dumps(COMPLETION).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return openai.OpenAI(
        api_key="bench",
        base_url="http://127.0.0.1:1/v1",  # never reached: the mock transport answers
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    )


def _instrument(variant: str, tracer_provider: Any, meter_provider: Any) -> None:
    if variant == "llm_exporter":
        import llm_exporter

        llm_exporter.configure(meter_provider=meter_provider, tracer_provider=tracer_provider)
        llm_exporter.instrument("openai")
    elif variant == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    elif variant == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetryInstrumentor

        OpenLLMetryInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    elif variant == "openlit":
        import tempfile

        import openlit
        from openlit._instrumentors import MODULE_NAME_MAP
        from opentelemetry import metrics, trace

        # OpenLIT takes the global providers when they are SDK ones; it fetches its price list at
        # init unless given a file (prices per 1,000 tokens); and it instruments every library it
        # knows (httpx, requests, ... each adding spans): only its openai instrumentation runs here.
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as prices:
            json.dump({"chat": {MODEL: {"promptPrice": 0.00015, "completionPrice": 0.0006}}}, prices)
        openlit.init(
            capture_message_content=False,
            disable_events=True,  # else each call's details go to a console exporter as a log event
            disable_batch=True,
            pricing_json=prices.name,
            disabled_instrumentors=[name for name in MODULE_NAME_MAP if name != "openai"],
        )
    else:
        raise ValueError(variant)


def worker(variant: str, calls: int, rounds: int) -> dict[str, Any]:
    """Microseconds per call, plain and streamed: `rounds` pairs of timings of `calls` calls each,
    uninstrumented (the client's own `create`, kept from before instrumenting) then instrumented,
    back to back in this process, so that load on the machine hits both alike."""
    from openai.resources.chat.completions import Completions
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    client = _client()
    bare = functools.partial(Completions.create, client.chat.completions)
    _instrument(variant, tracer_provider, meter_provider)
    instrumented = client.chat.completions.create

    def plain(create: Callable[..., Any], n: int) -> None:
        for _ in range(n):
            create(model=MODEL, messages=MESSAGES)

    def streamed(create: Callable[..., Any], n: int) -> None:
        for _ in range(n):
            for _chunk in create(model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}):
                pass

    def per_call(fn: Callable[[Callable[..., Any], int], None], create: Callable[..., Any]) -> float:
        spans.clear()
        start = time.perf_counter()
        fn(create, calls)
        took = (time.perf_counter() - start) / calls * 1e6
        out["spans"][create is bare] += len(spans.get_finished_spans())
        return took

    out: dict[str, Any] = {"spans": [0, 0]}  # [instrumented, bare]: bare calls must make none
    for kind, fn in (("plain", plain), ("stream", streamed)):
        fn(bare, calls // 10)  # warm both up
        fn(instrumented, calls // 10)
        pairs = [(per_call(fn, bare), per_call(fn, instrumented)) for _ in range(rounds)]
        out[f"base_{kind}"] = statistics.median(b for b, _ in pairs)
        out[f"added_{kind}"] = statistics.median(i - b for b, i in pairs)
    out["spans_per_call"] = out["spans"][0] / (2 * rounds * calls)
    if out["spans"][1]:
        raise RuntimeError(f"{variant} instruments below Completions.create: the bare calls made spans")
    data = reader.get_metrics_data()
    out["metrics"] = sorted(
        {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics} if data else set()
    )
    return out


def _run_worker(python: str, variant: str, calls: int, rounds: int) -> dict[str, Any] | str:
    command = [python, __file__, "--worker", variant, "--calls", str(calls), "--rounds", str(rounds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed: {last}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=200, help="calls per timing")
    p.add_argument("--rounds", type=int, default=15, help="pairs of timings (bare, instrumented) per kind")
    p.add_argument("--python", action="append", default=[], help="VARIANT=interpreter (default: this one)")
    p.add_argument("--worker", choices=VARIANTS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.calls, args.rounds)))
        return

    pythons = dict.fromkeys(VARIANTS, sys.executable) | dict(s.split("=", 1) for s in args.python)
    results = {v: _run_worker(pythons[v], v, args.calls, args.rounds) for v in VARIANTS}
    print(f"calls per timing: {args.calls}, rounds: {args.rounds} (medians), Python {platform.python_version()}")
    print(f"{'instrumentation':<14} {'plain':>7} {'+us':>7} {'stream':>7} {'+us':>7} {'spans/call':>11}  metrics")
    for variant, r in results.items():
        if isinstance(r, str):
            print(f"{variant:<14} {r}")
            continue
        print(
            f"{variant:<14} {r['base_plain']:>7.0f} {r['added_plain']:>7.1f} {r['base_stream']:>7.0f} "
            f"{r['added_stream']:>7.1f} {r['spans_per_call']:>11.2f}  {', '.join(r['metrics']) or '-'}"
        )
    print("plain, stream: us per uninstrumented call; +us: what the instrumentation adds to it")


if __name__ == "__main__":
    main()
