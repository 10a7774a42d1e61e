"""The HTTP endpoint, spoken to by real HTTP(S) clients: formats, gzip, TLS and basic auth; and
under hostile or careless clients (issue 9, points 7, 8, 11 and 12): idle and slow sockets, the
listen backlog, basic-auth timing and caching, web-config reloads, client certificates, failed TLS
handshakes, IPv6 and dual stack, web-config errors."""

from __future__ import annotations

import argparse
import base64
import gzip
import http.client
import logging
import resource
import selectors
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from llm_exporter.cli import parse_listen_address
from llm_exporter.config import ConfigError
from llm_exporter.exposition import webconfig
from llm_exporter.exposition.http import MetricsServer
from llm_exporter.exposition.webconfig import load_web_config
from testkit import Running, make_exporter, parse_samples, require_binary, value, wait_for, write_lines

LINE = b'{"model":"gpt-4o-mini","latency_ms":1500,"prompt_tokens":10,"completion_tokens":5,"cost_usd":0.25}\n'


def start(
    tmp_path: Path,
    web_config: Path | None = None,
    ready: bool = True,
    address: tuple[str, int] = ("127.0.0.1", 0),
    serve: bool = True,
    **timeouts: float,
) -> MetricsServer:
    """A server on two lines of app.log; `serve=False` leaves it listening but never accepting."""
    exporter, log = make_exporter(tmp_path, "event")
    write_lines(log, [LINE, LINE])
    exporter.poll_once()
    event = threading.Event()
    if ready:
        event.set()
    web = load_web_config(web_config) if web_config else None
    registries = exporter.registry(), exporter.registry(openmetrics=True)
    server = MetricsServer(address, *registries, web, event, **timeouts)  # type: ignore[arg-type]
    if serve:
        server.serve_in_thread()
    return server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MetricsServer]:
    srv = start(tmp_path)
    yield srv
    srv.shutdown()
    srv.server_close()


def get(
    server: MetricsServer, path: str, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    conn = (
        http.client.HTTPSConnection(host, port, context=context, timeout=10)
        if context
        else http.client.HTTPConnection(host, port, timeout=10)
    )
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_text_format_by_default(server: MetricsServer) -> None:
    status, headers, body = get(server, "/metrics")
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_samples(body.decode())
    assert value(samples, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="gpt-4o-mini") == 2
    assert value(samples, "llm_cost_usd_total") == 0.5
    assert "llm_cost_usd_created" not in body.decode()
    assert value(samples, "process_cpu_seconds_total") > 0


def test_openmetrics_with_created_timestamps(server: MetricsServer) -> None:
    status, headers, body = get(server, "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text")
    text = body.decode()
    assert text.endswith("# EOF\n")
    created = [line for line in text.splitlines() if line.startswith("llm_cost_usd_created{")]
    assert len(created) == 1
    assert float(created[0].rsplit(" ", 1)[1]) > 1.7e9
    assert any(line.startswith("gen_ai_client_operation_duration_seconds_created{") for line in text.splitlines())
    # The whole body parses as OpenMetrics (the strict parser rejects any format slip).
    families = {f.name: f for f in openmetrics_families(text)}
    assert families["gen_ai_client_operation_duration_seconds"].unit == "seconds"
    assert families["llm_cost_usd"].type == "counter"


def test_gzip_when_asked(server: MetricsServer) -> None:
    status, headers, body = get(server, "/metrics", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert b"llm_cost_usd_total" in gzip.decompress(body)


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0, identity", False),
        ("*", True),
        ("*;q=0", False),
        ("identity;q=1, *;q=0.5", True),
        ("br, gzip;q=0, *;q=1", False),  # gzip named and refused: * does not bring it back
        ("deflate", False),
        ("", False),
    ],
)
def test_gzip_only_where_the_client_accepts_it(server: MetricsServer, accept_encoding: str, gzipped: bool) -> None:
    _, headers, body = get(server, "/metrics", {"Accept-Encoding": accept_encoding})
    assert (headers.get("content-encoding") == "gzip") is gzipped
    assert b"llm_cost_usd_total" in (gzip.decompress(body) if gzipped else body)


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        (  # what Prometheus sends
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,"
            "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            True,
        ),
        ("application/openmetrics-text;q=0, text/plain", False),
        ("text/plain;q=0.9, application/openmetrics-text;q=0.5", False),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),  # a browser
        ("application/openmetrics-text;q=abc", False),
    ],
)
def test_openmetrics_by_the_clients_preference(server: MetricsServer, accept: str, openmetrics: bool) -> None:
    _, headers, _ = get(server, "/metrics", {"Accept": accept})
    assert headers["content-type"].startswith("application/openmetrics-text") is openmetrics


def test_a_request_with_bare_lf_line_ends_is_answered(quick: MetricsServer) -> None:
    """RFC 9112 lets a server take a bare LF as a line end: a netcat user's request is answered
    at once (it waited for the read timeout, then the connection closed without an answer)."""
    response = _raw(quick, b"\nGET /-/healthy HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n")
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and response.endswith(b"Healthy\n")


def test_landing_health_and_unknown_paths(server: MetricsServer) -> None:
    status, _, body = get(server, "/")
    assert status == 200 and b'href="metrics"' in body
    assert get(server, "/-/healthy")[0] == 200
    assert get(server, "/-/ready")[0] == 200
    assert get(server, "/nope")[0] == 404


def test_not_ready_until_logs_read(tmp_path: Path) -> None:
    srv = start(tmp_path, ready=False)
    try:
        assert get(srv, "/-/ready")[0] == 503
        assert get(srv, "/-/healthy")[0] == 200
        srv.ready.set()
        assert get(srv, "/-/ready")[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()


def _self_signed(d: Path, name: str, subject: str, *extra: str) -> Path:
    """A self-signed certificate and its key, d/name.crt and d/name.key."""
    openssl = require_binary("openssl", "openssl")
    files = ["-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.crt")]
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject, *extra, *files],
        check=True,
        capture_output=True,
    )
    return d


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    return _self_signed(d, "server", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")


def test_tls_and_basic_auth(tmp_path: Path, certs: Path) -> None:
    digest = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$")
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {certs / 'server.crt'}\n  key_file: {certs / 'server.key'}\n"
        f"basic_auth_users:\n  prometheus: '{digest}'\n"
    )
    srv = start(tmp_path, web)
    client = ssl.create_default_context(cafile=str(certs / "server.crt"))
    try:

        def auth(user: str, password: str) -> dict[str, str]:
            return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

        status, headers, body = get(srv, "/metrics", auth("prometheus", "s3cret"), client)
        assert status == 200
        assert b"llm_cost_usd_total" in body
        status, headers, _ = get(srv, "/metrics", auth("prometheus", "wrong"), client)
        assert status == 401
        assert headers["www-authenticate"] == 'Basic realm="llm-exporter"'
        assert get(srv, "/metrics", auth("mallory", "s3cret"), client)[0] == 401
        assert get(srv, "/metrics", None, client)[0] == 401
        assert get(srv, "/metrics", {"Authorization": "Basic !!!notbase64"}, client)[0] == 401
        # Plain HTTP to the TLS port gets nothing.
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            get(srv, "/metrics", auth("prometheus", "s3cret"))
        # A client that does not trust the certificate refuses the connection.
        with pytest.raises(ssl.SSLError):
            get(srv, "/metrics", auth("prometheus", "s3cret"), ssl.create_default_context())
    finally:
        srv.shutdown()
        srv.server_close()


def test_web_config_errors(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  alice: plaintext\n")
    with pytest.raises(ConfigError, match=r"basic_auth_users\.alice: not a bcrypt hash"):
        load_web_config(web)
    web.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    with pytest.raises(ConfigError, match=r"tls_server_config\.cert_file: .*missing\.crt: No such file"):
        load_web_config(web)
    web.write_text("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS99\n")
    with pytest.raises(ConfigError, match=r"tls_server_config\.min_version"):
        load_web_config(web)


def basic(user: str, password: str | bytes) -> dict[str, str]:
    secret = password if isinstance(password, bytes) else password.encode()
    return {"Authorization": "Basic " + base64.b64encode(user.encode() + b":" + secret).decode()}


def hashed(password: bytes, rounds: int = 4) -> str:
    return bcrypt.hashpw(password, bcrypt.gensalt(rounds=rounds)).decode()


def stop(server: MetricsServer) -> None:
    server.shutdown()
    server.server_close()


@pytest.fixture
def count_bcrypt(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many bcrypt comparisons the server ran: calls[0]."""
    calls = [0]
    real = bcrypt.checkpw

    def counting(password: bytes, digest: bytes) -> bool:
        calls[0] += 1
        return real(password, digest)

    monkeypatch.setattr(webconfig.bcrypt, "checkpw", counting)
    return calls


# --- point 7: idle sockets, timeouts, backlog, auth before the body ---------------------------


def test_idle_sockets_do_not_starve_metrics(tmp_path: Path) -> None:
    """A slowloris of 1,000 idle sockets against the real process, which has the 1,024 fds
    systemd gives a service: /metrics still answers within 1 s (the issue's bound)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 1200
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard fd limit {hard} is below the {needed} this test needs")
    log = tmp_path / "app.log"
    write_lines(log, [LINE])
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # what the exporter inherits
    try:
        exporter = Running(tmp_path, "--log-path", str(log), "--format", "event")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    idle: list[socket.socket] = []
    try:
        for i in range(1000):
            sock = socket.socket()
            idle.append(sock)
            sock.settimeout(60)  # guards against a hang; a busy machine may be slow to accept
            sock.connect(("127.0.0.1", exporter.port))
            if i % 2:  # half say nothing, half start a request they never finish
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        start_time = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/metrics", timeout=60) as resp:
            samples = parse_samples(resp.read().decode())
        print(f"/metrics behind 1,000 idle sockets: {time.monotonic() - start_time:.3f} s")
        assert value(samples, "llm_cost_usd_total") == 0.25
        # The server closed the longest idle to stay within its cap: a quarter of its fd limit, which
        # is 1,024 unless the exporter raised it at start.
        limits = Path(f"/proc/{exporter.proc.pid}/limits").read_text()
        fd_limit = int(next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3])
        evicted = max(0, 1000 + 1 - min(1024, fd_limit // 4))
        with selectors.DefaultSelector() as sel:
            for sock in idle:
                sel.register(sock, selectors.EVENT_READ)
            closed: set[socket.socket] = set()

            def enough_closed() -> bool:
                for key, _ in sel.select(0.1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        said = sock.recv(1)
                    except ConnectionResetError:  # closed with the unread request in its buffer
                        said = b""
                    if said == b"":
                        closed.add(sock)
                        sel.unregister(sock)
                return len(closed) >= evicted

            wait_for(enough_closed, timeout=60)
    finally:
        for sock in idle:
            sock.close()
        code, err = exporter.stop()
    assert code == 0, err


def test_listen_backlog_holds_200_connections(tmp_path: Path) -> None:
    """200 scrapers connecting at once all get in, even before the server accepts any (a backlog
    of 5 dropped their SYNs: a second of retransmission each)."""
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    if somaxconn < 200:
        pytest.skip(f"net.core.somaxconn is {somaxconn}: the kernel caps every backlog below 200")
    exporter_server = start(tmp_path, serve=False)
    sockets: list[socket.socket] = []
    try:
        for _ in range(200):
            sock = socket.socket()
            sockets.append(sock)
            sock.settimeout(2)
            sock.connect(exporter_server.server_address)  # raises TimeoutError once the backlog is full
        assert len(sockets) == 200
    finally:
        for sock in sockets:
            sock.close()
        exporter_server.server_close()


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[MetricsServer]:
    """A server whose read and idle timeouts are 0.3 s."""
    server = start(tmp_path, read_timeout=0.3, idle_timeout=0.3)
    yield server
    stop(server)


def test_stalled_request_is_closed_after_read_timeout(quick: MetricsServer) -> None:
    with socket.create_connection(quick.server_address, timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert sock.recv(1024) == b""  # closed by the server, with no answer
    with socket.create_connection(quick.server_address, timeout=10) as sock:
        assert sock.recv(1024) == b""  # a connection that says nothing too


def test_idle_keep_alive_connection_is_closed(quick: MetricsServer) -> None:
    with socket.create_connection(quick.server_address, timeout=10) as sock:
        sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        response = b""
        while not response.endswith(b"Healthy\n"):
            response += sock.recv(1024)
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert sock.recv(1024) == b""


def _web(tmp_path: Path, users: dict[str, str], extra: str = "") -> Path:
    web = tmp_path / "web.yml"
    lines = "".join(f"  {user}: '{digest}'\n" for user, digest in users.items())
    web.write_text(extra + ("basic_auth_users:\n" + lines if users else ""))
    return web


def _raw(server: MetricsServer, request: bytes) -> bytes:
    """Send a request; everything the server says until it closes the connection."""
    with socket.create_connection(server.server_address, timeout=10) as sock:
        sock.sendall(request)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
        return response


def test_auth_before_the_body(tmp_path: Path) -> None:
    """A request announcing a body it never sends is answered on its headers: 401 without
    credentials, 405 with them, and the connection closed, the body never waited for."""
    srv = start(tmp_path, _web(tmp_path, {"prometheus": hashed(b"s3cret")}))
    try:
        post = b"POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n"
        response = _raw(srv, post + b"\r\n")
        assert response.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
        assert b"\r\nConnection: close\r\n" in response
        authorization = basic("prometheus", "s3cret")["Authorization"].encode()
        response = _raw(srv, post + b"Authorization: " + authorization + b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
        assert b"\r\nAllow: GET, HEAD\r\n" in response
    finally:
        stop(srv)


# --- point 8: basic auth ----------------------------------------------------------------------


def test_unknown_user_costs_a_bcrypt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown user costs one bcrypt comparison at the cost of the costliest real hash, as a
    known user's wrong password does: no username enumeration by timing. (The cost factor is what
    sets a comparison's time; the test reads it instead of timing the server.)"""
    compared: list[bytes] = []
    real = bcrypt.checkpw

    def recording(password: bytes, digest: bytes) -> bool:
        compared.append(digest)
        return real(password, digest)

    monkeypatch.setattr(webconfig.bcrypt, "checkpw", recording)
    users = {"prometheus": hashed(b"s3cret", rounds=10), "grafana": hashed(b"other", rounds=4)}
    srv = start(tmp_path, _web(tmp_path, users))
    try:
        for user in ("mallory", "prometheus", "grafana"):
            compared.clear()
            assert get(srv, "/metrics", basic(user, "guess"))[0] == 401
            [digest] = compared  # one bcrypt comparison, known user or not
            assert digest.split(b"$")[2] == (b"04" if user == "grafana" else b"10"), user
    finally:
        stop(srv)


def test_a_flood_of_wrong_passwords_queues_at_most_four_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """100 wrong attempts queued 100 bcrypt checks on two threads, and the right password waited
    behind them all (20.7 s at cost 12). Here every check holds until released: four are admitted,
    the next gets 503 at once; once they end, the right password is checked."""
    release = threading.Event()
    real = webconfig.bcrypt.checkpw

    def held(password: bytes, digest: bytes) -> bool:
        release.wait(60)
        return real(password, digest)

    monkeypatch.setattr(webconfig.bcrypt, "checkpw", held)
    srv = start(tmp_path, _web(tmp_path, {"prometheus": hashed(b"s3cret")}))
    statuses: list[int] = []
    wrong = [
        threading.Thread(target=lambda: statuses.append(get(srv, "/metrics", basic("prometheus", "guess"))[0]))
        for _ in range(4)
    ]
    try:
        for t in wrong:
            t.start()
        wait_for(lambda: srv.auth_checks == 4)
        status, headers, body = get(srv, "/metrics", basic("prometheus", "s3cret"))
        assert (status, headers["retry-after"], body) == (503, "1", b"Too many logins at once\n")
        release.set()
        for t in wrong:
            t.join(60)
        assert statuses == [401] * 4
        wait_for(lambda: srv.auth_checks == 0)
        assert get(srv, "/metrics", basic("prometheus", "s3cret"))[0] == 200
    finally:
        release.set()
        stop(srv)


def test_wrong_attempts_keep_the_cached_verdict(tmp_path: Path, count_bcrypt: list[int]) -> None:
    """1,100 wrong passwords do not evict the scraper's remembered credentials."""
    srv = start(tmp_path, _web(tmp_path, {"prometheus": hashed(b"s3cret")}))
    conn = http.client.HTTPConnection(*srv.server_address, timeout=10)
    try:

        def status(password: str) -> int:
            conn.request("GET", "/-/healthy", headers=basic("prometheus", password))
            resp = conn.getresponse()
            resp.read()
            return resp.status

        assert status("s3cret") == 200
        assert count_bcrypt[0] == 1
        assert all(status(f"wrong-{i}") == 401 for i in range(1100))
        assert count_bcrypt[0] == 1101
        assert status("s3cret") == 200
        assert count_bcrypt[0] == 1101  # remembered: no bcrypt
    finally:
        conn.close()
        stop(srv)


def test_password_over_72_bytes(tmp_path: Path) -> None:
    """bcrypt reads 72 bytes of a password: htpasswd hashes those and Go compares those, so a
    longer password works, as it does with exporter-toolkit."""
    password = ("correct horse battery staple " * 4).encode()
    assert len(password) > 72
    srv = start(tmp_path, _web(tmp_path, {"prometheus": hashed(password[:72])}))
    try:
        assert get(srv, "/metrics", basic("prometheus", password))[0] == 200
        assert get(srv, "/metrics", basic("prometheus", password[:71]))[0] == 401
    finally:
        stop(srv)


def test_sighup_rereads_web_config(tmp_path: Path) -> None:
    """Remove a compromised user and send SIGHUP: the running process shuts them out."""
    log = tmp_path / "app.log"
    write_lines(log, [LINE])
    web = _web(tmp_path, {})  # no users yet, so the start-up readiness check needs no credentials
    exporter = Running(tmp_path, "--log-path", str(log), "--format", "event", "--web.config.file", str(web))
    url = f"http://127.0.0.1:{exporter.port}/metrics"

    def status(user: str, password: str) -> int:
        request = urllib.request.Request(url, headers=basic(user, password))
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        _web(tmp_path, {"alice": hashed(b"a"), "mallory": hashed(b"m")})
        exporter.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: status("mallory", "m") == 200)
        assert status("alice", "wrong") == 401
        _web(tmp_path, {"alice": hashed(b"a")})
        exporter.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: status("mallory", "m") == 401)
        assert status("alice", "a") == 200
    finally:
        code, err = exporter.stop()
    assert code == 0, err
    assert "web config reloaded from" in err


def test_web_config_change_applies_to_the_next_request(tmp_path: Path) -> None:
    web = _web(tmp_path, {"alice": hashed(b"a"), "mallory": hashed(b"m")})
    srv = start(tmp_path, web)
    try:
        assert get(srv, "/metrics", basic("mallory", "m"))[0] == 200
        _web(tmp_path, {"alice": hashed(b"a")})
        assert get(srv, "/metrics", basic("mallory", "m"))[0] == 401
        assert get(srv, "/metrics", basic("alice", "a"))[0] == 200
    finally:
        stop(srv)


def test_broken_web_config_refuses_every_request(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A web config that no longer loads (say, a user removed with a typo) shuts everyone out,
    with the error logged once, until it loads again: exporter-toolkit answers 500 too."""
    web = _web(tmp_path, {"alice": hashed(b"a"), "mallory": hashed(b"m")})
    srv = start(tmp_path, web)
    try:
        web.write_text("basic_auth_users:\n  alice: [oops\n")
        with caplog.at_level(logging.ERROR, logger="llm_exporter.exposition.webconfig"):
            assert [get(srv, "/metrics", basic("alice", "a"))[0] for _ in range(3)] == [500, 500, 500]
        assert len(caplog.records) == 1
        assert (
            caplog.records[0]
            .getMessage()
            .startswith(f"web config does not load, refusing every request until it does: {web}: invalid YAML")
        )
        _web(tmp_path, {"alice": hashed(b"a")})
        assert get(srv, "/metrics", basic("alice", "a"))[0] == 200
        assert get(srv, "/metrics", basic("mallory", "m"))[0] == 401
    finally:
        stop(srv)


@pytest.fixture(scope="module")
def client_cert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed client certificate (client.crt, client.key), no CA behind it."""
    return _self_signed(tmp_path_factory.mktemp("client"), "client", "/CN=scraper")


def _tls_web(tmp_path: Path, certs: Path, client_auth: str, ca: Path | None = None) -> Path:
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {certs / 'server.crt'}\n  key_file: {certs / 'server.key'}\n"
        f"  client_auth_type: {client_auth}\n" + (f"  client_ca_file: {ca}\n" if ca else "")
    )
    return web


def _client(certs: Path, client_cert: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs / "server.crt"))
    if client_cert is not None:
        context.load_cert_chain(client_cert / "client.crt", client_cert / "client.key")
    return context


def test_request_client_cert_admits_any_client(tmp_path: Path, certs: Path, client_cert: Path) -> None:
    """exporter-toolkit asks for a certificate and never checks it: every client gets in, with an
    unknown certificate or none."""
    srv = start(tmp_path, _tls_web(tmp_path, certs, "RequestClientCert"))
    try:
        assert get(srv, "/metrics", context=_client(certs, client_cert))[0] == 200
        assert get(srv, "/metrics", context=_client(certs, None))[0] == 200
    finally:
        stop(srv)


def test_require_any_client_cert_needs_a_ca_here(tmp_path: Path, certs: Path, client_cert: Path) -> None:
    """Python's TLS cannot require a certificate it does not verify: without client_ca_file the
    web config is refused at load, saying so, rather than refusing every client at run time."""
    with pytest.raises(ConfigError, match=r"client_ca_file is needed for RequireAnyClientCert \(Python's TLS"):
        load_web_config(_tls_web(tmp_path, certs, "RequireAnyClientCert"))
    srv = start(tmp_path, _tls_web(tmp_path, certs, "RequireAnyClientCert", client_cert / "client.crt"))
    try:
        assert get(srv, "/metrics", context=_client(certs, client_cert))[0] == 200
        with pytest.raises((ssl.SSLError, ConnectionError)):
            get(srv, "/metrics", context=_client(certs, None))
    finally:
        stop(srv)


def test_tls_handshake_failures_log_one_line(
    tmp_path: Path, certs: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """300 plain-HTTP clients at the TLS port: one line each at debug level, one warning, no traceback."""
    srv = start(tmp_path, _tls_web(tmp_path, certs, "NoClientCert"))
    try:
        with caplog.at_level(logging.DEBUG, logger="llm_exporter.exposition.http"):
            for _ in range(300):
                assert not _raw(srv, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").startswith(b"HTTP/")

            def failures() -> list[logging.LogRecord]:
                return [r for r in caplog.records if r.getMessage().startswith("TLS handshake failed from 127.0.0.1")]

            wait_for(lambda: len(failures()) == 300)
        assert [r.levelname for r in failures()].count("WARNING") == 1
        assert all("\n" not in r.getMessage() and r.exc_info is None for r in failures())
    finally:
        stop(srv)
    assert "Traceback" not in capfd.readouterr().err


# --- point 11: IPv6 and dual stack ------------------------------------------------------------


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")


def _answers(host: str, port: int) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/-/healthy")
        return conn.getresponse().status == 200
    except ConnectionRefusedError:
        return False
    finally:
        conn.close()


@needs_ipv6
def test_listen_ipv6(tmp_path: Path) -> None:
    srv = start(tmp_path, address=parse_listen_address("[::1]:0"))
    try:
        assert srv.url_address == f"[::1]:{srv.server_address[1]}"
        assert _answers("::1", srv.server_address[1])
        assert not _answers("127.0.0.1", srv.server_address[1])
    finally:
        stop(srv)


@needs_ipv6
@pytest.mark.parametrize("flag", [":0", "[::]:0"])
def test_listen_dual_stack(tmp_path: Path, flag: str) -> None:
    srv = start(tmp_path, address=parse_listen_address(flag))
    try:
        assert _answers("127.0.0.1", srv.server_address[1])
        assert _answers("::1", srv.server_address[1])
    finally:
        stop(srv)


@needs_ipv6
def test_listen_ipv4_only_when_asked(tmp_path: Path) -> None:
    srv = start(tmp_path, address=parse_listen_address("0.0.0.0:0"))
    try:
        assert _answers("127.0.0.1", srv.server_address[1])
        assert not _answers("::1", srv.server_address[1])
    finally:
        stop(srv)


def test_listen_address_parsing() -> None:
    assert parse_listen_address(":8464") == ("", 8464)
    assert parse_listen_address("[::1]:8464") == ("::1", 8464)
    assert parse_listen_address("[::]:8464") == ("::", 8464)
    assert parse_listen_address("127.0.0.1:8464") == ("127.0.0.1", 8464)
    with pytest.raises(argparse.ArgumentTypeError, match=r"put an IPv6 address in brackets, as in \[::1\]:8464"):
        parse_listen_address("::1:8464")
    with pytest.raises(argparse.ArgumentTypeError, match="is not HOST:PORT"):
        parse_listen_address("localhost")


# --- point 12 (part): web-config errors name the file -----------------------------------------


def test_web_config_errors_name_the_file(tmp_path: Path, certs: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {garbage}\n  key_file: {certs / 'server.key'}\n")
    with pytest.raises(ConfigError) as error:
        load_web_config(web)
    assert str(error.value).startswith(f"{web}: tls_server_config.cert_file: {garbage}: not a PEM certificate")
    web.write_text(f"tls_server_config:\n  cert_file: {certs / 'server.crt'}\n  key_file: {garbage}\n")
    with pytest.raises(ConfigError) as error:
        load_web_config(web)
    assert str(error.value).startswith(f"{web}: tls_server_config.key_file: {garbage}: not a PEM private key")
    web.write_text(
        f"tls_server_config:\n  cert_file: {certs / 'server.crt'}\n  key_file: {certs / 'server.key'}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {garbage}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_web_config(web)
    assert str(error.value).startswith(f"{web}: tls_server_config.client_ca_file: {garbage}: not PEM certificates")
