"""LiteLLM: `litellm.completion` and `litellm.acompletion` (module functions).

LiteLLM answers in the OpenAI shape whatever the backend; the provider is the part of the model
name before `/` (`anthropic/claude-...`), else inferred from the model name.
"""

from __future__ import annotations

import sys
from typing import Any

from llm_exporter.instrumentation._patch import AsyncStreamProxy, StreamProxy, record
from llm_exporter.instrumentation.openai import _on_chunk
from llm_exporter.instrumentation.track import Call

_originals: dict[str, Any] = {}


def _provider(model: str | None, kwargs: dict[str, Any]) -> str | None:
    explicit = kwargs.get("custom_llm_provider")
    if isinstance(explicit, str):
        return explicit
    if model and "/" in model:
        return model.split("/", 1)[0]
    return None


def _model(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    value = kwargs.get("model", args[0] if args else None)
    return value if isinstance(value, str) else None


def instrument() -> bool:
    try:
        import litellm
    except ImportError:
        return False
    if _originals:
        return True
    completion = litellm.completion
    acompletion = litellm.acompletion

    def patched_completion(*args: Any, **kwargs: Any) -> Any:
        model = _model(args, kwargs)
        call = Call(model, _provider(model, kwargs), "chat").start()
        try:
            result = completion(*args, **kwargs)
        except BaseException as exc:
            call.finish(exc)
            raise
        if kwargs.get("stream"):
            return StreamProxy(result, call, _on_chunk)
        record(call, result)
        call.finish()
        return result

    async def patched_acompletion(*args: Any, **kwargs: Any) -> Any:
        model = _model(args, kwargs)
        call = Call(model, _provider(model, kwargs), "chat").start()
        try:
            result = await acompletion(*args, **kwargs)
        except BaseException as exc:
            call.finish(exc)
            raise
        if kwargs.get("stream"):
            return AsyncStreamProxy(result, call, _on_chunk)
        record(call, result)
        call.finish()
        return result

    _originals["completion"] = completion
    _originals["acompletion"] = acompletion
    litellm.completion = patched_completion
    litellm.acompletion = patched_acompletion
    return True


def uninstrument() -> None:
    litellm = sys.modules.get("litellm")
    if litellm is None or not _originals:
        return
    litellm.completion = _originals.pop("completion")
    litellm.acompletion = _originals.pop("acompletion")
