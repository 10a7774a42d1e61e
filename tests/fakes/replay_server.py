"""A local server answering recorded requests with their recorded answers, byte for byte: status,
headers and body, a stream chunk by chunk (tests/testdata/providers_recorded/). A request is
matched by method, path (with its query) and JSON body; one that matches no recording gets a 599
and is kept in `unmatched`, so a test sees a client that now asks something else."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Headers the server writes itself for the body it sends.
_FRAMING = frozenset({"content-length", "transfer-encoding"})


def _key(method: str, path: str, body: Any) -> tuple[str, str, str]:
    return method, path, json.dumps(body, sort_keys=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        server: ReplayServer = self.server.replay  # type: ignore[attr-defined]
        response = server.answers.get(_key("POST", self.path, body))
        if response is None:
            server.unmatched.append((self.path, body))
            data = b'{"error": "no recorded exchange"}'
            self.send_response(599)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(response["status"])
        for name, value in response["headers"].items():
            if name.lower() not in _FRAMING:
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
    """Serves `exchanges` (each {"request": {method, path, body, ...}, "response": {status,
    headers, body or chunks}}) on a local port while used as a context manager."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.answers = {
            _key(e["request"]["method"], e["request"]["path"], e["request"]["body"]): e["response"] for e in exchanges
        }
        self.unmatched: list[tuple[str, Any]] = []
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
