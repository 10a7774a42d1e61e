"""Ollama: `chat`, `generate`, `embed` and `embeddings` (the older `/api/embeddings`) on
`ollama.Client` and `ollama.AsyncClient` (and the module-level functions, which use a default
Client). Streams are NDJSON; the final object (`done: true`) carries `prompt_eval_count` and
`eval_count`; `embed` answers with `prompt_eval_count` only, `embeddings` with no counts at all
(recorded with its duration and outcome, and counted as usage missing). The model management
calls (`pull`, `push`, `create`, `show`, `ps`...) and `web_search`/`web_fetch` make no model call."""

from __future__ import annotations

from typing import Any

from llm_exporter.instrumentation._patch import model_kwarg, patch, unpatch_module, wrap_async, wrap_sync
from llm_exporter.instrumentation.request import common
from llm_exporter.instrumentation.responses import Usage, get, usage_from
from llm_exporter.instrumentation.track import Call

PROVIDER = "ollama"


def _on_part(call: Call, part: Any) -> None:
    if get(part, "done"):
        call.usage = usage_from(part) or Usage()
        reason = get(part, "done_reason")
        if isinstance(reason, str):
            call.finish_reasons = [reason]
    if call.response_model is None:
        model = get(part, "model")
        if isinstance(model, str):
            call.response_model = model


def _request(kwargs: Any) -> dict[str, Any]:
    """Sampling settings from `options` (Ollama's names: temperature, top_p, top_k, seed, stop)."""
    options = kwargs.get("options")
    return common({**(options if isinstance(options, dict) else {}), "stream": kwargs.get("stream")})


def _is_stream(result: Any) -> bool:
    return hasattr(result, "__next__") or hasattr(result, "__anext__")


def instrument() -> bool:
    """Patch the installed ollama client; False when it is not installed."""
    try:
        from ollama import AsyncClient, Client
    except ImportError:
        return False
    describe = model_kwarg(PROVIDER, position=1)
    for name, operation in (
        ("chat", "chat"),
        ("generate", "text_completion"),
        ("embed", "embeddings"),
        ("embeddings", "embeddings"),
    ):
        patch(Client, name, wrap_sync(describe, operation, _is_stream, _on_part, request=_request))
        patch(AsyncClient, name, wrap_async(describe, operation, _is_stream, _on_part, request=_request))
    return True


def uninstrument() -> None:
    unpatch_module("ollama.")
