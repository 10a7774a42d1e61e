"""What the daemon asks watchfiles to watch: notifications are a hint, never the whole machine."""

from __future__ import annotations

from pathlib import Path

from llm_exporter.config import config_for_glob
from llm_exporter.daemon import _watch_roots


def test_watch_roots(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    assert _watch_roots(config_for_glob(str(tmp_path / "logs" / "*.log"))) == ([str(tmp_path / "logs")], False)
    # Directories that are globs or do not exist yet: the deepest existing parent, recursively.
    assert _watch_roots(config_for_glob(str(tmp_path / "*" / "x.log"))) == ([str(tmp_path)], True)
    assert _watch_roots(config_for_glob(str(tmp_path / "later" / "x.log"))) == ([str(tmp_path)], True)
    # Never the filesystem root: such sources are polled only.
    assert _watch_roots(config_for_glob("/no-such-dir-anywhere/x/*.log")) == ([], True)
