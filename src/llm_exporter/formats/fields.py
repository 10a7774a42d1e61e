"""The rules every format applies to the values it read: wrong types reject the line with the
field's name. The values are what a format's msgspec Struct decoded (any JSON value: an object the
Struct reads is a Struct, others are dicts), so a rule here sees what orjson would have made."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from msgspec import Struct

from llm_exporter.formats.events import Rejected
from llm_exporter.formats.values import numeric
from llm_exporter.formats.values import timestamp as timestamp  # what a line's time reads as
from llm_exporter.semconv import OTHER_ERROR

# Sane per-call bounds: past them a value is a logging bug (or an attack), and one such line must
# not turn a total into +Inf or an integer no exposition can print.
MAX_TOKENS = 10**9
MAX_COST_USD = 1e6
MAX_DURATION_MS = 1e9  # about 11.6 days

_ERROR_CLASS = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")

# orjson reads an integer past 64 bits as a float, msgspec as an int: rules and details say what
# orjson would have made of it, as they always have.
_U64_MAX = 2**64 - 1
_I64_MIN = -(2**63)


def kind(value: Any) -> str:
    """The JSON kind of a value, as a detail names it (never the value: it may be a secret)."""
    if isinstance(value, Struct):
        return "dict"
    if type(value) is int and not _I64_MIN <= value <= _U64_MAX:
        return "float"
    return type(value).__name__


def number(value: Any, key: str, maximum: float = float("inf")) -> float | None:
    """A non-negative finite number, at most `maximum` (else rejected as out_of_range), as a float."""
    if value is None:
        return None
    parsed = value if type(value) is float or type(value) is int else numeric(value)
    if parsed is None:
        raise Rejected("wrong_shape", f"{key} must be a number, not {kind(value)}")
    if parsed != parsed or parsed < 0 or parsed == float("inf"):  # NaN, negative, infinite
        raise Rejected("wrong_shape", f"{key} must be a non-negative number")
    if parsed > maximum:
        raise Rejected("out_of_range", f"{key} is past {maximum:g}")
    return float(parsed)  # an integer past 64 bits too: what orjson made of it


def count(value: Any, key: str) -> int:
    """A token count: a non-negative integer (floats with no fraction and decimal strings of
    integers are accepted)."""
    if type(value) is int and 0 <= value <= MAX_TOKENS:  # the usual value, at once
        return value
    if value is None:
        return 0
    parsed = value if type(value) is int else numeric(value)
    if type(parsed) is float and parsed.is_integer():
        parsed = int(parsed)
    if type(parsed) is not int or parsed < 0:
        raise Rejected("wrong_shape", f"{key} must be a non-negative integer")
    if parsed > MAX_TOKENS:
        raise Rejected("out_of_range", f"{key} is past {MAX_TOKENS:g}")
    return parsed


def text(value: Any, key: str, required: bool = False) -> str | None:
    if type(value) is str and value:  # the usual value, at once
        return value
    if value is None or value == "":
        if required:
            raise Rejected("wrong_shape", f"{key} is missing")
        return None
    raise Rejected("wrong_shape", f"{key} must be a string, not {kind(value)}")


# Characters at most of an id kept as written (request, trace, session ids: UUIDs are 36). A
# longer one stands for itself by a digest: joins and traces still match, while the tables of
# pending calls and the spans waiting for a collector hold bounded bytes (a thousand 256 KB session
# ids took a daemon whose collector never answered from 75 MB to 715 MB).
MAX_ID_LENGTH = 256


def _bounded(value: str) -> str:
    if len(value) <= MAX_ID_LENGTH:
        return value
    return "blake2b:" + hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def identifier(value: Any, key: str, required: bool = False) -> str | None:
    """A request or trace id: `text`, at most MAX_ID_LENGTH characters (see `_bounded`)."""
    found = text(value, key, required)
    return None if found is None else _bounded(found)


def session(value: Any) -> str | None:
    """A session id where the line has a usable one, bounded like `identifier`; never a
    rejection (only spans use it)."""
    return _bounded(value) if type(value) is str and value else None


def mapping(value: Any, key: str) -> Any:
    """The Struct a format decoded a JSON object into, None where the line has none (absent or
    null); anything else rejects the line."""
    if value is None or isinstance(value, Struct):
        return value
    raise Rejected("wrong_shape", f"{key} must be an object, not {kind(value)}")


def error_class(value: Any) -> str:
    """An error class fit for a label: an identifier-like name, else `_OTHER` (messages can hold
    prompt text or ids and never become labels)."""
    if type(value) is str and _ERROR_CLASS.match(value):
        return value
    return OTHER_ERROR


def http_status(value: Any) -> str | None:
    """A provider's HTTP status code as a label value (100-599), else None: messages and
    provider-specific codes never become labels."""
    code = numeric(value) if type(value) is not bool else None
    if type(code) is float and code.is_integer():
        code = int(code)
    return str(code) if type(code) is int and 100 <= code <= 599 else None
