"""promtool, and the Prometheus beside it: finding them, and every promtool command a backfill runs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

from llm_exporter.backfill.errors import BackfillError

PACKAGE = "prometheus"  # Debian's package with both promtool and prometheus


def find_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackfillError(f"{name} not found: install Debian's {PACKAGE} package (apt-get install {PACKAGE})")
    return path


def _env(scratch: str) -> dict[str, str]:
    """promtool's environment: its own temporary files (a head for the rules) in `scratch`, one of
    ours, which goes with ours when promtool is killed before it could remove them."""
    return {**os.environ, "TMPDIR": scratch}


def openmetrics_to_blocks(promtool: str, path: str, output: str) -> subprocess.Popen[bytes]:
    """`promtool tsdb create-blocks-from openmetrics`, started: the OpenMetrics file at `path` as
    blocks in `output`; `finish` waits for it."""
    return subprocess.Popen(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", path, output],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(os.path.dirname(path)),
    )


def finish(proc: subprocess.Popen[bytes], failure: str) -> None:
    """Wait for a promtool started above; if it failed, raise `failure` with what it said."""
    try:
        _, err = proc.communicate()
    except BaseException:  # Ctrl-C, SIGTERM: it would go on writing where the clean-up removes
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise BackfillError(f"{failure}: {err.decode(errors='replace').strip()}")


def rules_to_blocks(promtool: str, url: str, start: int, end: int, output: str, rule_file: str) -> None:
    """`promtool tsdb create-blocks-from rules`: the recording rules of `rule_file` evaluated from
    `start` to `end` (epoch seconds) by the Prometheus at `url`, as blocks in `output`."""
    run = subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "rules",
            "-q",
            f"--url={url}",
            f"--start={start}",
            f"--end={end}",
            f"--output-dir={output}",
            rule_file,
        ],
        capture_output=True,
        text=True,
        env=_env(os.path.dirname(rule_file)),
    )
    if run.returncode != 0:
        raise BackfillError(f"promtool could not backfill the recording rules: {run.stderr.strip()}")


def dump(promtool: str, blocks: str) -> Iterator[str]:
    """`promtool tsdb dump`: the samples of the blocks in `blocks`, a line each:
    `{__name__="x", k="v"} VALUE TIMESTAMP_MS`."""
    with subprocess.Popen(
        [promtool, "tsdb", "dump", blocks],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        read = False
        try:
            yield from proc.stdout
            read = True
        finally:
            if not read:  # left early (an error, a signal): not to be waited for
                proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise BackfillError(f"promtool could not read the rule blocks: {err.strip()}")
