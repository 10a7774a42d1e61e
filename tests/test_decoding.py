"""One decoder per format, two ways in: a line's bytes decoded straight into the format's Struct
(the pipeline's way for a source without label_fields), or a dict orjson made converted into it
(auto, label_fields). Both end in the same rules, so for any line they give the same event (its
time too) or the same rejection, and the pipeline's bytes way classifies a line msgspec refuses
exactly as orjson would. And the timestamps every format reads into its events."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from llm_exporter.formats import FORMATS, PARSERS, fields
from llm_exporter.formats.events import Rejected
from llm_exporter.formats.fields import MAX_ID_LENGTH
from llm_exporter.pipeline.processor import UNDECODABLE, SourcePipeline
from testkit import EXAMPLES, TESTDATA, make_exporter, scrape, value, write_lines

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


def by_dict(fmt: str, line: bytes) -> object:
    """What the dict way makes of a line: (event, time), or the rejection."""
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


def by_bytes(fmt: str, line: bytes) -> object:
    """What the bytes way makes of a line msgspec decodes (None for one it refuses)."""
    try:
        decoded = FORMATS[fmt].decode(line)
    except UNDECODABLE:
        return None
    try:
        event = FORMATS[fmt].event(decoded)
    except Rejected as exc:
        return (exc.reason, exc.detail)
    return event, getattr(event, "time", None)


def pipeline(tmp_path: Path, fmt: str) -> tuple[SourcePipeline, list[tuple[str, str]]]:
    """A source's pipeline whose rejections are kept (reason, detail) instead of counted."""
    exporter, _ = make_exporter(tmp_path, fmt)
    pipe = exporter.sources["app"].pipeline
    rejected: list[tuple[str, str]] = []
    pipe.reject = lambda reason, detail: rejected.append((reason, detail))  # type: ignore[method-assign]
    return pipe, rejected


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


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_usual_lines_decode_straight_and_as_dicts_alike(fmt: str) -> None:
    for line in SAMPLES[fmt]:
        event = by_bytes(fmt, line)
        assert event is not None, line[:200]
        assert event == by_dict(fmt, line)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_both_ways_agree_on_mutated_lines(fmt: str) -> None:
    rng = random.Random(11)
    lines = [line for samples in SAMPLES.values() for line in samples]
    outcomes = {"event": 0, "rejected": 0}
    for _ in range(6000):
        obj = orjson.loads(rng.choice(SAMPLES[fmt] if rng.random() < 0.8 else lines))  # others' too
        for _ in range(rng.randint(1, 3)):
            obj = mutate(rng, obj)
        line = orjson.dumps(obj)
        outcome = by_bytes(fmt, line)
        if outcome is None:  # not a JSON object: the pipeline asks orjson (below)
            assert by_dict(fmt, line) in ("not_object", "undecodable"), line[:300]
            continue
        assert outcome == by_dict(fmt, line), line[:300]
        outcomes["rejected" if type(outcome[0]) is str else "event"] += 1
    assert outcomes["event"] > 1000 and outcomes["rejected"] > 500  # both sides of the rules were compared


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_lines_msgspec_refuses_are_classified_as_orjson_would(fmt: str, tmp_path: Path) -> None:
    pipe, rejected = pipeline(tmp_path, fmt)
    cases = {
        b"": [],
        b"   ": [],
        b"[1]": [("not_object", "a JSON list, not an object")],
        b'"text"': [("not_object", "a JSON str, not an object")],
        b"nul\x00": [("nul_byte", "not a JSON line")],
        b'{"model":"gpt\xff"}': [("invalid_utf8", "not a JSON line")],
        b"[" * 100_000: [("invalid_json", "not a JSON line")],
        b'{"a":1} {"b":2}': [("invalid_json", "not a JSON line")],
        b"{": [("invalid_json", "not a JSON line")],
        b'{"a":"\\ud800"}': [("invalid_json", "not a JSON line")],  # a lone surrogate
        # past both depth limits on every Python (msgspec's is 10,000 levels on 3.13)
        b'{"a":' + b"[" * 20_000 + b"]" * 20_000 + b"}": [("invalid_json", "not a JSON line")],
    }
    for line, expected in cases.items():
        rejected.clear()
        with pytest.raises(UNDECODABLE):
            FORMATS[fmt].decode(line)
        assert pipe.event(line) is None
        assert rejected == expected, line[:40]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_nesting_below_orjsons_limit_is_read_on_every_python(fmt: str, tmp_path: Path) -> None:
    """msgspec's depth limit is the interpreter's C recursion limit (about 1,000 levels on 3.10 and
    3.11, 1,500 on 3.12, 10,000 on 3.13); orjson's is 1,024. A line nested below orjson's limit is
    read whichever refuses it first: straight away, or the dict way where msgspec refuses."""
    pipe, rejected = pipeline(tmp_path, fmt)
    for line in SAMPLES[fmt][:5]:
        deep = line[:-1] + b',"unread":' + b"[" * 1020 + b"]" * 1020 + b"}"
        assert pipe.event(deep) == by_dict(fmt, deep)[0] == by_dict(fmt, line)[0]  # type: ignore[index]
        assert rejected == []


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_what_orjson_makes_of_a_line_is_what_the_rules_see(fmt: str, tmp_path: Path) -> None:
    """A key given twice (the last wins), an integer past 64 bits (orjson's float), a CR line end."""
    pipe, rejected = pipeline(tmp_path, fmt)
    key = {"completion": b"event_type", "event": b"model", "litellm": b"model"}[fmt]
    number = {"completion": b"response_time_ms", "event": b"latency_ms", "litellm": b"endTime"}[fmt]
    for line in SAMPLES[fmt][:10]:
        twice = b'{"' + key + b'":"overridden",' + line[1:]
        assert by_bytes(fmt, twice) == by_dict(fmt, twice)
        huge = line[:-1] + b',"' + number + b'":18446744073709551616}'
        assert by_bytes(fmt, huge) == by_dict(fmt, huge)
        for bad in (b'{"model":18446744073709551616,', b'{"model":[1],', b'{"model":{"a":1},'):
            odd = bad + line[1:] if fmt != "completion" else line[:-1] + b"," + bad[1:-1] + b"}"
            assert by_bytes(fmt, odd) == by_dict(fmt, odd)
        rejected.clear()
        assert pipe.event(line + b"\r") == by_dict(fmt, line)[0]  # type: ignore[index]
        assert rejected == []


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
        ("2024-01-15T10:00", EPOCH - 1.123),  # to the minute
        ("2024-01-15t10:00:01.123z", EPOCH),  # RFC 3339 allows lower case
        # Read alike on every Python: fromisoformat reads these from 3.11 on, not on 3.10.
        ("20240115T100001Z", None),  # ISO 8601's basic form
        ("1" * 5000, None),  # the year 1111 to 3.11's fromisoformat; too large for epoch numbers
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


@pytest.mark.parametrize("sample", ["llm_completions.log", "events.jsonl"])
def test_times_ending_in_z_are_read_on_every_supported_python(sample: str) -> None:
    """Python 3.10's fromisoformat refuses a trailing Z, which the sample logs and CompletionLogger
    write: backfill kept 15 of the 65 sample requests there. Every sample time is read, to the ms."""
    path = EXAMPLES / "logs" / sample
    times = [orjson.loads(line)["timestamp"] for line in path.read_bytes().splitlines()]
    assert times and all(t.endswith("Z") for t in times)
    for t in times:
        want = datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
        assert fields.timestamp(t) == pytest.approx(want, abs=1e-6), t


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
            for event in (by_bytes(fmt, line)[0], PARSERS[fmt](orjson.loads(line))):  # type: ignore[index]
                assert event.time == (pytest.approx(expected) if expected else None)  # type: ignore[union-attr]
    for obj in (litellm, {"standard_logging_object": litellm}):
        line = orjson.dumps(obj)
        for event in (by_bytes("litellm", line)[0], PARSERS["litellm"](orjson.loads(line))):  # type: ignore[index]
            assert event.time == pytest.approx(EPOCH)  # type: ignore[union-attr]  # endTime


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_invalid_utf8_in_a_key_not_read_is_rejected_as_orjson_would(fmt: str, tmp_path: Path) -> None:
    """msgspec skips a key it does not read without looking at its bytes: the pipeline checks a
    line that is not ASCII, so invalid UTF-8 anywhere is rejected as invalid_utf8."""
    pipe, rejected = pipeline(tmp_path, fmt)
    for line in SAMPLES[fmt][:20]:
        obj = orjson.loads(line)
        for bad in (b"\x96", b"\xed\xa0\x80", b"\xc0\xaf"):  # a stray byte, a surrogate, an overlong
            damaged = orjson.dumps({**obj, "unread_note": "@"}).replace(b"@", bad)
            assert by_dict(fmt, damaged) == "undecodable"
            rejected.clear()
            assert pipe.event(damaged) is None
            assert rejected == [("invalid_utf8", "not a JSON line")]
        fine = orjson.dumps({**obj, "unread_note": "caf\u00e9"})  # UTF-8 is fine
        assert pipe.event(fine) == by_dict(fmt, fine)[0]  # type: ignore[index]


@pytest.mark.parametrize("key", ["response_time_ms", "prompt_tokens"])
def test_a_number_of_5000_digits_as_a_string_is_a_wrong_shape_not_unexpected(key: str, tmp_path: Path) -> None:
    """int() refuses strings past 4,300 digits (Python's limit against slow conversions): such a
    number is no count and no duration, a line of the wrong shape."""
    exporter, log = make_exporter(tmp_path, "completion")
    digits = "1" * 5000
    response = {"event_type": "completion_response", "request_id": "r", "response_time_ms": 5}
    if key == "response_time_ms":
        response[key] = digits
    else:
        response["token_usage"] = {"prompt_tokens": digits, "completion_tokens": 1}
    write_lines(log, [orjson.dumps(response) + b"\n"])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_lines_rejected_total", reason="wrong_shape") == 1
    assert value(s, "llm_exporter_lines_rejected_total") == 1


def test_ids_of_256_kb_are_held_as_digests_and_still_join(tmp_path: Path) -> None:
    """Request, trace and session ids are kept in the tables of pending calls and on spans waiting
    for a collector: one past MAX_ID_LENGTH stands for itself by a digest of fixed size."""
    long_id, other = "r" * 256 * 1024, "r" * (256 * 1024 - 1) + "s"
    request = {"event_type": "completion_request", "request_id": long_id, "model": "gpt-4o", "session_id": long_id}
    response = {"event_type": "completion_response", "request_id": long_id, "response_time_ms": 5}
    read = FORMATS["completion"].read
    req, resp, another = read(request), read(response), read({**request, "request_id": other})
    assert req.request_id == resp.request_id != another.request_id  # the same id, the same digest
    assert len(req.request_id) == len(req.session_id) == len("blake2b:") + 32
    assert read({**request, "request_id": "r" * MAX_ID_LENGTH}).request_id == "r" * 256  # at the bound: as written
    litellm = FORMATS["litellm"].read({"startTime": 1, "endTime": 2, "model": "m", "trace_id": long_id})
    assert len(litellm.trace_id) == len("blake2b:") + 32
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, [orjson.dumps(request) + b"\n", orjson.dumps(response) + b"\n"])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="gpt-4o") == 1
    assert value(s, "llm_requests_in_flight") == 0
