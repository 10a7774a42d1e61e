"""Tailing faults against the real process: SIGKILL and SIGTERM mid-read, thousands of files at a
low descriptor limit, and a soak of rotations under load."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llm_exporter.daemon import READ_SLICE
from testkit import Running, free_port, scrape_port, value, wait_for

LINE = b'{"model":"gpt-4o","latency_ms":100,"prompt_tokens":%d,"completion_tokens":1,"cost_usd":1.0}\n'


def config(tmp_path: Path, glob: str = "app.log*", save_interval: float = 0.5) -> Path:
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        f"sources:\n  - {{name: app, path: '{tmp_path / glob}', format: event}}\n"
        f"positions_file: {tmp_path / 'pos.json'}\n"
        f"positions_save_interval_seconds: {save_interval}\npoll_interval_seconds: 0.1\n"
        "glob_interval_seconds: 0.5\nrotate_wait_seconds: 2\n"
    )
    return cfg


def requests(r: Running) -> float:
    return value(r.scrape(), "gen_ai_client_operation_duration_seconds_count")


def test_sigkill_leaves_valid_positions_and_recounts_at_most_one_interval(tmp_path: Path) -> None:
    cfg = config(tmp_path, "app.log", save_interval=0.5)
    log = tmp_path / "app.log"
    with open(log, "wb") as f:
        f.writelines(LINE % i for i in range(100))
    first = Running(tmp_path, "--config", str(cfg))
    wait_for(
        lambda: (
            (tmp_path / "pos.json").exists()
            and json.loads((tmp_path / "pos.json").read_text())["files"]
            and json.loads((tmp_path / "pos.json").read_text())["files"][0]["offset"] == log.stat().st_size
        )
    )
    with open(log, "ab") as f:
        f.writelines(LINE % i for i in range(100, 130))
    wait_for(lambda: requests(first) == 130)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    saved = json.loads((tmp_path / "pos.json").read_text())  # still whole, valid JSON
    offset = saved["files"][0]["offset"]
    assert offset in {sum(len(LINE % i) for i in range(n)) for n in (100, 130)}  # whole lines only
    second = Running(tmp_path, "--config", str(cfg))
    try:
        recounted = requests(second)
        assert recounted in (0, 30)  # only lines after the last save, never the whole file
        assert value(second.scrape(), "llm_exporter_lines_rejected_total") == 0
    finally:
        second.stop()


SOAK_SECONDS = float(os.environ.get("LLM_EXPORTER_SOAK_SECONDS", "60"))


@pytest.mark.soak
def test_soak_rotations_under_load_lose_and_double_nothing(tmp_path: Path) -> None:
    """A writer appends for a minute and rotates every second, rename and copytruncate in turn,
    keeping three rotated files; /metrics must end up with exactly what was written."""
    cfg = config(tmp_path)
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    exporter = Running(tmp_path, "--config", str(cfg))
    written = tokens = rotations = 0
    writer = open(log, "ab", buffering=0)  # noqa: SIM115 - reopened on rename rotations
    deadline = time.monotonic() + SOAK_SECONDS
    next_rotation = time.monotonic() + 1.0
    try:
        while time.monotonic() < deadline:
            batch = [LINE % (written + i) for i in range(50)]
            writer.write(b"".join(batch))
            tokens += sum(range(written, written + 50))
            written += 50
            if time.monotonic() >= next_rotation:
                for k in (3, 2, 1):  # shift app.log.1 -> .2 -> .3, dropping the oldest
                    src = tmp_path / f"app.log.{k}"
                    if src.exists():
                        if k == 3:
                            src.unlink()
                        else:
                            os.rename(src, tmp_path / f"app.log.{k + 1}")
                if rotations % 2 == 0:
                    os.rename(log, tmp_path / "app.log.1")
                    writer.close()
                    writer = open(log, "ab", buffering=0)  # noqa: SIM115
                else:
                    shutil.copyfile(log, tmp_path / "app.log.1")
                    os.truncate(log, 0)
                rotations += 1
                next_rotation = time.monotonic() + 1.0
            time.sleep(0.005)  # the writer's pace, not a synchronisation
        writer.close()
        wait_for(lambda: requests(exporter) >= written, timeout=30)
        s = exporter.scrape()
        assert value(s, "gen_ai_client_operation_duration_seconds_count") == written
        assert value(s, "llm_tokens_total", gen_ai_token_type="input") == tokens
        assert value(s, "llm_exporter_lines_rejected_total") == 0
        assert rotations >= SOAK_SECONDS * 0.5
    finally:
        exporter.stop()


# -- issue 9: long start-up reads, thousands of files at a low descriptor limit -------------------

BACKLOG = 500_000  # lines, ~50 MB: a start-up read of a few seconds
SAVE_BYTES = 4 * 1024 * 1024


def backlog(tmp_path: Path) -> tuple[Path, bytes]:
    cfg = config(tmp_path, "app.log", save_interval=0.5)
    with open(cfg, "a") as f:
        f.write(f"positions_save_bytes: {SAVE_BYTES}\n")
    data = b"".join(LINE % i for i in range(BACKLOG))
    (tmp_path / "app.log").write_bytes(data)
    return cfg, data


def start(tmp_path: Path, cfg: Path, **popen: Any) -> tuple[subprocess.Popen[bytes], int]:
    """The daemon, not waited for: its start-up read is what these tests interrupt."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_exporter", "--config", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        stderr=open(tmp_path / "stderr.log", "ab"),  # noqa: SIM115 - the child holds it
        **popen,
    )
    return proc, port


def saved_offset(tmp_path: Path) -> int | None:
    try:
        files = json.loads((tmp_path / "pos.json").read_text())["files"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return files[0]["offset"] if files else None


def mid_read(tmp_path: Path, size: int) -> bool:
    """Positions saved part way through the start-up read (never, before issue 9's fix)."""
    offset = saved_offset(tmp_path)
    return offset is not None and 0 < offset < size // 2


def test_sigkill_during_the_start_up_read_recounts_at_most_one_save_interval(tmp_path: Path) -> None:
    cfg, data = backlog(tmp_path)
    first, port = start(tmp_path, cfg)
    try:
        wait_for(lambda: mid_read(tmp_path, len(data)), timeout=60)
        seen = value(scrape_port(port), "llm_exporter_lines_read_total")  # read by then, at least
    finally:
        first.kill()
        first.wait(timeout=10)
    offset = saved_offset(tmp_path)
    assert offset is not None and 0 < offset < len(data)
    saved = data[:offset].count(b"\n")
    assert data[offset - 1 : offset] == b"\n"  # whole lines only
    # Saved at most one save interval (plus the slice being read) behind what had been read.
    assert seen - saved <= (SAVE_BYTES + READ_SLICE) // len(LINE % 0)
    second = Running(tmp_path, "--config", str(cfg))
    try:
        s = second.scrape()
        assert value(s, "llm_exporter_lines_read_total") == BACKLOG - saved
        assert value(s, "gen_ai_client_operation_duration_seconds_count") == BACKLOG - saved
        assert value(s, "llm_exporter_lines_rejected_total") == 0
    finally:
        second.stop()


def test_sigterm_during_the_start_up_read_stops_at_once_and_the_rest_counts_once(tmp_path: Path) -> None:
    cfg, data = backlog(tmp_path)
    first, _ = start(tmp_path, cfg)
    try:
        wait_for(lambda: mid_read(tmp_path, len(data)), timeout=60)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    finally:
        first.kill()
    offset = saved_offset(tmp_path)
    assert offset is not None and offset < len(data)  # it stopped before the end of the backlog
    saved = data[:offset].count(b"\n")
    second = Running(tmp_path, "--config", str(cfg))
    try:
        s = second.scrape()
        assert value(s, "gen_ai_client_operation_duration_seconds_count") == BACKLOG - saved
        assert value(s, "llm_tokens_total", gen_ai_token_type="input") == sum(range(saved, BACKLOG))
    finally:
        second.stop()


def _fd_limit(soft: int, hard: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_5000_files_at_an_fd_limit_of_1024_count_every_line_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(5000):
        (logs / f"{i:04}.log").write_bytes(LINE % (2 * i) + LINE % (2 * i + 1))
    cfg = config(tmp_path, "logs/*.log", save_interval=1)
    proc, port = start(tmp_path, cfg, preexec_fn=_fd_limit(1024, 1024))
    try:
        wait_for(lambda: value(scrape_port(port), "llm_exporter_lines_read_total") == 10_000, timeout=60)
        for i in range(5000):
            with open(logs / f"{i:04}.log", "ab") as f:
                f.write(LINE % (10_000 + i))
        wait_for(lambda: value(scrape_port(port), "llm_exporter_lines_read_total") >= 15_000, timeout=60)
        s = scrape_port(port)
        assert value(s, "llm_exporter_lines_read_total") == 15_000
        assert value(s, "gen_ai_client_operation_duration_seconds_count") == 15_000
        assert value(s, "llm_tokens_total", gen_ai_token_type="input") == sum(range(15_000))
        assert value(s, "llm_exporter_file_errors_total") == 0
        assert value(s, "llm_exporter_source_files") == 5000
        assert value(s, "llm_exporter_files_open") == 5000
        assert len(os.listdir(f"/proc/{proc.pid}/fd")) < 1024
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert len(json.loads((tmp_path / "pos.json").read_text())["files"]) == 5000


def test_the_soft_fd_limit_is_raised_to_the_hard_limit(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_bytes(b"")
    proc, port = start(tmp_path, config(tmp_path, "app.log"), preexec_fn=_fd_limit(256, 2048))
    try:
        wait_for(lambda: scrape_port(port) is not None)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        assert [line.split()[3:5] for line in limits.splitlines() if line.startswith("Max open files")] == [
            ["2048", "2048"]
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
