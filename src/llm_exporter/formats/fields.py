"""Typed field access for the format parsers: wrong types reject the line with the field's name."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar

from msgspec import UNSET, Meta, Struct, UnsetType

from llm_exporter.formats.events import Rejected
from llm_exporter.semconv import OTHER_ERROR

# Sane per-call bounds: past them a value is a logging bug (or an attack), and one such line must
# not turn a total into +Inf or an integer no exposition can print.
MAX_TOKENS = 10**9
MAX_COST_USD = 1e6
MAX_DURATION_MS = 1e9  # about 11.6 days

_ERROR_CLASS = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")


# Numbers some loggers write as strings ("1200", "0.0123"): plain decimals only, never
# "nan", "inf", hex or thousands separators.
_DECIMAL = re.compile(r"^\s*\+?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$")


def _numeric(value: Any) -> int | float | None:
    """The number a JSON value stands for (a number, or a decimal string); None if none."""
    if type(value) is int or type(value) is float:
        return value
    if type(value) is str and _DECIMAL.match(value):
        text = value.strip()
        return int(text) if text.isdigit() else float(text)
    return None


def number(obj: dict[str, Any], key: str, maximum: float = float("inf")) -> float | None:
    """A non-negative finite number, at most `maximum` (else rejected as out_of_range)."""
    value = obj.get(key)
    if value is None:
        return None
    parsed = _numeric(value)
    if parsed is None:
        raise Rejected("wrong_shape", f"{key} must be a number, not {type(value).__name__}")
    if parsed != parsed or parsed < 0 or parsed == float("inf"):  # NaN, negative, infinite
        raise Rejected("wrong_shape", f"{key} must be a non-negative number")
    if parsed > maximum:
        raise Rejected("out_of_range", f"{key} is past {maximum:g}")
    return parsed


def cost(obj: dict[str, Any], key: str) -> float | None:
    return number(obj, key, MAX_COST_USD)


def milliseconds(obj: dict[str, Any], key: str) -> float | None:
    return number(obj, key, MAX_DURATION_MS)


def count(obj: dict[str, Any], key: str) -> int:
    """A token count: a non-negative integer (floats with no fraction and decimal strings of
    integers are accepted)."""
    value = obj.get(key)
    if value is None:
        return 0
    parsed = value if type(value) is int else _numeric(value)
    if type(parsed) is float and parsed.is_integer():
        parsed = int(parsed)
    if type(parsed) is not int or parsed < 0:
        raise Rejected("wrong_shape", f"{key} must be a non-negative integer")
    if parsed > MAX_TOKENS:
        raise Rejected("out_of_range", f"{key} is past {MAX_TOKENS:g}")
    return parsed


def text(obj: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise Rejected("wrong_shape", f"{key} is missing")
        return None
    if type(value) is not str:
        raise Rejected("wrong_shape", f"{key} must be a string, not {type(value).__name__}")
    return value


def session(value: Any) -> str | None:
    """A session id where the line has a usable one; never a rejection (only spans use it)."""
    return value if type(value) is str and value else None


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


def http_status(value: Any) -> str | None:
    """A provider's HTTP status code as a label value (100-599), else None: messages and
    provider-specific codes never become labels."""
    code = _numeric(value) if type(value) is not bool else None
    if type(code) is float and code.is_integer():
        code = int(code)
    return str(code) if type(code) is int and 100 <= code <= 599 else None


_SPLIT_KEYS = ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens")


def has_tokens(usage: dict[str, Any]) -> bool:
    """Whether a usage object tells any token count at all."""
    return any(usage.get(key) is not None for key in (*_SPLIT_KEYS, "total_tokens"))


def token_usage(usage: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    """(input, output, cache_read, cache_write, reasoning, unsplit) from an OpenAI- or
    Anthropic-style usage object. Input counts cached tokens too, so cache kinds stay subsets of
    input. A usage that tells only `total_tokens` gives them as unsplit: their input/output
    share (and so their price) is unknown."""
    cache_read = count(usage, "cache_read_input_tokens")
    cache_write = count(usage, "cache_creation_input_tokens")
    prompt_details = mapping(usage, "prompt_tokens_details")
    if prompt_details:
        cache_read = cache_read or count(prompt_details, "cached_tokens")
    reasoning = count(mapping(usage, "completion_tokens_details"), "reasoning_tokens")
    if not any(usage.get(key) is not None for key in _SPLIT_KEYS):
        return 0, 0, cache_read, cache_write, reasoning, count(usage, "total_tokens")
    if usage.get("prompt_tokens") is not None:
        input_tokens = count(usage, "prompt_tokens")
    else:  # Anthropic counts cache reads and writes apart from input_tokens
        input_tokens = count(usage, "input_tokens") + cache_read + cache_write
    output = count(usage, "completion_tokens") if "completion_tokens" in usage else count(usage, "output_tokens")
    return input_tokens, output, cache_read, cache_write, reasoning, 0


# Epoch numbers at least this large are milliseconds: as seconds they would be past the year 5000,
# as milliseconds they are after March 1973.
EPOCH_MS_FROM = 1e11
_EPOCH_MAX_MS = 1e14  # past this (the year 5138 in milliseconds) a number is no time at all


def timestamp(value: Any) -> float | None:
    """A line's time as epoch seconds, else None (never a rejection: live tailing does not need
    it). ISO 8601 strings with or without a zone (no zone means UTC), or epoch seconds or
    milliseconds (told apart by magnitude) as numbers or decimal strings."""
    if type(value) is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            value = _numeric(value)
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment.timestamp()
    if (type(value) is not int and type(value) is not float) or not 0 <= value < _EPOCH_MAX_MS:
        return None
    return value / 1000.0 if value >= EPOCH_MS_FROM else float(value)


# -- typed decoding ----------------------------------------------------------------------------
# The formats' msgspec shapes accept a subset of what the functions above accept, and only where
# they would give the same result: a line outside them (a wrong type, a decimal string, a null
# where presence matters, an empty string, a bound passed) goes the generic way, which rejects it
# with its reason or reads it leniently.

# What a typed decoder raises for a line it cannot take: msgspec's errors (a ValueError), invalid
# UTF-8 in a string, nesting past its depth limit.
UNDECODABLE = (ValueError, RecursionError)
T = TypeVar("T")


def typed(decode: Callable[[bytes], T], line: bytes) -> T | None:
    """`decode(line)`, or None for a line the generic way must see: one the decoder refuses, or
    one that is not UTF-8. A typed decoder skips the fields it does not read without looking at
    their bytes, and would take a line the generic way rejects as invalid_utf8."""
    if not line.isascii():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        return decode(line)
    except UNDECODABLE:
        return None


Text = Annotated[str, Meta(min_length=1)]  # "" means missing: the generic way says so
Tokens = Annotated[int, Meta(ge=0, le=MAX_TOKENS)]
Cost = Annotated[float, Meta(ge=0, le=MAX_COST_USD)]
Milliseconds = Annotated[float, Meta(ge=0, le=MAX_DURATION_MS)]
Number = Annotated[float, Meta(ge=0)]
Time = str | float | None  # anything else: the generic way reads it as no time


class TokenDetails(Struct, gc=False):
    cached_tokens: Tokens | None = None
    reasoning_tokens: Tokens | None = None


class Usage(Struct, gc=False):
    """An OpenAI- or Anthropic-style usage object (see `token_usage`)."""

    prompt_tokens: Tokens | None = None
    completion_tokens: Tokens | UnsetType | None = UNSET  # present as null is not absent
    input_tokens: Tokens | None = None
    output_tokens: Tokens | None = None
    total_tokens: Tokens | None = None
    cache_read_input_tokens: Tokens | None = None
    cache_creation_input_tokens: Tokens | None = None
    prompt_tokens_details: TokenDetails | None = None
    completion_tokens_details: TokenDetails | None = None


def typed_usage(usage: Usage | None) -> tuple[int, int, int, int, int, int]:
    """`token_usage` of a decoded Usage."""
    if usage is None:
        return 0, 0, 0, 0, 0, 0
    cache_read = usage.cache_read_input_tokens or 0
    cache_write = usage.cache_creation_input_tokens or 0
    details = usage.prompt_tokens_details
    if details is not None and not cache_read:
        cache_read = details.cached_tokens or 0
    details = usage.completion_tokens_details
    reasoning = (details.reasoning_tokens or 0) if details is not None else 0
    prompt = usage.prompt_tokens
    completion = usage.completion_tokens
    no_completion = completion is None or completion is UNSET
    if prompt is None and no_completion and usage.input_tokens is None and usage.output_tokens is None:
        return 0, 0, cache_read, cache_write, reasoning, usage.total_tokens or 0
    input_tokens = prompt if prompt is not None else (usage.input_tokens or 0) + cache_read + cache_write
    output = (completion or 0) if completion is not UNSET else (usage.output_tokens or 0)
    return input_tokens, output, cache_read, cache_write, reasoning, 0
