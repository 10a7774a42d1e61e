"""Method patching that can be undone, and stream proxies that time the chunks and finish the
call when the stream ends, fails or is closed."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from llm_exporter.instrumentation.content import input_messages, output_messages, system_instructions
from llm_exporter.instrumentation.track import Call
from llm_exporter.providers import provider_of_client

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


# The client call whose HTTP request is under way in this context: the clients' response
# processing (patched by `headers_of`) hands it the response's headers.
_receiving: ContextVar[Call | None] = ContextVar("llm_exporter_receiving", default=None)


@contextmanager
def receiving(call: Call) -> Iterator[None]:
    """While a client call's original method runs: the headers of its HTTP response go to `call`."""
    token = _receiving.set(call)
    try:
        yield
    finally:
        _receiving.reset(token)


def _note_headers(kwargs: dict[str, Any]) -> None:
    call = _receiving.get()
    if call is not None:
        call.record_headers(getattr(kwargs.get("response"), "headers", None))


def headers_of(original: Callable[..., Any]) -> Callable[..., Any]:
    """Patch for the openai and anthropic clients' `_process_response(response=...)`: every
    response a call gets (plain, streamed, raw; the last of its retries) passes through it, with
    its headers, before it is parsed. Only for calls recorded here (see `receiving`)."""

    def process(self: Any, *args: Any, **kwargs: Any) -> Any:
        _note_headers(kwargs)
        return original(self, *args, **kwargs)

    return process


def async_headers_of(original: Callable[..., Any]) -> Callable[..., Any]:
    """headers_of for the async clients' coroutine `_process_response`."""

    async def process(self: Any, *args: Any, **kwargs: Any) -> Any:
        _note_headers(kwargs)
        return await original(self, *args, **kwargs)

    return process


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
# (server.address, server.port) of a call, from the patched function's arguments.
Server = Callable[[tuple[Any, ...], dict[str, Any]], tuple[str | None, int | None]]
# The span's request attributes, from the patched function's keyword arguments.
Request = Callable[[Mapping[str, Any]], dict[str, Any]]

_DEFAULT_PORTS = {"https": 443, "http": 80}
# id(url) -> (url, address, port): the URL object is kept, so its id is not reused while cached.
_servers: dict[int, tuple[Any, str | None, int | None]] = {}


def url_server(url: Any) -> tuple[str | None, int | None]:
    """(host, port) of a base URL (an httpx URL or a string), the scheme's port when none is given."""
    if url is None:
        return None, None
    cached = _servers.get(id(url))
    if cached is not None and cached[0] is url:
        return cached[1], cached[2]
    if isinstance(url, str):
        parts = urlsplit(url)
        host, port, scheme = parts.hostname, parts.port, parts.scheme
    else:
        host, port, scheme = getattr(url, "host", None), getattr(url, "port", None), getattr(url, "scheme", None)
    if not isinstance(host, str) or not host:
        host = None
    if port is None and host is not None:
        port = _DEFAULT_PORTS.get(scheme or "")
    if len(_servers) >= 64:  # a handful of clients in practice; never grows without bound
        _servers.clear()
    _servers[id(url)] = (url, host, port)
    return host, port


def client_server(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str | None, int | None]:
    """The server of a client resource's call (`self._client.base_url`: openai, anthropic, ollama)."""
    client = getattr(args[0], "_client", None) if args else None
    return url_server(getattr(client, "base_url", None))


class _StreamProxy:
    """What the sync and async stream proxies share: the call, each item's work, how the call
    ends. With `chunks=False`, items are not chunks by themselves: `on_item` calls
    `call.record_chunk()` for those that are."""

    def __init__(self, stream: Any, call: Call, on_item: OnItem, chunks: bool = True) -> None:
        self._stream = stream
        self._call = call
        self._on_item = on_item
        self._chunks = chunks
        self._iterator: Any = None

    def _item(self, item: Any) -> None:
        if self._chunks:
            self._call.record_chunk()
        self._on_item(self._call, item)

    @contextmanager
    def _finishing(self) -> Iterator[None]:
        """Around the iteration: the call finishes when the stream ends, failed on an error,
        plain when the consumer stops early (the iterator closed: GeneratorExit)."""
        try:
            yield
        except GeneratorExit:
            self._call.finish()
            raise
        except BaseException as exc:
            self._call.finish(exc)
            raise
        self._call.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class StreamProxy(_StreamProxy):
    """Wraps a client's sync stream: times chunks, lets `on_item` read usage from each item,
    finishes the call at the end, on an error (failed) or on close()."""

    def _iterate(self) -> Iterator[Any]:
        with self._finishing():
            for item in self._stream:
                self._item(item)
                yield item

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


class AsyncStreamProxy(_StreamProxy):
    """StreamProxy for async streams (`async for`, `aclose`/async `close`)."""

    async def _iterate(self) -> AsyncIterator[Any]:
        with self._finishing():
            async for item in self._stream:
                self._item(item)
                yield item

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


class RawStreamResponse:
    """A stream's raw response (`with_raw_response`): the call goes on until the stream that
    parse() gives (sync, or a coroutine where the client's is), wrapped in `proxy`, ends; parse()
    twice gives the same wrapped stream."""

    def __init__(self, raw: Any, call: Call, on_item: OnItem, proxy: Callable[..., Any]) -> None:
        self._raw = raw
        self._call = call
        self._on_item = on_item
        self._proxy = proxy
        self._parsed: tuple[Any, Any] | None = None  # (the client's stream, its proxy)

    def _wrap(self, stream: Any) -> Any:
        if self._parsed is None or self._parsed[0] is not stream:
            self._parsed = (stream, self._proxy(stream, self._call, self._on_item))
        return self._parsed[1]

    async def _wrap_later(self, parsed: Any) -> Any:
        return self._wrap(await parsed)

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        parsed = self._raw.parse(*args, **kwargs)
        if hasattr(parsed, "__await__"):
            return self._wrap_later(parsed)
        return self._wrap(parsed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


# The header the openai and anthropic clients' `with_raw_response` adds to the request ("true" in
# openai's, "raw" in anthropic's; `with_streaming_response` sets "stream" and is not parsed here).
_RAW_HEADER = "X-Stainless-Raw-Response"
_RAW_VALUES = ("true", "raw")


def _raw_requested(kwargs: dict[str, Any]) -> bool:
    headers = kwargs.get("extra_headers")
    return bool(headers) and headers.get(_RAW_HEADER) in _RAW_VALUES


def _raw_stream(raw: Any) -> bool:
    """Whether a raw response is a stream's (`_is_sse_stream` in anthropic's, `_stream` in openai's)."""
    flag = getattr(raw, "_is_sse_stream", None)
    return bool(getattr(raw, "_stream", False) if flag is None else flag)


def _capture_input(call: Call, kwargs: dict[str, Any]) -> None:
    if call.capture_content:
        call.record_content(input_messages=input_messages(kwargs), system_instructions=system_instructions(kwargs))


def record(call: Call, response: Any) -> None:
    """Record a whole (non-streamed) response, and its text when content capture is on."""
    call.record_response(response)
    if call.capture_content:
        call.record_content(output_messages=output_messages(response))


def _result(call: Call, result: Any, raw: bool, is_stream: Callable[[Any], bool], on_item: OnItem, proxy: Any) -> Any:
    """What the patched function returns: a stream wrapped to finish the call when it ends, or
    the result once the call is recorded and finished. A raw stream response is wrapped so that
    the stream its parse() gives is."""
    if raw and _raw_stream(result):
        return RawStreamResponse(result, call, on_item, proxy)
    if is_stream(result):
        return proxy(result, call, on_item)
    record(call, result)
    call.finish()
    return result


def _parsed(raw: Any) -> Any:
    """A plain raw response's body, parsed (the clients cache the parse, so the app's own parse()
    costs nothing more); None when it does not parse: the app sees that error itself."""
    try:
        return raw.parse()
    except Exception:
        return None


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


def _begin(
    describe: Describe,
    operation: str,
    server: Server | None,
    request: Request | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Call:
    model, provider = describe(args, kwargs)
    address = port = None
    if server is not None:
        address, port = server(args, kwargs)
        if server is client_server and provider is not None and args:  # a client library's own call
            provider = client_provider(args[0], address, port, provider)
    call = Call(model, provider, operation)
    call.server_address, call.server_port = address, port
    call.start(request, kwargs)
    _capture_input(call, kwargs)
    return call


def wrap_sync(
    describe: Describe,
    operation: str,
    is_stream: Callable[[Any], bool],
    on_item: OnItem,
    proxy: Callable[..., Any] = StreamProxy,
    outer: bool = False,
    request: Request | None = None,
    server: Server | None = client_server,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A patch factory for a sync client function: non-stream results are recorded as responses;
    streams are wrapped in `proxy`. The call's span is the current one while the function runs.
    `outer`: the function calls another instrumented client underneath (LiteLLM calls the openai
    client), which must not record the call again. `request`: the span's request attributes;
    `server`: where the call goes. Raw responses (`with_raw_response`) are recorded from their
    parsed body, or their parsed stream."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if inside_outer():
                return original(*args, **kwargs)
            call = _begin(describe, operation, server, request, args, kwargs)
            token = call.activate()
            try:
                with _outer(outer), receiving(call):
                    result = original(*args, **kwargs)
            except BaseException as exc:
                call.finish(exc)
                raise
            finally:
                call.deactivate(token)
            raw = _raw_requested(kwargs)
            if raw and not _raw_stream(result):
                record(call, _parsed(result))
                call.finish()
                return result
            return _result(call, result, raw, is_stream, on_item, proxy)

        return wrapper

    return make


def wrap_async(
    describe: Describe,
    operation: str,
    is_stream: Callable[[Any], bool],
    on_item: OnItem,
    proxy: Callable[..., Any] = AsyncStreamProxy,
    outer: bool = False,
    request: Request | None = None,
    server: Server | None = client_server,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """wrap_sync for coroutine functions."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if inside_outer():
                return await original(*args, **kwargs)
            call = _begin(describe, operation, server, request, args, kwargs)
            token = call.activate()
            try:
                with _outer(outer), receiving(call):
                    result = await original(*args, **kwargs)
            except BaseException as exc:
                call.finish(exc)
                raise
            finally:
                call.deactivate(token)
            raw = _raw_requested(kwargs)
            if raw and not _raw_stream(result):
                parsed = _parsed(result)
                if hasattr(parsed, "__await__"):  # anthropic's async raw responses parse in a coroutine
                    try:
                        parsed = await parsed
                    except Exception:
                        parsed = None
                record(call, parsed)
                call.finish()
                return result
            return _result(call, result, raw, is_stream, on_item, proxy)

        return wrapper

    return make


def client_provider(resource: Any, host: str | None, port: int | None, default: str) -> str:
    """The provider a client resource's call to `host`:`port` goes to (providers.provider_of_client):
    from the client's class (`AzureOpenAI`) or the host, else `default`, the API the client speaks."""
    return provider_of_client(type(getattr(resource, "_client", None)).__name__, host, port, default)


def model_kwarg(provider: str, position: int | None = None) -> Describe:
    """(model, provider) of a client's call: the model from keyword `model` (or positional
    `position`, self included), the provider the client's API (refined by client_provider)."""

    def describe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str | None, str]:
        value = kwargs.get("model")
        if value is None and position is not None and len(args) > position:
            value = args[position]
        return (value if isinstance(value, str) else None), provider

    return describe
