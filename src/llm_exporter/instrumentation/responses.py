"""Token usage and response facts from the response shapes of the known clients, as objects
(the clients' pydantic models) or as plain dicts.

- OpenAI chat completions, completions and embeddings (and LiteLLM's ModelResponse, which has
  the same shape): `usage.prompt_tokens` (cached tokens included),
  `usage.prompt_tokens_details.cached_tokens`, `usage.completion_tokens_details.reasoning_tokens`.
- OpenAI Responses API: `usage.input_tokens` (cached included), `input_tokens_details`,
  `output_tokens_details`.
- Anthropic messages: `usage.input_tokens` excludes `cache_read_input_tokens` and
  `cache_creation_input_tokens`; input here is their sum, so cache kinds stay subsets of input.
- Ollama: `prompt_eval_count`, `eval_count`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value >= 0:
        return int(value)
    return 0


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(slots=True)
class ResponseInfo:
    usage: Usage | None = None
    model: str | None = None
    id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)


def usage_from(usage: Any) -> Usage | None:
    """A Usage from an OpenAI-, OpenAI-Responses- or Anthropic-style usage object or dict."""
    if usage is None:
        return None
    prompt = get(usage, "prompt_tokens")
    if prompt is not None:  # OpenAI chat / completions / embeddings, LiteLLM
        details = get(usage, "prompt_tokens_details")
        out_details = get(usage, "completion_tokens_details")
        cache_write = _int(get(usage, "cache_creation_input_tokens"))  # LiteLLM for Anthropic models
        return Usage(
            _int(prompt),
            _int(get(usage, "completion_tokens")),
            _int(get(details, "cached_tokens")) or _int(get(usage, "cache_read_input_tokens")),
            cache_write,
            _int(get(out_details, "reasoning_tokens")),
        )
    input_tokens = get(usage, "input_tokens")
    output_tokens = get(usage, "output_tokens")
    if input_tokens is None and output_tokens is None:
        return None
    in_details = get(usage, "input_tokens_details")
    if in_details is not None or get(usage, "output_tokens_details") is not None:  # OpenAI Responses
        return Usage(
            _int(input_tokens),
            _int(output_tokens),
            _int(get(in_details, "cached_tokens")),
            0,
            _int(get(get(usage, "output_tokens_details"), "reasoning_tokens")),
        )
    cache_read = _int(get(usage, "cache_read_input_tokens"))
    cache_write = _int(get(usage, "cache_creation_input_tokens"))
    return Usage(_int(input_tokens) + cache_read + cache_write, _int(output_tokens), cache_read, cache_write, 0)


def extract(response: Any) -> ResponseInfo:
    """What a response says about usage, the model that answered, its id and finish reasons."""
    info = ResponseInfo()
    if response is None:
        return info
    model = get(response, "model")
    info.model = model if isinstance(model, str) else None
    rid = get(response, "id")
    info.id = rid if isinstance(rid, str) else None
    usage = get(response, "usage")
    if usage is not None:
        info.usage = usage_from(usage)
    elif get(response, "eval_count") is not None or get(response, "prompt_eval_count") is not None:  # Ollama
        info.usage = Usage(_int(get(response, "prompt_eval_count")), _int(get(response, "eval_count")))
    choices = get(response, "choices")
    if isinstance(choices, list):
        info.finish_reasons = [r for r in (get(c, "finish_reason") for c in choices) if isinstance(r, str)]
    else:
        reason = get(response, "stop_reason") or get(response, "done_reason")
        if isinstance(reason, str):
            info.finish_reasons = [reason]
    return info


def output_messages(response: Any) -> list[dict[str, Any]] | None:
    """The answer's text as `[{"role": ..., "content": ...}]` (for opt-in content capture)."""
    choices = get(response, "choices")
    if isinstance(choices, list):
        out = []
        for choice in choices:
            message = get(choice, "message")
            text = get(message, "content") if message is not None else get(choice, "text")
            out.append({"role": get(message, "role") or "assistant", "content": text})
        return out
    content = get(response, "content")
    if isinstance(content, list):  # Anthropic content blocks
        return [{"role": "assistant", "content": "".join(get(b, "text") or "" for b in content)}]
    message = get(response, "message")  # Ollama chat
    if message is not None:
        return [{"role": get(message, "role") or "assistant", "content": get(message, "content")}]
    text = get(response, "response")  # Ollama generate
    if isinstance(text, str):
        return [{"role": "assistant", "content": text}]
    return None
