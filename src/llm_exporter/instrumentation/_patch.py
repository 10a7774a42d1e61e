"""Method patching that can be undone, and stream proxies that time the first chunk and finish
the call when the stream ends, fails or is closed."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from llm_exporter.instrumentation.responses import output_messages
from llm_exporter.instrumentation.track import Call

# (class, attribute) -> the original attribute, for uninstrument().
_originals: dict[tuple[type, str], Any] = {}


class Outer:
    """Marks a call that an outer integration records (LiteLLM, the LangChain handler) while it
    runs: the client library it uses underneath (LiteLLM and ChatOpenAI call the openai client) is
    not recorded a second time. `active` drops when the outer call ends, so a context that kept
    the marker (a callback that ended in another context) records again."""

    __slots__ = ("active",)

    def __init__(self, active: bool = True) -> None:
        self.active = active


outer_call: ContextVar[Outer | None] = ContextVar("llm_exporter_outer_call", default=None)


def inside_outer() -> bool:
    outer = outer_call.get()
    return outer is not None and outer.active


def patch(cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Replace `cls.name` by `make(original)`; False when it is already patched or missing."""
    key = (cls, name)
    if key in _originals:
        return False
    original = cls.__dict__.get(name)
    if original is None:
        return False
    wrapper = make(original)
    functools.update_wrapper(wrapper, original)
    _originals[key] = original
    setattr(cls, name, wrapper)
    return True


def unpatch_module(prefix: str) -> None:
    """Restore every patched attribute of classes from modules starting with `prefix`."""
    for cls, name in [k for k in _originals if k[0].__module__.startswith(prefix)]:
        setattr(cls, name, _originals.pop((cls, name)))


OnItem = Callable[[Call, Any], None]
# (model, provider) of a call, from the patched function's arguments.
Describe = Callable[[tuple[Any, ...], dict[str, Any]], tuple[str | None, str | None]]


class StreamProxy:
    """Wraps a client's sync stream: records the first chunk, lets `on_item` read usage from each
    item, finishes the call at the end, on an error (failed) or on close()."""

    def __init__(self, stream: Any, call: Call, on_item: OnItem) -> None:
        self._stream = stream
        self._call = call
        self._on_item = on_item
        self._iterator: Iterator[Any] | None = None

    def _iterate(self) -> Iterator[Any]:
        call = self._call
        on_item = self._on_item
        try:
            for item in self._stream:
                call.record_first_chunk()
                on_item(call, item)
                yield item
        except GeneratorExit:
            call.finish()
            raise
        except BaseException as exc:
            call.finish(exc)
            raise
        call.finish()

    def __iter__(self) -> Iterator[Any]:
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    def __next__(self) -> Any:
        return next(iter(self))

    def __enter__(self) -> StreamProxy:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self._call.finish(exc)
        self.close()

    def close(self) -> None:
        try:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()
        finally:
            self._call.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class AsyncStreamProxy:
    """StreamProxy for async streams (`async for`, `aclose`/async `close`)."""

    def __init__(self, stream: Any, call: Call, on_item: OnItem) -> None:
        self._stream = stream
        self._call = call
        self._on_item = on_item
        self._iterator: AsyncIterator[Any] | None = None

    async def _iterate(self) -> AsyncIterator[Any]:
        call = self._call
        on_item = self._on_item
        try:
            async for item in self._stream:
                call.record_first_chunk()
                on_item(call, item)
                yield item
        except GeneratorExit:
            call.finish()
            raise
        except BaseException as exc:
            call.finish(exc)
            raise
        call.finish()

    def __aiter__(self) -> AsyncIterator[Any]:
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    async def __anext__(self) -> Any:
        return await self.__aiter__().__anext__()

    async def __aenter__(self) -> AsyncStreamProxy:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self._call.finish(exc)
        await self.close()

    async def close(self) -> None:
        try:
            close = getattr(self._stream, "close", None) or getattr(self._stream, "aclose", None)
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
        finally:
            self._call.finish()

    aclose = close

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _capture_input(call: Call, kwargs: dict[str, Any]) -> None:
    if call.capture_content:
        messages = kwargs.get("messages")
        if messages is None:
            prompt = kwargs.get("prompt") or kwargs.get("input")
            messages = None if prompt is None else [{"role": "user", "content": prompt}]
        call.record_content(input_messages=messages)


def record(call: Call, response: Any) -> None:
    """Record a whole (non-streamed) response, and its text when content capture is on."""
    call.record_response(response)
    if call.capture_content:
        call.record_content(output_messages=output_messages(response))


@contextmanager
def _outer(active: bool) -> Iterator[None]:
    """While the original runs, mark it as recorded by this (outer) integration, so the client
    library it calls underneath does not record it again."""
    if not active:
        yield
        return
    marker = Outer()
    token = outer_call.set(marker)
    try:
        yield
    finally:
        marker.active = False
        outer_call.reset(token)


def wrap_sync(
    describe: Describe,
    operation: str,
    is_stream: Callable[[Any], bool],
    on_item: OnItem,
    proxy: type = StreamProxy,
    outer: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A patch factory for a sync client function: non-stream results are recorded as responses;
    streams are wrapped in `proxy`. `outer`: the function calls another instrumented client
    underneath (LiteLLM calls the openai client), which must not record the call again."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if inside_outer():
                return original(*args, **kwargs)
            call = Call(*describe(args, kwargs), operation).start()
            _capture_input(call, kwargs)
            try:
                with _outer(outer):
                    result = original(*args, **kwargs)
            except BaseException as exc:
                call.finish(exc)
                raise
            if is_stream(result):
                return proxy(result, call, on_item)
            record(call, result)
            call.finish()
            return result

        return wrapper

    return make


def wrap_async(
    describe: Describe,
    operation: str,
    is_stream: Callable[[Any], bool],
    on_item: OnItem,
    proxy: type = AsyncStreamProxy,
    outer: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """wrap_sync for coroutine functions."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if inside_outer():
                return await original(*args, **kwargs)
            call = Call(*describe(args, kwargs), operation).start()
            _capture_input(call, kwargs)
            try:
                with _outer(outer):
                    result = await original(*args, **kwargs)
            except BaseException as exc:
                call.finish(exc)
                raise
            if is_stream(result):
                return proxy(result, call, on_item)
            record(call, result)
            call.finish()
            return result

        return wrapper

    return make


def model_kwarg(provider: str, position: int | None = None) -> Describe:
    """(model, provider) of a client's call: the model from keyword `model` (or positional
    `position`, self included), the provider the client's."""

    def describe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str | None, str]:
        value = kwargs.get("model")
        if value is None and position is not None and len(args) > position:
            value = args[position]
        return (value if isinstance(value, str) else None), provider

    return describe
