"""The one usage normaliser: token counts from a usage object in any shape real producers write,
for every log format and for the in-app instrumentation.

The shapes (tests/test_usage.py holds one row per shape, from recorded payloads where we have them):
- OpenAI chat, completions and embeddings, and what LiteLLM logs for every provider it translates
  (Gemini, Bedrock, Ollama, vLLM...): `prompt_tokens` (cached tokens included),
  `completion_tokens`, `prompt_tokens_details.cached_tokens` (and `cache_write_tokens` where
  sent), `completion_tokens_details.reasoning_tokens`. LiteLLM adds Anthropic's and Bedrock's
  `cache_read_input_tokens` and `cache_creation_input_tokens` beside them (the same numbers).
- OpenAI Responses: `input_tokens` (cached included), `output_tokens`,
  `input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`.
- Anthropic messages: `input_tokens` excludes `cache_read_input_tokens` and
  `cache_creation_input_tokens`: input is their sum, so cache kinds stay subsets of input.
- LangChain's `usage_metadata`: `input_tokens` (cache reads and writes included),
  `output_tokens`, `input_token_details.cache_read` and `.cache_creation`,
  `output_token_details.reasoning`.
- Ollama's own responses: `prompt_eval_count`, `eval_count`.
- Flat counts as the event format's lines write them: `cached_tokens`, `reasoning_tokens`
  beside the split counts.
- Only `total_tokens`: given as unsplit tokens (their input/output share, so their price, unknown).

A count the usage does not have is None, not 0 (OpenAI's embeddings tell no output tokens, Ollama's
`/api/embed` only `prompt_eval_count`): no token observation is made of what a response does not
report. `reported_output` adds the one rule no usage can tell: an embeddings call has no output.

Where two fields say the same thing, the first one given (not 0) wins, in the order above:
`cache_read_input_tokens` before the details' `cached_tokens` (the counts of a log line read as
they always were; producers that write both write the same number).

Strict (log lines) or lenient (in-app): `strict` rejects a wrong type with the field's name,
`lenient` never raises and reads a value it cannot use as 0."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import UNSET, Struct

from llm_exporter.formats import fields


class Details(Struct, gc=False):
    """`prompt_tokens_details`, `completion_tokens_details`, `input_tokens_details`,
    `output_tokens_details` (and LangChain's `input_token_details`, `output_token_details`): the
    keys read of any of them."""

    cached_tokens: Any = None
    cache_write_tokens: Any = None
    reasoning_tokens: Any = None
    cache_read: Any = None  # LangChain's names
    cache_creation: Any = None
    reasoning: Any = None


# Any JSON value: an object decodes as Details, anything else as itself (for the rules to judge).
AnyDetails = Details | list | str | int | float | bool | None


class Usage(Struct, gc=False):
    """A usage object: every key any shape above has (values of any type: the rules judge them)."""

    prompt_tokens: Any = None
    completion_tokens: Any = UNSET  # present as null is not absent
    input_tokens: Any = None
    output_tokens: Any = None
    total_tokens: Any = None
    cache_read_input_tokens: Any = None
    cache_creation_input_tokens: Any = None
    prompt_tokens_details: AnyDetails = None
    completion_tokens_details: AnyDetails = None
    input_tokens_details: AnyDetails = None
    output_tokens_details: AnyDetails = None
    input_token_details: AnyDetails = None
    output_token_details: AnyDetails = None
    prompt_eval_count: Any = None
    eval_count: Any = None
    cached_tokens: Any = None
    reasoning_tokens: Any = None


AnyUsage = Usage | list | str | int | float | bool | None

# (input, output, cache_read, cache_write, reasoning, unsplit): a plain tuple, made per log line;
# input and output None where the usage does not tell them.
Tokens = tuple[int | None, int | None, int, int, int, int]
NONE: Tokens = (None, None, 0, 0, 0, 0)

Count = Callable[[Any, str], int]
Mapping = Callable[[Any, str], Any]


def has_split(usage: Usage) -> bool:
    """Whether a usage tells input or output tokens (and not only a total)."""
    return not (
        usage.prompt_tokens is None
        and (usage.completion_tokens is None or usage.completion_tokens is UNSET)
        and usage.input_tokens is None
        and usage.output_tokens is None
        and usage.prompt_eval_count is None
        and usage.eval_count is None
    )


def has_tokens(usage: Usage) -> bool:
    """Whether a usage tells any token count at all."""
    return usage.total_tokens is not None or has_split(usage)


def strict(
    usage: Usage | None, flat: bool = False, count: Count = fields.count, mapping: Mapping = fields.mapping
) -> Tokens:
    """The tokens of a log line's usage (None: it has none), its flat `cached_tokens` and
    `reasoning_tokens` too where `flat` (a line that is its own usage); a wrong type rejects the
    line with the field's name. (`lenient` passes counts that never reject.)"""
    if usage is None:
        return NONE
    # The optional keys are looked at only where present: most usages have none of them.
    cache_read = cache_write = reasoning = 0
    if usage.cache_read_input_tokens is not None:
        cache_read = count(usage.cache_read_input_tokens, "cache_read_input_tokens")
    if usage.cache_creation_input_tokens is not None:
        cache_write = count(usage.cache_creation_input_tokens, "cache_creation_input_tokens")
    if usage.prompt_tokens_details is not None:
        details = mapping(usage.prompt_tokens_details, "prompt_tokens_details")
        if details is not None:
            cache_read = cache_read or count(details.cached_tokens, "cached_tokens")
            cache_write = cache_write or count(details.cache_write_tokens, "cache_write_tokens")
    if usage.completion_tokens_details is not None:
        details = mapping(usage.completion_tokens_details, "completion_tokens_details")
        if details is not None:
            reasoning = count(details.reasoning_tokens, "reasoning_tokens")
    if not has_split(usage):
        unsplit = count(usage.total_tokens, "total_tokens")
        if flat:
            cache_read, reasoning = _flat(usage, count, cache_read, reasoning)
        return None, None, cache_read, cache_write, reasoning, unsplit
    if usage.prompt_tokens is not None:
        input_tokens = count(usage.prompt_tokens, "prompt_tokens")
    elif usage.input_tokens is not None:
        # Anthropic counts cache reads and writes apart from input_tokens (their fields are its
        # own); OpenAI Responses counts its cached tokens (in the details) within them.
        # LangChain's details count within them too.
        input_tokens = count(usage.input_tokens, "input_tokens") + cache_read + cache_write
        details = mapping(usage.input_tokens_details, "input_tokens_details")
        if details is not None:
            cache_read = cache_read or count(details.cached_tokens, "cached_tokens")
            cache_write = cache_write or count(details.cache_write_tokens, "cache_write_tokens")
        details = mapping(usage.input_token_details, "input_token_details")
        if details is not None:
            cache_read = cache_read or count(details.cache_read, "cache_read")
            cache_write = cache_write or count(details.cache_creation, "cache_creation")
    elif usage.prompt_eval_count is not None:
        input_tokens = count(usage.prompt_eval_count, "prompt_eval_count")
    else:
        input_tokens = None
    output: int | None
    if usage.completion_tokens is not UNSET:
        output = None if usage.completion_tokens is None else count(usage.completion_tokens, "completion_tokens")
    elif usage.output_tokens is not None:
        output = count(usage.output_tokens, "output_tokens")
        if not reasoning:
            details = mapping(usage.output_tokens_details, "output_tokens_details")
            reasoning = count(details.reasoning_tokens, "reasoning_tokens") if details is not None else 0
        if not reasoning:
            details = mapping(usage.output_token_details, "output_token_details")
            reasoning = count(details.reasoning, "reasoning") if details is not None else 0
    elif usage.eval_count is not None:
        output = count(usage.eval_count, "eval_count")
    else:
        output = None
    if flat:
        cache_read, reasoning = _flat(usage, count, cache_read, reasoning)
    return input_tokens, output, cache_read, cache_write, reasoning, 0


def _flat(usage: Usage, count: Count, cache_read: int, reasoning: int) -> tuple[int, int]:
    """Flat counts beside the split ones come first, and are always read (so always judged)."""
    cached = count(usage.cached_tokens, "cached_tokens")
    return cached or cache_read, count(usage.reasoning_tokens, "reasoning_tokens") or reasoning


def _lenient_count(value: Any, key: str) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and 0 <= value < float("inf"):
        return int(value)
    return 0


def _lenient_mapping(value: Any, key: str) -> Details | None:
    return value if type(value) is Details else None


_DETAILS = (
    "prompt_tokens_details",
    "completion_tokens_details",
    "input_tokens_details",
    "output_tokens_details",
    "input_token_details",
    "output_token_details",
)


def _plain(obj: Any) -> Any:
    """A client's object as a dict of its attributes, pydantic's fields and extras: asking a
    pydantic object for an attribute it lacks costs microseconds (an exception inside), and a
    usage lacks most of the keys above. A dict, or an object without attributes, as it is."""
    if type(obj) is dict or not hasattr(obj, "__dict__"):
        return obj
    plain = dict(vars(obj))
    extra = getattr(obj, "__pydantic_extra__", None)
    if type(extra) is dict:
        plain.update(extra)
    return plain


def lenient(usage: Any) -> Tokens | None:
    """The tokens of a usage a client returned (a dict, or the client's pydantic object); None
    where it tells neither input nor output tokens. Never raises: a value it cannot read counts
    as 0."""
    if usage is None:
        return None
    plain = _plain(usage)
    if type(plain) is dict:
        details = {key: _plain(plain[key]) for key in _DETAILS if plain.get(key) is not None}
        if details:
            plain = {**plain, **details}
    try:
        typed = msgspec.convert(plain, Usage, from_attributes=True)
    except Exception:  # an object no client of ours returns: no usage rather than a failed call
        return None
    if not has_split(typed):
        return None
    return strict(typed, False, _lenient_count, _lenient_mapping)


def reported_output(operation: str | None, output_tokens: int | None) -> int | None:
    """The output tokens a call's response reported: None for an embeddings call, which has no
    output (LiteLLM writes `completion_tokens: 0` for it), else the count as read."""
    return None if operation == "embeddings" else output_tokens
