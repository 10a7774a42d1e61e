"""Command line: unknown commands, replay on what it cannot read, check-config on sources that
match no file, and the daemon's warning when a source has no file."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm_exporter.cli import main
from llm_exporter.config import parse_config
from llm_exporter.daemon import Daemon
from testkit import TESTDATA


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chek-config", "x.yml"]) == 2
    assert capsys.readouterr().err == "llm-exporter: unknown command 'chek-config'; did you mean check-config?\n"
    assert main(["serve"]) == 2
    assert (
        capsys.readouterr().err == "llm-exporter: unknown command 'serve' (commands: check-config, replay, backfill)\n"
    )


def test_replay_on_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--format", "completion", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"llm-exporter: replay: {tmp_path}: Is a directory\n"
    assert captured.out == ""


def test_replay_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.log")]) == 2
    assert capsys.readouterr().err == f"llm-exporter: replay: {tmp_path / 'nope.log'}: No such file or directory\n"


def test_replay_unreadable_file_exits_nonzero(tmp_path: Path) -> None:
    log = tmp_path / "completion.log"
    shutil.copy(TESTDATA / "golden" / "completion.log", log)
    log.chmod(0)
    cmd = [sys.executable, "-m", "llm_exporter", "replay", "--format", "completion", str(log)]
    if os.access(log, os.R_OK):  # root reads anything: run without the capabilities that allow it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
        cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"llm-exporter: replay: {log}: Permission denied\n"
    assert proc.stdout == ""


def _config(tmp_path: Path, glob: str) -> Path:
    path = tmp_path / "cfg.yml"
    path.write_text(f"sources:\n  - {{name: app, path: '{glob}'}}\n")
    return path


def test_check_config_warns_of_a_source_without_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = _config(tmp_path, str(tmp_path / "nodir" / "*.log"))
    assert main(["check-config", str(missing)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"llm-exporter: warning: {missing}: source app: no file matches {tmp_path}/nodir/*.log:"
        f" directory {tmp_path}/nodir does not exist\n"
    )
    assert captured.out == f"{missing}: ok (1 source(s): app)\n"

    assert main(["check-config", "--strict", str(missing)]) == 2
    assert capsys.readouterr().err.endswith(f"llm-exporter: {missing}: 1 warning(s) (--strict)\n")

    # The directory exists, the glob matches only excluded or no files.
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log.gz").write_bytes(b"")
    empty = _config(tmp_path, str(tmp_path / "logs" / "*.log*"))
    assert main(["check-config", "--strict", str(empty)]) == 2
    assert f"source app: no file matches {tmp_path}/logs/*.log*\n" in capsys.readouterr().err

    (tmp_path / "logs" / "app.log").write_bytes(b"")
    assert main(["check-config", "--strict", str(empty)]) == 0
    assert capsys.readouterr().err == ""


def _daemon(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "llm_exporter.daemon"]


def test_warning_when_a_source_goes_from_files_to_none(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = tmp_path / "app.log"
    log.write_text("a line\n")  # an empty file is never closed: it waits for a first line
    raw = {"sources": [{"name": "app", "path": str(log)}], "rotate_wait_seconds": 0}
    daemon = Daemon(parse_config(raw, "test"), None, ("127.0.0.1", 0), None)
    try:
        with caplog.at_level(logging.WARNING, logger="llm_exporter.daemon"):
            daemon.exporter.drain()
            daemon._warn_without_files()
            assert _daemon(caplog) == []  # a file: nothing to say

            log.unlink()
            daemon.exporter.poll_once()
            daemon.exporter.poll_once()
            daemon._warn_without_files()
            daemon._warn_without_files()  # said once, not at every scan
            assert _daemon(caplog) == [f"source app: no file matches {log}; reading nothing until a file appears"]

            log.write_text("another line\n")
            daemon.exporter.poll_once()
            daemon._warn_without_files()
            log.unlink()
            daemon.exporter.poll_once()
            daemon.exporter.poll_once()
            daemon._warn_without_files()  # had a file again, then none: said again
            assert len(_daemon(caplog)) == 2
    finally:
        daemon.server.server_close()
        daemon.exporter.close()
