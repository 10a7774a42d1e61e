"""Typed field access for the format parsers: wrong types reject the line with the field's name."""

from __future__ import annotations

import re
from typing import Any

from llm_exporter.formats.events import Rejected
from llm_exporter.semconv import OTHER_ERROR

_ERROR_CLASS = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")


def number(obj: dict[str, Any], key: str, default: float | None = None) -> float | None:
    value = obj.get(key)
    if value is None:
        return default
    if type(value) is int or type(value) is float:
        if value != value or value < 0:  # NaN or negative
            raise Rejected("wrong_shape", f"{key} must be a non-negative number")
        return value
    raise Rejected("wrong_shape", f"{key} must be a number, not {type(value).__name__}")


def count(obj: dict[str, Any], key: str) -> int:
    """A token count: a non-negative integer (floats with no fraction are accepted)."""
    value = obj.get(key)
    if value is None:
        return 0
    if type(value) is int and value >= 0:
        return value
    if type(value) is float and value >= 0 and value.is_integer():
        return int(value)
    raise Rejected("wrong_shape", f"{key} must be a non-negative integer")


def text(obj: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise Rejected("wrong_shape", f"{key} is missing")
        return None
    if type(value) is not str:
        raise Rejected("wrong_shape", f"{key} must be a string, not {type(value).__name__}")
    return value


def mapping(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        raise Rejected("wrong_shape", f"{key} must be an object, not {type(value).__name__}")
    return value


def error_class(value: Any) -> str:
    """An error class fit for a label: an identifier-like name, else `_OTHER` (messages can hold
    prompt text or ids and never become labels)."""
    if type(value) is str and _ERROR_CLASS.match(value):
        return value
    return OTHER_ERROR


def token_usage(usage: dict[str, Any]) -> tuple[int, int, int, int, int]:
    """(input, output, cache_read, cache_write, reasoning) from an OpenAI- or Anthropic-style
    usage object. Input counts cached tokens too, so cache kinds stay subsets of input."""
    cache_read = count(usage, "cache_read_input_tokens")
    cache_write = count(usage, "cache_creation_input_tokens")
    prompt_details = mapping(usage, "prompt_tokens_details")
    if prompt_details:
        cache_read = cache_read or count(prompt_details, "cached_tokens")
    reasoning = count(mapping(usage, "completion_tokens_details"), "reasoning_tokens")
    if "prompt_tokens" in usage:
        input_tokens = count(usage, "prompt_tokens")
    else:  # Anthropic counts cache reads and writes apart from input_tokens
        input_tokens = count(usage, "input_tokens") + cache_read + cache_write
    output = count(usage, "completion_tokens") if "completion_tokens" in usage else count(usage, "output_tokens")
    return input_tokens, output, cache_read, cache_write, reasoning
