"""Joining requests and responses, pricing, label limits, unpriced completions."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from llm_exporter.pipeline import pricing
from llm_exporter.pipeline.pricing import PriceBook
from testkit import FakeClock, make_exporter, scrape, value, write_lines


def req(rid: str, model: str) -> str:
    return f'{{"event_type":"completion_request","request_id":"{rid}","model":"{model}"}}\n'


def resp(rid: str, prompt: int = 1000, completion: int = 100, ok: bool = True, cost: float | None = None) -> str:
    extra = f',"cost_estimate_usd":{cost}' if cost is not None else ""
    err = "" if ok else ',"error_type":"RateLimitError"'
    return (
        f'{{"event_type":"completion_response","request_id":"{rid}","success":{str(ok).lower()},'
        f'"response_time_ms":2000,"token_usage":{{"prompt_tokens":{prompt},"completion_tokens":{completion}}}'
        f"{extra}{err}}}\n"
    )


def test_response_takes_model_from_request_and_in_flight_tracks_it(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, [req("a", "gpt-4o-mini"), req("b", "gpt-4o-mini"), resp("a")])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_requests_in_flight", gen_ai_request_model="gpt-4o-mini", gen_ai_provider_name="openai") == 1
    assert value(s, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="gpt-4o-mini") == 1


def test_response_without_request_counts_as_unknown(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(
        log,
        [
            resp("zzz", cost=0.25),
            '{"event_type":"trading_decision","request_id":"nope","action":"HOLD","symbol":"ETH"}\n',
        ],
    )
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="unknown") == 1
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="unknown", gen_ai_provider_name="unknown") == 0.25
    assert value(s, "llm_decisions_total", gen_ai_request_model="unknown", action="HOLD") == 1


def test_decision_labelled_by_the_completion_it_answers(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(
        log,
        [
            req("a", "o3-mini"),
            resp("a", cost=0.1),
            '{"event_type":"trading_decision","request_id":"a","action":"short","symbol":"BTC-USD",'
            '"validation_result":"PASSED"}\n',
        ],
    )
    exporter.poll_once()
    s = scrape(exporter)
    assert (
        value(
            s,
            "llm_decisions_total",
            gen_ai_request_model="o3-mini",
            action="SHORT",
            symbol="BTC-USD",
            validation_result="PASSED",
        )
        == 1
    )


def test_unanswered_requests_orphaned_after_ttl(tmp_path: Path) -> None:
    clock = FakeClock()
    exporter, log = make_exporter(tmp_path, "completion", clock=clock, limits={"pending_ttl_seconds": 60})
    write_lines(log, [req("a", "gpt-4o"), req("b", "gpt-4o")])
    exporter.poll_once()
    clock.advance(30)
    write_lines(log, [req("c", "gpt-4o")])
    exporter.poll_once()
    assert value(scrape(exporter), "llm_requests_in_flight") == 3
    clock.advance(31)  # a and b are 61 s old, c 31 s
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_requests_in_flight") == 1
    assert value(s, "llm_exporter_orphaned_requests_total", source="app") == 2
    # A late response still counts, as a completion of an unknown request.
    write_lines(log, [resp("a", cost=0.0)])
    exporter.poll_once()
    assert (
        value(scrape(exporter), "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="unknown") == 1
    )


def test_pending_table_is_bounded(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion", limits={"pending_requests": 100})
    write_lines(log, [req(f"r{i}", "gpt-4o") for i in range(250)])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_requests_in_flight") == 100
    assert value(s, "llm_exporter_orphaned_requests_total") == 150


def test_consecutive_failures_reset_by_success(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    lines = []
    for i, ok in enumerate([False, False, True, False, False, False]):
        lines += [req(f"r{i}", "gpt-4o"), resp(f"r{i}", ok=ok, cost=0.0)]
    write_lines(log, lines)
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_consecutive_failures", gen_ai_request_model="gpt-4o") == 3
    assert value(s, "gen_ai_client_operation_duration_seconds_count", error_type="RateLimitError") == 5


def test_cost_from_prices_when_the_log_has_none(tmp_path: Path) -> None:
    from genai_prices import Usage, calc_price

    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, [req("a", "gpt-4o-mini"), resp("a", prompt=12345, completion=678)])
    exporter.poll_once()
    expected = float(
        calc_price(Usage(input_tokens=12345, output_tokens=678), "gpt-4o-mini", provider_id="openai").total_price
    )
    assert value(scrape(exporter), "llm_cost_usd_total") == pytest.approx(expected, rel=1e-9)


def test_override_wins_and_unknown_model_is_counted_not_priced(tmp_path: Path) -> None:
    exporter, log = make_exporter(
        tmp_path,
        "completion",
        pricing={"overrides": {"gpt-4o-mini": {"input": 1.0, "output": 2.0}, "my-ft": {"input": 3, "output": 5}}},
    )
    write_lines(
        log,
        [
            req("a", "gpt-4o-mini"),
            resp("a", prompt=1_000_000, completion=1_000_000),
            req("b", "my-ft"),
            resp("b", prompt=2_000_000, completion=0),
            req("c", "mystery-model"),
            resp("c", prompt=10, completion=10),
            req("d", "mystery-model"),
            resp("d", prompt=0, completion=0, ok=False),
        ],
    )
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="gpt-4o-mini") == pytest.approx(3.0)
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="my-ft") == pytest.approx(6.0)
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="mystery-model") == 0
    # Only the call that used tokens is missing from the cost total.
    assert value(s, "llm_exporter_unpriced_completions_total", gen_ai_request_model="mystery-model") == 1


def test_cached_tokens_priced_at_cache_rate() -> None:
    price = PriceBook().lookup("anthropic", "claude-3-5-sonnet-20241022")
    assert price is not None
    # 1M input of which 600k cache reads and 100k cache writes, 10k output:
    cost = price.cost(1_000_000, 10_000, cache_read=600_000, cache_write=100_000)
    assert cost == pytest.approx(0.3 * 3.0 + 0.6 * 0.3 + 0.1 * 3.75 + 0.01 * 15.0, rel=1e-9)


def test_price_resolved_once_per_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = pricing._from_genai_prices

    def counting(provider: str, model: str):
        calls.append((provider, model))
        return real(provider, model)

    monkeypatch.setattr(pricing, "_from_genai_prices", counting)
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, [line for i in range(50) for line in (req(f"r{i}", "gpt-4o-mini"), resp(f"r{i}"))])
    exporter.poll_once()
    assert calls == [("openai", "gpt-4o-mini")]


def test_tiered_price_uses_the_tier_of_the_prompt() -> None:
    price = PriceBook().lookup("gcp.gemini", "gemini-1.5-pro")
    assert price is not None
    assert price.cost(100_000, 0) == pytest.approx(100_000 * 1.25e-6)
    assert price.cost(200_000, 0) == pytest.approx(200_000 * 2.5e-6)


def test_label_values_past_the_limit_fold_and_are_counted(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "event", limits={"max_label_values": 3})
    write_lines(log, [f'{{"model":"m{i}","latency_ms":100,"cost_usd":0.01}}\n' for i in range(10)])
    exporter.poll_once()
    s = scrape(exporter)
    models = {dict(ls)["gen_ai_request_model"] for (n, ls) in s if n == "llm_cost_usd_total"}
    assert models == {"m0", "m1", "m2", "_overflow"}
    assert value(s, "llm_cost_usd_total") == pytest.approx(0.1)
    assert value(s, "llm_exporter_label_values_folded_total", label="gen_ai_request_model") == 7


def test_static_labels_on_every_llm_series(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    cfg = parse_config(
        {"sources": [{"name": "app", "path": str(log), "format": "event", "labels": {"app": "bot", "env": "prod"}}]},
        "test",
    )
    exporter = Exporter(cfg)
    write_lines(log, ['{"model":"gpt-4","latency_ms":100,"cost_usd":0.01}\n'])
    exporter.poll_once()
    s = scrape(exporter)
    llm = [ls for (n, ls) in s if n.startswith(("gen_ai_", "llm_cost", "llm_tokens", "llm_requests"))]
    assert llm
    assert all({("app", "bot"), ("env", "prod")} <= ls for ls in llm)


def test_every_fold_is_counted_even_for_a_repeated_value(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "event", limits={"max_label_values": 2})
    write_lines(log, [f'{{"model":"m{i % 4}","latency_ms":100,"cost_usd":0.01}}\n' for i in range(12)])
    exporter.poll_once()
    s = scrape(exporter)
    # m0 and m1 fit under the cap; m2 and m3 come 3 times each: six folds.
    assert value(s, "llm_exporter_label_values_folded_total", label="gen_ai_request_model") == 6
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="_overflow") == pytest.approx(0.06)
