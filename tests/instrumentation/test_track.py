"""track(), record_decision() and the aggregates, exported to a real OTLP receiver."""

from __future__ import annotations

import asyncio

import pytest

from llm_exporter import semconv
from llm_exporter.instrumentation import current_call, record_decision, track

from .conftest import OTel, by_name, one, total

BASE = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
# genai-prices, as the daemon's PriceBook reads it: gpt-4o-mini $0.15 in, $0.60 out, $0.075 cached.
PRICE_IN, PRICE_OUT, PRICE_CACHED = 0.15e-6, 0.60e-6, 0.075e-6


def test_track_records_the_contract_metrics(otel: OTel) -> None:
    with track(model="gpt-4o-mini", provider="openai") as call:
        call.record_usage(input_tokens=1000, output_tokens=100, cache_read_tokens=200, reasoning_tokens=40)
    with track(model="gpt-4o-mini") as call:  # provider inferred from the model
        call.record_usage(input_tokens=10, output_tokens=5)
    points = otel.flush()

    duration = one(points, semconv.DURATION[0], **BASE)
    assert (duration.unit, duration.kind, duration.count) == ("s", "histogram", 2)
    assert duration.bounds == list(semconv.DURATION_BUCKETS)
    assert len(duration.bounds) == 14 and duration.bounds[0] == 0.01 and duration.bounds[-1] == 81.92
    assert "error.type" not in duration.attributes

    usage_in = one(points, semconv.TOKEN_USAGE[0], **BASE, **{"gen_ai.token.type": "input"})
    usage_out = one(points, semconv.TOKEN_USAGE[0], **BASE, **{"gen_ai.token.type": "output"})
    assert usage_in.unit == "{token}"
    assert usage_in.bounds == list(semconv.TOKEN_BUCKETS) and usage_in.bounds[-1] == 67108864
    assert (usage_in.count, usage_in.value, usage_out.value) == (2, 1010, 105)
    # 1000 falls in (256, 1024], 10 in (4, 16]
    assert usage_in.bucket_counts[2] == 1 and usage_in.bucket_counts[5] == 1

    tokens = {p.attributes["gen_ai.token.type"]: p.value for p in by_name(points, semconv.TOKENS[0], **BASE)}
    assert tokens == {"input": 1010, "output": 105, "cache_read": 200, "cache_write": 0, "reasoning": 40}
    cost = one(points, semconv.COST[0], **BASE)
    assert cost.monotonic and cost.unit == "{USD}"
    assert cost.value == pytest.approx(810 * PRICE_IN + 200 * PRICE_CACHED + 105 * PRICE_OUT, rel=1e-12)
    assert one(points, semconv.IN_FLIGHT[0], **BASE).value == 0
    assert one(points, semconv.CONSECUTIVE_FAILURES[0], **BASE).value == 0
    assert not by_name(points, semconv.TIME_TO_FIRST_CHUNK[0])

    [span, _] = [s for s in otel.spans() if s.name == "chat gpt-4o-mini"][-2:]
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs["gen_ai.usage.input_tokens"].int_value == 1000
    assert attrs["gen_ai.provider.name"].string_value == "openai"


def test_failures_errors_and_in_flight(otel: OTel) -> None:
    class RateLimitError(Exception):
        pass

    for _ in range(2):
        with pytest.raises(RateLimitError), track(model="claude-failing"):
            raise RateLimitError("429")
    open_call = track(model="claude-failing").start()
    points = otel.flush()
    base = {"gen_ai.request.model": "claude-failing", "gen_ai.provider.name": "anthropic"}
    failed = one(points, semconv.DURATION[0], **base, **{"error.type": "RateLimitError"})
    assert failed.count == 2
    assert one(points, semconv.CONSECUTIVE_FAILURES[0], **base).value == 2
    assert one(points, semconv.IN_FLIGHT[0], **base).value == 1
    assert not by_name(points, semconv.TOKEN_USAGE[0], **base)  # no usage known: none recorded
    open_call.record_usage(input_tokens=3, output_tokens=4)
    open_call.finish()
    points = otel.flush()
    assert one(points, semconv.CONSECUTIVE_FAILURES[0], **base).value == 0
    assert one(points, semconv.IN_FLIGHT[0], **base).value == 0
    assert one(points, semconv.DURATION[0], **base, **{"error.type": None}).count == 1
    span = next(s for s in otel.spans() if s.name == "chat claude-failing")
    assert span.status.code == 2  # ERROR
    assert any(kv.key == "error.type" and kv.value.string_value == "RateLimitError" for kv in span.attributes)


def test_decorator_sync_and_async_and_decisions(otel: OTel) -> None:
    @track(model="gpt-4o-mini", provider="openai")
    def ask() -> dict:
        assert current_call() is not None
        record_decision(action="long", symbol="BTC-USD", validation_result="passed")  # answers this call
        return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 100, "completion_tokens": 20}}

    @track(model="gpt-4o-mini", provider="openai")
    async def ask_async() -> dict:
        current = current_call()
        assert current is not None
        current.record_usage(input_tokens=7, output_tokens=3, cost=0.5)
        return {}

    ask()
    asyncio.run(ask_async())
    record_decision(action="HOLD", symbol="ETH-USD", validation_result="PASSED", model="gpt-4o-mini")
    record_decision(action="CLOSE", symbol="BTC-USD")  # no call in progress: unknown, never ask()
    points = otel.flush()
    # The returned answer names its model (gen_ai.response.model); the async one does not.
    usage_in = one(
        points, semconv.TOKEN_USAGE[0], **BASE, **{"gen_ai.token.type": "input", "gen_ai.response.model": "gpt-4o-mini"}
    )
    assert (usage_in.count, usage_in.value) == (1, 100)
    assert total(points, semconv.TOKEN_USAGE[0], **BASE, **{"gen_ai.token.type": "input"}) == (2, 107)
    cost = one(points, semconv.COST[0], **BASE)
    assert cost.value == pytest.approx(100 * PRICE_IN + 20 * PRICE_OUT + 0.5, rel=1e-12)
    decisions = {
        (p.attributes["action"], p.attributes["symbol"], p.attributes["validation_result"]): p.value
        for p in by_name(points, semconv.DECISIONS[0], **BASE)
    }
    assert decisions == {
        ("LONG", "BTC-USD", "PASSED"): 1,
        ("HOLD", "ETH-USD", "PASSED"): 1,
    }
    [close] = by_name(points, semconv.DECISIONS[0], action="CLOSE")
    assert (close.attributes["gen_ai.request.model"], close.value) == ("unknown", 1)


def test_async_context_manager_and_first_chunk(otel: OTel) -> None:
    async def main() -> None:
        async with track(model="llama3.2", provider="ollama") as call:
            call.record_first_chunk()
            call.record_usage(input_tokens=26, output_tokens=298)

    asyncio.run(main())
    points = otel.flush()
    base = {"gen_ai.provider.name": "ollama", "gen_ai.request.model": "llama3.2"}
    ttfc = one(points, semconv.TIME_TO_FIRST_CHUNK[0], **base)
    assert ttfc.count == 1 and ttfc.unit == "s" and ttfc.bounds == list(semconv.DURATION_BUCKETS)
    assert ttfc.value <= one(points, semconv.DURATION[0], **base).value
    assert not by_name(points, semconv.COST[0], **base) or one(points, semconv.COST[0], **base).value == 0


def test_cache_requests_only_when_told(otel: OTel) -> None:
    for hit in (True, False, True):
        with track(model="gpt-4o-mini") as call:
            call.record_usage(input_tokens=1, output_tokens=1, cache_hit=hit)
    points = otel.flush()
    results = {p.attributes["result"]: p.value for p in by_name(points, semconv.CACHE_REQUESTS[0], **BASE)}
    assert results == {"hit": 2, "miss": 1}


def test_decisions_and_cost_on_spans(otel: OTel) -> None:
    """The daemon's span vocabulary: the cost on the call's span, a decision as an event of the
    open call's span, or as a child span of the finished one."""
    with track(model="gpt-4o-mini", provider="openai") as inside:
        inside.record_usage(input_tokens=1000, output_tokens=100)
        record_decision("long", "BTCUSDT", "valid", call=inside)
    with track(model="gpt-4o-mini", provider="openai") as after:
        after.record_usage(input_tokens=10, output_tokens=5)
    record_decision("close", "ETHUSDT", "rejected", call=after)  # a finished call, named
    otel.flush()
    spans = otel.spans()
    first, second = [s for s in spans if s.name == "chat gpt-4o-mini"][-2:]
    attrs = {kv.key: kv.value for kv in first.attributes}
    assert attrs[semconv.ATTR_COST].double_value == pytest.approx(1000 * PRICE_IN + 100 * PRICE_OUT, rel=1e-12)
    [event] = first.events
    assert event.name == semconv.DECISION_EVENT
    assert {kv.key: kv.value.string_value for kv in event.attributes} == {
        semconv.ATTR_DECISION_ACTION: "LONG",
        semconv.ATTR_DECISION_SYMBOL: "BTCUSDT",
        semconv.ATTR_DECISION_VALIDATION: "VALID",
    }
    [child] = [s for s in spans if s.name == semconv.DECISION_EVENT and s.parent_span_id == second.span_id]
    assert child.trace_id == second.trace_id
    assert {kv.key: kv.value.string_value for kv in child.attributes}[semconv.ATTR_DECISION_ACTION] == "CLOSE"
