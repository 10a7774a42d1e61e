"""OpenAI: chat completions (sync, async, `stream=True`), completions and embeddings; the
`chat.completions.parse()` structured-output helper (and `beta.chat.completions.parse()` in the
client versions that have it), which posts without going through `create`. The
`chat.completions.stream()` helper calls `create(stream=True)`, so it is recorded through it.

Streams: the first chunk sets the time to first chunk; usage comes from the final chunk, which
the API sends only when the request asks for it (`stream_options={"include_usage": True}`):
the request is never changed, so a stream without it records duration and time to first chunk
but no tokens.
"""

from __future__ import annotations

from typing import Any

from llm_exporter.instrumentation._patch import model_kwarg, patch, unpatch_module, wrap_async, wrap_sync
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
    choices = get(chunk, "choices")
    if choices:
        reasons = [r for r in (get(c, "finish_reason") for c in choices) if isinstance(r, str)]
        if reasons:
            call.finish_reasons = reasons


def instrument() -> bool:
    """Patch the installed openai client; False when it is not installed."""
    try:
        import openai
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

    describe = model_kwarg(PROVIDER)
    for cls, operation in ((Chat, "chat"), (Completions, "text_completion"), (Embeddings, "embeddings")):
        patch(cls, "create", wrap_sync(describe, operation, is_sync_stream, _on_chunk))
    for cls, operation in ((AsyncChat, "chat"), (AsyncCompletions, "text_completion"), (AsyncEmbeddings, "embeddings")):
        patch(cls, "create", wrap_async(describe, operation, is_async_stream, _on_chunk))
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
        patch(cls, "parse", wrap_sync(describe, "chat", is_sync_stream, _on_chunk))
    for cls in async_parse:
        patch(cls, "parse", wrap_async(describe, "chat", is_async_stream, _on_chunk))
    return True


def uninstrument() -> None:
    unpatch_module("openai.")
