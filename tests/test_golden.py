"""Golden files: a log in, the exact exposition out, line by line.

Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os

import pytest

from llm_exporter import __version__
from llm_exporter.cli import replay
from testkit import TESTDATA

GOLDEN = TESTDATA / "golden"
VERSION_MARK = "@VERSION@"


@pytest.mark.parametrize("fmt", ["completion", "event", "litellm"])
def test_replay_matches_golden(fmt: str) -> None:
    log = GOLDEN / f"{fmt}.log"
    expected_file = GOLDEN / f"{fmt}.prom"
    actual = replay(None, fmt, [str(log)]).decode().replace(f'version="{__version__}"', f'version="{VERSION_MARK}"')
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(actual)
    expected = expected_file.read_text()
    assert actual.splitlines() == expected.splitlines()


def test_auto_format_reads_every_format_alike() -> None:
    """Auto-detection gives the same LLM series as naming the format."""
    for fmt in ("completion", "event", "litellm"):
        log = str(GOLDEN / f"{fmt}.log")
        named = replay(None, fmt, [log]).decode()
        auto = replay(None, "auto", [log]).decode()
        assert auto == named
