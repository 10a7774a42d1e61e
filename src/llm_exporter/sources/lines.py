"""What a source hands the pipeline: the complete lines of one read, cut out of its buffer as
they are iterated (a line at a time, not a list of them all at once); and the one rule for
cutting a stream read chunk by chunk into them, a line past the limit dropped as it arrives."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol


class Lines:
    """Complete lines without their newlines: `head` (a line assembled from earlier reads, or
    None), then each line of `data[begin:end]`, whole lines each ending with a newline: `begin`
    is 0 or just past the first newline of `data`, `end` just past its last."""

    __slots__ = ("begin", "data", "end", "head")

    def __init__(self, head: bytes | None, data: bytes, begin: int = 0, end: int | None = None) -> None:
        self.head = head
        self.data = data
        self.begin = begin
        self.end = len(data) if end is None else end

    def __iter__(self) -> Iterator[bytes]:
        if self.head is not None:
            yield self.head
        # Found with `index` (memchr, ten times bytes.split's pace on long lines), cut where they lie.
        data, start, end = self.data, self.begin, self.end
        while start < end:
            stop = data.index(b"\n", start)
            yield data[start:stop]
            start = stop + 1


class Unfinished(Protocol):
    """A stream's state between chunks: its unfinished last line, or where an over-long one began."""

    partial: bytearray
    skip_from: int | None


def split(
    f: Unfinished,
    chunk: bytes,
    offset: int,
    max_line: int,
    on_lines: Callable[[Iterable[bytes], int], None],
    too_long: Callable[[], None],
) -> None:
    """Hand on the lines `chunk` (read at `offset` of its stream) ends, in order, each run of them
    with the offset where its first line begins. Only the new bytes are searched for newlines and
    the unfinished line grows in place, so a line arriving in many small pieces costs time linear
    in its size; a line past `max_line` is dropped (`too_long`) as it arrives, only where it began
    is kept, so memory stays within a chunk and `max_line`. The whole lines go on in the chunk's
    buffer, unsplit (see Lines)."""
    cut = chunk.rfind(b"\n") + 1
    rest = chunk[cut:]
    if cut:
        head = None
        begin = chunk.index(b"\n") + 1 if f.skip_from is not None or f.partial else 0
        start = offset + begin
        if f.skip_from is not None:  # the end of the over-long line
            f.skip_from = None
        elif f.partial:
            start = offset - len(f.partial)
            f.partial += chunk[: begin - 1]
            head = bytes(f.partial)
        f.partial = bytearray()
        whole = Lines(head, chunk, begin, cut)
        if cut - begin <= max_line and (head is None or len(head) <= max_line):
            on_lines(whole, start)
        else:
            kept: list[bytes] = []
            at = start
            for line in whole:
                if len(line) > max_line:
                    if kept:
                        on_lines(kept, at)
                        kept = []
                    too_long()
                else:
                    if not kept:
                        at = start
                    kept.append(line)
                start += len(line) + 1
            if kept:
                on_lines(kept, at)
    if f.skip_from is not None:
        return  # still inside the over-long line
    if len(f.partial) + len(rest) > max_line:  # dropped before it grows past the limit
        too_long()
        f.skip_from = offset + len(chunk) - len(rest) - len(f.partial)
        f.partial = bytearray()
    else:
        f.partial += rest
