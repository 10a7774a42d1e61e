"""Probes (issue 14.1): model servers asked for their models, steppable with poll_once()."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from fakes.models_server import FakeModelServer
from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from testkit import FakeClock, Running, parse_samples, scrape, value, wait_for


def exporter_for(tmp_path: Path, *probes: dict, clock: FakeClock | None = None) -> Exporter:
    raw = {"sources": [{"name": "app", "path": str(tmp_path / "none.log")}], "probes": list(probes)}
    exporter = Exporter(parse_config(raw, "test"))
    if clock is not None:
        exporter.prober.clock = clock
    return exporter


def test_openai_compatible_server_lists_its_models(tmp_path: Path) -> None:
    with FakeModelServer("openai", ["gpt-4o", "meta-llama/Llama-3.1-8B-Instruct"]) as server:
        exporter = exporter_for(tmp_path, {"url": f"{server.url}/v1", "provider": "vllm"})
        assert exporter.prober.poll_once() == 1
        s = scrape(exporter)
    labels = {"server_address": server.address, "gen_ai_provider_name": "vllm"}
    assert value(s, "llm_probe_up", **labels) == 1
    assert value(s, "llm_model_available", gen_ai_request_model="gpt-4o", **labels) == 1
    assert value(s, "llm_model_available", gen_ai_request_model="meta-llama/Llama-3.1-8B-Instruct", **labels) == 1
    assert value(s, "llm_model_available") == 2
    assert server.requests[0][0] == "/v1/models"


def test_a_removed_model_reads_0_and_a_new_one_1(tmp_path: Path) -> None:
    clock = FakeClock()
    with FakeModelServer("openai", ["a", "b"]) as server:
        exporter = exporter_for(tmp_path, {"url": f"{server.url}/v1", "interval_seconds": 30}, clock=clock)
        exporter.prober.poll_once()
        server.models = ["a", "c"]
        assert exporter.prober.poll_once() == 0  # not due yet
        clock.advance(30)
        assert exporter.prober.poll_once() == 1
        s = scrape(exporter)
    assert [value(s, "llm_model_available", gen_ai_request_model=m) for m in "abc"] == [1, 0, 1]


def test_a_stopped_server_reads_down_within_one_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    with FakeModelServer("openai", ["a"]) as server:
        exporter = exporter_for(tmp_path, {"url": f"{server.url}/v1", "interval_seconds": 10}, clock=clock)
        exporter.prober.poll_once()
        server.stop()
        clock.advance(10)
        exporter.prober.poll_once()
        s = scrape(exporter)
    assert value(s, "llm_probe_up") == 0
    # A server that does not answer says nothing of its models: no "model gone" on top of "down".
    assert not [n for (n, _) in s if n == "llm_model_available"]


def test_a_hung_server_times_out_and_other_probes_are_unaffected(tmp_path: Path) -> None:
    """The hung server never answers while the probes run: only the probe's own timeout can end
    poll_once (the thread's join is a guard against a hang, not a time bound)."""
    import threading

    with FakeModelServer("openai", ["slow-model"]) as hung, FakeModelServer("ollama", ["llama3:8b"]) as ok:
        hung.hold = threading.Event()
        exporter = exporter_for(
            tmp_path,
            {"url": f"{hung.url}/v1", "timeout_seconds": 0.3},
            {"url": ok.url, "type": "ollama"},
        )
        probing = threading.Thread(target=exporter.prober.poll_once)
        probing.start()
        probing.join(60)
        ended = not probing.is_alive()  # while the server still held its answer
        hung.hold.set()
        s = scrape(exporter)
    assert ended
    assert value(s, "llm_probe_up", server_address=hung.address) == 0
    assert value(s, "llm_probe_up", server_address=ok.address) == 1
    assert value(s, "llm_model_available", gen_ai_request_model="llama3:8b") == 1


def test_ollama_installed_loaded_and_sizes(tmp_path: Path) -> None:
    with FakeModelServer("ollama", ["llama3:8b", "qwen2.5:7b"], loaded=["qwen2.5:7b"]) as server:
        exporter = exporter_for(tmp_path, {"url": server.url, "type": "ollama"})
        exporter.prober.poll_once()
        s = scrape(exporter)
    ollama = {"gen_ai_provider_name": "ollama"}
    assert value(s, "llm_model_available", **ollama) == 2
    assert value(s, "llm_model_loaded", gen_ai_request_model="qwen2.5:7b", **ollama) == 1
    assert value(s, "llm_model_loaded", gen_ai_request_model="llama3:8b", **ollama) == 0
    assert value(s, "llm_model_size_bytes", gen_ai_request_model="qwen2.5:7b") == 4_700_000_001
    assert sorted(path for path, _ in server.requests) == ["/api/ps", "/api/tags"]


def test_the_api_key_is_sent_and_never_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-secret-123")
    caplog.set_level(logging.DEBUG)
    with FakeModelServer("anthropic", ["claude-sonnet-4-5"]) as server:
        exporter = exporter_for(tmp_path, {"url": server.url, "type": "anthropic", "api_key_env": "TEST_ANTHROPIC_KEY"})
        exporter.prober.poll_once()
        s = scrape(exporter)
        server.stop()
        exporter.prober.clock = FakeClock(time.monotonic() + 3600)
        exporter.prober.poll_once()  # fails: logged, without the key
    assert value(s, "llm_model_available", gen_ai_request_model="claude-sonnet-4-5", gen_ai_provider_name="anthropic")
    headers = {k.lower(): v for k, v in server.requests[0][1].items()}
    assert headers["x-api-key"] == "sk-ant-secret-123"
    assert headers["anthropic-version"] == "2023-06-01"
    assert caplog.records and all("sk-ant-secret-123" not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("to", ["other server", "ftp://127.0.0.1:1"])
def test_a_redirect_is_not_followed_and_the_key_goes_nowhere_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, to: str
) -> None:
    """urllib would copy the key's header onto the redirected request, to any host and scheme, and
    report the other server's models as the target's: a probe follows no redirect at all."""
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-secret-456")
    caplog.set_level(logging.DEBUG)
    with FakeModelServer("openai", ["gpt-4o"]) as target, FakeModelServer("openai", ["elsewhere"]) as other:
        target.redirect = other.url if to == "other server" else to
        exporter = exporter_for(
            tmp_path, {"url": f"{target.url}/v1", "type": "openai", "api_key_env": "TEST_OPENAI_KEY"}
        )
        exporter.prober.poll_once()
        s = scrape(exporter)
    assert value(s, "llm_probe_up", server_address=target.address) == 0
    assert not any(name == "llm_model_available" for name, _ in s)
    assert [path for path, _ in target.requests] == ["/v1/models"]
    assert other.requests == []
    assert [r.getMessage() for r in caplog.records if "probe" in r.getMessage()] == [
        f"probe {target.address} (openai): HTTP 302, a redirect (not followed)"
    ]


def test_credentials_in_the_url_are_refused() -> None:
    from llm_exporter.config import ConfigError

    with pytest.raises(ConfigError, match="api_key_env"):
        parse_config({"sources": [{"name": "a", "path": "/x"}], "probes": [{"url": "http://u:p@h:1/v1"}]}, "t")


def test_the_daemon_probes_on_its_own_thread(tmp_path: Path) -> None:
    with FakeModelServer("openai", ["gpt-4o"]) as server:
        (tmp_path / "app.log").write_text("")
        config = tmp_path / "config.yml"
        config.write_text(
            f"sources: [{{name: app, path: {tmp_path / 'app.log'}}}]\n"
            f"probes: [{{url: '{server.url}/v1', interval_seconds: 60}}]\n"
        )
        running = Running(tmp_path, "--config", str(config))
        try:
            wait_for(lambda: value(running.scrape(), "llm_probe_up") == 1)
            assert value(running.scrape(), "llm_model_available", gen_ai_request_model="gpt-4o") == 1
        finally:
            assert running.stop()[0] == 0


def test_probe_endpoint_blackbox_style(tmp_path: Path) -> None:
    """/probe?target=URL&module=TYPE probes one server now, as Prometheus' blackbox exporter does."""
    import urllib.error
    import urllib.request

    (tmp_path / "app.log").write_text("")
    with FakeModelServer("ollama", ["llama3:8b"], loaded=["llama3:8b"]) as server:
        running = Running(tmp_path, "--log-path", str(tmp_path / "app.log"))
        try:
            base = f"http://127.0.0.1:{running.port}/probe"
            with urllib.request.urlopen(f"{base}?target={server.url}&module=ollama", timeout=10) as resp:
                s = parse_samples(resp.read().decode())
            assert value(s, "llm_probe_up", server_address=server.address, gen_ai_provider_name="ollama") == 1
            assert value(s, "llm_model_loaded", gen_ai_request_model="llama3:8b") == 1
            for query, why in (("module=ollama", b"target"), (f"target={server.url}&module=gopher", b"module")):
                with pytest.raises(urllib.error.HTTPError) as exc:
                    urllib.request.urlopen(f"{base}?{query}", timeout=10)
                assert exc.value.code == 400 and why in exc.value.read()
            # A target that does not answer is a successful probe saying "down".
            server.stop()
            with urllib.request.urlopen(f"{base}?target={server.url}&module=ollama", timeout=10) as resp:
                assert value(parse_samples(resp.read().decode()), "llm_probe_up") == 0
        finally:
            assert running.stop()[0] == 0


def test_probes_of_a_hung_target_never_hold_metrics(tmp_path: Path) -> None:
    """/probe had /metrics' two threads: two probes of a hung target kept the next scrape waiting.
    Probes now run beside it, at most two at once; more are refused at once, not queued."""
    import threading
    import urllib.error
    import urllib.request

    (tmp_path / "app.log").write_text("")
    with FakeModelServer("ollama", ["llama3:8b"]) as server:
        server.hold = threading.Event()
        running = Running(tmp_path, "--log-path", str(tmp_path / "app.log"))
        probe = f"http://127.0.0.1:{running.port}/probe?target={server.url}&module=ollama"
        answers: list[int] = []

        def ask() -> None:
            with urllib.request.urlopen(probe, timeout=120) as resp:
                answers.append(resp.status)

        askers = [threading.Thread(target=ask) for _ in range(2)]
        try:
            for asker in askers:
                asker.start()
            wait_for(lambda: len(server.requests) == 2)  # both probes wait on the target
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(probe, timeout=120)
            assert (refused.value.code, refused.value.read()) == (503, b"2 probes already in progress\n")
            assert running.scrape()  # served at once, not after the probes (a hang guard only)
            assert server.hold is not None and not server.hold.is_set() and len(server.requests) == 2
        finally:
            server.hold.set()
            for asker in askers:
                asker.join(120)
            assert running.stop()[0] == 0
    assert answers == [200, 200]
