"""A provider's rate-limit headers, read in one place for the in-app clients and the log formats
(as formats.usage reads usage for both).

- OpenAI, Azure OpenAI and the servers that copy OpenAI's API (Groq, ...):
  `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the reset as a Go duration (`1s`,
  `6m0s`, `12ms`, `1h2m3.5s`) or a number of seconds (Azure's);
- Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
  the reset as an RFC 3339 time, turned into seconds from the response's `date` header (else the
  time the caller gives: when the response came, or the log line's end time);
- the same as LiteLLM logs them in `hidden_params.additional_headers`: prefixed `llm_provider-`
  (the provider's headers as they came) and unprefixed, OpenAI's names also with `_` for `-`
  (its typed copies, which for Anthropic repeat the requests and tokens figures). Anthropic's own
  names win over those copies.

A value that does not read (not a number, negative as Azure's `-1` for "no limit", a count past
MAX_COUNT, a reset in no known shape or a year or more away) is skipped: headers are the
provider's word, never a reason to fail a call or reject a line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from llm_exporter.formats.values import iso, numeric
from llm_exporter.store.aggregates import RateLimitReading

RESOURCES = ("requests", "tokens", "input_tokens", "output_tokens")
# resource -> what is left, the limit, and seconds until the limit is whole again (each None
# where the response did not say legibly).
Readings = dict[str, RateLimitReading]

_FIELDS = ("remaining", "limit", "reset")
_PREFIX = "llm_provider-"
_DATE = (-1, "", -1)
# Every spelling read (lower case) -> (rank, resource, field index); of two names for one figure
# the higher rank wins. A spelling is the header's name, with `_` for `-` (LiteLLM's typed
# copies), each also prefixed `llm_provider-`; so a header costs one lookup.
_NAMES: dict[str, tuple[int, str, int]] = {"date": _DATE, _PREFIX + "date": _DATE}
for _i, _field in enumerate(_FIELDS):
    for _rank, _names in (
        (0, [(f"x-ratelimit-{_field}-{r}", r) for r in ("requests", "tokens")]),
        (1, [(f"anthropic-ratelimit-{r.replace('_', '-')}-{_field}", r) for r in RESOURCES]),
    ):
        for _name, _resource in _names:
            for _spelling in (_name, _name.replace("-", "_")):
                _NAMES[_spelling] = _NAMES[_PREFIX + _spelling] = (_rank, _resource, _i)
# Past this a count is no rate limit (and would print as a float no exposition keeps exact).
MAX_COUNT = 1e15
MAX_RESET_SECONDS = 366 * 86400.0  # a day's limit resets within a day; a year is already absurd

_IMF_FIXDATE = re.compile(r"[A-Z][a-z]{2}, (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT")
_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# One split of a number's digits, as values._DECIMAL: linear time on a long run of digits.
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_DURATION = re.compile(rf"(?:{_GO_PART.pattern})+")


def _count(value: Any) -> float | None:
    number = numeric(value) if type(value) is not bool else None
    if number is None or not 0 <= number <= MAX_COUNT:  # NaN fails too
        return None
    return float(number)


def duration(value: Any) -> float | None:
    """Seconds of a Go duration (`6m0s`, `12ms`, `1h2m3.5s`) or a plain number of seconds."""
    seconds = numeric(value) if type(value) is not bool else None
    if seconds is None and type(value) is str:
        text = value.strip()
        if _GO_DURATION.fullmatch(text):
            seconds = sum(float(n) * _GO_UNITS[unit] for n, unit in _GO_PART.findall(text))
    if seconds is None or not 0 <= seconds <= MAX_RESET_SECONDS:
        return None
    return float(seconds)


def _moment(value: Any) -> float | None:
    """An RFC 3339 time as epoch seconds (UTC where it names no zone)."""
    moment = iso(value) if type(value) is str else None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _http_date(value: Any) -> float | None:
    """The `date` header as epoch seconds: the IMF-fixdate every HTTP/1.1 server sends
    (`Wed, 25 Nov 2026 09:22:58 GMT`, RFC 9110); None in another form. Read here rather than by
    email.utils, whose import costs a start-up more than this whole module."""
    match = _IMF_FIXDATE.fullmatch(value.strip()) if type(value) is str else None
    month = _MONTHS.get(match.group(2)) if match else None
    if match is None or month is None:
        return None
    day, _, year, hour, minute, second = match.groups()
    try:
        return datetime(
            int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc
        ).timestamp()
    except ValueError:  # 31 February, hour 25
        return None


def read(headers: Any, received: float | None = None) -> Readings | None:
    """The rate-limit figures of a response's headers (a mapping of names to values, names in any
    case), by resource; None when it has none. `received`: when the response came, in epoch
    seconds, for resets given as a time when the headers carry no legible `date`."""
    if not isinstance(headers, Mapping):  # httpx.Headers is one
        return None
    raw: dict[tuple[str, int], tuple[int, Any]] = {}
    date = None
    try:
        for name, value in headers.items():
            slot = _NAMES.get(name.lower()) if type(name) is str else None
            if slot is None:
                continue
            if slot is _DATE:
                date = value
                continue
            rank, resource, index = slot
            kept = raw.get((resource, index))
            if kept is None or rank > kept[0]:
                raw[(resource, index)] = (rank, value)
    except Exception:  # a header object that does not iterate as promised: no figures, no failure
        return None
    if not raw:
        return None
    when: float | None = None  # the response's time, read only for a reset given as a time
    readings: dict[str, list[float | None]] = {}
    for (resource, index), (_, value) in raw.items():
        if index != 2:
            figure = _count(value)
        else:
            figure = duration(value)
            if figure is None:
                moment = _moment(value)
                if moment is not None:
                    if when is None:
                        when = _http_date(date)
                        if when is None:
                            when = received
                    if when is not None and abs(moment - when) <= MAX_RESET_SECONDS:
                        # A reset already past (clocks a second apart) is a limit whole again now;
                        # one a year or more away either side is no reset at all.
                        figure = max(moment - when, 0.0)
        if figure is not None:
            readings.setdefault(resource, [None, None, None])[index] = figure
    return {resource: (r[0], r[1], r[2]) for resource, r in readings.items()} or None
