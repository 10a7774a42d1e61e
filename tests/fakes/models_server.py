"""A local fake model server for probes: the model-list endpoints of the OpenAI API
(`GET /v1/models`), Ollama (`/api/tags`, `/api/ps`) and Anthropic (`/v1/models`), with lists a
test changes at will, a `hang` switch (answers after `hang` seconds), a `hold` event (answers
once it is set), a `redirect` switch (answers
302 to `redirect` + the path asked) and the request headers kept."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server: FakeModelServer = self.server.owner  # type: ignore[attr-defined]
        server.requests.append((self.path, dict(self.headers)))
        if server.hang:
            time.sleep(server.hang)
        if server.hold is not None:
            server.hold.wait()
        if server.redirect is not None:
            self.send_response(302)
            self.send_header("Location", server.redirect + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = self.path.split("?", 1)[0]
        if path == "/v1/models" and server.kind == "anthropic":
            body: Any = {"data": [{"type": "model", "id": m, "display_name": m} for m in server.models]}
        elif path == "/v1/models":
            body = {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "me"} for m in server.models]}
        elif path == "/api/tags":
            body = {"models": [{"name": m, "model": m, "size": 4_700_000_000 + i} for i, m in enumerate(server.models)]}
        elif path == "/api/ps":
            body = {"models": [{"name": m, "model": m, "size_vram": 1} for m in server.loaded]}
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeModelServer:
    def __init__(self, kind: str = "openai", models: list[str] | None = None, loaded: list[str] | None = None) -> None:
        self.kind = kind
        self.models = list(models or [])
        self.loaded = list(loaded or [])
        self.hang = 0.0
        self.hold: threading.Event | None = None  # answers once set
        self.redirect: str | None = None
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeModelServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.stop()
