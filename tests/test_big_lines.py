"""Lines of several MB (LiteLLM logs a call's whole `messages`), driven by poll_once(), no sleeps.

The costliest calls are the longest lines: with the default limit they must count, and a line
past the limit must be skipped as it arrives, counted once, without losing its neighbours.
"""

from __future__ import annotations

import json
from pathlib import Path

from llm_exporter.exporter import Exporter
from testkit import EXAMPLES, make_exporter, scrape, value, write_lines

# One StandardLoggingPayload from the example LiteLLM log: gpt-4o, 936 input and 705 output
# tokens (366 of the input read from cache), $0.00939.
PAYLOAD = json.loads((EXAMPLES / "logs" / "litellm.jsonl").read_text().splitlines()[0])


def call(n: int, prompt_bytes: int = 5) -> bytes:
    """LiteLLM's line for call `n`, its prompt `prompt_bytes` long (logged whole in `messages`)."""
    payload = {**PAYLOAD, "id": f"chatcmpl-{n}", "trace_id": f"tr-{n}"}
    payload["messages"] = [{"role": "user", "content": "x" * prompt_bytes}]
    return json.dumps(payload).encode() + b"\n"


def totals(exporter: Exporter) -> tuple[float, float, float, float]:
    """Calls, input tokens, output tokens, cost."""
    s = scrape(exporter)
    return (
        value(s, "gen_ai_client_operation_duration_seconds_count"),
        value(s, "llm_tokens_total", gen_ai_token_type="input"),
        value(s, "llm_tokens_total", gen_ai_token_type="output"),
        round(value(s, "llm_cost_usd_total"), 6),
    )


def rejected(exporter: Exporter, reason: str | None = None) -> float:
    labels = {"reason": reason} if reason else {}
    return value(scrape(exporter), "llm_exporter_lines_rejected_total", **labels)


def test_a_long_context_line_counts_with_the_default_limit(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "litellm")
    huge = call(1, prompt_bytes=1_500_000)
    assert exporter.config.limits.max_line_bytes == 16 * 1024 * 1024
    assert len(huge) > 1_500_000 > 1024 * 1024  # past the old default, 1 MiB
    write_lines(log, [call(0), huge, call(2)])
    exporter.poll_once()
    assert totals(exporter) == (3, 3 * 936, 3 * 705, round(3 * 0.00939, 6))
    assert rejected(exporter) == 0


def test_a_line_past_the_limit_is_skipped_counted_once_and_its_neighbours_count(tmp_path: Path) -> None:
    limit = 64 * 1024
    exporter, log = make_exporter(tmp_path, "litellm", limits={"max_line_bytes": limit})
    tailer = next(iter(exporter.sources.values())).tailer
    huge = call(1, prompt_bytes=10 * limit)
    write_lines(log, [call(0), huge[: limit // 2]])
    exporter.poll_once()
    for start in range(limit // 2, len(huge) - 1000, limit // 4):  # the rest arrives over many polls
        write_lines(log, [huge[start : start + limit // 4]])
        exporter.poll_once()
        (f,) = tailer.files.values()
        assert len(f.partial) <= limit  # dropped as it arrives, never held whole
    write_lines(log, [huge[start + limit // 4 :], call(2)])
    exporter.poll_once()
    assert rejected(exporter, "too_long") == 1
    assert rejected(exporter) == 1
    assert totals(exporter) == (2, 2 * 936, 2 * 705, round(2 * 0.00939, 6))
    assert value(scrape(exporter), "llm_exporter_lines_read_total", source="app") == 3


def test_a_big_line_written_in_small_pieces_is_assembled_once(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "litellm")
    source = next(iter(exporter.sources.values()))
    handed: list[bytes] = []
    process = source.pipeline.process
    source.tailer.on_lines = lambda lines: (handed.extend(lines), process(lines))
    huge = call(1, prompt_bytes=1_500_000)
    write_lines(log, [call(0)])
    exporter.poll_once()
    body = huge[:-1]
    buffers = set()
    for start in range(0, len(body), 4096):  # the writer flushes 4 KiB at a time
        write_lines(log, [body[start : start + 4096]])
        exporter.poll_once()
        (f,) = source.tailer.files.values()
        buffers.add(id(f.partial))
        assert len(f.partial) == min(start + 4096, len(body))  # all of it so far, not a byte twice
    assert len(buffers) == 1  # one buffer grown in place, never rebuilt from the start
    write_lines(log, [b"\n", call(2)])
    exporter.poll_once()
    assert handed == [call(0)[:-1], body, call(2)[:-1]]  # each line handed on once, whole
    assert totals(exporter) == (3, 3 * 936, 3 * 705, round(3 * 0.00939, 6))
    assert rejected(exporter) == 0
