"""The daemon's log: logfmt that logfmt parsers read, JSON lines on request, no per-write chatter."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_exporter.daemon import Watcher
from llm_exporter.logs import configure_logging
from testkit import Running

# key=value pairs separated by one space; a value is bare (no space, quote or equals) or a
# double-quoted string with backslash escapes.
_PAIR = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"=]+)(?: |$)')
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def parse_logfmt(line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(line):
        m = _PAIR.match(line, pos)
        assert m, f"not logfmt at {line[pos:]!r} in {line!r}"
        key, raw = m.groups()
        out[key] = json.loads(raw) if raw.startswith('"') else raw
        pos = m.end()
    return out


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, chatty = logging.getLogger(), logging.getLogger("watchfiles")
    handlers, level, chatty_level = list(root.handlers), root.level, chatty.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    chatty.setLevel(chatty_level)


def test_log_is_logfmt(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)
    log = logging.getLogger("llm_exporter.test")
    log.warning('cannot open "%s" = gone\nreally', "/var/log/a b.log", extra={"source": "app one"})
    log.info("stopped")
    log.debug("not at info")
    warning, info = out.getvalue().splitlines()
    fields = parse_logfmt(warning)
    assert _TS.fullmatch(fields.pop("ts"))
    assert fields == {
        "level": "warn",
        "logger": "llm_exporter.test",
        "msg": 'cannot open "/var/log/a b.log" = gone\nreally',
        "source": "app one",
    }
    assert warning.split(" ", 1)[1] == (
        r'level=warn logger=llm_exporter.test msg="cannot open \"/var/log/a b.log\" = gone\nreally" source="app one"'
    )
    assert info.split(" ", 1)[1] == "level=info logger=llm_exporter.test msg=stopped"


def test_log_errors_with_traceback_stay_on_one_line(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("debug", stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").error("failed", exc_info=True)
    (line,) = out.getvalue().splitlines()
    fields = parse_logfmt(line)
    assert fields["level"] == "error" and fields["msg"] == "failed"
    assert fields["exc"].startswith("Traceback") and fields["exc"].endswith("ValueError: boom")


def test_daemon_log_is_logfmt(tmp_path: Path) -> None:
    """The real process: every line parses, and a source matching nothing is a warning."""
    running = Running(tmp_path, "--log-path", str(tmp_path / "missing" / "*.log"))
    code, err = running.stop()
    assert code == 0
    lines = [parse_logfmt(line) for line in err.splitlines()]
    assert [(f["level"], f["logger"]) for f in lines] == [
        ("info", "llm_exporter.daemon"),
        ("warn", "llm_exporter.daemon"),
        ("info", "llm_exporter.daemon"),
    ]
    assert lines[0]["msg"] == f"listening on 127.0.0.1:{running.port} (http)"
    assert lines[1]["msg"] == (
        f"source default: no file matches {tmp_path}/missing/*.log: directory {tmp_path}/missing does not exist;"
        " reading nothing until a file appears"
    )
    assert lines[1]["source"] == "default"
    assert lines[2]["msg"] == "stopped"


def test_log_format_json(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("")
    running = Running(tmp_path, "--log-path", str(tmp_path / "app.log"), "--log.format", "json")
    code, err = running.stop()
    assert code == 0
    records = [json.loads(line) for line in err.splitlines()]
    assert [(r["level"], r["logger"], r["msg"]) for r in records] == [
        ("info", "llm_exporter.daemon", f"listening on 127.0.0.1:{running.port} (http)"),
        ("info", "llm_exporter.daemon", "stopped"),
    ]
    assert all(set(r) == {"ts", "level", "logger", "msg"} and _TS.fullmatch(r["ts"]) for r in records)


@pytest.mark.parametrize(("level", "chatter"), [("info", False), ("debug", True)])
def test_watchfiles_chatter_at_debug_only(tmp_path: Path, level: str, chatter: bool, restore_logging: None) -> None:
    """watchfiles logs each batch of changes ("1 change detected") before it wakes the poll loop."""
    out = io.StringIO()
    configure_logging(level, stream=out)
    wake = threading.Event()
    watcher = Watcher([str(tmp_path)], False, wake)
    try:
        # The watcher may start after the first write: write until it notices one.
        for _ in range(100):
            (tmp_path / "app.log").write_text("a line\n")
            if wake.wait(0.2):
                break
        else:
            pytest.fail("watchfiles reported no change")
    finally:
        watcher.close()
        watcher.thread.join(10)
    assert ("change detected" in out.getvalue()) is chatter
