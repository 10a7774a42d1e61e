"""The typed decoders (formats.DECODERS) against the generic way (orjson, then formats.PARSERS):
for any line, a typed decoder gives exactly the generic event (its time too), or None and leaves
the line to the generic way; it never takes a line the generic way rejects. And the timestamps
every format reads into its events."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import orjson
import pytest

from llm_exporter.formats import DECODERS, PARSERS, fields
from llm_exporter.formats.events import Rejected
from testkit import TESTDATA

SAMPLES = {
    fmt: (TESTDATA / "golden" / f"{fmt}.log").read_bytes().splitlines() for fmt in ("completion", "event", "litellm")
}
SAMPLES["litellm"] += [
    line for path in sorted((TESTDATA / "litellm_recorded").glob("*.jsonl")) for line in path.read_bytes().splitlines()
]
ODD_VALUES = [
    None, True, False, 0, -1, 0.5, 2.0, 1e9, 1e9 + 1, 1e308, 2**63, -0.0, "", " 12 ", "0.25", "1e3", "-3", "x" * 80,
    "2024-01-15T10:00:01Z", "2024-01-15 10:00:01", "1700000000", [], {}, [1], {"a": None}, "\u0000",
]  # fmt: skip
KEYS = [
    "timestamp", "model", "request_id", "success", "response_time_ms", "token_usage", "usage", "prompt_tokens",
    "completion_tokens", "input_tokens", "output_tokens", "total_tokens", "cached_tokens", "reasoning_tokens",
    "cache_read_input_tokens", "cache_creation_input_tokens", "prompt_tokens_details", "completion_tokens_details",
    "cost_estimate_usd", "cost_usd", "response_cost", "saved_cache_cost", "latency_ms", "status", "error",
    "error_type", "status_code", "error_information", "startTime", "endTime", "completionStartTime", "cache_hit",
    "standard_logging_object", "custom_llm_provider", "model_map_information", "metadata", "response", "trace_id",
    "event_type", "action", "time_to_first_chunk_ms",
]  # fmt: skip


def generic(fmt: str, line: bytes) -> object:
    """What the generic way makes of a line: (event, time), or the rejection."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "undecodable"
    if type(obj) is not dict:
        return "not_object"
    try:
        event = PARSERS[fmt](obj)
    except Rejected as exc:
        return (exc.reason, exc.detail)
    return event, getattr(event, "time", None)


def mutate(rng: random.Random, obj: object) -> object:
    """The object with one value, at any depth, replaced, removed or set where it was absent."""
    if not isinstance(obj, dict) or not obj:
        return rng.choice(ODD_VALUES)
    obj = dict(obj)
    nested = [k for k, v in obj.items() if isinstance(v, dict)]
    if nested and rng.random() < 0.3:
        key = rng.choice(nested)
        obj[key] = mutate(rng, obj[key])
    elif rng.random() < 0.2:
        del obj[rng.choice(list(obj))]
    else:
        obj[rng.choice(list(obj) + KEYS)] = rng.choice(ODD_VALUES)
    return obj


@pytest.mark.parametrize("fmt", sorted(DECODERS))
def test_the_usual_lines_all_take_the_typed_way(fmt: str) -> None:
    for line in SAMPLES[fmt]:
        event = DECODERS[fmt](line)
        assert event is not None, line[:200]
        assert (event, getattr(event, "time", None)) == generic(fmt, line)


@pytest.mark.parametrize("fmt", sorted(DECODERS))
def test_typed_equals_generic_on_mutated_lines(fmt: str) -> None:
    rng = random.Random(11)
    lines = [line for samples in SAMPLES.values() for line in samples]
    typed = 0
    for _ in range(6000):
        obj = orjson.loads(rng.choice(SAMPLES[fmt] if rng.random() < 0.8 else lines))  # others' too
        for _ in range(rng.randint(1, 3)):
            obj = mutate(rng, obj)
        line = orjson.dumps(obj)
        event = DECODERS[fmt](line)
        if event is not None:
            typed += 1
            assert (event, getattr(event, "time", None)) == generic(fmt, line), line[:300]
    assert typed > 1000  # the comparison covered the typed way, not only its refusals


@pytest.mark.parametrize("fmt", sorted(DECODERS))
def test_typed_leaves_undecodable_lines_to_the_generic_way(fmt: str) -> None:
    for line in [b"", b"   ", b"[1]", b"nul\x00", b'{"model":"gpt\xff"}', b"[" * 100_000, b'{"a":1} {"b":2}', b"{"]:
        assert DECODERS[fmt](line) is None


EPOCH = datetime(2024, 1, 15, 10, 0, 1, 123000, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15T10:00:01.123Z", EPOCH),
        ("2024-01-15T10:00:01.123+00:00", EPOCH),
        ("2024-01-15T12:00:01.123+02:00", EPOCH),
        ("2024-01-15T10:00:01.123", EPOCH),  # no zone: UTC
        ("2024-01-15 10:00:01.123", EPOCH),
        ("2024-01-15", datetime(2024, 1, 15, tzinfo=timezone.utc).timestamp()),
        (1705312801.123, EPOCH),  # epoch seconds
        (1705312801123, EPOCH),  # epoch milliseconds, told apart by magnitude
        ("1705312801123", EPOCH),
        ("1705312801.123", EPOCH),
        (0, 0.0),
        (99_999_999_999, 99_999_999_999.0),  # the largest seconds: the year 5138
        (100_000_000_000, 100_000_000.0),  # the smallest milliseconds: 1973
        (None, None),
        ("", None),
        ("yesterday", None),
        ("2024-13-45T10:00:00Z", None),
        (-1, None),
        (True, None),
        (1e14, None),
        ([2024], None),
        ({"t": 1}, None),
    ],
)
def test_timestamp(value: object, expected: float | None) -> None:
    parsed = fields.timestamp(value)
    assert parsed == (pytest.approx(expected, abs=1e-6) if expected is not None else None)


def test_each_format_reads_its_time_and_a_bad_one_rejects_nothing() -> None:
    request = {"event_type": "completion_request", "request_id": "r", "model": "gpt-4o"}
    response = {"event_type": "completion_response", "request_id": "r", "response_time_ms": 5}
    decision = {"event_type": "trading_decision", "request_id": "r", "action": "long"}
    flat = {"model": "gpt-4o", "latency_ms": 5}
    litellm = {"model": "gpt-4o", "startTime": 1705312800.0, "endTime": 1705312801.123}
    cases = [("completion", request), ("completion", response), ("completion", decision), ("event", flat)]
    for fmt, obj in cases:
        for stamp, expected in [("2024-01-15T10:00:01.123Z", EPOCH), ("not a time", None), (None, None)]:
            line = orjson.dumps({**obj, "timestamp": stamp} if stamp is not None else obj)
            for event in (DECODERS[fmt](line), PARSERS[fmt](orjson.loads(line))):
                assert event is not None
                assert event.time == (pytest.approx(expected) if expected else None)  # type: ignore[union-attr]
    for obj in (litellm, {"standard_logging_object": litellm}):
        line = orjson.dumps(obj)
        for event in (DECODERS["litellm"](line), PARSERS["litellm"](orjson.loads(line))):
            assert event is not None and event.time == pytest.approx(EPOCH)  # endTime


@pytest.mark.parametrize("fmt", sorted(DECODERS))
def test_typed_leaves_lines_with_invalid_utf8_anywhere_to_the_generic_way(fmt: str) -> None:
    """msgspec skips a field it does not read without looking at its bytes: a line with invalid
    UTF-8 there must still go the generic way, which rejects it as invalid_utf8."""
    for line in SAMPLES[fmt][:20]:
        obj = orjson.loads(line)
        for bad in (b"\x96", b"\xed\xa0\x80", b"\xc0\xaf"):  # a stray byte, a surrogate, an overlong
            damaged = orjson.dumps({**obj, "unread_note": "@"}).replace(b"@", bad)
            assert generic(fmt, damaged) == "undecodable"
            assert DECODERS[fmt](damaged) is None
        assert DECODERS[fmt](orjson.dumps({**obj, "unread_note": "caf\u00e9"})) is not None  # UTF-8 is fine
