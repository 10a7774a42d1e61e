"""How the stream proxies end a streamed call, sync and async: once, plain at the end or when the
consumer stops early, failed with the error a stream or an item's handler raises."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from llm_exporter.instrumentation._patch import AsyncStreamProxy, StreamProxy


class FakeCall:
    def __init__(self) -> None:
        self.chunks = 0
        self.ends: list[BaseException | None] = []

    def record_chunk(self) -> None:
        self.chunks += 1

    def finish(self, error: BaseException | None = None) -> None:
        self.ends.append(error)


class Boom(Exception):
    pass


def items(fail_at: int | None = None) -> Iterator[int]:
    for i in range(3):
        if i == fail_at:
            raise Boom
        yield i


async def async_items(fail_at: int | None = None) -> AsyncIterator[int]:
    for i in items(fail_at):
        yield i


def seen_by(handled: list[Any], fail_on: int | None = None):  # type: ignore[no-untyped-def]
    def on_item(call: FakeCall, item: int) -> None:
        if item == fail_on:
            raise Boom
        handled.append(item)

    return on_item


def test_sync_stream_ends() -> None:
    call, handled = FakeCall(), []
    assert list(StreamProxy(items(), call, seen_by(handled))) == [0, 1, 2]  # type: ignore[arg-type]
    assert (handled, call.chunks, call.ends) == ([0, 1, 2], 3, [None])

    call = FakeCall()
    iterator = iter(StreamProxy(items(), call, seen_by([]), chunks=False))  # type: ignore[arg-type]
    assert next(iterator) == 0
    iterator.close()  # the consumer stopped early
    assert (call.chunks, call.ends) == (0, [None])

    for stream, on_item in ((items(fail_at=1), seen_by([])), (items(), seen_by([], fail_on=2))):
        call = FakeCall()
        with pytest.raises(Boom):
            list(StreamProxy(stream, call, on_item))  # type: ignore[arg-type]
        assert len(call.ends) == 1 and isinstance(call.ends[0], Boom)


def test_async_stream_ends() -> None:
    async def consume(proxy: AsyncStreamProxy, stop_after: int | None = None) -> list[int]:
        out = []
        async for item in proxy:
            out.append(item)
            if stop_after is not None and len(out) == stop_after:
                await proxy._iterator.aclose()  # the consumer stopped early
                break
        return out

    call, handled = FakeCall(), []
    assert asyncio.run(consume(AsyncStreamProxy(async_items(), call, seen_by(handled)))) == [0, 1, 2]  # type: ignore[arg-type]
    assert (handled, call.chunks, call.ends) == ([0, 1, 2], 3, [None])

    call = FakeCall()
    assert asyncio.run(consume(AsyncStreamProxy(async_items(), call, seen_by([])), stop_after=1)) == [0]  # type: ignore[arg-type]
    assert call.ends == [None]

    for stream, on_item in ((async_items(fail_at=1), seen_by([])), (async_items(), seen_by([], fail_on=2))):
        call = FakeCall()
        with pytest.raises(Boom):
            asyncio.run(consume(AsyncStreamProxy(stream, call, on_item)))  # type: ignore[arg-type]
        assert len(call.ends) == 1 and isinstance(call.ends[0], Boom)
