"""Normalized events: what every format turns a JSON line into."""

from __future__ import annotations

from typing import Any

from msgspec import Struct
from msgspec.structs import astuple

from llm_exporter.formats.ratelimit import Readings
from llm_exporter.formats.values import timestamp


class Rejected(Exception):
    """A line that cannot be used. `reason` becomes a label value; `detail` names the field,
    never its content (lines may hold prompts or secrets)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Timed(Struct, gc=False, eq=False):
    """An event with a time and a session (its last two fields, `stamp` and `session_id`), which
    it does not compare by: events compare by what happened, not when. Events are msgspec
    Structs: made in C (a line makes one), never tracked by the garbage collector (they hold no
    cycles)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and astuple(self)[:-2] == astuple(other)[:-2]  # type: ignore[arg-type]

    @property
    def time(self) -> float | None:
        """When the line says it happened, in epoch seconds (values.timestamp of `stamp`)."""
        return timestamp(self.stamp)  # type: ignore[attr-defined]


class Request(_Timed):
    """A call that started and awaits its response (the completion format's request event)."""

    request_id: str
    model: str
    provider: str | None
    operation: str | None
    stamp: Any = None
    session_id: str | None = None


class Completion(_Timed):
    """A finished call (one attempt, where the producer retries).

    Model, provider and operation are None when the log leaves them to a request event joined
    by `request_id`. Input and output tokens are None where the log does not report them (an
    embeddings response has no output count). `cost` is None when the log has no trustworthy cost (absent, null, or a
    producer's "could not price" 0): the pipeline then prices the tokens. A call whose
    token counts are all 0 or absent carried no usage (the pipeline counts it as such). `cache_hit`
    is True for an answer from a response cache, False only where the log shows a cache was
    asked and missed, None where it cannot say. `trace_id` groups the attempts of one client
    request (LiteLLM's retries and fallbacks); None makes the line a request of its own.
    `unsplit_tokens` are tokens the log gives only as a total. `response_model` is the model the
    response names, where the log keeps it: priced where the request model has no price.
    `ratelimit`: what the provider's rate-limit headers said, by resource (formats.ratelimit),
    where the log kept them.

    `time` (in every event) is when the line says it happened, in epoch seconds (None when it
    does not say, or not legibly: see values.timestamp), read from `stamp` (the line's value as
    written) only when asked: only spans and the backfill ask. Events compare by what happened,
    not when.
    `session_id` (in every event) is the session the line belongs to, where it says: the daemon's
    spans group a session's calls into one trace."""

    model: str | None
    provider: str | None
    operation: str | None
    duration: float
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float | None = None
    error_type: str | None = None
    time_to_first_chunk: float | None = None
    cache_hit: bool | None = None
    request_id: str | None = None
    unsplit_tokens: int = 0
    saved_cost: float | None = None
    trace_id: str | None = None
    http_status: str | None = None
    response_model: str | None = None
    ratelimit: Readings | None = None
    stamp: Any = None
    session_id: str | None = None


class Decision(_Timed):
    """What the application did with an answer; labelled by the completion it answers."""

    request_id: str | None
    action: str
    symbol: str
    validation_result: str
    model: str | None = None
    stamp: Any = None
    session_id: str | None = None


class Ignored(Struct, gc=False):
    """A well-formed line this exporter has no use for (counted by its type)."""

    event_type: str


Event = Request | Completion | Decision | Ignored
