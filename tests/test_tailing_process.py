"""Tailing faults against the real process: SIGKILL, and a soak of rotations under load."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from testkit import Running, value, wait_for

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
