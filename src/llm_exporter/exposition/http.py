"""The HTTP(S) endpoint: /metrics (Prometheus text, or OpenMetrics when asked; gzip when asked),
/ (a landing page), /-/healthy and /-/ready. TLS and basic auth come from the web config."""

from __future__ import annotations

import base64
import binascii
import gzip
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from llm_exporter import __version__
from llm_exporter.exposition.webconfig import WebConfig

log = logging.getLogger(__name__)

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LANDING = f"""<!doctype html>
<html><head><title>llm-exporter</title></head>
<body><h1>llm-exporter {__version__}</h1>
<p>Latency, tokens, cost, failures and decisions of LLM calls, from their logs.</p>
<ul><li><a href="metrics">Metrics</a></li><li><a href="-/healthy">Health</a></li>
<li><a href="-/ready">Readiness</a></li></ul></body></html>
""".encode()


def wants_openmetrics(accept: str) -> bool:
    return any(part.split(";")[0].strip() == "application/openmetrics-text" for part in accept.split(","))


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        text: CollectorRegistry,
        openmetrics: CollectorRegistry,
        web: WebConfig | None,
        ready: threading.Event,
    ) -> None:
        self.text_registry = text
        self.openmetrics_registry = openmetrics
        self.web = web
        self.ready = ready
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket, object]:
        sock, addr = super().get_request()
        if self.web is not None and self.web.ssl_context is not None:
            # The handshake happens in the handler's thread (do_handshake_on_connect is off),
            # so a slow or broken client cannot stall the accept loop.
            sock = self.web.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = f"llm-exporter/{__version__}"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        do_handshake = getattr(self.connection, "do_handshake", None)
        if do_handshake is not None:
            self.connection.settimeout(10)
            do_handshake()

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ValueError) as exc:  # TLS failures, clients gone away
            log.debug("connection from %s ended: %s", self.client_address[0], exc)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.client_address[0], format % args)

    def _authorized(self) -> bool:
        web = self.server.web
        if web is None or not web.auth_required:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if user and web.check(user, password):
                return True
        self._send(
            401, b"Unauthorized\n", "text/plain; charset=utf-8", {"WWW-Authenticate": 'Basic realm="llm-exporter"'}
        )
        return False

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        head_only: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        web = self.server.web
        for name, value in {**(web.headers if web else {}), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._serve(head_only=False)

    def do_HEAD(self) -> None:
        self._serve(head_only=True)

    def _serve(self, head_only: bool) -> None:
        if not self._authorized():
            return
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics(head_only)
        elif path == "/":
            self._send(200, LANDING, "text/html; charset=utf-8", head_only=head_only)
        elif path == "/-/healthy":
            self._send(200, b"Healthy\n", "text/plain; charset=utf-8", head_only=head_only)
        elif path == "/-/ready":
            if self.server.ready.is_set():
                self._send(200, b"Ready\n", "text/plain; charset=utf-8", head_only=head_only)
            else:
                self._send(503, b"Reading existing logs\n", "text/plain; charset=utf-8", head_only=head_only)
        else:
            self._send(404, b"Not found\n", "text/plain; charset=utf-8", head_only=head_only)

    def _metrics(self, head_only: bool) -> None:
        if wants_openmetrics(self.headers.get("Accept", "")):
            body, content_type = generate_openmetrics(self.server.openmetrics_registry), OPENMETRICS_TYPE
        else:
            body, content_type = generate_latest(self.server.text_registry), TEXT_TYPE
        headers = {}
        encodings = {e.split(";")[0].strip() for e in self.headers.get("Accept-Encoding", "").split(",")}
        if "gzip" in encodings:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        self._send(200, body, content_type, headers, head_only)
