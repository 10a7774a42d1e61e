"""How a JSON value reads as a number or as a time, never a rejection (the rules in fields.py
reject; these only read)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import msgspec

# Numbers some loggers write as strings ("1200", "0.0123"): plain decimals only, never
# "nan", "inf", hex or thousands separators. The digits before and after a point are split one
# way only (`\d+(?:\.\d*)?`, not `\d+\.?\d*`): a long run of digits with junk after it then fails
# in one pass, not in time quadratic in its length (a 16 MiB line of it would stall a source).
_DECIMAL = re.compile(r"^\s*\+?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$")


def numeric(value: Any) -> int | float | None:
    """The number a JSON value stands for (a number, or a decimal string); None if none."""
    if type(value) is int or type(value) is float:
        return value
    if type(value) is str and _DECIMAL.match(value):
        text = value.strip()
        if text.isdigit():
            try:
                return int(text)
            except ValueError:  # past Python's digit limit for int(): no count, no price, no time
                return float(text)
        return float(text)
    return None


def exact(value: Any) -> Decimal | None:
    """The exact decimal a JSON number or a decimal string (as `numeric` reads one) stands for, a
    float by its shortest repr (0.1, not 0.1000000000000000055); None for anything else, NaN and
    the infinities included."""
    if type(value) is int:
        return Decimal(value)
    if type(value) is float:
        return Decimal(repr(value)) if math.isfinite(value) else None
    if type(value) is str and _DECIMAL.match(value):
        return Decimal(value.strip())
    return None


# Epoch numbers at least this large are milliseconds: as seconds they would be past the year 5000,
# as milliseconds they are after March 1973.
EPOCH_MS_FROM = 1e11
_EPOCH_MAX_MS = 1e14  # past this (the year 5138 in milliseconds) a number is no time at all


# ISO 8601 forms RFC 3339 leaves out (a date alone, a time without seconds): fromisoformat reads
# these alike on every supported Python, unlike the basic and week forms 3.11 added.
_ISO_SHORT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2})?")


def iso(text: str) -> datetime | None:
    """RFC 3339 through msgspec, read alike on every supported Python (fromisoformat refuses a
    trailing `Z` on 3.10, and from 3.11 on reads a 5,000-digit string as the year 1111); then a
    date alone or a time to the minute."""
    try:
        return msgspec.convert(text, datetime)
    except msgspec.ValidationError:
        pass
    if _ISO_SHORT.fullmatch(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:  # a month 13, a day 45
            return None
    return None


def timestamp(value: Any) -> float | None:
    """A line's time as epoch seconds, else None (never a rejection: live tailing does not need
    it). ISO 8601 strings with or without a zone (no zone means UTC), or epoch seconds or
    milliseconds (told apart by magnitude) as numbers or decimal strings."""
    if type(value) is str:
        moment = iso(value)
        if moment is None:
            value = numeric(value)
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment.timestamp()
    if (type(value) is not int and type(value) is not float) or not 0 <= value < _EPOCH_MAX_MS:
        return None
    return value / 1000.0 if value >= EPOCH_MS_FROM else float(value)
