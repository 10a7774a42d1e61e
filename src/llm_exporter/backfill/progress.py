"""The progress bar a backfill shows on a terminal."""

from __future__ import annotations

import sys
import time

from llm_exporter.backfill.report import Report, iso


class Progress:
    """A one-line progress bar on a terminal: lines, bytes and the time span covered."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = max(total, 1)
        self.enabled = enabled
        self.shown = 0.0

    def update(self, report: Report, done: int, now: float | None) -> None:
        if not self.enabled or time.monotonic() - self.shown < 0.2:
            return
        self.shown = time.monotonic()
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 24)
        span = f"{iso(report.first)} → {iso(now)}" if report.first is not None and now is not None else ""
        sys.stderr.write(f"\r[{bar:<24}] {frac:4.0%} {report.lines:,} lines {report.bytes / 1e6:,.1f} MB {span}\x1b[K")
        sys.stderr.flush()

    def end(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
