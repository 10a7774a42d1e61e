"""The C hot path's line reader (pipeline/_json.c, read_line and read_event_line in _hotpath.c)
against orjson and the formats' parsers: a line it takes is one orjson takes, and what it reads is
exactly the event `formats.completion.parse` or `formats.event.parse` makes of it. The lines are
the golden samples and generated traffic written out the many ways JSON allows (whitespace,
escapes, surrogate pairs, number forms, key order, nesting), then damaged byte by byte."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from llm_exporter.formats import completion, event
from llm_exporter.formats.events import Rejected
from llm_exporter.pipeline import hotpath
from test_hotpath import GOLDEN, event_traffic, traffic
from test_typed_decoding import mutate
from testkit import TESTDATA, make_exporter

pytestmark = pytest.mark.skipif(
    not hotpath.available(), reason="the C hot path is not built: `pip install -e .` needs a C compiler"
)


PARSE = {"completion": completion.parse, "event": event.parse}
SOURCES = {  # each format's lines to write out: the golden sample, generated traffic
    "completion": lambda rng, n: GOLDEN + traffic(rng, n),
    "event": lambda rng, n: (TESTDATA / "golden" / "event.log").read_bytes().splitlines() + event_traffic(rng, 3 * n),
}


TAKEN = {"completion": 0.5, "event": 0.35}  # the generated event traffic has more shapes left to Python


def reader(tmp_path_factory: pytest.TempPathFactory, fmt: str):  # type: ignore[no-untyped-def]
    exporter, _ = make_exporter(tmp_path_factory.mktemp("reader"), fmt)
    return next(iter(exporter.sources.values())).pipeline._hot.read


@pytest.fixture(scope="module")
def read(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return reader(tmp_path_factory, "completion")


def _string(rng: random.Random, text: str) -> str:
    out = []
    rate = 0.2 if rng.random() < 0.04 else 0.0  # escapes in some strings, where none are needed
    for char in text:
        roll = rng.random()
        if char in '"\\' or ord(char) < 0x20:
            out.append(rng.choice([orjson.dumps(char).decode()[1:-1], f"\\u{ord(char):04x}"]))
        elif roll < rate:
            code = ord(char)
            if code > 0xFFFF:  # a surrogate pair
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        elif roll < 2 * rate and char == "/":
            out.append("\\/")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _number(rng: random.Random, value: int | float) -> str:
    if type(value) is int:
        return rng.choice([str(value)] * 40 + [f"{value}.0", f"{value}e0", f"{value}E+0", f"{value * 10}e-1"])
    return rng.choice([repr(value)] * 6 + [f"{value:.17e}", f"{value:.17E}", f"{value:.25f}", f"{value:.45f}"])


def render(rng: random.Random, obj: object, keys_escaped: bool = False) -> str:
    """obj as JSON, written one of the many ways JSON allows."""

    def space() -> str:
        return rng.choice(["", "", "", " ", "\t", "\r", "  \t "])

    if isinstance(obj, dict):
        items = list(obj.items())
        if rng.random() < 0.2:
            rng.shuffle(items)
        members = []
        for key, value in items:
            name = _string(rng, key) if keys_escaped else orjson.dumps(key).decode()
            members.append(f"{space()}{name}{space()}:{space()}{render(rng, value, keys_escaped)}{space()}")
        return "{" + ",".join(members) + space() + "}"
    if isinstance(obj, list):
        return "[" + ",".join(space() + render(rng, item, keys_escaped) + space() for item in obj) + space() + "]"
    if isinstance(obj, str):
        return _string(rng, obj)
    if isinstance(obj, bool) or obj is None:
        return orjson.dumps(obj).decode()
    return _number(rng, obj)


EXTRAS = [  # values of keys nobody reads, and some of those they read
    "caf\u00e9 \U0001f600 \u4e2d\u6587", "tab\there", 'quote " and \\ backslash', "\u0000\u001f\u007f", "</script>",
    [1, [2, [3, [4, {"deep": [None, True, False]}]]]], {"nested": {"more": [1.5e-7, -0.0, 12345678901234567890]}},
    1e300, -1e-300, 0, -0, 10**30, [], {},
]  # fmt: skip


def lines(rng: random.Random, n: int, fmt: str = "completion") -> list[bytes]:
    out = []
    sources = [orjson.loads(line) for line in SOURCES[fmt](rng, n) if line.strip()]
    for obj in sources:
        if rng.random() < 0.2:
            obj = mutate(rng, obj)
        if rng.random() < 0.3 and isinstance(obj, dict):
            obj = {**obj, "extra": rng.choice(EXTRAS)}
        if rng.random() < 0.1 and isinstance(obj, dict) and "usage" not in obj:
            obj["usage"] = {"prompt_tokens": rng.randrange(100), "note": rng.choice(EXTRAS)}
        if rng.random() < 0.1 and isinstance(obj, dict) and obj.get("event_type") == "completion_response":
            # a failure with an error of some kind: its status comes from an object's status_code
            # only when the line has none of its own
            obj = {**obj, "success": False, "error_type": rng.choice(["RateLimitError", "timeout", "", None])}
            errors = ["upstream said no", "Timeout", {"status_code": 503}, {"type": "X", "status_code": 429}, [1]]
            obj["error"] = rng.choice(errors)
            if rng.random() < 0.5:
                obj["status_code"] = rng.choice([429, 500])
        if rng.random() < 0.1 and isinstance(obj, dict) and "token_usage" in obj:  # both cache counts
            obj["token_usage"] = {
                "prompt_tokens": rng.randrange(1000),
                "completion_tokens": rng.randrange(100),
                "cache_read_input_tokens": rng.choice([0, 30]),
                "prompt_tokens_details": rng.choice([{}, None, {"cached_tokens": rng.choice([0, 7, None])}]),
                "completion_tokens_details": rng.choice([{}, None, {"reasoning_tokens": rng.choice([0, 9, None])}]),
            }
        text = render(rng, obj, keys_escaped=rng.random() < 0.05)
        roll = rng.random()
        if roll < 0.03 and isinstance(obj, dict) and obj:  # a key twice: orjson keeps the last
            key = rng.choice(list(obj))
            text = "{" + orjson.dumps(key).decode() + ":" + render(rng, rng.choice(EXTRAS)) + "," + text[1:]
        elif roll < 0.05:
            text = rng.choice([" ", "\t", "\r"]) + text + rng.choice([" ", "\t", "\r", ",", "}", " x", "]"])
        out.append(text.encode())
    return out


JUNK = [
    b'"', b"\\", b",", b":", b"{", b"}", b"[", b"]", b"0", b"-", b".", b"e", b"\x00", b"\x1f", b"\x7f", b"\xc3\xa9",
    b"\xff", b"\\u", b"\\ud800", b"\\udfff", b"n", b"t", b" ",
]  # fmt: skip


def damaged(rng: random.Random, line: bytes) -> bytes:
    data = bytearray(line)
    at = rng.randrange(len(data) + 1)
    roll = rng.random()
    junk = rng.choice([*JUNK, bytes([rng.randrange(256)])])
    if roll < 0.4:
        data[at:at] = junk
    elif roll < 0.7:
        del data[at : at + rng.randint(1, 3)]
    elif roll < 0.9:
        data[at : at + len(junk)] = junk
    else:
        del data[at:]
    return bytes(data).replace(b"\n", b" ")


def check(read, line: bytes, fmt: str = "completion") -> str:  # type: ignore[no-untyped-def]
    """What the reader made of a line, after asserting it matches orjson and the format's parse."""
    got = read(line)
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        assert got is None, line
        return "invalid"
    if got is None:
        return "left"
    assert type(obj) is dict, line
    try:
        parsed = PARSE[fmt](obj)
    except Rejected as exc:
        raise AssertionError(f"taken, but parse rejects it ({exc.reason}): {line!r}") from None
    assert type(parsed).__name__ == got.pop("event"), line
    for field, value in got.items():
        expected = getattr(parsed, field)
        assert (type(expected) is float or type(value) is float or type(expected) is type(value)) and (
            expected == value
        ), (field, expected, value, line)
    return "taken"


@pytest.mark.parametrize("fmt", sorted(PARSE))
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_reader_takes_what_orjson_takes_and_reads_it_as_parse(
    tmp_path_factory: pytest.TempPathFactory, fmt: str, seed: int
) -> None:
    read = reader(tmp_path_factory, fmt)
    rng = random.Random(seed)
    written = lines(rng, 700, fmt)
    whole = {"taken": 0, "left": 0, "invalid": 0}
    broken = dict(whole)
    for line in written:
        whole[check(read, line, fmt)] += 1
        for _ in range(3):
            broken[check(read, damaged(rng, line), fmt)] += 1
    # the comparison covered all three outcomes, and mostly lines the reader took
    assert whole["taken"] > TAKEN[fmt] * len(written) and whole["left"] > 0.05 * len(written), whole
    assert broken["taken"] > 0.1 * 3 * len(written) and broken["invalid"] > 0.3 * 3 * len(written), broken


def test_the_reader_takes_escapes_and_number_forms_where_nothing_is_lost(read) -> None:
    line = (
        b'{ "event_type" : "completion_response", "request_id":"r1", "response_preview":"a\\"b\\\\c\\u00e9'
        b'\\ud83d\\ude00\\n", "response_time_ms":1.2345678901234567E+3,"usage":{"prompt_tokens":10 ,'
        b'"completion_tokens":0,"x":[[[]]]},"cost_estimate_usd":1.5e-05,'
        b'"time_to_first_chunk_ms":0.000000000000000000000000001 }\r'
    )
    assert check(read, line) == "taken"
    got = read(line)
    assert got["duration"] == 1.2345678901234567 and got["cost"] == 1.5e-05
    assert got["time_to_first_chunk"] == 1e-30 and got["input_tokens"] == 10


@pytest.mark.parametrize(
    "line",
    [
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":"\\ud800"}',  # lone surrogate
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":"\\udc00\\ud800"}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":"\\udc00"}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":"\\ud800\\u0041"}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":1e400}',  # infinite
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":01}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":1.}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":.5}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":+1}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":NaN}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":[1,]}',
        b'{"event_type":"completion_request","request_id":"r","model":"m",}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":"\x01"}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":"\\x"}',
        b'{"event_type":"completion_request","request_id":"r","model":"m"}{}',
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":tru}',
        b'\xef\xbb\xbf{"event_type":"completion_request","request_id":"r","model":"m"}',  # a BOM
    ],
)
def test_the_reader_refuses_what_orjson_refuses(read, line: bytes) -> None:
    assert read(line) is None
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)


@pytest.mark.parametrize(
    "line",
    [
        b'{"event_type":"completion_request","request_id":"r","model":"a","model":"b"}',  # orjson keeps "b"
        b'{"event_type":"completion_request","request_id":"r","mod\\u0065l":"m"}',  # an escaped key
        b'{"event_type":"completion_request","request_id":"r\\u0031","model":"m"}',  # an escaped value read
        b'{"event_type":"completion_request","request_id":"r","model":"m","x":' + b"[" * 70 + b"]" * 70 + b"}",
        b'{"event_type":"completion_response","request_id":"r","response_time_ms":1e251}',
        b'{"event_type":"completion_response","request_id":"r","response_time_ms":"12"}',  # a decimal string
        b'{"event_type":"completion_response","request_id":"r","response_time_ms":12,"usage":{"prompt_tokens":1.0}}',
        b'{"event_type":"completion_response","request_id":"r","response_time_ms":5,"success":false,'
        b'"error":{"type":"X"},"status_code":429}',  # the class is in the error object
        b'{"event_type":"performance_metrics"}',
    ],
)
def test_the_reader_leaves_to_python_what_it_would_have_to_read_harder(read, line: bytes, tmp_path: Path) -> None:
    """Valid lines, each left whole to the Python path, which reads or rejects them itself."""
    orjson.loads(line)
    assert read(line) is None
