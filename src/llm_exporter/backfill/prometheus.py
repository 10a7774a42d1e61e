"""A temporary Prometheus on loopback over the backfilled blocks, for promtool to evaluate the
recording rules against."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

from llm_exporter.backfill.errors import BackfillError


@contextlib.contextmanager
def temporary_prometheus(binary: str, blocks: str, data: str) -> Iterator[str]:
    """A Prometheus on loopback over (links to) the blocks in `blocks`; yields its URL."""
    os.makedirs(data)
    for name in os.listdir(blocks):
        if os.path.isfile(os.path.join(blocks, name, "meta.json")):
            shutil.copytree(os.path.join(blocks, name), os.path.join(data, name), copy_function=os.link)
    config = os.path.join(data, "prometheus.yml")
    with open(config, "w", encoding="utf-8") as f:
        f.write("scrape_configs: []\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log_path = os.path.join(data, "prometheus.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",  # retention counts back from the newest block
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        _wait_ready(proc, url, log_path)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                raise BackfillError(f"the temporary Prometheus stopped: {f.read().strip()[-500:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise BackfillError(f"the temporary Prometheus was not ready within {timeout:.0f}s")
