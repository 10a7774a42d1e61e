"""Shared test helpers: replay in-process, read expositions, run the real process, find binaries.

A plain module, not conftest.py: tests/bundle has a conftest of its own, and two modules named
`conftest` cannot both be imported by name."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = Path(__file__).resolve().parent / "testdata"
EXAMPLES = ROOT / "examples"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def make_exporter(tmp_path: Path, fmt: str = "auto", clock=None, **config: object) -> tuple[Exporter, Path]:
    """An exporter following tmp_path/app.log (which the caller writes), positions off unless asked."""
    log = tmp_path / "app.log"
    raw = {"sources": [{"name": "app", "path": str(log), "format": fmt}], **config}
    kwargs = {"clock": clock} if clock else {}
    return Exporter(parse_config(raw, "test"), **kwargs), log


def scrape(exporter: Exporter) -> Samples:
    from prometheus_client.exposition import generate_latest

    return parse_samples(generate_latest(exporter.registry(process=False)).decode())


def write_lines(path: Path, lines: Iterable[bytes | str], mode: str = "ab") -> None:
    with open(path, mode) as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else line.encode())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found: apt-get install {package}")
    return path


class FakeClock:
    """A steppable monotonic clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def scrape_port(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as resp:
        return parse_samples(resp.read().decode())


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll `check` until true. Fails the test past `timeout` seconds: a guard against a hang,
    generous so that a busy machine never trips it."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.02)


class Running:
    def __init__(self, cwd: Path, *args: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llm_exporter", *args, "--web.listen-address", f"127.0.0.1:{self.port}"],
            cwd=cwd,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(self.ready)

    def ready(self) -> bool:
        assert self.proc.poll() is None, self.proc.stderr.read() if self.proc.stderr else ""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=30) as resp:
            return resp.status == 200

    def scrape(self) -> Samples:
        return scrape_port(self.port)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err
