"""The HTTP(S) endpoint: /metrics (Prometheus text, or OpenMetrics when asked; gzip when asked),
/probe (one model server probed now, blackbox-exporter style), / (a landing page), /-/healthy
and /-/ready. TLS and basic auth come from the web config.

An asyncio server, so an idle or slow connection costs a file descriptor and no thread: request
headers must arrive within a read timeout, idle keep-alive connections close, and past a cap
(from the fd limit) a new connection closes the longest-idle one. The work that takes time,
bcrypt and building the exposition, runs in two small thread pools of its own, so a flood of
wrong passwords cannot queue ahead of a scraper whose credentials are remembered. A probe runs on
a daemon thread of its own, at most MAX_PROBES at once, so a hung target never holds /metrics.
Requests are authorized on their headers; a body is never read.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import gzip
import logging
import resource
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry

from llm_exporter import __version__
from llm_exporter.exposition import render
from llm_exporter.exposition.render import OPENMETRICS_TYPE, TEXT_TYPE
from llm_exporter.exposition.webconfig import LiveWebConfig, WebConfig
from llm_exporter.metrics.families import Family

log = logging.getLogger(__name__)

PLAIN = "text/plain; charset=utf-8"
LANDING = f"""<!doctype html>
<html><head><title>llm-exporter</title></head>
<body><h1>llm-exporter {__version__}</h1>
<p>Latency, tokens, cost, failures and decisions of LLM calls, from their logs.</p>
<ul><li><a href="metrics">Metrics</a></li><li><a href="-/healthy">Health</a></li>
<li><a href="-/ready">Readiness</a></li></ul></body></html>
""".encode()

PROBE_TIMEOUT = 10.0  # /probe's longest wait on the target, below Prometheus' default scrape timeout
# Probes at once, each on a daemon thread of its own: more are refused (503), never queued, so
# hung or trickling targets hold neither /metrics' threads nor the exit.
MAX_PROBES = 2
# bcrypt checks admitted at once, running (two threads) or waiting: past that a request with
# credentials not remembered gets 503 at once, so a flood of wrong passwords (cost 12: a quarter
# of a second each) never queues far ahead of the right one.
MAX_AUTH_CHECKS = 4
READ_TIMEOUT = 10.0  # a TLS handshake, and a new connection's request headers, must arrive within this
IDLE_TIMEOUT = 60.0  # a keep-alive connection's next request headers must arrive within this
WRITE_TIMEOUT = 30.0  # a client that does not read its response is dropped
MAX_HEADER_BYTES = 16384
BACKLOG = 4096  # the kernel caps it at net.core.somaxconn
TLS_WARNING_INTERVAL = 60.0  # failed handshakes: one warning a minute, the rest at debug level


def _weights(header: str) -> dict[str, float]:
    """An Accept or Accept-Encoding header's entries (lower-cased, parameters dropped) with their
    q-values (RFC 9110: 1 unless given; an unreadable q counts as 0); an entry given twice keeps its
    highest q."""
    weights: dict[str, float] = {}
    for part in header.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(raw), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        name = name.lower()
        weights[name] = max(q, weights.get(name, 0.0))
    return weights


def wants_openmetrics(accept: str) -> bool:
    """OpenMetrics where the client accepts it at least as much as the text format."""
    weights = _weights(accept)
    openmetrics = weights.get("application/openmetrics-text", 0.0)
    text = max(weights.get("text/plain", 0.0), weights.get("text/*", 0.0), weights.get("*/*", 0.0))
    return openmetrics > 0 and openmetrics >= text


def wants_gzip(accept_encoding: str) -> bool:
    """gzip where the client accepts it (`gzip;q=0` or `*;q=0` without gzip refuse it)."""
    weights = _weights(accept_encoding)
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening socket: "" and "::" take IPv6 and IPv4 both where the OS allows (IPv4 alone where it
    has no IPv6), "0.0.0.0" IPv4 only, anything else the first address it resolves to."""
    if host in ("", "::"):
        try:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        except OSError:
            if host == "::":
                raise
            sock, address = socket.socket(socket.AF_INET, socket.SOCK_STREAM), ("0.0.0.0", port)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            address = ("::", port)
    else:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def connection_cap() -> int:
    """Open connections allowed: a quarter of the fd limit (files being followed need the rest)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1024 if soft == resource.RLIM_INFINITY else max(16, min(1024, soft // 4))


class _Request:
    def __init__(self, method: str, path: str, version: str, headers: dict[str, str]) -> None:
        self.method, self.path, self.version, self.headers = method, path, version, headers

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in self.headers:
            return False  # a body is never read, so the connection cannot carry another request
        return connection == "keep-alive" if self.version == "HTTP/1.0" else connection != "close"


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    """The request line and headers, up to the empty line that ends them: lines end in CRLF or a
    bare LF (RFC 9112 lets a server take either; waiting for a CRLF that never comes held a
    netcat user until the read timeout). Empty lines before the request line are skipped.
    Raises LimitOverrunError past MAX_HEADER_BYTES in all, IncompleteReadError at the end."""
    head = bytearray()
    size = 0
    while True:
        line = await reader.readuntil(b"\n")
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise asyncio.LimitOverrunError("request headers too large", 0)
        if line in (b"\r\n", b"\n"):
            if head:
                return bytes(head)
            continue
        head += line


def _parse(head: bytes) -> _Request | None:
    lines = [line.removesuffix("\r") for line in head.decode("latin-1").split("\n")]
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return _Request(parts[0], parts[1], parts[2], headers)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if user else None


class _Connection:
    """What the server knows of an open connection: its task, and whether it is between requests."""

    def __init__(self, task: asyncio.Task[None]) -> None:
        self.task = task
        self.idle = True


class MetricsServer:
    def __init__(
        self,
        address: tuple[str, int],
        text: CollectorRegistry,
        openmetrics: CollectorRegistry,
        web: WebConfig | None,
        ready: threading.Event,
        read_timeout: float = READ_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int | None = None,
        probe: Callable[[str, str, float], Iterable[Family]] | None = None,
    ) -> None:
        self.probe = probe  # /probe?target=&module=: (target, module, timeout) -> its families
        self.text_registry = text
        self.openmetrics_registry = openmetrics
        self.web = LiveWebConfig(web) if web is not None else None
        self.ready = ready
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections or connection_cap()
        self.socket = listen_socket(*address)  # bound and listening now: a taken port fails here
        self._connections: dict[asyncio.Task[None], _Connection] = {}  # counted against the cap
        self._tasks: set[asyncio.Task[None]] = set()  # every connection's, evicted ones until they end
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = asyncio.Event()
        self._auth_pool = ThreadPoolExecutor(2, thread_name_prefix="http-auth")
        self._render_pool = ThreadPoolExecutor(2, thread_name_prefix="http-render")
        self._probe_slots = threading.BoundedSemaphore(MAX_PROBES)
        self.auth_checks = 0  # admitted bcrypt checks not yet ended (the event loop's thread only)
        self._tls_failures = 0
        self._tls_warned = -TLS_WARNING_INTERVAL

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return host, port

    @property
    def url_address(self) -> str:
        host, port = self.server_address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def serve_in_thread(self) -> threading.Thread:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()
        return self._thread

    def reload_web_config(self) -> None:
        """Re-read the web config now (SIGHUP); safe to call from any thread or a signal handler."""
        if self.web is None:
            return
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.web.reload)
        else:
            self.web.reload()

    def shutdown(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def server_close(self) -> None:
        self.socket.close()
        self._auth_pool.shutdown(wait=False, cancel_futures=True)
        self._render_pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        assert self._loop is not None
        try:
            self._loop.run_until_complete(self._main())
        finally:
            # Jobs still running report to the loop: let them, before it closes.
            self._auth_pool.shutdown(wait=True, cancel_futures=True)
            self._render_pool.shutdown(wait=True, cancel_futures=True)
            self._loop.close()

    async def _main(self) -> None:
        accepting = asyncio.create_task(self._accept())
        await self._stop.wait()
        accepting.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(accepting, *self._tasks, return_exceptions=True)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(self.socket)
            except OSError as exc:  # out of fds (EMFILE) and the like: make room, or wait for it
                if not self._close_idlest():
                    log.warning("cannot accept a connection: %s", exc.strerror or exc)
                    await asyncio.sleep(0.1)
                continue
            if len(self._connections) >= self.max_connections:
                self._close_idlest()
            task = asyncio.create_task(self._connection(sock, peer[0]))
            self._connections[task] = _Connection(task)
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._forget, sock))

    def _forget(self, sock: socket.socket, task: asyncio.Task[None]) -> None:
        # A task cancelled before it ran never closed its socket; closing twice is harmless.
        sock.close()
        self._connections.pop(task, None)
        self._tasks.discard(task)

    def _close_idlest(self) -> bool:
        """Close the connection idle the longest (the dict keeps them oldest first; see _set_idle)."""
        for task, connection in self._connections.items():
            if connection.idle:
                del self._connections[task]
                task.cancel()
                return True
        return False

    def _set_idle(self, idle: bool) -> None:
        task = asyncio.current_task()
        connection = self._connections.pop(task, None)  # type: ignore[arg-type]
        if connection is not None:
            connection.idle = idle
            self._connections[connection.task] = connection  # to the end: the most recently active

    async def _connection(self, sock: socket.socket, peer: str) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES, loop=loop)
        web = self.web.current() if self.web is not None else None
        if self.web is not None and web is None and self.web.tls:
            sock.close()  # the web config does not load and no TLS handshake can be made: refuse
            return
        context = web.ssl_context if web is not None else None
        try:
            transport, protocol = await loop.connect_accepted_socket(
                lambda: asyncio.StreamReaderProtocol(reader),
                sock,
                ssl=context,
                ssl_handshake_timeout=self.read_timeout if context else None,
            )
        except (OSError, ssl.SSLError) as exc:
            if context is not None:
                self._tls_failed(peer, exc)
            sock.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        try:
            timeout = self.read_timeout
            while True:
                try:
                    head = await asyncio.wait_for(_read_head(reader), timeout)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, ssl.SSLError):
                    return
                except asyncio.LimitOverrunError:
                    await self._reply(writer, None, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, b"", PLAIN)
                    return
                self._set_idle(False)
                request = _parse(head)
                if request is None:
                    await self._reply(writer, None, HTTPStatus.BAD_REQUEST, b"Bad request\n", PLAIN)
                    return
                await self._respond(writer, request)
                if not request.keep_alive:
                    return
                self._set_idle(True)
                timeout = self.idle_timeout
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError) as exc:
            log.debug("connection from %s ended: %s", peer, exc)
        finally:
            transport.abort()

    def _tls_failed(self, peer: str, exc: Exception) -> None:
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        now = time.monotonic()
        if now - self._tls_warned >= TLS_WARNING_INTERVAL:
            log.warning(
                "TLS handshake failed from %s: %s (%d more since the last warning; the next minute's at debug level)",
                peer,
                reason,
                self._tls_failures,
            )
            self._tls_warned, self._tls_failures = now, 0
        else:
            self._tls_failures += 1
            log.debug("TLS handshake failed from %s: %s", peer, reason)

    async def _respond(self, writer: asyncio.StreamWriter, request: _Request) -> None:
        web = self.web.current() if self.web is not None else None
        if self.web is not None and web is None:
            await self._reply(writer, request, HTTPStatus.INTERNAL_SERVER_ERROR, b"Internal server error\n", PLAIN)
            return
        authorized = await self._authorized(web, request)
        if authorized is None:
            busy, retry = b"Too many logins at once\n", {"Retry-After": "1"}
            await self._reply(writer, request, HTTPStatus.SERVICE_UNAVAILABLE, busy, PLAIN, retry)
            return
        if not authorized:
            unauthorized = {"WWW-Authenticate": 'Basic realm="llm-exporter"'}
            await self._reply(writer, request, HTTPStatus.UNAUTHORIZED, b"Unauthorized\n", PLAIN, unauthorized)
            return
        if request.method not in ("GET", "HEAD"):
            allow = {"Allow": "GET, HEAD"}
            await self._reply(writer, request, HTTPStatus.METHOD_NOT_ALLOWED, b"Method not allowed\n", PLAIN, allow)
            return
        path = request.path.split("?", 1)[0]
        if path == "/metrics":
            loop = asyncio.get_running_loop()
            body, content_type, headers = await loop.run_in_executor(self._render_pool, self._metrics, request)
            await self._reply(writer, request, HTTPStatus.OK, body, content_type, headers)
        elif path == "/probe" and self.probe is not None:
            status, body = await self._probe(request)
            await self._reply(writer, request, status, body, TEXT_TYPE if status == HTTPStatus.OK else PLAIN)
        elif path == "/":
            await self._reply(writer, request, HTTPStatus.OK, LANDING, "text/html; charset=utf-8")
        elif path == "/-/healthy":
            await self._reply(writer, request, HTTPStatus.OK, b"Healthy\n", PLAIN)
        elif path == "/-/ready":
            if self.ready.is_set():
                await self._reply(writer, request, HTTPStatus.OK, b"Ready\n", PLAIN)
            else:
                await self._reply(writer, request, HTTPStatus.SERVICE_UNAVAILABLE, b"Reading existing logs\n", PLAIN)
        else:
            await self._reply(writer, request, HTTPStatus.NOT_FOUND, b"Not found\n", PLAIN)

    async def _authorized(self, web: WebConfig | None, request: _Request) -> bool | None:
        """Whether the request may be answered; None when MAX_AUTH_CHECKS bcrypt checks are
        already admitted."""
        if web is None or not web.auth_required:
            return True
        credentials = _basic_credentials(request.headers.get("authorization", ""))
        if credentials is None:
            return False
        if web.remembered(*credentials):
            return True
        if self.auth_checks >= MAX_AUTH_CHECKS:
            return None
        loop = asyncio.get_running_loop()
        self.auth_checks += 1
        check = self._auth_pool.submit(web.check, *credentials)
        # Counted until the check itself ends, not until its client stops waiting for it.
        check.add_done_callback(lambda _: loop.call_soon_threadsafe(self._auth_check_ended))
        return await asyncio.wrap_future(check)

    def _auth_check_ended(self) -> None:
        self.auth_checks -= 1

    async def _probe(self, request: _Request) -> tuple[HTTPStatus, bytes]:
        query = parse_qs(request.path.partition("?")[2])
        target, module = query.get("target", [""])[0], query.get("module", ["openai"])[0]
        if not target:
            return HTTPStatus.BAD_REQUEST, b"target parameter is missing\n"
        # Answer within Prometheus' scrape timeout, as the blackbox exporter does.
        try:
            scrape_timeout = float(request.headers.get("x-prometheus-scrape-timeout-seconds", "10"))
        except ValueError:
            scrape_timeout = 10.0
        timeout = max(min(scrape_timeout - 0.5, PROBE_TIMEOUT), 0.1)
        if not self._probe_slots.acquire(blocking=False):
            return HTTPStatus.SERVICE_UNAVAILABLE, f"{MAX_PROBES} probes already in progress\n".encode()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[HTTPStatus, bytes]] = loop.create_future()
        threading.Thread(
            target=self._run_probe, args=(loop, answer, target, module, timeout), name="http-probe", daemon=True
        ).start()
        try:
            # The timeout bounds each socket read; a target trickling bytes would outlast it.
            return await asyncio.wait_for(answer, timeout + 1.0)
        except asyncio.TimeoutError:
            return HTTPStatus.GATEWAY_TIMEOUT, f"the probe did not finish within {timeout + 1.0:g} s\n".encode()

    def _run_probe(
        self,
        loop: asyncio.AbstractEventLoop,
        answer: asyncio.Future[tuple[HTTPStatus, bytes]],
        target: str,
        module: str,
        timeout: float,
    ) -> None:
        assert self.probe is not None
        try:
            result = HTTPStatus.OK, render.text(self.probe(target, module, timeout))
        except ValueError as exc:
            result = HTTPStatus.BAD_REQUEST, f"{exc}\n".encode()
        except Exception as exc:  # the server goes on whatever a probe does
            result = HTTPStatus.INTERNAL_SERVER_ERROR, f"probe failed: {type(exc).__name__}\n".encode()
        finally:
            self._probe_slots.release()

        def deliver() -> None:
            if not answer.done():  # not given up on (timed out, or its client left)
                answer.set_result(result)

        with contextlib.suppress(RuntimeError):  # the server stopped meanwhile
            loop.call_soon_threadsafe(deliver)

    def _metrics(self, request: _Request) -> tuple[bytes, str, dict[str, str]]:
        if wants_openmetrics(request.headers.get("accept", "")):
            body, content_type = render.openmetrics(self.openmetrics_registry.collect()), OPENMETRICS_TYPE
        else:
            body, content_type = render.text(self.text_registry.collect()), TEXT_TYPE
        headers = {}
        if wants_gzip(request.headers.get("accept-encoding", "")):
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return body, content_type, headers

    async def _reply(
        self,
        writer: asyncio.StreamWriter,
        request: _Request | None,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        web = self.web.current() if self.web is not None else None
        lines = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            f"Server: llm-exporter/{__version__}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{name}: {value}" for name, value in {**(web.headers if web else {}), **(headers or {})}.items()]
        if request is None or not request.keep_alive:
            lines.append("Connection: close")
        writer.write("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n")
        if request is None or request.method != "HEAD":
            writer.write(body)
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        if request is not None:  # the path without its query, which may carry anything
            log.debug("%s %s %d", request.method, request.path.split("?", 1)[0], status.value)
