"""Rate-limit headroom from the daemon's side (issue 23 point 5): the provider's rate-limit headers
read in one place (formats.ratelimit), and `llm_ratelimit_*` from LiteLLM payloads, the real
LiteLLM's included, going stale when calls stop. The in-app side: tests/instrumentation/test_ratelimit.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from fakes.llm_server import ABSURD_RATELIMIT, ANTHROPIC_RATELIMIT, OPENAI_RATELIMIT, RATELIMIT_RESETS, FakeLLMServer
from llm_exporter.exposition.otlp import convert
from llm_exporter.formats.ratelimit import duration, read
from llm_exporter.semconv import DURATION_BUCKETS
from llm_exporter.store.aggregates import SampleCosts
from testkit import FakeClock, make_exporter, scrape, wait_for, write_lines

GAUGES = ("llm_ratelimit_remaining", "llm_ratelimit_limit", "llm_ratelimit_reset_seconds")


def _gauges(exporter: Any, model: str) -> dict[tuple[str, str], float]:
    """(gauge, resource) -> value for one model."""
    return {
        (name, dict(labels)["resource"]): v
        for (name, labels), v in scrape(exporter).items()
        if name in GAUGES and dict(labels)["gen_ai_request_model"] == model
    }


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("12ms", 0.012),
        ("1h2m3.5s", 3723.5),
        ("2m59.56s", 179.56),
        ("500us", 0.0005),
        ("7", 7.0),  # Azure OpenAI: whole seconds
        (30, 30.0),
    ],
)
def test_openai_reset_durations_read_as_seconds(text: object, seconds: float) -> None:
    assert duration(text) == pytest.approx(seconds, rel=1e-12)


def test_anthropic_reset_times_count_from_the_response_date() -> None:
    headers = {
        "Date": "Thu, 21 Aug 2025 12:40:58 GMT",
        "anthropic-ratelimit-requests-limit": "1000",
        "anthropic-ratelimit-requests-remaining": "999",
        "anthropic-ratelimit-requests-reset": "2025-08-21T12:40:59Z",
        "anthropic-ratelimit-input-tokens-limit": "80000",
        "anthropic-ratelimit-input-tokens-remaining": "80000",
        "anthropic-ratelimit-input-tokens-reset": "2025-08-21T12:41:58Z",
        "anthropic-ratelimit-output-tokens-reset": "2025-08-21T12:40:00Z",  # already past: whole again
    }
    assert read(headers, received=0.0) == {
        "requests": (999.0, 1000.0, 1.0),
        "input_tokens": (80000.0, 80000.0, 60.0),
        "output_tokens": (None, None, 0.0),
    }
    # A date in another form than HTTP's IMF-fixdate, or none at all, counts as not there.
    for date in ("Thu, 21 Aug 2025 12:40:58 -0000", "Thu, 31 Feb 2025 12:40:58 GMT", "21 Aug 2025"):
        assert read({**headers, "Date": date}, received=1755780057.0)["requests"] == (999.0, 1000.0, 2.0)
    # Without a date header, from the time the caller says the response came.
    del headers["Date"]
    assert read(headers, received=1755780058.0)["requests"] == (999.0, 1000.0, 1.0)


def test_litellm_spellings_all_read_and_anthropic_names_win_over_litellm_copies() -> None:
    assert read(
        {
            "x_ratelimit_limit_requests": 1000,  # LiteLLM's typed copies
            "x_ratelimit_remaining_requests": 3,
            "llm_provider-anthropic-ratelimit-requests-remaining": "999",
            "llm_provider-x-ratelimit-reset-requests": "1s",
            "X-RateLimit-Remaining-Tokens": "10",  # any case
        }
    ) == {"requests": (999.0, 1000.0, 1.0), "tokens": (10.0, None, None)}


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-remaining-requests": "-1", "x-ratelimit-limit-tokens": -1},  # Azure's "no limit"
        {"x-ratelimit-remaining-requests": "lots", "x-ratelimit-reset-requests": "soon"},
        {"x-ratelimit-remaining-requests": True, "x-ratelimit-limit-requests": [5], "x-ratelimit-reset-tokens": {}},
        {
            "x-ratelimit-remaining-requests": "nan",
            "x-ratelimit-limit-requests": "1e400",
            "x-ratelimit-reset-tokens": "1y",
        },
        {"anthropic-ratelimit-requests-reset": "2025-08-21T12:40:59Z", "date": "yesterday"},  # no time to count from
        # Absurd: past any rate limit, a reset a year or more away (either side of the Date).
        {
            "x-ratelimit-remaining-requests": "1e308",
            "x-ratelimit-limit-requests": 1e308,
            "x-ratelimit-reset-tokens": "99999h",
        },
        {
            "x-ratelimit-remaining-requests": "1" * 5000,
            "x-ratelimit-limit-tokens": 10**5000,
            "x-ratelimit-reset-requests": "1" * 5000 + "s",
        },
        {
            "x-ratelimit-remaining-requests": float("nan"),
            "x-ratelimit-limit-requests": float("inf"),
            "x-ratelimit-reset-requests": -1.0,
        },
        {
            "date": "Thu, 21 Aug 2025 12:40:58 GMT",
            "anthropic-ratelimit-requests-reset": "9999-12-31T23:59:59Z",
            "anthropic-ratelimit-tokens-reset": "0001-01-01T00:00:00Z",
        },
        {"x-ratelimit-remaining-requests": "5, 7"},  # a header sent twice, as httpx joins it
        {"x-ratelimit-remaining-requests-usage-based": "5", "retry-after": "1", 7: "x"},
        {},
    ],
)
def test_bad_ratelimit_values_are_skipped_never_raised(headers: dict) -> None:
    assert read(headers) is None


def test_headers_of_no_known_shape_read_as_none() -> None:
    assert read(None) is None
    assert read([("x-ratelimit-remaining-requests", "5")]) is None
    assert read("x-ratelimit-remaining-requests: 5") is None


def _payload(model: str, headers: Any, **over: Any) -> str:
    payload = {
        "call_type": "completion",
        "model": model,
        "custom_llm_provider": "openai",
        "status": "success",
        "startTime": 1765090000.0,
        "endTime": 1765090001.0,
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "hidden_params": {"additional_headers": headers},
        **over,
    }
    return json.dumps(payload) + "\n"


def test_litellm_payload_sets_the_three_gauges_from_prefixed_and_unprefixed_headers(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "litellm")
    write_lines(
        log,
        [
            _payload(
                "gpt-4o",
                {
                    "x_ratelimit_limit_requests": 5000,
                    "x_ratelimit_remaining_requests": 4999,
                    "llm_provider-x-ratelimit-reset-requests": "12ms",
                    "llm_provider-x-ratelimit-limit-tokens": "160000",
                    "x-ratelimit-remaining-tokens": "158500",
                    "x-ratelimit-reset-tokens": "1m30.5s",
                },
            ),
            # A later response has the last word; one without headers changes nothing.
            _payload("gpt-4o", {"x_ratelimit_remaining_requests": 4990, "x_ratelimit_limit_requests": 5000}),
            _payload("gpt-4o", {"llm_provider-date": "Mon, 07 Dec 2026 06:00:00 GMT"}),
            _payload("gpt-4o", None),
            _payload("gpt-4o", {"x_ratelimit_remaining_requests": "junk"}, hidden_params="not an object"),
        ],
    )
    exporter.poll_once()
    assert _gauges(exporter, "gpt-4o") == {
        ("llm_ratelimit_remaining", "requests"): 4990,
        ("llm_ratelimit_limit", "requests"): 5000,
        ("llm_ratelimit_limit", "tokens"): 160000,
        ("llm_ratelimit_remaining", "tokens"): 158500,
        ("llm_ratelimit_reset_seconds", "tokens"): 90.5,
    }
    assert exporter.health.sources["app"].rejected == {}


def test_ratelimit_gauges_go_stale_when_calls_stop(tmp_path: Path) -> None:
    clock = FakeClock()
    exporter, log = make_exporter(tmp_path, "litellm", clock=clock, limits={"ratelimit_stale_seconds": 300})
    headers = {"x_ratelimit_remaining_requests": 7, "x_ratelimit_limit_requests": 10}
    write_lines(log, [_payload("gpt-4o", headers), _payload("gpt-4o-mini", headers)])
    exporter.poll_once()
    clock.advance(200)
    write_lines(log, [_payload("gpt-4o-mini", {"x_ratelimit_remaining_requests": 6})])
    exporter.poll_once()
    clock.advance(100)  # gpt-4o: 300 s since its last word, still shown
    assert _gauges(exporter, "gpt-4o") == {
        ("llm_ratelimit_remaining", "requests"): 7,
        ("llm_ratelimit_limit", "requests"): 10,
    }
    clock.advance(1)
    assert _gauges(exporter, "gpt-4o") == {}
    assert _gauges(exporter, "gpt-4o-mini") == {("llm_ratelimit_remaining", "requests"): 6}
    clock.advance(200)
    assert _gauges(exporter, "gpt-4o-mini") == {}
    # The other series of the model stay: only the headroom has gone stale.
    assert (
        scrape(exporter)[
            (
                "llm_requests_total",
                frozenset(
                    {
                        ("gen_ai_operation_name", "chat"),
                        ("gen_ai_provider_name", "openai"),
                        ("gen_ai_request_model", "gpt-4o"),
                        ("outcome", "success"),
                    }
                ),
            )
        ]
        == 1
    )


def test_ratelimit_gauges_follow_the_label_limits(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "litellm", limits={"max_label_values": 1})
    write_lines(
        log,
        [
            _payload("gpt-4o", {"x_ratelimit_remaining_requests": 7}),
            _payload("made-up-model", {"x_ratelimit_remaining_requests": 3}),
        ],
    )
    exporter.poll_once()
    assert _gauges(exporter, "gpt-4o") == {("llm_ratelimit_remaining", "requests"): 7}
    assert _gauges(exporter, "_overflow") == {("llm_ratelimit_remaining", "requests"): 3}
    assert _gauges(exporter, "made-up-model") == {}


def test_a_cache_hit_leaves_the_ratelimit_gauges_alone(tmp_path: Path) -> None:
    """A hit made no provider call: whatever headers its payload repeats are not the provider's word now."""
    exporter, log = make_exporter(tmp_path, "litellm")
    write_lines(
        log,
        [
            _payload("gpt-4o", {"x_ratelimit_remaining_requests": 7}),
            _payload("gpt-4o", {"x_ratelimit_remaining_requests": 1}, cache_hit=True, response_cost=0.0),
        ],
    )
    exporter.poll_once()
    assert _gauges(exporter, "gpt-4o") == {("llm_ratelimit_remaining", "requests"): 7}


def test_ratelimit_gauges_push_over_otlp_under_the_contract_names(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "litellm")
    write_lines(
        log,
        [
            _payload(
                "gpt-4o",
                {
                    "x_ratelimit_remaining_requests": 7,
                    "x_ratelimit_limit_requests": 9,
                    "x_ratelimit_reset_requests": "2s",
                },
            )
        ],
    )
    exporter.poll_once()
    families = (f for c in exporter.collectors(openmetrics=True) for f in c.collect())
    pushed = {m.name: m for m in convert(families, 0, 0) if m.name.startswith("llm.ratelimit")}
    assert {(name, m.unit, type(m.data).__name__) for name, m in pushed.items()} == {
        ("llm.ratelimit.remaining", "", "Gauge"),
        ("llm.ratelimit.limit", "", "Gauge"),
        ("llm.ratelimit.reset", "s", "Gauge"),
    }
    point = pushed["llm.ratelimit.reset"].data.data_points[0]
    assert (point.value, point.attributes["resource"], point.attributes["gen_ai.request.model"]) == (
        2.0,
        "requests",
        "gpt-4o",
    )


def test_real_litellm_payloads_set_the_ratelimit_gauges(tmp_path: Path) -> None:
    """What LiteLLM itself writes, for OpenAI and Anthropic answers and a 429, from the fake server's
    headers: LiteLLM's typed copies, `llm_provider-` names, and on a failure unprefixed ones."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    from litellm.integrations.custom_logger import CustomLogger

    payloads: list[dict] = []

    class Sink(CustomLogger):  # type: ignore[misc]
        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            payloads.append(kwargs["standard_logging_object"])

        def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            payloads.append(kwargs["standard_logging_object"])

    saved = litellm.callbacks
    litellm.callbacks = [Sink()]
    messages = [{"role": "user", "content": "hi"}]
    try:
        with FakeLLMServer(ratelimit=True) as server:
            litellm.completion(model="openai/gpt-4o-mini", api_base=server.url + "/v1", api_key="k", messages=messages)
            litellm.completion(
                model="anthropic/claude-sonnet-4-5", api_base=server.url, api_key="k", messages=messages, max_tokens=9
            )
            with pytest.raises(litellm.RateLimitError):
                litellm.completion(
                    model="openai/fail-429", api_base=server.url + "/v1", api_key="k", messages=messages, num_retries=0
                )
            wait_for(lambda: len(payloads) == 3)  # LiteLLM logs sync calls from a thread of its own
    finally:
        litellm.callbacks = saved
    exporter, log = make_exporter(tmp_path, "litellm")
    write_lines(log, [json.dumps(p, default=str) + "\n" for p in payloads])
    exporter.poll_once()

    requests, tokens = OPENAI_RATELIMIT["requests"], OPENAI_RATELIMIT["tokens"]
    assert _gauges(exporter, "gpt-4o-mini") == {
        ("llm_ratelimit_limit", "requests"): requests[0],
        ("llm_ratelimit_remaining", "requests"): requests[1],
        ("llm_ratelimit_reset_seconds", "requests"): 0.012,
        ("llm_ratelimit_limit", "tokens"): tokens[0],
        ("llm_ratelimit_remaining", "tokens"): tokens[1],
        ("llm_ratelimit_reset_seconds", "tokens"): 90.5,
    }
    expected = {}
    for resource, (limit, remaining) in ANTHROPIC_RATELIMIT.items():
        key = resource.replace("-", "_")
        expected[("llm_ratelimit_limit", key)] = limit
        expected[("llm_ratelimit_remaining", key)] = remaining
        expected[("llm_ratelimit_reset_seconds", key)] = RATELIMIT_RESETS[resource]
    assert _gauges(exporter, "claude-sonnet-4-5") == expected
    # The 429's headers: nothing left, the limits and resets as on any answer.
    assert _gauges(exporter, "fail-429") == {
        ("llm_ratelimit_limit", "requests"): requests[0],
        ("llm_ratelimit_remaining", "requests"): 0,
        ("llm_ratelimit_reset_seconds", "requests"): 0.012,
        ("llm_ratelimit_limit", "tokens"): tokens[0],
        ("llm_ratelimit_remaining", "tokens"): 0,
        ("llm_ratelimit_reset_seconds", "tokens"): 90.5,
    }


def test_ratelimit_gauges_are_charged_to_the_sample_budget(tmp_path: Path) -> None:
    """A resource's three gauges are paid for from limits.max_samples when its label set first
    shows them: here room for one resource past the label set and the overflow set."""
    label_set = SampleCosts(DURATION_BUCKETS).label_set
    exporter, log = make_exporter(tmp_path, "litellm", limits={"max_samples": 2 * label_set + 3})
    headers = {"x_ratelimit_remaining_requests": 7, "x_ratelimit_limit_requests": 9, "x_ratelimit_reset_requests": "1s"}
    write_lines(log, [_payload("gpt-4o", {**headers, "x_ratelimit_remaining_tokens": 5})])
    exporter.poll_once()
    pipeline = exporter.sources["app"].pipeline
    assert pipeline.budget.used == pipeline.budget.max_samples
    assert _gauges(exporter, "gpt-4o") == {
        ("llm_ratelimit_remaining", "requests"): 7,
        ("llm_ratelimit_limit", "requests"): 9,
        ("llm_ratelimit_reset_seconds", "requests"): 1,
    }
    assert exporter.health.sources["app"].series_folded == 1
    # Paid once: the resource shows every later word, even after going stale.
    write_lines(log, [_payload("gpt-4o", {"x_ratelimit_remaining_requests": 6, "x_ratelimit_remaining_tokens": 4})])
    exporter.poll_once()
    assert _gauges(exporter, "gpt-4o")[("llm_ratelimit_remaining", "requests")] == 6
    assert exporter.health.sources["app"].series_folded == 2  # tokens again


def test_absurd_and_misshapen_litellm_headers_neither_stop_the_daemon_nor_reach_metrics(tmp_path: Path) -> None:
    """Issue 23 point 5's attack: figures no rate limit has, headers of no known shape, a header
    given twice. Every line still counts as a call; the gauges keep the last legible word."""
    exporter, log = make_exporter(tmp_path, "litellm")
    good = {"x_ratelimit_remaining_requests": 7, "x_ratelimit_limit_requests": 10, "x_ratelimit_reset_requests": "2s"}
    absurd = {
        **ABSURD_RATELIMIT,
        "llm_provider-date": "Mon, 07 Dec 2026 06:00:00 GMT",
        "llm_provider-anthropic-ratelimit-input-tokens-reset": "9999-12-31T23:59:59Z",
        # A run of digits with junk after it: read in one pass, not in time quadratic in its length.
        "llm_provider-anthropic-ratelimit-output-tokens-remaining": "1" * 100_000 + "x",
        "llm_provider-anthropic-ratelimit-output-tokens-reset": "1" * 100_000 + "x",
    }
    write_lines(
        log,
        [
            _payload("gpt-4o", good),
            _payload("gpt-4o", absurd),
            _payload("gpt-4o", [["x-ratelimit-remaining-requests", "1"]]),
            _payload("gpt-4o", "x-ratelimit-remaining-requests: 1"),
            _payload("gpt-4o", 3),
            _payload("gpt-4o", {"x_ratelimit_remaining_requests": 1}, hidden_params=["additional_headers"]),
            # The same key twice in one JSON object: the last one read, as any JSON reader does.
            _payload("gpt-4o-mini", {}).replace(
                '"additional_headers": {}',
                '"additional_headers": {"x-ratelimit-remaining-requests": "5", "x-ratelimit-remaining-requests": "4"}',
            ),
        ],
    )
    exporter.poll_once()
    assert _gauges(exporter, "gpt-4o") == {
        ("llm_ratelimit_remaining", "requests"): 7,
        ("llm_ratelimit_limit", "requests"): 10,
        ("llm_ratelimit_reset_seconds", "requests"): 2,
    }
    assert _gauges(exporter, "gpt-4o-mini") == {("llm_ratelimit_remaining", "requests"): 4}
    samples = scrape(exporter)
    assert exporter.health.sources["app"].rejected == {}
    calls = {
        dict(labels)["gen_ai_request_model"]: v
        for (name, labels), v in samples.items()
        if name == "llm_requests_total" and dict(labels)["outcome"] == "success"
    }
    assert calls == {"gpt-4o": 6, "gpt-4o-mini": 1}
