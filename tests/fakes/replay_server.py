"""A local server answering the requests of recorded calls with their recorded answers, byte for
byte: status, headers (its `Date` too, which Anthropic's rate-limit resets count from) and body,
a stream chunk by chunk (tests/testdata/providers_recorded/).

The test names the call it makes (`playing`); the request is then checked against the recorded
one by what makes it the same call (method, route, the body's model and stream flag), not byte
for byte, so that a client version that adds a header, a body field or a query qualifier (the
anthropic client's `?beta=true`) replays the same corpus. A request that is not the call's, or
comes while no call is named, gets a 599 and is kept in `unmatched`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Headers the server writes itself: for the body it sends, and the Date (the recorded one).
_OWN = frozenset({"content-length", "transfer-encoding", "date"})


def same_call(request: dict[str, Any], method: str, path: str, body: Any) -> bool:
    """Whether a request is the recorded one's call: method, route (the path without its query,
    and with Azure's `api-version` still asked), model and stream flag."""
    recorded_route, _, recorded_query = request["path"].partition("?")
    route, _, query = path.partition("?")
    if "api-version=" in recorded_query and "api-version=" not in query:
        return False
    recorded = request["body"]
    return (
        (request["method"], recorded_route) == (method, route)
        and isinstance(body, dict)
        and (recorded.get("model"), bool(recorded.get("stream"))) == (body.get("model"), bool(body.get("stream")))
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        return self.recorded_date or super().date_time_string(timestamp)

    def do_POST(self) -> None:
        self.recorded_date: str | None = None
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        server: ReplayServer = self.server.replay  # type: ignore[attr-defined]
        exchange = server.exchanges.get(server.current or "")
        if exchange is None or not same_call(exchange["request"], "POST", self.path, body):
            server.unmatched.append((server.current, self.path, body))
            data = b'{"error": "not the recorded call"}'
            self.send_response(599)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        response = exchange["response"]
        self.recorded_date = response["headers"].get("Date")
        self.send_response(response["status"])
        for name, value in response["headers"].items():
            if name.lower() not in _OWN:
                self.send_header(name, value)
        chunks = response.get("chunks")
        if chunks is None:
            data = response["body"].encode()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            raw = chunk.encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


class ReplayServer:
    """Serves `exchanges` (call name -> {"request": {method, path, body, ...}, "response": {status,
    headers, body or chunks}}) on a local port while used as a context manager; `current` is the
    call being made."""

    def __init__(self, exchanges: dict[str, dict[str, Any]]) -> None:
        self.exchanges = exchanges
        self.current: str | None = None
        self.unmatched: list[tuple[str | None, str, Any]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.replay = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
