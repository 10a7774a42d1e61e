"""Anthropic: messages and beta messages (`client.messages` and `client.beta.messages`: `create`,
sync, async, `stream=True`, the `stream()` helper, `parse()`, and `with_raw_response.create`,
plain or streamed, recorded as in openai.py). The beta tool runner calls `beta.messages.create`,
so it is recorded through it; so are the Bedrock, Vertex and Foundry clients, whose provider is
their class's (providers.provider_of_client). `count_tokens` makes no model call; `batches` are
billed later, outside any call, and not recorded. The rate-limit headers (`anthropic-ratelimit-*`)
of each recorded call, beta ones too, are read as the client processes its response.

Stream usage: `message_start` carries input, cache read and cache write tokens; `message_delta`
carries the cumulative output tokens (and, from newer servers, updated input counts).
"""

from __future__ import annotations

from typing import Any

from llm_exporter.instrumentation._patch import (
    AsyncStreamProxy,
    StreamProxy,
    async_headers_of,
    client_provider,
    client_server,
    headers_of,
    inside_outer,
    model_kwarg,
    patch,
    receiving,
    unpatch_module,
    wrap_async,
    wrap_sync,
)
from llm_exporter.instrumentation.request import common
from llm_exporter.instrumentation.responses import Usage, get, usage_from
from llm_exporter.instrumentation.track import Call

PROVIDER = "anthropic"


def _on_event(call: Call, event: Any) -> None:
    kind = get(event, "type")
    if kind == "message_start":
        message = get(event, "message")
        call.usage = usage_from(get(message, "usage")) or Usage()
        model = get(message, "model")
        if isinstance(model, str):
            call.response_model = model
        rid = get(message, "id")
        if isinstance(rid, str):
            call.response_id = rid
    elif kind == "message_delta":
        usage = get(event, "usage")
        current = call.usage or Usage()
        output = get(usage, "output_tokens")
        if isinstance(output, int):
            current.output_tokens = output
        if get(usage, "input_tokens") is not None:  # newer servers repeat the input counts here
            updated = usage_from(usage)
            if updated is not None:
                current.input_tokens = updated.input_tokens
                current.cache_read_tokens = updated.cache_read_tokens
                current.cache_write_tokens = updated.cache_write_tokens
        call.usage = current
        reason = get(get(event, "delta"), "stop_reason")
        if isinstance(reason, str):
            call.finish_reasons = [reason]
    elif kind == "error":
        error = get(event, "error")
        call.fail(get(error, "type") or "_OTHER")


class _StreamManager:
    """Wraps `messages.stream()`'s manager: the call starts when the `with` opens the request."""

    def __init__(self, manager: Any, resource: Any, kwargs: dict[str, Any]) -> None:
        self._manager = manager
        self._resource = resource
        self._kwargs = kwargs
        self._call: Call | None = None

    def _start(self) -> Call:
        model = self._kwargs.get("model")
        address, port = client_server((self._resource,), self._kwargs)
        provider = client_provider(self._resource, address, port, PROVIDER)
        call = self._call = Call(model if isinstance(model, str) else None, provider, "chat")
        call.server_address, call.server_port = address, port
        return call.start(_request, self._kwargs)

    def __enter__(self) -> Any:
        call = self._start()
        token = call.activate()
        try:
            with receiving(call):
                stream = self._manager.__enter__()
        except BaseException as exc:
            call.finish(exc)
            raise
        finally:
            call.deactivate(token)
        stream._raw_stream = StreamProxy(stream._raw_stream, call, _on_event)
        return stream

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        if exc is not None and self._call is not None:
            self._call.finish(exc)
        try:
            return self._manager.__exit__(exc_type, exc, tb)
        finally:
            if self._call is not None:
                self._call.finish()

    async def __aenter__(self) -> Any:
        call = self._start()
        token = call.activate()
        try:
            with receiving(call):
                stream = await self._manager.__aenter__()
        except BaseException as exc:
            call.finish(exc)
            raise
        finally:
            call.deactivate(token)
        stream._raw_stream = AsyncStreamProxy(stream._raw_stream, call, _on_event)
        return stream

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Any:
        if exc is not None and self._call is not None:
            self._call.finish(exc)
        try:
            return await self._manager.__aexit__(exc_type, exc, tb)
        finally:
            if self._call is not None:
                self._call.finish()


def _request(kwargs: Any) -> dict[str, Any]:
    return common(kwargs)


def _wrap_stream_helper(original: Any) -> Any:
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        if inside_outer():
            return original(self, *args, **kwargs)
        return _StreamManager(original(self, *args, **kwargs), self, {**kwargs, "stream": True})

    return stream


def instrument() -> bool:
    """Patch the installed anthropic client; False when it is not installed."""
    try:
        import anthropic
        from anthropic._base_client import AsyncAPIClient, SyncAPIClient
        from anthropic.resources.messages import AsyncMessages, Messages
    except ImportError:
        return False

    def is_sync_stream(result: Any) -> bool:
        return isinstance(result, anthropic.Stream)

    def is_async_stream(result: Any) -> bool:
        return isinstance(result, anthropic.AsyncStream)

    describe = model_kwarg(PROVIDER)
    sync, async_ = [Messages], [AsyncMessages]
    try:
        from anthropic.resources.beta.messages import AsyncMessages as BetaAsyncMessages
        from anthropic.resources.beta.messages import Messages as BetaMessages
    except ImportError:  # a client version without the beta resources
        pass
    else:
        sync.append(BetaMessages)
        async_.append(BetaAsyncMessages)
    for cls in sync:  # patch() skips a method a class does not have (`parse` in older clients)
        for name in ("create", "parse"):
            patch(cls, name, wrap_sync(describe, "chat", is_sync_stream, _on_event, request=common))
        patch(cls, "stream", _wrap_stream_helper)
    for cls in async_:
        for name in ("create", "parse"):
            patch(cls, name, wrap_async(describe, "chat", is_async_stream, _on_event, request=common))
        patch(cls, "stream", _wrap_stream_helper)
    patch(SyncAPIClient, "_process_response", headers_of)  # the rate-limit headers of every response
    patch(AsyncAPIClient, "_process_response", async_headers_of)
    return True


def uninstrument() -> None:
    unpatch_module("anthropic.")
