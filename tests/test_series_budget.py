"""The series budget (issue 9.6): labels that each stay under max_label_values must not
multiply into more label sets than a source's `limits.max_series`."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.exposition import generate_latest

from llm_exporter.pipeline.labels import MAX_VALUE_LENGTH, LabelLimiter
from testkit import make_exporter, parse_samples, scrape, value, write_lines


def test_300_operations_by_300_providers_stay_within_the_series_budget(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "event")
    lines = [
        f'{{"model":"m","operation":"op{o}","provider":"p{p}","latency_ms":1,"prompt_tokens":1}}\n'
        for o in range(300)
        for p in range(300)
    ]
    write_lines(log, lines)
    exporter.poll_once()
    budget = exporter.config.limits.max_series
    assert budget == 2000  # the default
    assert len(exporter.store.series) == budget + 1  # and one overflow label set
    s = scrape(exporter)
    assert value(s, "llm_exporter_series_folded_total", source="app") == 90_000 - budget
    overflow = {"gen_ai_operation_name": "_overflow", "gen_ai_provider_name": "_overflow"}
    assert value(s, "gen_ai_client_operation_duration_seconds_count", **overflow) == 90_000 - budget
    # Nothing is lost: every line is counted, in its own label set or the overflow one.
    assert value(s, "llm_requests_total") == 90_000
    assert value(s, "llm_tokens_total", gen_ai_token_type="input") == 90_000
    assert len(generate_latest(exporter.registry(process=False))) < 30_000_000


def test_decisions_and_errors_count_against_the_budget(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion", limits={"max_series": 10})
    req = '{{"event_type":"completion_request","request_id":"r","model":"gpt-4o"}}\n'
    dec = '{{"event_type":"trading_decision","request_id":"r","action":"LONG","symbol":"S{0}"}}\n'
    fail = (
        '{{"event_type":"completion_response","request_id":"x{0}","success":false,"response_time_ms":5,'
        '"error_type":"E{0}","status_code":500}}\n'
    )
    write_lines(log, [req.format(), *(dec.format(i) for i in range(20)), *(fail.format(i) for i in range(5))])
    exporter.poll_once()
    s = scrape(exporter)
    symbols = {dict(ls)["symbol"] for (n, ls) in s if n == "llm_decisions_total"}
    assert len(symbols) == 9 + 1  # the request's label set took one place; the rest fold
    assert value(s, "llm_decisions_total", symbol="_overflow") == 11
    # The failures' label set (model unknown) is past the budget, and so are their error types and
    # statuses: each failure folds three times, and all are still counted.
    assert value(s, "llm_errors_total") == 5
    assert value(s, "llm_errors_total", gen_ai_request_model="_overflow", error_type="_overflow") == 5
    assert value(s, "llm_exporter_series_folded_total") == 11 + 3 * 5


def test_reload_raises_the_budget_for_new_label_sets(tmp_path: Path) -> None:
    from llm_exporter.config import parse_config

    exporter, log = make_exporter(tmp_path, "event", limits={"max_series": 1})
    write_lines(log, ['{"model":"a","latency_ms":1}\n', '{"model":"b","latency_ms":1}\n'])
    exporter.poll_once()
    assert value(scrape(exporter), "llm_exporter_series_folded_total") == 1
    raw = {"sources": [{"name": "app", "path": str(log), "format": "event"}], "limits": {"max_series": 5}}
    exporter.reload(parse_config(raw, "test"))
    write_lines(log, ['{"model":"c","latency_ms":1}\n'])
    exporter.poll_once()
    s = parse_samples(generate_latest(exporter.registry(process=False)).decode())
    assert value(s, "llm_requests_total", gen_ai_request_model="c") == 1
    assert value(s, "llm_exporter_series_folded_total") == 1


def test_a_model_name_of_a_million_characters_folds_and_keeps_metrics_small(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "event")
    write_lines(log, ['{"model":"m","latency_ms":1,"prompt_tokens":1}\n'])
    exporter.poll_once()
    before = len(generate_latest(exporter.registry(process=False)))
    write_lines(log, [f'{{"model":"{"x" * 1_000_000}","latency_ms":1,"prompt_tokens":1}}\n'])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="_overflow") == 1
    assert value(s, "llm_exporter_label_values_folded_total", label="gen_ai_request_model") == 1
    # One more label set of short values, not a million characters on each of its samples.
    assert len(generate_latest(exporter.registry(process=False))) < 2 * before


def test_label_values_fold_past_256_characters_not_at() -> None:
    limit = LabelLimiter(10)
    assert limit("gen_ai_request_model", "m" * MAX_VALUE_LENGTH) == "m" * 256
    assert limit("gen_ai_request_model", "m" * (MAX_VALUE_LENGTH + 1)) == "_overflow"
    assert limit.folded == {"gen_ai_request_model": 1}
