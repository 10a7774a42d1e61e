"""The HTTP endpoint, spoken to by real HTTP(S) clients: formats, gzip, TLS and basic auth."""

from __future__ import annotations

import base64
import gzip
import http.client
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from llm_exporter.config import ConfigError
from llm_exporter.exposition.http import MetricsServer
from llm_exporter.exposition.webconfig import load_web_config
from testkit import make_exporter, parse_samples, require_binary, value, write_lines

LINE = b'{"model":"gpt-4o-mini","latency_ms":1500,"prompt_tokens":10,"completion_tokens":5,"cost_usd":0.25}\n'


def start(tmp_path: Path, web_config: Path | None = None, ready: bool = True) -> MetricsServer:
    exporter, log = make_exporter(tmp_path, "event")
    write_lines(log, [LINE, LINE])
    exporter.poll_once()
    event = threading.Event()
    if ready:
        event.set()
    web = load_web_config(web_config) if web_config else None
    server = MetricsServer(("127.0.0.1", 0), exporter.registry(), exporter.registry(openmetrics=True), web, event)
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


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    openssl = require_binary("openssl", "openssl")
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(d / "server.key"),
            "-out",
            str(d / "server.crt"),
        ],
        check=True,
        capture_output=True,
    )
    return d


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
