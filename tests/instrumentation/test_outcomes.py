"""Issue 8, in-app: unpriced calls, calls without usage, requests by outcome and errors with the
provider's HTTP status, through track() and the real clients against local servers, with exact
values at the real OTLP receiver."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fakes.llm_server import FakeLLMServer
from fakes.otlp_receiver import OTLPReceiver
from llm_exporter import semconv
from llm_exporter.instrumentation import instrument, track
from llm_exporter.instrumentation.configure import reset
from llm_exporter.instrumentation.track import http_status_of

from .conftest import OTel, by_name, make_otel, one

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
ollama = pytest.importorskip("ollama")

MESSAGES = [{"role": "user", "content": "hi"}]
STATUS = semconv.ATTR_HTTP_STATUS
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def chat(model: str, provider: str) -> dict[str, str]:
    return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model}


def requests(points: list, attrs: dict[str, str]) -> dict[str, float]:
    return {p.attributes["outcome"]: p.value for p in by_name(points, semconv.REQUESTS[0], **attrs)}


def errors(points: list, attrs: dict[str, str]) -> list[tuple[str, int | None, float]]:
    return [
        (p.attributes[semconv.ATTR_ERROR_TYPE], p.attributes.get(STATUS), p.value)
        for p in by_name(points, semconv.ERRORS[0], **attrs)
    ]


class _Fail500(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def fail_500() -> Iterator[str]:
    """A server that answers every POST with HTTP 500."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fail500)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def priced_at_zero(receiver: OTLPReceiver) -> Iterator[OTel]:
    o = make_otel(receiver, "http", price_overrides={"my-local-model": {"input": 0.0, "output": 0.0}})
    yield o
    o.meter_provider.shutdown()
    o.tracer_provider.shutdown()
    reset()


def test_track_unpriced_genuine_zero_and_usage_missing(priced_at_zero: OTel) -> None:
    with track(model="my-model", provider="vllm") as call:  # no price anywhere
        call.record_usage(input_tokens=100, output_tokens=20)
    with track(model="my-model", provider="vllm") as call:  # the caller's own cost: priced
        call.record_usage(input_tokens=100, output_tokens=20, cost=0.25)
    with track(model="my-free-model", provider="vllm") as call:  # a cost of 0 given: a genuine $0
        call.record_usage(input_tokens=100, output_tokens=20, cost=0.0)
    with track(model="my-local-model", provider="vllm") as call:  # priced at 0 by an override
        call.record_usage(input_tokens=100, output_tokens=20)
    with track(model="gpt-4o-mini", provider="openai") as call:
        call.record_usage(input_tokens=100, output_tokens=20)
    with track(model="my-model", provider="vllm"):  # no usage at all
        pass
    with track(model="my-model", provider="vllm") as call:  # 0/0: no usage either
        call.record_usage(input_tokens=0, output_tokens=0)
    with pytest.raises(KeyError), track(model="my-model", provider="vllm"):  # failed: not "usage missing"
        raise KeyError("x")
    points = priced_at_zero.flush()

    mine = chat("my-model", "vllm")
    assert one(points, semconv.UNPRICED[0], **mine).value == 1
    assert one(points, semconv.UNPRICED[0], **mine).unit == "{completion}"
    assert one(points, semconv.COST[0], **mine).value == 0.25  # the unpriced call adds no false $0
    free = chat("my-free-model", "vllm")
    assert (one(points, semconv.UNPRICED[0], **free).value, one(points, semconv.COST[0], **free).value) == (0, 0)
    local = chat("my-local-model", "vllm")
    assert one(points, semconv.COST[0], **local).value == 0
    gpt = chat("gpt-4o-mini", "openai")
    assert one(points, semconv.COST[0], **gpt).value == pytest.approx(100 * 0.15e-6 + 20 * 0.60e-6, rel=1e-12)
    # A priced model has no unpriced series at all.
    assert {p.attributes["gen_ai.request.model"] for p in by_name(points, semconv.UNPRICED[0])} == {
        "my-model",
        "my-free-model",
    }

    # Only the calls with tokens are token observations; the two successes without are counted.
    usage_in = one(points, semconv.TOKEN_USAGE[0], **mine, **{"gen_ai.token.type": "input"})
    assert (usage_in.count, usage_in.value) == (2, 200)
    missing = one(points, semconv.USAGE_MISSING[0], **mine)
    assert (missing.value, missing.unit, missing.monotonic) == (2, "{completion}", True)
    assert one(points, semconv.USAGE_MISSING[0], **gpt).value == 0
    assert requests(points, mine) == {"success": 4, "failure": 1}
    assert requests(points, gpt) == {"success": 1, "failure": 0}
    assert errors(points, mine) == [("KeyError", None, 1)]
    assert one(points, semconv.REQUESTS[0], **gpt, outcome="success").unit == "{request}"


def test_track_error_status_and_fail(otel: OTel) -> None:
    class Unavailable(Exception):
        status_code = 503

    attrs = chat("my-model", "vllm")
    for _ in range(2):
        with pytest.raises(Unavailable), track(model="my-model", provider="vllm"):
            raise Unavailable()
    for status in (None, 529):  # failed without an exception (an error event in a stream, say)
        with track(model="my-model", provider="vllm") as call:
            call.fail("overloaded_error", status)
    points = otel.flush()
    assert sorted(errors(points, attrs), key=str) == [
        ("Unavailable", 503, 2),
        ("overloaded_error", 529, 1),
        ("overloaded_error", None, 1),
    ]
    assert one(points, semconv.ERRORS[0], **attrs, **{STATUS: 503}).unit == "{error}"
    assert requests(points, attrs) == {"success": 0, "failure": 4}
    failed = [
        {kv.key: kv.value for kv in s.attributes}
        for s in otel.spans()
        if any(kv.key == "error.type" and kv.value.string_value == "Unavailable" for kv in s.attributes)
    ]
    assert failed and all(attrs[STATUS].int_value == 503 for attrs in failed)


def test_openai_unpriced_429_connection_error_and_stream_without_usage(
    otel: OTel, llm_server: FakeLLMServer, closed_port: int
) -> None:
    instrument("openai")
    client = openai.OpenAI(base_url=llm_server.url + "/v1", api_key="test", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.chat.completions.create(model="acme-private-model", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="fail-429", messages=MESSAGES)
    assert len(list(client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES, stream=True))) == 4
    down = openai.OpenAI(base_url=f"http://127.0.0.1:{closed_port}/v1", api_key="test", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        down.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    points = otel.flush()

    unknown = chat("acme-private-model", "openai")
    assert one(points, semconv.UNPRICED[0], **unknown).value == 1
    assert not by_name(points, semconv.COST[0], **unknown)
    assert not by_name(points, semconv.UNPRICED[0], **chat("gpt-4o-mini", "openai"))
    assert one(points, semconv.COST[0], **chat("gpt-4o-mini", "openai")).value > 0

    failed = chat("fail-429", "openai")
    assert errors(points, failed) == [("RateLimitError", 429, 1)]
    assert requests(points, failed) == {"success": 0, "failure": 1}
    assert errors(points, chat("gpt-4o", "openai")) == [("APIConnectionError", None, 1)]  # no response, no status

    streamed = chat("gpt-4.1-mini", "openai")  # no stream_options.include_usage: no usage came
    assert one(points, semconv.USAGE_MISSING[0], **streamed).value == 1
    assert not by_name(points, semconv.TOKEN_USAGE[0], **streamed)
    assert requests(points, streamed) == {"success": 1, "failure": 0}
    assert one(points, semconv.USAGE_MISSING[0], **chat("gpt-4o-mini", "openai")).value == 0


def test_anthropic_and_ollama_status_and_unpriced(otel: OTel, llm_server: FakeLLMServer, fail_500: str) -> None:
    instrument("anthropic", "ollama")
    client = anthropic.Anthropic(base_url=llm_server.url, api_key="test", max_retries=0)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="fail-429", max_tokens=10, messages=MESSAGES)
    broken = anthropic.Anthropic(base_url=fail_500, api_key="test", max_retries=0)
    with pytest.raises(anthropic.InternalServerError):
        broken.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MESSAGES)
    client.messages.create(model="acme-private-claude", max_tokens=10, messages=MESSAGES)
    with pytest.raises(ollama.ResponseError):
        ollama.Client(host=llm_server.url).chat(model="fail-429", messages=MESSAGES)
    points = otel.flush()
    assert errors(points, chat("fail-429", "anthropic")) == [("RateLimitError", 429, 1)]
    assert errors(points, chat("claude-sonnet-4-5", "anthropic")) == [("InternalServerError", 500, 1)]
    assert requests(points, chat("claude-sonnet-4-5", "anthropic")) == {"success": 0, "failure": 1}
    assert errors(points, chat("fail-429", "ollama")) == [("ResponseError", 429, 1)]
    unknown = chat("acme-private-claude", "anthropic")
    assert one(points, semconv.UNPRICED[0], **unknown).value == 1
    assert not by_name(points, semconv.COST[0], **unknown)
    assert requests(points, unknown) == {"success": 1, "failure": 0}


def test_http_status_of_client_errors() -> None:
    import httpx

    litellm = pytest.importorskip("litellm")
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(503, request=request)
    assert http_status_of(openai.InternalServerError("down", response=response, body=None)) == 503
    assert http_status_of(ollama.ResponseError("busy", 503)) == 503
    assert http_status_of(ollama.ResponseError("no status")) is None  # ollama's -1
    assert http_status_of(litellm.RateLimitError("slow down", "openai", "gpt-4o")) == 429
    # No response came: LiteLLM's 408 and 500 are its own, not the provider's.
    assert http_status_of(litellm.Timeout("timed out", "gpt-4o", "openai")) is None
    assert http_status_of(litellm.APIConnectionError("refused", "openai", "gpt-4o")) is None
    assert http_status_of(openai.APITimeoutError(request=request)) is None
    assert http_status_of(TimeoutError()) is None
    assert http_status_of(ValueError()) is None
