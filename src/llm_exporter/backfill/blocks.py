"""OpenMetrics text, one file per two-hour window, each turned into a TSDB block by promtool."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from types import TracebackType
from typing import IO

from llm_exporter.backfill.promtool import finish, openmetrics_to_blocks
from llm_exporter.exposition import render

BLOCK = 2 * 3600.0  # promtool's block duration: one OpenMetrics file per aligned window of it


class Blocks:
    """OpenMetrics text, one file per block window, each turned into a TSDB block by promtool (in
    the background, while the next window is written). `written(done, started)` is told each
    time promtool has finished one. Left by an exception, a promtool still running is killed."""

    def __init__(self, promtool: str, output: str, workdir: str, written: Callable[[int, int], None]) -> None:
        self.promtool = promtool
        self.output = output
        self.workdir = workdir
        self.written = written
        self.window: int | None = None
        self.out: IO[str] | None = None
        self.running: tuple[subprocess.Popen[bytes], str] | None = None
        self.files = 0
        self.done = 0

    def __enter__(self) -> Blocks:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.out is not None:
            self.out.close()
        if self.running is not None:
            self.running[0].kill()
            self.running[0].wait()

    def write(self, t: float, lines: list[str]) -> None:
        """Sample lines (render.sample), all of the moment `t`."""
        window = int(t // BLOCK)
        if window != self.window or self.out is None:
            self._flush()
            self.window = window
            self.files += 1
            self.out = open(  # noqa: SIM115 (closed by _flush, when the window is complete)
                os.path.join(self.workdir, f"{self.files:06d}.om"), "w", encoding="utf-8"
            )
        self.out.write(render.at(t, lines))

    def _flush(self) -> None:
        if self.out is None:
            return
        self.out.write(render.EOF)
        self.out.close()
        path = self.out.name
        self.out = None
        self._wait()
        self.running = (openmetrics_to_blocks(self.promtool, path, self.output), path)

    def _wait(self) -> None:
        if self.running is None:
            return
        proc, path = self.running
        finish(proc, f"promtool failed on {path}")
        self.running = None
        os.unlink(path)
        self.done += 1
        self.written(self.done, self.files)

    def close(self) -> None:
        self._flush()
        self._wait()
