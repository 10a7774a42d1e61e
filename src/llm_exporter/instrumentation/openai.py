"""OpenAI: chat completions (sync, async, `stream=True`), completions, embeddings and the
Responses API (`responses.create`, sync, async, `stream=True`, and `responses.parse`); the
`chat.completions.parse()` structured-output helper (and `beta.chat.completions.parse()` in the
client versions that have it), which posts without going through `create`. The
`chat.completions.stream()` and `responses.stream()` helpers call `create(stream=True)`, so they
are recorded through it.

Every recorded call's rate-limit headers (`x-ratelimit-*`, OpenAI's and Azure OpenAI's) are read
as the client processes its response, before parsing it: plain, streamed and raw alike.

`with_raw_response` calls are recorded like the plain ones: a plain raw response is parsed for
its usage (the client caches the parse, so the app's own `parse()` is free), a streamed one
finishes with the stream its `parse()` gives. `with_streaming_response` is not recorded.

The methods are patched on the client's resource classes, so every client, whenever it was
made, is recorded; only a `with_raw_response` object that was taken before instrument() (and
holds the unpatched method) is not.

Streams: chat chunks each count as a chunk (time to first chunk, time per output chunk); of the
Responses API's events, the `*.delta` ones do (the `response.created` and `in_progress` events
come before the model writes anything). Chat usage comes from the final chunk, which the API
sends only when the request asks for it (`stream_options={"include_usage": True}`): the request
is never changed, so a stream without it records duration and chunk times but no tokens. The
Responses API always sends usage in its `response.completed` event.
"""

from __future__ import annotations

import functools
from typing import Any

from llm_exporter.instrumentation._patch import (
    AsyncStreamProxy,
    StreamProxy,
    async_headers_of,
    headers_of,
    model_kwarg,
    patch,
    unpatch_module,
    wrap_async,
    wrap_sync,
)
from llm_exporter.instrumentation.request import common, openai_chat, openai_responses
from llm_exporter.instrumentation.responses import get, usage_from
from llm_exporter.instrumentation.track import Call

PROVIDER = "openai"


def _on_chunk(call: Call, chunk: Any) -> None:
    usage = get(chunk, "usage")
    if usage is not None:
        parsed = usage_from(usage)
        if parsed is not None:
            call.usage = parsed
    if call.response_model is None:
        model = get(chunk, "model")
        if isinstance(model, str) and model:
            call.response_model = model
        rid = get(chunk, "id")
        if isinstance(rid, str):
            call.response_id = rid
        for name in ("service_tier", "system_fingerprint"):
            value = get(chunk, name)
            if isinstance(value, str):
                setattr(call, name, value)
    choices = get(chunk, "choices")
    if choices:
        reasons = [r for r in (get(c, "finish_reason") for c in choices) if isinstance(r, str)]
        if reasons:
            call.finish_reasons = reasons


def _on_response_event(call: Call, event: Any) -> None:
    """One Responses API stream event: deltas are the chunks; the events that carry the response
    (created, in progress, completed, incomplete, failed) give its model, id, usage and status."""
    kind = get(event, "type")
    if not isinstance(kind, str):
        return
    if kind.endswith(".delta"):
        call.record_chunk()
        return
    response = get(event, "response")
    if response is not None:
        call.record_response(response)
        if kind == "response.failed":
            call.fail(get(get(response, "error"), "code") or "_OTHER")
    elif kind == "error":
        call.fail(get(event, "code") or "_OTHER")


def instrument() -> bool:
    """Patch the installed openai client; False when it is not installed."""
    try:
        import openai
        from openai._base_client import AsyncAPIClient, SyncAPIClient
        from openai.resources.chat.completions import AsyncCompletions as AsyncChat
        from openai.resources.chat.completions import Completions as Chat
        from openai.resources.completions import AsyncCompletions, Completions
        from openai.resources.embeddings import AsyncEmbeddings, Embeddings
    except ImportError:
        return False

    def is_sync_stream(result: Any) -> bool:
        return isinstance(result, openai.Stream)

    def is_async_stream(result: Any) -> bool:
        return isinstance(result, openai.AsyncStream)

    # The rate-limit headers (`x-ratelimit-*`) of every response of a recorded call, Azure's too.
    patch(SyncAPIClient, "_process_response", headers_of)
    patch(AsyncAPIClient, "_process_response", async_headers_of)
    describe = model_kwarg(PROVIDER)
    sync = functools.partial(wrap_sync, describe, is_stream=is_sync_stream)
    async_ = functools.partial(wrap_async, describe, is_stream=is_async_stream)
    for cls, acls, operation, request in (
        (Chat, AsyncChat, "chat", openai_chat),
        (Completions, AsyncCompletions, "text_completion", common),
        (Embeddings, AsyncEmbeddings, "embeddings", common),
    ):
        patch(cls, "create", sync(operation, on_item=_on_chunk, request=request))
        patch(acls, "create", async_(operation, on_item=_on_chunk, request=request))
    sync_parse, async_parse = [Chat], [AsyncChat]
    try:  # openai 1.x: the helpers lived under client.beta
        from openai.resources.beta.chat.completions import AsyncCompletions as BetaAsyncChat
        from openai.resources.beta.chat.completions import Completions as BetaChat
    except ImportError:
        pass
    else:
        sync_parse.append(BetaChat)
        async_parse.append(BetaAsyncChat)
    for cls in sync_parse:  # patch() skips a class without its own `parse`
        patch(cls, "parse", sync("chat", on_item=_on_chunk, request=openai_chat))
    for cls in async_parse:
        patch(cls, "parse", async_("chat", on_item=_on_chunk, request=openai_chat))
    try:  # the Responses API (openai >= 1.66)
        from openai.resources.responses import AsyncResponses, Responses
    except ImportError:
        return True
    events = functools.partial(StreamProxy, chunks=False)
    async_events = functools.partial(AsyncStreamProxy, chunks=False)
    for name in ("create", "parse"):
        patch(Responses, name, sync("chat", on_item=_on_response_event, proxy=events, request=openai_responses))
        patch(
            AsyncResponses,
            name,
            async_("chat", on_item=_on_response_event, proxy=async_events, request=openai_responses),
        )
    return True


def uninstrument() -> None:
    unpatch_module("openai.")
