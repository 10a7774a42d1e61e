"""One history file's lines as timed events, in file order, up to the first line past `--to`."""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Iterable, Iterator
from typing import IO

from llm_exporter.backfill.files import HistoryFile, uncompressed
from llm_exporter.backfill.report import Counts
from llm_exporter.formats.events import Event, Ignored
from llm_exporter.pipeline.processor import SourcePipeline
from llm_exporter.sources.lines import split
from llm_exporter.sources.tailer import CHUNK

# What a damaged file raises while read: truncated compressed data (EOFError), not the compression
# its name says (gzip.BadGzipFile, an OSError), corrupt data (zlib.error, lzma.LZMAError), a read error.
DAMAGED = (OSError, EOFError, zlib.error, lzma.LZMAError)


class Reader:
    """One file's timed events, in file order, up to the first line past `until`. Lines dated
    outside `plausible` (first, last) are counted and skipped: they neither end the file nor
    move the sampled window."""

    def __init__(
        self,
        hf: HistoryFile,
        pipeline: SourcePipeline,
        counts: Counts,
        max_line: int,
        since: float,
        until: float,
        plausible: tuple[float, float],
    ) -> None:
        self.file = hf
        self.pipeline = pipeline
        self.counts = counts
        self.max_line = max_line
        self.since = since
        self.until = until
        self.plausible = plausible
        self.partial = bytearray()  # the unfinished last line (sources.lines.split's state)
        self.skip_from: int | None = None
        self.offset = 0  # bytes read (uncompressed)
        self.line_start = 0  # where the line being handled begins
        self.stop = 0  # where the live exporter goes on: the first line not taken, or the end
        self.error: str | None = None  # why the file could not be read to its end
        self.raw: IO[bytes] | None = None

    def disk_position(self) -> int:
        raw = self.raw
        return self.file.size if raw is None or raw.closed else raw.tell()

    def _too_long(self) -> None:
        self.pipeline.health.lines += 1
        self.pipeline.reject("too_long", f"a line over {self.max_line} bytes")

    def _chunks(self) -> Iterator[bytes]:
        """The file's bytes (decompressed), a chunk at a time, up to where it could be read."""
        try:
            with open(self.file.path, "rb") as raw:
                self.raw = raw
                with uncompressed(self.file.path, raw) as fh:
                    while chunk := fh.read1(CHUNK):  # read1: what was read before a damaged part is kept
                        yield chunk
        except EOFError:
            self.error = "the compressed data ends early (truncated, or still being written)"
        except DAMAGED as exc:
            self.error = str(exc) or type(exc).__name__

    def _lines(self) -> Iterator[bytes]:
        runs: list[tuple[Iterable[bytes], int]] = []
        health = self.pipeline.health
        for chunk in self._chunks():
            split(self, chunk, self.offset, self.max_line, lambda lines, at: runs.append((lines, at)), self._too_long)
            self.offset += len(chunk)
            health.bytes += len(chunk)
            for lines, at in runs:
                for line in lines:
                    self.line_start = at
                    at += len(line) + 1
                    yield line
            runs.clear()
        # An unfinished last line is left, as live tailing leaves it, for its newline.
        self.stop = self.skip_from if self.skip_from is not None else self.offset - len(self.partial)

    def events(self) -> Iterator[tuple[float, Event, SourcePipeline]]:
        pipeline = self.pipeline
        event_of = pipeline.event
        since, until = self.since, self.until
        first, last = self.plausible
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
            elif not first <= t <= last:
                self.counts.out_of_range += 1
            elif t > until:
                self.stop = self.line_start  # the live exporter's from here
                return
            elif t < since:
                self.counts.before += 1
            else:
                yield t, event, pipeline
