"""The progress a backfill shows on a terminal, from the first line read to the last block written."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from llm_exporter.backfill.report import Report, iso


class Progress:
    """One line on a terminal: while the logs are read, a bar of the bytes read, the lines and the
    time span covered, and the blocks written so far; after, each stage (the last blocks, the
    recording rules) as it goes."""

    def __init__(self, enabled: bool) -> None:
        self.total = 1  # bytes to read, once the files are known
        self.enabled = enabled
        self.shown = 0.0
        self.reading = True
        self.blocks = (0, 0)  # (written, started)

    def update(self, report: Report, done: int, now: float | None) -> None:
        if not self.enabled or time.monotonic() - self.shown < 0.2:
            return
        self.shown = time.monotonic()
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 24)
        span = f"{iso(report.first)} → {iso(now)}" if report.first is not None and now is not None else ""
        self.say(
            f"[{bar:<24}] {frac:4.0%} {report.lines:,} lines {report.bytes / 1e6:,.1f} MB {span}, "
            f"{self.blocks[0]:,} blocks written"
        )

    def read(self, until: float) -> None:
        """The logs are read: the samples up to --to and the last blocks are still to come."""
        self.reading = False
        self.say(f"logs read; sampling up to {iso(until)}, {self.blocks[0]:,} blocks written")

    def written(self, done: int, started: int) -> None:
        self.blocks = (done, started)
        if not self.reading:
            self.say(f"{done:,} of {started:,} blocks written")

    def say(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r{text}\x1b[K")
            sys.stderr.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
