"""Token usage and response facts from the response shapes of the known clients, as objects
(the clients' pydantic models) or as plain dicts.

- OpenAI chat completions, completions and embeddings (and LiteLLM's ModelResponse, which has
  the same shape): `usage.prompt_tokens` (cached tokens included),
  `usage.prompt_tokens_details.cached_tokens` (and `cache_write_tokens` where sent),
  `usage.completion_tokens_details.reasoning_tokens`.
- OpenAI Responses API: `usage.input_tokens` (cached included), `input_tokens_details`,
  `output_tokens_details`; the finish reason is `stop` for a completed response, else the reason
  it is incomplete (`max_output_tokens`, `content_filter`) or its status.
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
    service_tier: str | None = None
    system_fingerprint: str | None = None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def responses_finish_reason(response: Any) -> str | None:
    """The finish reason of an OpenAI Responses API answer (see the module doc); None while it
    is still queued or in progress."""
    status = get(response, "status")
    if status == "completed":
        return "stop"
    if status in ("queued", "in_progress"):
        return None
    return _str(get(get(response, "incomplete_details"), "reason")) or _str(status)


def usage_from(usage: Any) -> Usage | None:
    """A Usage from an OpenAI-, OpenAI-Responses- or Anthropic-style usage object or dict."""
    if usage is None:
        return None
    prompt = get(usage, "prompt_tokens")
    if prompt is not None:  # OpenAI chat / completions / embeddings, LiteLLM
        details = get(usage, "prompt_tokens_details")
        out_details = get(usage, "completion_tokens_details")
        # LiteLLM for Anthropic models; OpenAI's own where it reports cache writes
        cache_write = _int(get(usage, "cache_creation_input_tokens")) or _int(get(details, "cache_write_tokens"))
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
            _int(get(in_details, "cache_write_tokens")),
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
    info.model = _str(get(response, "model"))
    info.id = _str(get(response, "id"))
    info.service_tier = _str(get(response, "service_tier"))
    info.system_fingerprint = _str(get(response, "system_fingerprint"))
    usage = get(response, "usage")
    if usage is not None:
        info.usage = usage_from(usage)
    elif get(response, "eval_count") is not None or get(response, "prompt_eval_count") is not None:  # Ollama
        info.usage = Usage(_int(get(response, "prompt_eval_count")), _int(get(response, "eval_count")))
    choices = get(response, "choices")
    if isinstance(choices, list):
        info.finish_reasons = [r for r in (get(c, "finish_reason") for c in choices) if isinstance(r, str)]
    elif get(response, "object") == "response":  # OpenAI Responses API
        reason = responses_finish_reason(response)
        if reason is not None:
            info.finish_reasons = [reason]
    else:
        reason = get(response, "stop_reason") or get(response, "done_reason")
        if isinstance(reason, str):
            info.finish_reasons = [reason]
    return info
