"""Record what the real LiteLLM writes (its StandardLoggingPayload) against the local fake LLM server.

Run: python3 tests/testdata/litellm_recorded/record.py   (needs litellm, and its proxy's dependencies
for the proxy part). It writes, next to this file:

- sdk.jsonl: one payload per line from a CustomLogger inside litellm.completion/acompletion/Router;
- proxy.jsonl: the same from a custom callback inside `litellm --config ...` driven by the openai client;
- proxy_generic_api.jsonl: what the proxy's built-in generic_api logger POSTed to a local receiver;
- scenarios.json: what the client saw, call by call, in file order (the ground truth for tests).

Paths, ports and keys are scrubbed before writing; everything else is kept as LiteLLM wrote it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "tests"))

# LiteLLM fetches its model price map from the network at import unless told to use its own copy.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from fakes.llm_server import FakeLLMServer  # noqa: E402

# Placeholders written instead of this run's random ports.
FAKE_PORT, PROXY_PORT, RECEIVER_PORT = 8999, 4000, 9000
API_KEY = "sk-fake"
ANTHROPIC_KEY = "sk-ant-fake"
MASTER_KEY = "sk-fake-master"
WAIT_SECONDS = 20.0  # how long a callback may take to deliver the lines of one call
GRACE_SECONDS = 0.5  # extra wait after the expected lines, so unexpected extra lines are caught


@dataclass
class Call:
    """One client-side request and what the client saw of it."""

    scenario: str
    api: str  # completion, acompletion, router.acompletion, proxy
    requested_model: str
    outcome: str = "success"
    error: str | None = None  # the exception class the client caught
    stream: bool = False
    include_usage: bool | None = None  # stream_options.include_usage, for streams
    cache_hit: bool = False  # answered from LiteLLM's cache, without a request to the provider
    attempts: int = 1  # requests the provider must receive (checked against the fake server's count)
    lines: int = 1  # payload lines LiteLLM must write for this call (checked)
    response_model: str | None = None  # `model` of the answer the client got

    def check(self, where: str, requests: list[tuple[str, Any]], written: int) -> None:
        if self.cache_hit and self.outcome != "success":
            raise SystemExit(f"{where} {self.scenario}: a cache hit must succeed, got {self.error}")
        completions = [r for r in requests if r[0] != "/api/show"]  # a model-info lookup is no attempt
        if (len(completions), written) != (self.attempts, self.lines):
            raise SystemExit(
                f"{where} {self.scenario}: expected {self.attempts} provider requests and {self.lines} lines, "
                f"got {written} lines and these requests: {requests}"
            )


def messages(scenario: str) -> list[dict[str, str]]:
    # A distinct prompt per scenario, so only the cache scenario ever hits the cache.
    return [{"role": "user", "content": f"Say hello ({scenario})."}]


# -- scrubbing -------------------------------------------------------------------------------------


class Scrubber:
    def __init__(self, ports: dict[int, int], tmp_dirs: list[str]) -> None:
        self.ports = ports
        home = str(Path.home())
        site = sysconfig.get_paths()["purelib"]
        stdlib = sysconfig.get_paths()["stdlib"]
        # Longest first, so a site-packages path is not half-replaced by the home rule.
        pairs = [(site, "<site>"), (stdlib, "<stdlib>"), (str(REPO), "<repo>"), (home, "<home>")]
        pairs += [(d, "<tmp>") for d in tmp_dirs]
        self.paths = sorted(pairs, key=lambda p: -len(p[0]))

    def text(self, s: str) -> str:
        for path, placeholder in self.paths:
            s = s.replace(path, placeholder)
        s = re.sub(r"/tmp/[^\s\"',)]*", "<tmp>", s)
        for real, fixed in self.ports.items():
            s = re.sub(rf"(127\.0\.0\.1|localhost|0\.0\.0\.0):{real}\b", rf"\g<1>:{fixed}", s)
        return s

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value


def write_jsonl(path: Path, payloads: list[dict[str, Any]], scrub: Scrubber) -> None:
    # default=str mirrors what a logger that dumps the payload as it comes must do (datetimes, enums).
    plain = [json.loads(json.dumps(p, default=str)) for p in payloads]
    path.write_text("".join(json.dumps(scrub(p)) + "\n" for p in plain))


# -- the SDK -------------------------------------------------------------------------------------------


class SDKRecorder:
    def __init__(self, server: FakeLLMServer) -> None:
        import litellm
        from litellm.integrations.custom_logger import CustomLogger

        self.server = server
        self.lines: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        lines = self.lines

        class Sink(CustomLogger):  # type: ignore[misc]
            """Appends each standard_logging_object, from whichever hook LiteLLM calls."""

            def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
                lines.append(kwargs["standard_logging_object"])

            def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
                lines.append(kwargs["standard_logging_object"])

            async def async_log_success_event(
                self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
            ) -> None:
                lines.append(kwargs["standard_logging_object"])

            async def async_log_failure_event(
                self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
            ) -> None:
                lines.append(kwargs["standard_logging_object"])

        litellm.callbacks = [Sink()]
        self.v1 = server.url + "/v1"

    def _begin(self) -> tuple[int, int]:
        return len(self.lines), len(self.server.requests)

    def _end(self, call: Call, begun: tuple[int, int], written: int) -> None:
        call.check("sdk", self.server.requests[begun[1] :], written)
        self.calls.append(call)
        print(f"sdk   {call.scenario}: {call.outcome} {call.error or ''} lines={written}", flush=True)

    def run(self, call: Call, fn: Callable[[], Any]) -> None:
        begun = self._begin()
        try:
            answer = fn()
            if call.stream:
                chunks = list(answer)
                call.response_model = chunks[-1].model
            else:
                call.response_model = answer.model
        except Exception as e:
            call.outcome, call.error = "failure", type(e).__name__
        deadline = time.monotonic() + WAIT_SECONDS
        while len(self.lines) - begun[0] < call.lines and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(GRACE_SECONDS)
        self._end(call, begun, len(self.lines) - begun[0])

    async def arun(self, call: Call, fn: Callable[[], Awaitable[Any]]) -> None:
        begun = self._begin()
        try:
            answer = await fn()
            if call.stream:
                chunks = [c async for c in answer]
                call.response_model = chunks[-1].model
            else:
                call.response_model = answer.model
        except Exception as e:
            call.outcome, call.error = "failure", type(e).__name__
        deadline = time.monotonic() + WAIT_SECONDS
        while len(self.lines) - begun[0] < call.lines and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(GRACE_SECONDS)
        self._end(call, begun, len(self.lines) - begun[0])

    def openai(self, call: Call, **extra: Any) -> None:
        import litellm

        kw = {"api_base": self.v1, "api_key": API_KEY, "max_retries": 0, "num_retries": 0, **extra}
        self.run(call, lambda: litellm.completion(model=call.requested_model, messages=messages(call.scenario), **kw))

    def anthropic(self, call: Call, **extra: Any) -> None:
        import litellm

        kw = {"api_base": self.server.url, "api_key": ANTHROPIC_KEY, "max_retries": 0, **extra}
        self.run(call, lambda: litellm.completion(model=call.requested_model, messages=messages(call.scenario), **kw))

    def record_sync(self) -> None:
        import litellm
        from litellm.caching.caching import Cache

        self.openai(Call("openai_prefixed", "completion", "openai/gpt-4o"))
        self.openai(Call("openai_plain", "completion", "gpt-4o"))
        self.anthropic(Call("anthropic", "completion", "anthropic/claude-3-5-sonnet-20241022"))
        self.anthropic(Call("anthropic_priced", "completion", "anthropic/claude-sonnet-4-5-20250929"))
        self.openai(
            Call("stream_with_usage", "completion", "openai/gpt-4o", stream=True, include_usage=True),
            stream=True,
            stream_options={"include_usage": True},
        )
        self.openai(
            Call("stream_without_usage", "completion", "openai/gpt-4o", stream=True, include_usage=False), stream=True
        )
        self.anthropic(
            Call("anthropic_stream", "completion", "anthropic/claude-3-5-sonnet-20241022", stream=True), stream=True
        )
        self.openai(Call("fail_429", "completion", "openai/fail-429"))
        self.openai(Call("fail_500", "completion", "openai/fail-500"))
        self.openai(Call("timeout", "completion", "openai/slow"), timeout=0.5)
        self.openai(Call("fine_tune", "completion", "openai/ft:gpt-4o-mini-2024-07-18:acme::abc123"))
        self.openai(Call("self_hosted_vllm", "completion", "hosted_vllm/meta-llama/Llama-3.1-8B-Instruct"))
        self.openai(Call("self_hosted_openai_compatible", "completion", "openai/my-local-model"))
        self.run(
            Call("self_hosted_ollama", "completion", "ollama_chat/llama3.1:8b"),
            lambda: litellm.completion(
                model="ollama_chat/llama3.1:8b", messages=messages("self_hosted_ollama"), api_base=self.server.url
            ),
        )
        litellm.cache = Cache()  # in-memory
        try:
            self.openai(Call("cache", "completion", "openai/gpt-4o"))
            for _ in range(2):
                self.openai(Call("cache", "completion", "openai/gpt-4o", cache_hit=True, attempts=0))
        finally:
            litellm.cache = None

    async def record_async(self) -> None:
        import litellm
        from litellm import Router

        base = {"api_base": self.v1, "api_key": API_KEY}
        kw = {**base, "max_retries": 0, "num_retries": 0}
        await self.arun(
            Call("async_openai", "acompletion", "openai/gpt-4o"),
            lambda: litellm.acompletion(model="openai/gpt-4o", messages=messages("async_openai"), **kw),
        )
        await self.arun(
            Call("async_stream_with_usage", "acompletion", "openai/gpt-4o", stream=True, include_usage=True),
            lambda: litellm.acompletion(
                model="openai/gpt-4o",
                messages=messages("async_stream_with_usage"),
                stream=True,
                stream_options={"include_usage": True},
                **kw,
            ),
        )
        await self.arun(
            Call("async_fail_429", "acompletion", "openai/fail-429"),
            lambda: litellm.acompletion(model="openai/fail-429", messages=messages("async_fail_429"), **kw),
        )

        def deployment(name: str, model: str) -> dict[str, Any]:
            return {"model_name": name, "litellm_params": {"model": model, **base}}

        retrying = Router(
            model_list=[deployment("always-fails", "openai/fail-500"), deployment("flaky", "openai/flaky-1-sdk")],
            num_retries=2,
            retry_after=0,
        )
        await self.arun(
            Call("router_retries_exhausted", "router.acompletion", "always-fails", attempts=3, lines=3),
            lambda: retrying.acompletion(model="always-fails", messages=messages("router_retries_exhausted")),
        )
        await self.arun(
            Call("router_retry_then_success", "router.acompletion", "flaky", attempts=2, lines=2),
            lambda: retrying.acompletion(model="flaky", messages=messages("router_retry_then_success")),
        )
        falling_back = Router(
            model_list=[deployment("model-a", "openai/fail-500"), deployment("model-b", "openai/gpt-4o")],
            fallbacks=[{"model-a": ["model-b"]}],
            num_retries=0,
        )
        await self.arun(
            Call("router_fallback", "router.acompletion", "model-a", attempts=2, lines=2),
            lambda: falling_back.acompletion(model="model-a", messages=messages("router_fallback")),
        )


# -- the proxy -----------------------------------------------------------------------------------------

CALLBACK_MODULE = '''"""Writes each standard_logging_object the proxy logs as one JSON line to $RECORD_PROXY_OUT."""

import json
import os

from litellm.integrations.custom_logger import CustomLogger


class Sink(CustomLogger):
    def _write(self, kwargs):
        with open(os.environ["RECORD_PROXY_OUT"], "a") as f:
            f.write(json.dumps(kwargs["standard_logging_object"], default=str) + "\\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs)


handler = Sink()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A local endpoint for the generic_api logger: keeps every payload it is POSTed, in order."""

    def __init__(self) -> None:
        payloads: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                payloads.extend(body if isinstance(body, list) else [body])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.payloads = payloads
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def proxy_config(fake: str) -> dict[str, Any]:
    v1 = fake + "/v1"

    def deployment(name: str, model: str, **extra: Any) -> dict[str, Any]:
        return {"model_name": name, "litellm_params": {"model": model, "api_base": v1, "api_key": API_KEY, **extra}}

    return {
        "model_list": [
            deployment("gpt-4o", "openai/gpt-4o"),
            deployment("gpt-4o-plain", "gpt-4o"),
            {
                "model_name": "claude-3-5-sonnet-20241022",
                "litellm_params": {
                    "model": "anthropic/claude-3-5-sonnet-20241022",
                    "api_base": fake,
                    "api_key": ANTHROPIC_KEY,
                },
            },
            {
                "model_name": "claude-sonnet-4-5",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5-20250929",
                    "api_base": fake,
                    "api_key": ANTHROPIC_KEY,
                },
            },
            deployment("fail-429", "openai/fail-429"),
            deployment("fail-500", "openai/fail-500"),
            deployment("slow", "openai/slow", timeout=0.5),
            deployment("always-fails", "openai/fail-500"),
            deployment("flaky", "openai/flaky-1-proxy"),
            deployment("model-a", "openai/fail-500"),
            deployment("model-b", "openai/gpt-4o"),
            deployment("ft-model", "openai/ft:gpt-4o-mini-2024-07-18:acme::abc123"),
            deployment("llama-vllm", "hosted_vllm/meta-llama/Llama-3.1-8B-Instruct"),
            {"model_name": "llama-ollama", "litellm_params": {"model": "ollama_chat/llama3.1:8b", "api_base": fake}},
        ],
        "litellm_settings": {
            "callbacks": ["custom_callbacks.handler", "generic_api"],
            "num_retries": 0,
            "request_timeout": 30,
            "cache": True,
            "cache_params": {"type": "local", "mode": "default_off"},
        },
        "router_settings": {"fallbacks": [{"model-a": ["model-b"]}], "retry_after": 0},
        "general_settings": {"master_key": MASTER_KEY},
    }


class ProxyRecorder:
    def __init__(self, server: FakeLLMServer, workdir: Path, receiver: Receiver) -> None:
        import yaml

        self.server = server
        self.receiver = receiver
        self.out = workdir / "proxy_raw.jsonl"
        self.out.touch()
        self.calls: list[Call] = []
        (workdir / "custom_callbacks.py").write_text(CALLBACK_MODULE)
        config = workdir / "config.yaml"
        config.write_text(yaml.safe_dump(proxy_config(server.url)))
        self.port = free_port()
        env = {
            **os.environ,
            "RECORD_PROXY_OUT": str(self.out),
            "GENERIC_LOGGER_ENDPOINT": f"http://127.0.0.1:{receiver.port}/log",
            "DEFAULT_BATCH_SIZE": "1",  # the generic_api logger POSTs each payload at once
            "PYTHONPATH": str(workdir),
        }
        self.log = (workdir / "proxy.log").open("w")
        self.proc = subprocess.Popen(
            ["litellm", "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.flush()
                tail = Path(self.log.name).read_text()[-5000:]
                raise SystemExit(f"the proxy exited with {self.proc.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health/liveliness", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise SystemExit("the proxy did not start")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def run(self, call: Call, headers: dict[str, str] | None = None, **extra: Any) -> None:
        import openai

        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{self.port}", api_key=MASTER_KEY, max_retries=0, default_headers=headers
        )
        begun_lines, begun_requests = len(self.lines()), len(self.server.requests)
        begun_posts = len(self.receiver.payloads)
        try:
            answer = client.chat.completions.create(
                model=call.requested_model, messages=messages(call.scenario), stream=call.stream, **extra
            )
            if call.stream:
                chunks = list(answer)
                call.response_model = chunks[-1].model
            else:
                call.response_model = answer.model
        except openai.APIError as e:
            call.outcome, call.error = "failure", type(e).__name__
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and (
            len(self.lines()) - begun_lines < call.lines or len(self.receiver.payloads) - begun_posts < call.lines
        ):
            time.sleep(0.05)
        time.sleep(GRACE_SECONDS)
        requests = self.server.requests[begun_requests:]
        call.check("proxy", requests, len(self.lines()) - begun_lines)
        call.check("proxy generic_api", requests, len(self.receiver.payloads) - begun_posts)
        self.calls.append(call)
        print(f"proxy {call.scenario}: {call.outcome} {call.error or ''}", flush=True)

    def record(self) -> None:
        self.run(Call("openai_prefixed", "proxy", "gpt-4o"))
        self.run(Call("openai_plain", "proxy", "gpt-4o-plain"))
        self.run(Call("anthropic", "proxy", "claude-3-5-sonnet-20241022"))
        self.run(Call("anthropic_priced", "proxy", "claude-sonnet-4-5"))
        self.run(
            Call("stream_with_usage", "proxy", "gpt-4o", stream=True, include_usage=True),
            stream_options={"include_usage": True},
        )
        self.run(Call("stream_without_usage", "proxy", "gpt-4o", stream=True, include_usage=False))
        self.run(Call("anthropic_stream", "proxy", "claude-3-5-sonnet-20241022", stream=True))
        self.run(Call("fail_429", "proxy", "fail-429"))
        self.run(Call("fail_500", "proxy", "fail-500"))
        self.run(Call("timeout", "proxy", "slow"))
        retries = {"x-litellm-num-retries": "2"}
        # The proxy logs one failure line for a request whose retries all failed, not one per attempt.
        self.run(Call("router_retries_exhausted", "proxy", "always-fails", attempts=3, lines=1), headers=retries)
        self.run(Call("router_retry_then_success", "proxy", "flaky", attempts=2, lines=2), headers=retries)
        self.run(Call("router_fallback", "proxy", "model-a", attempts=2, lines=2))
        use_cache = {"cache": {"use-cache": True}}
        self.run(Call("cache", "proxy", "gpt-4o"), extra_body=use_cache)
        for _ in range(2):
            self.run(Call("cache", "proxy", "gpt-4o", cache_hit=True, attempts=0), extra_body=use_cache)
        self.run(Call("fine_tune", "proxy", "ft-model"))
        self.run(Call("self_hosted_vllm", "proxy", "llama-vllm"))
        self.run(Call("self_hosted_ollama", "proxy", "llama-ollama"))


# -- main ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="litellm-record-") as d:
        yield Path(d)


def main() -> None:
    manifest: dict[str, Any] = {"litellm_version": version("litellm"), "files": {}}
    with FakeLLMServer() as server, workdir() as tmp:
        fake_port = int(server.httpd.server_address[1])
        sdk = SDKRecorder(server)
        sdk.record_sync()
        asyncio.run(sdk.record_async())
        scrub = Scrubber({fake_port: FAKE_PORT}, [str(tmp)])
        write_jsonl(HERE / "sdk.jsonl", sdk.lines, scrub)
        manifest["files"]["sdk.jsonl"] = [asdict(c) for c in sdk.calls]

        receiver = Receiver()
        proxy = ProxyRecorder(server, tmp, receiver)
        try:
            proxy.record()
        finally:
            proxy.close()
            receiver.close()
        scrub = Scrubber(
            {fake_port: FAKE_PORT, proxy.port: PROXY_PORT, receiver.port: RECEIVER_PORT},
            [str(tmp)],
        )
        write_jsonl(HERE / "proxy.jsonl", proxy.lines(), scrub)
        write_jsonl(HERE / "proxy_generic_api.jsonl", receiver.payloads, scrub)
        calls = [asdict(c) for c in proxy.calls]
        manifest["files"]["proxy.jsonl"] = calls
        manifest["files"]["proxy_generic_api.jsonl"] = calls
    (HERE / "scenarios.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
