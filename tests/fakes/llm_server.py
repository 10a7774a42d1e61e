"""A local fake LLM server answering in the real wire formats of the OpenAI (chat completions,
embeddings and Responses API), Azure OpenAI (deployment paths with `api-version`), Anthropic
(`/v1/messages`, and `?beta=true` as the client's `beta.messages` calls it) and Ollama (`/api/chat`,
`/api/embed`, `/api/embeddings`) APIs, streaming included (SSE for OpenAI, Azure and Anthropic,
NDJSON for Ollama). Token counts are fixed so tests can assert exact values. Each request's path
and body are kept in `requests`, its headers in `headers`, and each request with the answer it got
in `exchanges` (what tests/testdata/providers_recorded/record.py writes). Some model names provoke
failures:

- `fail-429` answers with a rate-limit error, `fail-500` with an internal server error;
- `slow...` waits SLOW_SECONDS (or until the server stops) before answering, to outlast a client timeout;
- `flaky-<n>-<tag>` answers 500 to its first n requests, then succeeds (counted per full model name, so
  each tag is a fresh sequence), to drive client-side retries.

With `FakeLLMServer(ratelimit=True)`, OpenAI-style answers (Azure's and 429s too) carry OpenAI's
rate-limit headers and Anthropic's carry Anthropic's (resets RFC 3339 times RATELIMIT_RESETS seconds
after the answer's `Date`), 429s with nothing left; the recorded corpus has them, other tests ask.
`clock` (epoch seconds) dates the answers: the recorder fixes it, so re-recording writes the same
bytes.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

# What every answer reports.
OPENAI_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 200},
    "completion_tokens_details": {"reasoning_tokens": 50},
}
ANTHROPIC_USAGE = {
    "input_tokens": 1000,
    "output_tokens": 250,
    "cache_read_input_tokens": 300,
    "cache_creation_input_tokens": 100,
}
RESPONSES_USAGE = {
    "input_tokens": 900,
    "input_tokens_details": {"cached_tokens": 300, "cache_write_tokens": 0},
    "output_tokens": 150,
    "output_tokens_details": {"reasoning_tokens": 40},
    "total_tokens": 1050,
}
EMBEDDING_USAGE = {"prompt_tokens": 8, "total_tokens": 8}
OLLAMA_COUNTS = {"prompt_eval_count": 26, "eval_count": 298}
# What Ollama tells of a model (LiteLLM asks for it to learn the context window).
OLLAMA_SHOW = {
    "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
    "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
    "capabilities": ["completion", "tools"],
}
TEXT = ["Hel", "lo", " world"]
# The dated snapshot OpenAI names in its answers for an alias; other models are echoed as asked.
OPENAI_SNAPSHOTS = {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18"}
# Azure OpenAI deployments (any name their owner chose) -> the model each answers as, as Azure's
# responses name it (`gpt-35-turbo` without the dot).
AZURE_DEPLOYMENTS = {
    "prod-chat": "gpt-4.1-mini-2025-04-14",
    "legacy-chat": "gpt-35-turbo",
    "search-embed": "text-embedding-3-large",
}
_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)/")
# Azure's content filter verdicts, on the prompt and on each choice.
_AZURE_FILTERS = {name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")}
OLLAMA_EMBED_COUNT = {"prompt_eval_count": 6}
# What the server adds to every answer's headers (none by default; a test may add its own).
EXTRA_HEADERS: dict[str, str] = {}
SLOW_SECONDS = 5.0
RATE_LIMITED = {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
ANTHROPIC_RATE_LIMITED = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
SERVER_ERROR = {"error": {"message": "the fake server failed", "type": "server_error", "code": None}}
_FLAKY = re.compile(r"flaky-(\d+)-")
# Rate limits every answer tells: resource -> (limit, remaining); OpenAI's resets as Go durations.
OPENAI_RATELIMIT = {"requests": (5000, 4999), "tokens": (160000, 158500)}
OPENAI_RESETS = {"requests": "12ms", "tokens": "1m30.5s"}
ANTHROPIC_RATELIMIT = {
    "requests": (1000, 999),
    "tokens": (96000, 94750),
    "input-tokens": (80000, 79000),
    "output-tokens": (16000, 15750),
}
RATELIMIT_RESETS = {"requests": 1, "tokens": 6, "input-tokens": 6, "output-tokens": 60}  # seconds after Date
# Rate-limit headers with figures no rate limit has, for tests that feed them in.
ABSURD_RATELIMIT = {
    "x-ratelimit-remaining-requests": "-5",
    "x-ratelimit-limit-requests": "1e308",
    "x-ratelimit-reset-requests": "99999h",
    "x-ratelimit-remaining-tokens": "NaN",
    "x-ratelimit-limit-tokens": "9" * 5000,
    "x-ratelimit-reset-tokens": "abc",
}


def ratelimit_headers(path: str, now: int, exhausted: bool = False) -> dict[str, str]:
    """The rate-limit headers of an answer on `path` sent at `now` (its Date, whole seconds)."""
    headers = {}
    if path.endswith("/messages"):
        for resource, (limit, remaining) in ANTHROPIC_RATELIMIT.items():
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + RATELIMIT_RESETS[resource]))
            headers[f"anthropic-ratelimit-{resource}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{resource}-remaining"] = "0" if exhausted else str(remaining)
            headers[f"anthropic-ratelimit-{resource}-reset"] = reset
    elif not path.startswith("/api/"):  # Ollama has no rate limits
        for resource, (limit, remaining) in OPENAI_RATELIMIT.items():
            headers[f"x-ratelimit-limit-{resource}"] = str(limit)
            headers[f"x-ratelimit-remaining-{resource}"] = "0" if exhausted else str(remaining)
            headers[f"x-ratelimit-reset-{resource}"] = OPENAI_RESETS[resource]
    return headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body

    def log_message(self, *args: Any) -> None:
        pass

    def send_header(self, keyword: str, value: str) -> None:
        super().send_header(keyword, value)
        if keyword != "Server":  # send_response's own, naming this Python's version
            self._sent_headers[keyword] = value

    def _keep(self, status: int, body: bytes | None, chunks: list[bytes] | None) -> None:
        """The request and its answer, as `exchanges` keeps them."""
        response: dict[str, Any] = {"status": status, "headers": self._sent_headers}
        if chunks is None:
            response["body"] = (body or b"").decode()
        else:
            response["chunks"] = [c.decode() for c in chunks]
        self.server.exchanges.append({"request": self._request, "response": response})  # type: ignore[attr-defined]

    def _ratelimit_headers(self, status: int) -> dict[str, str]:
        if not self.server.ratelimit:  # type: ignore[attr-defined]
            return {}
        return ratelimit_headers(self.route, self.now, status == 429)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header names the second the rate-limit resets count from.
        return super().date_time_string(self.now if timestamp is None else timestamp)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in {**EXTRA_HEADERS, **self._ratelimit_headers(status), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        self._keep(status, data, None)  # before the client can have the answer
        self._served()
        self.wfile.write(data)

    def _stream(self, content_type: str, chunks: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in {**EXTRA_HEADERS, **self._ratelimit_headers(200)}.items():
            self.send_header(k, v)
        self.end_headers()
        self._keep(200, None, chunks)  # before the client can have the answer
        for chunk in chunks:
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
        self._served()
        self.wfile.write(b"0\r\n\r\n")

    def _served(self) -> None:
        """Note how long the server had the request, up to its last write: a client's own timing
        of the call encloses it (the request came before, the last byte arrives after)."""
        self.server.served.append(time.perf_counter() - self.received)  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self.received = time.perf_counter()
        self.now = int(self.server.clock())  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append((self.path, body))  # type: ignore[attr-defined]
        self.server.headers.append(dict(self.headers))  # type: ignore[attr-defined]
        self._sent_headers: dict[str, str] = {}
        self._request = {"method": "POST", "path": self.path, "headers": _request_headers(self.headers), "body": body}
        self.route, _, query = self.path.partition("?")
        self.query = parse_qs(query)
        azure = _AZURE_PATH.match(self.route)
        model = azure.group(1) if azure else body.get("model", "")
        if model == "fail-429":
            error = ANTHROPIC_RATE_LIMITED if self.route.endswith("/messages") else RATE_LIMITED
            self._json(429, error, {"retry-after": "0"})
            return
        if model == "fail-500" or self._flaky_fails(model):
            self._json(500, SERVER_ERROR)
            return
        if model.startswith("slow") and self.server.stopping.wait(SLOW_SECONDS):  # type: ignore[attr-defined]
            return  # the server is stopping; the client gave up long ago
        self._answer(body)

    def _flaky_fails(self, model: str) -> bool:
        match = _FLAKY.match(model)
        if not match:
            return False
        with self.server.lock:  # type: ignore[attr-defined]
            seen = self.server.flaky.get(model, 0)  # type: ignore[attr-defined]
            self.server.flaky[model] = seen + 1  # type: ignore[attr-defined]
        return seen < int(match.group(1))

    def _answer(self, body: dict[str, Any]) -> None:
        route = self.route
        azure = _AZURE_PATH.match(route)
        if azure:
            self._azure(azure.group(1), route[azure.end() :], body)
        elif route.endswith("/chat/completions"):
            self._openai_chat(body)
        elif route.endswith("/responses"):
            self._openai_responses(body)
        elif route.endswith("/embeddings") and not route.startswith("/api/"):
            self._openai_embeddings(body["model"])
        elif route.endswith("/messages"):
            self._anthropic(body)
        elif route == "/api/chat":
            self._ollama_chat(body)
        elif route == "/api/embed":  # Ollama's: counts the input, no output
            self._json(200, {"model": body["model"], "embeddings": [[0.25, -0.5]], **OLLAMA_EMBED_COUNT})
        elif route == "/api/embeddings":  # Ollama's older endpoint: the vector only, no counts at all
            self._json(200, {"embedding": [0.25, -0.5]})
        elif route == "/api/show":
            self._json(200, OLLAMA_SHOW)
        else:
            self._json(404, {"error": "not found"})

    def _openai_embeddings(self, model: str) -> None:
        self._json(
            200,
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}],
                "model": model,
                "usage": EMBEDDING_USAGE,
            },
        )

    # -- Azure OpenAI ------------------------------------------------------------------------------

    def _azure(self, deployment: str, operation: str, body: dict[str, Any]) -> None:
        """A deployment's call: `api-version` is required; the answer names the deployment's model
        (not the deployment) and carries Azure's content filter results."""
        if "api-version" not in self.query:
            self._json(404, {"error": {"code": "404", "message": "Resource not found"}})
            return
        model = AZURE_DEPLOYMENTS.get(deployment)
        if model is None:
            self._json(404, {"error": {"code": "DeploymentNotFound", "message": "The deployment does not exist."}})
        elif operation == "embeddings":
            self._openai_embeddings(model)
        elif operation == "chat/completions":
            self._openai_chat({**body, "model": model}, azure=True)
        else:
            self._json(404, {"error": {"code": "404", "message": "Resource not found"}})

    # -- OpenAI ----------------------------------------------------------------------------------

    def _openai_chat(self, body: dict[str, Any], azure: bool = False) -> None:
        """OpenAI's chat completion; Azure's (`azure`) adds its content filter results, and its
        stream opens with a chunk of no choices and no model that carries the prompt's."""
        model = body["model"]
        prompt_filters = [{"prompt_index": 0, "content_filter_results": _AZURE_FILTERS}] if azure else None
        choice_filters = {"content_filter_results": _AZURE_FILTERS} if azure else {}
        if not body.get("stream"):
            answer = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1700000000,
                "model": OPENAI_SNAPSHOTS.get(model, model),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(TEXT), "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                        **choice_filters,
                    }
                ],
                "usage": OPENAI_USAGE,
            }
            if prompt_filters:
                answer["prompt_filter_results"] = prompt_filters
            self._json(200, answer)
            return
        base = {
            "id": "chatcmpl-2",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": OPENAI_SNAPSHOTS.get(model, model),
        }
        events: list[dict[str, Any]] = []
        if prompt_filters:
            events.append(
                {
                    "choices": [],
                    "created": 0,
                    "id": "",
                    "model": "",
                    "object": "",
                    "prompt_filter_results": prompt_filters,
                }
            )
        deltas = [{"role": "assistant", "content": ""}] + [{"content": t} for t in TEXT]
        for i, delta in enumerate(deltas):
            finish = "stop" if i == len(deltas) - 1 else None
            events.append(
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish, **choice_filters}
                    ],
                }
            )
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": OPENAI_USAGE})
        chunks = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
        self._stream("text/event-stream", chunks)

    def _openai_responses(self, body: dict[str, Any]) -> None:
        """The Responses API: one message of output text; streamed as the typed SSE events
        (created, in progress, output item and content part added, text deltas, done events, completed)."""
        model = OPENAI_SNAPSHOTS.get(body["model"], body["model"])
        text = "".join(TEXT)
        message = {
            "id": "msg_r1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }
        done = {
            "id": "resp_1",
            "object": "response",
            "created_at": 1700000000,
            "status": "completed",
            "model": model,
            "output": [message],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "service_tier": "default",
            "usage": RESPONSES_USAGE,
        }
        if not body.get("stream"):
            self._json(200, done)
            return
        started = {**done, "status": "in_progress", "output": [], "usage": None}
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        ids = {"item_id": "msg_r1", "output_index": 0}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": started},
            {"type": "response.in_progress", "response": started},
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**message, "status": "in_progress", "content": []},
            },
            {"type": "response.content_part.added", **ids, "content_index": 0, "part": part},
        ]
        events += [
            {"type": "response.output_text.delta", **ids, "content_index": 0, "delta": t, "logprobs": []} for t in TEXT
        ]
        events += [
            {"type": "response.output_text.done", **ids, "content_index": 0, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **ids, "content_index": 0, "part": {**part, "text": text}},
            {"type": "response.output_item.done", "output_index": 0, "item": message},
            {"type": "response.completed", "response": done},
        ]
        chunks = [
            f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': i})}\n\n".encode()
            for i, e in enumerate(events)
        ]
        self._stream("text/event-stream", chunks)

    # -- Anthropic ---------------------------------------------------------------------------------

    def _anthropic(self, body: dict[str, Any]) -> None:
        model = body["model"]
        if not body.get("stream"):
            self._json(
                200,
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": "".join(TEXT)}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": ANTHROPIC_USAGE,
                },
            )
            return
        start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_2",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        for t in TEXT:
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}},
                )
            )
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": ANTHROPIC_USAGE["output_tokens"]},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        chunks = [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]
        self._stream("text/event-stream", chunks)

    # -- Ollama --------------------------------------------------------------------------------------

    def _ollama_chat(self, body: dict[str, Any]) -> None:
        model = body["model"]
        created = "2024-08-04T08:52:19.385406455-07:00"
        final = {
            "model": model,
            "created_at": created,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 4883583458,
            "load_duration": 1334875,
            "prompt_eval_duration": 342546000,
            "eval_duration": 4535599000,
            **OLLAMA_COUNTS,
        }
        if body.get("stream") is False:
            self._json(200, {**final, "message": {"role": "assistant", "content": "".join(TEXT)}})
            return
        parts = [
            {"model": model, "created_at": created, "message": {"role": "assistant", "content": t}, "done": False}
            for t in TEXT
        ]
        parts.append(final)
        self._stream("application/x-ndjson", [json.dumps(p).encode() + b"\n" for p in parts])


def _request_headers(headers: Any) -> dict[str, str]:
    """The request headers that say which API a client spoke (versions, betas), and which header
    carried its key (never the key); the client's own version and platform headers left out."""
    kept = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in ("anthropic-version", "anthropic-beta", "content-type"):
            kept[lower] = value
        elif lower in ("authorization", "api-key", "x-api-key"):
            kept[lower] = "<redacted>"
    return dict(sorted(kept.items()))


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that timed out closed the connection; nothing went wrong here
        super().handle_error(request, client_address)


class FakeLLMServer:
    def __init__(self, ratelimit: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.ratelimit = ratelimit  # type: ignore[attr-defined]
        self.httpd.clock = clock  # type: ignore[attr-defined]
        self.httpd.requests = []  # type: ignore[attr-defined]
        self.httpd.headers = []  # type: ignore[attr-defined]
        self.httpd.exchanges = []  # type: ignore[attr-defined]
        self.httpd.served = []  # type: ignore[attr-defined]
        self.httpd.flaky = {}  # type: ignore[attr-defined]
        self.httpd.lock = threading.Lock()  # type: ignore[attr-defined]
        self.httpd.stopping = threading.Event()  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, Any]]:
        return self.httpd.requests  # type: ignore[attr-defined, no-any-return]

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers of each request, in the order of `requests`."""
        return self.httpd.headers  # type: ignore[attr-defined, no-any-return]

    @property
    def exchanges(self) -> list[dict[str, Any]]:
        """Each request (method, path, the headers _request_headers keeps, body) with its answer
        (status, headers, body or stream chunks), in the order answered."""
        return self.httpd.exchanges  # type: ignore[attr-defined, no-any-return]

    @property
    def served(self) -> list[float]:
        """Seconds from each request's arrival to its answer's last write, in the order answered."""
        return self.httpd.served  # type: ignore[attr-defined, no-any-return]

    def __enter__(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.stopping.set()  # type: ignore[attr-defined]
        self.httpd.shutdown()
        self.httpd.server_close()
