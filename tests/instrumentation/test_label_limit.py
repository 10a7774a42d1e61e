"""The app side's cardinality limit: configure(max_label_values=N), as the daemon's
limits.max_label_values, through the same LabelLimiter; values past it fold into "_overflow"."""

from __future__ import annotations

import pytest

from fakes.otlp_receiver import OTLPReceiver
from llm_exporter import semconv
from llm_exporter.instrumentation import record_decision, track, uninstrument
from llm_exporter.instrumentation.configure import get_telemetry, reset
from llm_exporter.instrumentation.telemetry import DEFAULT_MAX_LABEL_VALUES, FOLDED
from llm_exporter.pipeline.pricing import PriceBook

from .conftest import by_name, make_otel, one

OPENAI = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}


@pytest.fixture
def limited(receiver: OTLPReceiver):  # type: ignore[no-untyped-def]
    o = make_otel(receiver, "http", max_label_values=2)
    yield o
    uninstrument()
    o.meter_provider.shutdown()
    o.tracer_provider.shutdown()
    reset()


def test_models_past_the_limit_fold_into_overflow(limited) -> None:  # type: ignore[no-untyped-def]
    calls = [("gpt-4o-mini", 100, 10), ("gpt-4o", 200, 20), ("gpt-4.1-mini", 300, 30), ("gpt-4.1", 400, 40)]
    calls.append(("gpt-4.1", 400, 40))
    for model, tokens_in, tokens_out in calls:
        with track(model=model, provider="openai") as call:
            call.record_usage(input_tokens=tokens_in, output_tokens=tokens_out)
    for n in range(100):  # made-up names do not grow what is kept
        with track(model=f"made-up-{n}", provider="openai"):
            pass
    assert len(limited.telemetry.series) == 3

    class ErrorA(Exception):
        pass

    class ErrorB(Exception):
        pass

    class ErrorC(Exception):
        pass

    for error in (ErrorA, ErrorB, ErrorC):
        with pytest.raises(error), track(model="gpt-4o-mini", provider="openai"):
            raise error
    for symbol in ("BTC-USD", "ETH-USD", "SOL-USD"):
        record_decision(
            action="long", symbol=symbol, validation_result="passed", model="gpt-4o-mini", provider="openai"
        )

    points = limited.flush()
    models = {
        p.attributes["gen_ai.request.model"]: p.count
        for p in by_name(points, semconv.DURATION[0], **OPENAI)
        if "error.type" not in p.attributes
    }
    assert models == {"gpt-4o-mini": 1, "gpt-4o": 1, "_overflow": 103}
    folded_in = one(
        points, semconv.TOKEN_USAGE[0], **OPENAI, **{"gen_ai.request.model": "_overflow", "gen_ai.token.type": "input"}
    )
    assert (folded_in.count, folded_in.value) == (3, 1100)
    tokens = {
        p.attributes["gen_ai.token.type"]: p.value
        for p in by_name(points, semconv.TOKENS[0], **OPENAI, **{"gen_ai.request.model": "_overflow"})
    }
    assert (tokens["input"], tokens["output"]) == (1100, 110)
    # Folded calls are priced by their own model, not left out of the cost.
    prices = PriceBook()
    expected = prices.lookup("openai", "gpt-4.1-mini").cost(300, 30, 0, 0) + 2 * prices.lookup(
        "openai", "gpt-4.1"
    ).cost(400, 40, 0, 0)
    assert expected > 0
    assert one(points, semconv.COST[0], **OPENAI, **{"gen_ai.request.model": "_overflow"}).value == pytest.approx(
        expected, rel=1e-12
    )
    errors = {
        p.attributes["error.type"]: p.count
        for p in by_name(points, semconv.DURATION[0], **OPENAI, **{"gen_ai.request.model": "gpt-4o-mini"})
        if "error.type" in p.attributes
    }
    assert errors == {"ErrorA": 1, "ErrorB": 1, "_overflow": 1}
    symbols = {p.attributes["symbol"]: p.value for p in by_name(points, semconv.DECISIONS[0], **OPENAI)}
    assert symbols == {"BTC-USD": 1, "ETH-USD": 1, "_overflow": 1}
    folded = {p.attributes["label"]: p.value for p in by_name(points, FOLDED[0])}
    assert folded == {"gen_ai_request_model": 103, "error_type": 1, "symbol": 1}


def test_default_limit_is_the_daemons(receiver: OTLPReceiver) -> None:
    from llm_exporter.config import parse_config

    daemon_default = parse_config({"sources": [{"name": "a", "path": "/tmp/x.log"}]}, "test").limits.max_label_values
    assert daemon_default == DEFAULT_MAX_LABEL_VALUES
    o = make_otel(receiver, "http")
    try:
        assert get_telemetry().limit.max_values == DEFAULT_MAX_LABEL_VALUES
        with pytest.raises(ValueError, match="at least 1"):
            make_otel(receiver, "http", max_label_values=0)
    finally:
        o.meter_provider.shutdown()
        o.tracer_provider.shutdown()
        reset()
