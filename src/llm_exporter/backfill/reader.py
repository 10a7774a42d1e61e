"""One history file's lines as timed events, in file order, up to the first line past `--to`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from llm_exporter.backfill.files import HistoryFile, uncompressed
from llm_exporter.backfill.report import Counts
from llm_exporter.formats.events import Event, Ignored
from llm_exporter.pipeline.processor import SourcePipeline


class Reader:
    """One file's timed events, in file order, up to the first line past `until`."""

    def __init__(
        self, hf: HistoryFile, pipeline: SourcePipeline, counts: Counts, max_line: int, since: float, until: float
    ) -> None:
        self.file = hf
        self.pipeline = pipeline
        self.counts = counts
        self.max_line = max_line
        self.since = since
        self.until = until
        self.offset = 0  # bytes of whole lines read (uncompressed)
        self.line_start = 0  # where the line being handled begins
        self.stop = 0  # where the live exporter goes on: the first line not taken, or the end
        self.raw: IO[bytes] | None = None

    def disk_position(self) -> int:
        raw = self.raw
        return self.file.size if raw is None or raw.closed else raw.tell()

    def _lines(self) -> Iterator[bytes]:
        health = self.pipeline.health
        with open(self.file.path, "rb") as raw:
            self.raw = raw
            with uncompressed(self.file.path, raw) as fh:
                for line in fh:
                    if line[-1:] != b"\n":  # unfinished: left, as live tailing leaves it, for its newline
                        return
                    self.line_start = self.offset
                    self.offset += len(line)
                    health.bytes += len(line)
                    if len(line) > self.max_line + 1:
                        health.lines += 1
                        self.pipeline.reject("too_long", f"a line over {self.max_line} bytes")
                        continue
                    yield line[:-1]

    def events(self) -> Iterator[tuple[float, Event, SourcePipeline]]:
        pipeline = self.pipeline
        event_of = pipeline.event
        since, until = self.since, self.until
        for line in self._lines():
            event = event_of(line)
            if event is None:
                continue
            if type(event) is Ignored:  # no metric of its own, only counted
                pipeline.handle(event)
                continue
            t = event.time
            if t is None:
                self.counts.untimed += 1
            elif t > until:
                self.stop = self.line_start  # the live exporter's from here
                return
            elif t < since:
                self.counts.before += 1
            else:
                yield t, event, pipeline
        self.stop = self.offset
