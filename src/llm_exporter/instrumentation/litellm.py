"""LiteLLM: `litellm.completion` and `litellm.acompletion` (module functions, sync and async,
`stream=True` included).

They are patched as attributes of the `litellm` module: code calling `litellm.completion(...)`
is recorded; a name bound by `from litellm import completion` before instrument() is not.

Model and provider are the ones LiteLLM's own StandardLoggingPayload names, so the calls land on
the series the daemon makes of LiteLLM's logs: `openai/gpt-4o-mini` is model `gpt-4o-mini` of
provider `openai` (the prefix counts as a provider when it is one of LiteLLM's); an explicit
`custom_llm_provider=` wins; otherwise the provider is inferred from the model name.

The client LiteLLM calls underneath (the openai client for OpenAI-compatible backends) is not
recorded a second time when it is instrumented too.

Streams: the first chunk sets the time to first chunk; usage comes from the final chunk, which
LiteLLM sends when the request asks for it (`stream_options={"include_usage": True}`).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from llm_exporter.instrumentation._patch import wrap_async, wrap_sync
from llm_exporter.instrumentation.openai import _on_chunk

_originals: dict[str, Any] = {}
_providers: frozenset[str] = frozenset()


def model_and_provider(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str | None, str | None]:
    """(model, provider) of a litellm.completion call, as LiteLLM's logs name them."""
    model = kwargs.get("model", args[0] if args else None)
    if not isinstance(model, str):
        return None, None
    explicit = kwargs.get("custom_llm_provider")
    provider = explicit if isinstance(explicit, str) and explicit else None
    head, sep, rest = model.partition("/")
    if sep and rest and (head == provider or (provider is None and head in _providers)):
        return rest, head
    return model, provider


def instrument() -> bool:
    """Patch the installed litellm; False when it is not installed."""
    global _providers
    try:
        import litellm
    except ImportError:
        return False
    if _originals:
        return True
    _providers = frozenset(str(getattr(p, "value", p)) for p in getattr(litellm, "provider_list", ()))
    completion, acompletion = litellm.completion, litellm.acompletion

    def is_stream(result: Any) -> bool:
        return isinstance(result, litellm.CustomStreamWrapper)

    # outer: LiteLLM calls the openai client underneath, which must not record the call again.
    patched_completion = wrap_sync(model_and_provider, "chat", is_stream, _on_chunk, outer=True)(completion)
    patched_acompletion = wrap_async(model_and_provider, "chat", is_stream, _on_chunk, outer=True)(acompletion)
    for name, original, wrapper in (
        ("completion", completion, patched_completion),
        ("acompletion", acompletion, patched_acompletion),
    ):
        functools.update_wrapper(wrapper, original)
        _originals[name] = original
    litellm.completion = patched_completion
    litellm.acompletion = patched_acompletion
    return True


def uninstrument() -> None:
    litellm = sys.modules.get("litellm")
    if litellm is None or not _originals:
        return
    litellm.completion = _originals.pop("completion")
    litellm.acompletion = _originals.pop("acompletion")
