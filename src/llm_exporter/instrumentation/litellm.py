"""LiteLLM: `litellm.completion`, `litellm.embedding` and `litellm.text_completion` and their
async twins (module functions, `stream=True` included). A `litellm.Router` calls these module
functions for its deployments, so its calls are recorded too, under the deployment's model.

They are patched as attributes of the `litellm` module: code calling `litellm.completion(...)`
is recorded; a name bound by `from litellm import completion` before instrument() is not (import
the module, or call instrument() first). `server.address`/`server.port` come from `api_base`
(or `base_url`) where the call names one.

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

from llm_exporter.instrumentation._patch import url_server, wrap_async, wrap_sync
from llm_exporter.instrumentation.openai import _on_chunk
from llm_exporter.instrumentation.request import common

# (function, operation) pairs patched on the litellm module; the async twin is "a" + function.
FUNCTIONS = (("completion", "chat"), ("embedding", "embeddings"), ("text_completion", "text_completion"))
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


def server(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str | None, int | None]:
    url = kwargs.get("api_base") or kwargs.get("base_url")
    return url_server(url) if isinstance(url, str) else (None, None)


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

    def is_stream(result: Any) -> bool:
        return isinstance(result, litellm.CustomStreamWrapper) or type(result).__name__ == "TextCompletionStreamWrapper"

    # outer: LiteLLM calls the openai client underneath, which must not record the call again.
    for name, operation in FUNCTIONS:
        for fname, wrap in ((name, wrap_sync), ("a" + name, wrap_async)):
            original = getattr(litellm, fname, None)
            if original is None:
                continue
            wrapper = wrap(
                model_and_provider, operation, is_stream, _on_chunk, outer=True, request=common, server=server
            )(original)
            functools.update_wrapper(wrapper, original)
            _originals[fname] = original
            setattr(litellm, fname, wrapper)
    return True


def uninstrument() -> None:
    litellm = sys.modules.get("litellm")
    if litellm is None or not _originals:
        return
    for name, original in list(_originals.items()):
        setattr(litellm, name, original)
    _originals.clear()
