"""What a source hands the pipeline: the complete lines of one read, left in its buffer.

Splitting a buffer into one bytes object a line costs about as much as decoding the line's few
useful fields, so the lines are split only if somebody iterates over them; the pipeline's fast
path (pipeline.hotpath) reads them in place.
"""

from __future__ import annotations

from collections.abc import Iterator


class Lines:
    """Complete lines without their newlines: `head` (a line assembled from earlier reads, or
    None), then each line of `body`, a buffer of whole lines each ending with a newline."""

    __slots__ = ("body", "head")

    def __init__(self, head: bytes | None, body: memoryview | bytes) -> None:
        self.head = head
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        if self.head is not None:
            yield self.head
        if self.body:
            yield from bytes(self.body).split(b"\n")[:-1]
