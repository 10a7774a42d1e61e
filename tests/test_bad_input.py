"""Bad input never stops the exporter and never loses the good lines around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import make_exporter, scrape, value, write_lines

REQ = b'{"event_type":"completion_request","request_id":"r%d","model":"gpt-4o-mini"}\n'
RESP = (
    b'{"event_type":"completion_response","request_id":"r%d","success":true,"response_time_ms":1000,'
    b'"token_usage":{"prompt_tokens":100,"completion_tokens":10},"cost_estimate_usd":0.5}\n'
)


def good(i: int) -> list[bytes]:
    return [REQ % i, RESP % i]


BAD_LINES = {
    "invalid_json": b'{"event_type": "completion_response", "request_id": \n',
    "invalid_utf8": b'{"event_type":"completion_request","request_id":"x","model":"gpt\xff\xfe"}\n',
    "nul_byte": b'{"event_type":"completion_request",\x00"request_id":"x"}\n',
    "wrong_shape": b'{"event_type":"completion_response","request_id":"x","response_time_ms":"fast"}\n',
    "not_object": b'[{"event_type":"completion_request"}]\n',
    "plain_text": b"2024-01-15 10:30:45 INFO werkzeug: 127.0.0.1 GET /health 200\n",
}
EXPECTED_REASON = {**{k: k for k in BAD_LINES}, "plain_text": "invalid_json"}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_bad_line_counted_and_neighbours_kept(tmp_path: Path, kind: str) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, [*good(1), BAD_LINES[kind], *good(2)])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_lines_rejected_total", source="app", reason=EXPECTED_REASON[kind]) == 1
    assert value(s, "llm_exporter_lines_rejected_total") == 1
    assert value(s, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="gpt-4o-mini") == 2
    assert value(s, "llm_cost_usd_total") == 1.0
    assert value(s, "llm_exporter_lines_read_total", source="app") == 5


def test_crlf_line_endings_are_fine(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, [line.replace(b"\n", b"\r\n") for line in good(1) + good(2)])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_lines_rejected_total") == 0
    assert value(s, "llm_tokens_total", gen_ai_token_type="input") == 200


def test_too_long_line_skipped_memory_bounded(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion", limits={"max_line_bytes": 1024})
    huge = b'{"event_type":"completion_request","pad":"' + b"x" * 5000 + b'"}\n'
    write_lines(log, [*good(1), huge, *good(2)])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_lines_rejected_total", reason="too_long") == 1
    assert value(s, "gen_ai_client_operation_duration_seconds_count") == 2


def test_too_long_line_spanning_polls(tmp_path: Path) -> None:
    """The over-long line arrives in pieces: it is skipped to its end, counted once."""
    exporter, log = make_exporter(tmp_path, "completion", limits={"max_line_bytes": 1024})
    write_lines(log, [*good(1), b'{"pad":"' + b"y" * 3000])
    exporter.poll_once()
    write_lines(log, [b"z" * 3000])
    exporter.poll_once()
    write_lines(log, [b'"}\n', *good(2)])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_lines_rejected_total") == 1
    assert value(s, "llm_exporter_lines_rejected_total", reason="too_long") == 1
    assert value(s, "gen_ai_client_operation_duration_seconds_count") == 2


def test_partial_last_line_waits_for_newline(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    line = RESP % 1
    write_lines(log, [REQ % 1, line[:40]])
    exporter.poll_once()
    assert value(scrape(exporter), "gen_ai_client_operation_duration_seconds_count") == 0
    write_lines(log, [line[40:]])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "gen_ai_client_operation_duration_seconds_count") == 1
    assert value(s, "llm_exporter_lines_rejected_total") == 0


def test_rejections_logged_at_most_once_per_interval(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, [b"garbage\n"] * 500)
    with caplog.at_level("WARNING"):
        exporter.poll_once()
    reports = [r for r in caplog.records if "rejected a line" in r.getMessage()]
    assert len(reports) == 1
    assert value(scrape(exporter), "llm_exporter_lines_rejected_total", reason="invalid_json") == 500


def test_log_messages_hold_no_line_content(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    secret = b"sk-SECRET-prompt-text"
    write_lines(log, [b'{"event_type":"completion_response","request_id":"' + secret + b'","response_time_ms":"x"}\n'])
    with caplog.at_level("DEBUG"):
        exporter.poll_once()
    assert caplog.records
    assert all(secret.decode() not in r.getMessage() for r in caplog.records)


ABSURD = [
    b'{"model":"gpt-4o","latency_ms":5,"prompt_tokens":1.7e308,"completion_tokens":1}\n',
    b'{"model":"gpt-4o","latency_ms":5,"prompt_tokens":1180591620717411303424}\n',  # 2**70
    b'{"model":"gpt-4o","latency_ms":5,"prompt_tokens":"1e400"}\n',  # infinite as a float
    b'{"model":"gpt-4o","latency_ms":5,"prompt_tokens":10,"cost_usd":1.7e308}\n',
    b'{"model":"gpt-4o","latency_ms":1e300,"prompt_tokens":10}\n',
    b'{"model":"gpt-4o","startTime":0,"endTime":1.7e308,"prompt_tokens":1,"completion_tokens":1}\n',
]


def test_huge_tokens_and_costs_are_out_of_range_and_metrics_still_served(tmp_path: Path) -> None:
    """Issue 9.5: two lines with prompt_tokens 1.7e308 broke /metrics for good (OverflowError)."""
    from prometheus_client.exposition import generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

    exporter, log = make_exporter(tmp_path, "auto")
    ok = b'{"model":"gpt-4o","latency_ms":5,"prompt_tokens":1000000000,"completion_tokens":1,"cost_usd":1000000}\n'
    write_lines(log, [*ABSURD, *ABSURD, ok])
    exporter.poll_once()
    s = scrape(exporter)
    rejected = value(s, "llm_exporter_lines_rejected_total", reason="out_of_range")
    assert rejected + value(s, "llm_exporter_lines_rejected_total", reason="wrong_shape") == 2 * len(ABSURD)
    assert rejected == 2 * (len(ABSURD) - 1)  # "1e400" is no finite number at all
    # The bounds themselves are accepted: a billion tokens, a million dollars.
    assert value(s, "llm_tokens_total", gen_ai_token_type="input") == 10**9
    assert value(s, "llm_cost_usd_total") == 1e6
    for generate in (generate_latest, generate_openmetrics):
        assert b"llm_cost_usd_total" in generate(exporter.registry(openmetrics=generate is generate_openmetrics))


def test_a_megabyte_of_digits_in_a_number_field_is_read_in_one_pass(tmp_path: Path) -> None:
    """A number written as a string of a million digits with junk after it is a wrong shape. It
    used to take time quadratic in its length to tell (days for this line), stalling the source."""
    exporter, log = make_exporter(tmp_path, "auto")
    digits = b"1" * 1_000_000
    ok = b'{"model":"gpt-4o","latency_ms":5,"prompt_tokens":10,"completion_tokens":1}\n'
    write_lines(log, [b'{"model":"gpt-4o","latency_ms":5,"prompt_tokens":"' + digits + b'x"}\n', ok])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_lines_rejected_total", reason="wrong_shape") == 1
    assert value(s, "llm_tokens_total", gen_ai_token_type="input") == 10
