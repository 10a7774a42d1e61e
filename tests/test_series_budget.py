"""The sample budget (issue 9.6, issue 22 point 16): labels that each stay under max_label_values
must not multiply past a source's `limits.max_samples` samples, counted as Prometheus'
`sample_limit` counts them: every sample line of a scrape."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from llm_exporter.config import ConfigError, parse_config
from llm_exporter.exporter import Exporter
from llm_exporter.exposition import render
from llm_exporter.formats.events import Completion, Decision
from llm_exporter.pipeline.labels import MAX_VALUE_LENGTH, LabelLimiter
from testkit import make_exporter, parse_samples, scrape, value, write_lines

# What the default duration buckets make a label set cost (store.aggregates.SampleCosts): 108
# samples it can expose itself, 22 for the `_overflow` error type and decision of its own.
LABEL_SET = 130


def budgeted_samples(exporter: Exporter) -> tuple[int, int]:
    """Samples of a real scrape, OpenMetrics and Prometheus text, that the budget counts: those of
    a label set (the exporter's own health and the thresholds are a fixed few)."""
    om = render.openmetrics(exporter.registry(openmetrics=True, process=False).collect()).decode()
    text = render.text(exporter.registry(process=False).collect()).decode()
    return tuple(  # type: ignore[return-value]
        sum(1 for family in parse(body) for s in family.samples if "gen_ai_request_model" in s.labels)
        for parse, body in ((openmetrics_families, om), (text_families, text))
    )


def test_300_operations_by_300_providers_stay_within_the_default_sample_budget(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "event")
    lines = [
        f'{{"model":"m","operation":"op{o}","provider":"p{p}","latency_ms":1,"prompt_tokens":1}}\n'
        for o in range(300)
        for p in range(300)
    ]
    write_lines(log, lines)
    exporter.poll_once()
    # 192 label sets of the default 25,000 samples (the overflow set's place is kept from the
    # start), each of 76 samples in OpenMetrics (63 in text): no time to first chunk, cache,
    # unsplit tokens, usage_missing, errors or decisions. On main: 2,001 label sets, 126,063 in text.
    assert budgeted_samples(exporter) == (192 * 76, 192 * 63) == (14_592, 12_096)
    assert exporter.config.limits.max_samples == 25_000
    admitted = 25_000 // LABEL_SET - 1
    assert len(exporter.store.series) == admitted + 1 == 192
    s = scrape(exporter)
    assert value(s, "llm_exporter_series_folded_total", source="app") == 90_000 - admitted
    overflow = {"gen_ai_operation_name": "_overflow", "gen_ai_provider_name": "_overflow"}
    assert value(s, "gen_ai_client_operation_duration_seconds_count", **overflow) == 90_000 - admitted
    # Nothing is lost: every line is counted, in its own label set or the overflow one.
    assert value(s, "llm_requests_total") == 90_000
    assert value(s, "llm_tokens_total", gen_ai_token_type="input") == 90_000


def _costliest(pipeline: object, model: str, n: int) -> None:
    """Every sample a label set can expose: both histograms of durations, both of tokens, every
    token type, a cache hit and a miss, unpriced tokens, a call without usage."""
    call = {"model": model, "provider": "openai", "operation": "chat", "request_id": f"r{n}"}
    for event in (
        Completion(**call, duration=1.5, input_tokens=9, output_tokens=2, cache_read_tokens=1, cache_write_tokens=1,
                   reasoning_tokens=1, unsplit_tokens=3, time_to_first_chunk=0.3, cache_hit=False),
        Completion(**call, duration=0.01, cache_hit=True, cost=0.001),
        Completion(**call, duration=0.5),
    ):  # fmt: skip
        pipeline.handle(event)


def _error_and_decision(pipeline: object, model: str, n: int) -> None:
    pipeline.handle(Completion(model, "openai", "chat", 0.2, error_type="APIError", http_status="503"))
    pipeline.handle(Decision(request_id=f"r{n}", action="LONG", symbol="S", validation_result="ok"))


def test_a_source_filled_with_its_costliest_label_sets_exposes_exactly_max_samples(tmp_path: Path) -> None:
    exporter, _ = make_exporter(tmp_path, "event", limits={"max_samples": 10 * LABEL_SET})
    pipeline = exporter.sources["app"].pipeline
    models = [f"m{i}-".ljust(MAX_VALUE_LENGTH, "x") for i in range(12)]  # 9 fit, and the overflow set
    for i, model in enumerate(models):
        _costliest(pipeline, model, i)
    assert pipeline.budget.used == pipeline.budget.max_samples == 1300
    # The budget full, an error type and a decision of each label set fold into its own.
    for i, model in enumerate(models):
        _error_and_decision(pipeline, model, i)
    assert budgeted_samples(exporter) == (1300, 10 * 106)  # Prometheus text: no `_created`
    s = scrape(exporter)
    assert value(s, "llm_errors_total", error_type="_overflow") == 12
    assert value(s, "llm_decisions_total", symbol="_overflow") == 12
    assert value(s, "llm_requests_total", gen_ai_request_model="_overflow") == 3 * 4  # 3 calls and a failure each
    assert value(s, "llm_requests_total") == 12 * 4  # every line counted
    # Each of the 9 label sets folded an error type, a status and a decision; each of the 3 models
    # past the budget folded its label set (4 calls), its error type, status and decision.
    assert value(s, "llm_exporter_series_folded_total") == 9 * 3 + 3 * (4 + 3)


def test_decisions_and_errors_count_against_the_budget(tmp_path: Path) -> None:
    # The request's label set, the overflow one, and 9 decisions of 2 samples (_total, _created).
    exporter, log = make_exporter(tmp_path, "completion", limits={"max_samples": 2 * LABEL_SET + 9 * 2})
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
    assert len(symbols) == 9 + 1
    assert value(s, "llm_decisions_total", symbol="_overflow") == 11
    # The failures' label set (model unknown) is past the budget, and so are their error types and
    # statuses: each failure folds three times, and all are still counted.
    assert value(s, "llm_errors_total") == 5
    assert value(s, "llm_errors_total", gen_ai_request_model="_overflow", error_type="_overflow") == 5
    assert value(s, "llm_exporter_series_folded_total") == 11 + 3 * 5


def test_reload_raises_the_sample_budget_for_new_label_sets(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "event", limits={"max_samples": 2 * LABEL_SET})
    write_lines(log, ['{"model":"a","latency_ms":1}\n', '{"model":"b","latency_ms":1}\n'])
    exporter.poll_once()
    assert value(scrape(exporter), "llm_exporter_series_folded_total") == 1
    raw = {"sources": [{"name": "app", "path": str(log), "format": "event"}], "limits": {"max_samples": 5 * LABEL_SET}}
    exporter.reload(parse_config(raw, "test"))
    write_lines(log, ['{"model":"c","latency_ms":1}\n'])
    exporter.poll_once()
    s = parse_samples(generate_latest(exporter.registry(process=False)).decode())
    assert value(s, "llm_requests_total", gen_ai_request_model="c") == 1
    assert value(s, "llm_exporter_series_folded_total") == 1


def test_a_config_with_the_old_max_series_keeps_its_label_sets_and_says_what_to_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="llm_exporter.config"):
        exporter, log = make_exporter(tmp_path, "event", limits={"max_series": 2})
    assert "limits.max_series is deprecated" in caplog.text
    assert "Write max_samples instead" in caplog.text
    # As before: 2 label sets (at their costliest) and the overflow one.
    assert exporter.sources["app"].pipeline.budget.max_samples == 3 * LABEL_SET
    write_lines(log, [f'{{"model":"{m}","latency_ms":1}}\n' for m in "abc"])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_requests_total", gen_ai_request_model="b") == 1
    assert value(s, "llm_requests_total", gen_ai_request_model="_overflow") == 1


def test_max_series_and_max_samples_together_are_refused(tmp_path: Path) -> None:
    raw = {"sources": [{"name": "app", "path": str(tmp_path / "a.log")}], "limits": {"max_series": 2, "max_samples": 9}}
    with pytest.raises(ConfigError, match=r"limits: .*set max_samples only"):
        parse_config(raw, "test")


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
