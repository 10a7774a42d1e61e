"""The recorded provider corpus (tests/testdata/providers_recorded/, re-recorded by its record.py)
replayed byte for byte to the real client libraries, instrumented: provider labels as the
semconv names them (Azure from the client class on deployment URLs), Azure deployments priced by
the model their response names, no output-token observation for embeddings, and the surfaces
that were not recorded before (Anthropic `beta.messages`, Ollama `embeddings`) recorded, and the
rate-limit gauges set from every answer's headers. Expected values come from the recorded answers
(read here on their own) and from genai-prices' own `calc_price`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from fakes.provider_calls import CALLS
from fakes.replay_server import ReplayServer
from llm_exporter import semconv
from llm_exporter.instrumentation import configure, instrument, uninstrument
from llm_exporter.instrumentation.configure import reset

pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("ollama")
genai_prices = pytest.importorskip("genai_prices")

CORPUS = Path(__file__).parent.parent / "testdata" / "providers_recorded" / "corpus.jsonl"
EXCHANGES = {line["call"]: line for line in map(json.loads, CORPUS.read_text().splitlines())}
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with ReplayServer(EXCHANGES) as server:
        yield server
    assert not server.unmatched  # every request the clients sent is its recorded call's


class Recorded:
    """The metrics and spans of the calls made through it."""

    def __init__(self, replay: ReplayServer) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.replay = replay
        self.reader = InMemoryMetricReader()
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        configure(meter_provider=MeterProvider(metric_readers=[self.reader]), tracer_provider=tracer_provider)
        instrument("openai", "anthropic", "ollama")

    def call(self, *names: str) -> None:
        for name in names:
            self.replay.current = name
            CALLS[name][0](self.replay.url)
        self.replay.current = None

    def points(self, metric: str, **attributes: Any) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name != metric:
                        continue
                    found += [
                        p for p in m.data.data_points if all(p.attributes.get(k) == v for k, v in attributes.items())
                    ]
        return found


@pytest.fixture
def recorded(replay: ReplayServer) -> Iterator[Recorded]:
    yield Recorded(replay)
    uninstrument()
    reset()


def _series(name: str, provider: str) -> dict[str, str]:
    spec = CALLS[name][1]
    return {
        semconv.ATTR_OPERATION: spec.operation,
        semconv.ATTR_PROVIDER: provider,
        semconv.ATTR_REQUEST_MODEL: spec.model,
    }


def _answer(name: str) -> dict[str, Any]:
    """The recorded answer of a call: its body, or for a stream the model and usage of its events."""
    response = EXCHANGES[name]["response"]
    if "body" in response:
        return json.loads(response["body"])
    answer: dict[str, Any] = {}
    for chunk in response["chunks"]:
        for line in chunk.splitlines():
            if not line.startswith("data: {"):
                continue
            event = json.loads(line[len("data: ") :])
            message = event.get("message") or event  # Anthropic's message_start
            if message.get("model"):
                answer.setdefault("model", message["model"])
            if message.get("usage"):
                answer["usage"] = {**answer.get("usage", {}), **message["usage"]}
    return answer


def _price(name: str, provider_id: str) -> float:
    """genai-prices' cost of a recorded answer, priced as the model the answer names."""
    answer = _answer(name)
    usage = answer["usage"]
    if "prompt_tokens" in usage:  # OpenAI's shape: input counts its cached tokens
        details = usage.get("prompt_tokens_details") or {}
        tokens = genai_prices.Usage(
            input_tokens=usage["prompt_tokens"],
            cache_read_tokens=details.get("cached_tokens", 0),
            output_tokens=usage.get("completion_tokens", 0),
        )
    else:  # Anthropic's: input counts neither cache reads nor writes
        read, write = usage.get("cache_read_input_tokens", 0), usage.get("cache_creation_input_tokens", 0)
        tokens = genai_prices.Usage(
            input_tokens=usage["input_tokens"] + read + write,
            cache_read_tokens=read,
            cache_write_tokens=write,
            output_tokens=usage["output_tokens"],
        )
    return float(genai_prices.calc_price(tokens, answer["model"], provider_id=provider_id).total_price)


AZURE_CHATS = ("azure_chat", "azure_chat_stream", "azure_chat_async", "azure_deployment_client")


def test_azure_calls_are_labelled_azure_ai_openai_and_priced_by_the_model_their_response_names(
    recorded: Recorded,
) -> None:
    recorded.call(*AZURE_CHATS, "azure_embeddings", "openai_chat")

    for name in (*AZURE_CHATS, "azure_embeddings"):
        assert recorded.points(semconv.DURATION[0], **_series(name, "openai")) == []
    legacy, prod, embed = (
        _series(n, "azure.ai.openai") for n in ("azure_chat_stream", "azure_chat", "azure_embeddings")
    )
    # The request model label stays the deployment's; the response model is the one billed.
    [legacy_duration] = recorded.points(semconv.DURATION[0], **legacy)
    assert legacy_duration.attributes[semconv.ATTR_RESPONSE_MODEL] == "gpt-35-turbo"
    assert sum(p.count for p in recorded.points(semconv.DURATION[0], **prod)) == 3
    assert {p.attributes[semconv.ATTR_RESPONSE_MODEL] for p in recorded.points(semconv.DURATION[0], **prod)} == {
        "gpt-4.1-mini-2025-04-14"
    }
    [legacy_cost] = recorded.points(semconv.COST[0], **legacy)
    assert legacy_cost.value == pytest.approx(_price("azure_chat_stream", "azure"), rel=1e-9)
    [prod_cost] = recorded.points(semconv.COST[0], **prod)
    assert prod_cost.value == pytest.approx(3 * _price("azure_chat", "azure"), rel=1e-9)
    [embed_cost] = recorded.points(semconv.COST[0], **embed)
    assert embed_cost.value == pytest.approx(_price("azure_embeddings", "azure"), rel=1e-9)
    assert embed_cost.value > 0 and prod_cost.value > 0
    for series in (legacy, prod, embed):
        assert [p.value for p in recorded.points(semconv.UNPRICED[0], **series)] == [0]
    # A plain OpenAI client on a host that is not Azure's stays `openai`.
    assert len(recorded.points(semconv.DURATION[0], **_series("openai_chat", "openai"))) == 1
    providers = {s.attributes[semconv.ATTR_PROVIDER] for s in recorded.spans.get_finished_spans()}
    assert providers == {"azure.ai.openai", "openai"}


def test_an_embeddings_call_makes_no_output_token_observation(recorded: Recorded) -> None:
    recorded.call("openai_embeddings", "azure_embeddings", "ollama_embed")
    cases = (
        ("openai_embeddings", "openai", 8),
        ("azure_embeddings", "azure.ai.openai", 8),
        ("ollama_embed", "ollama", 6),
    )
    for name, provider, input_tokens in cases:
        series = _series(name, provider)
        assert recorded.points(semconv.TOKEN_USAGE[0], **series, **{semconv.ATTR_TOKEN_TYPE: "output"}) == []
        [observed] = recorded.points(semconv.TOKEN_USAGE[0], **series, **{semconv.ATTR_TOKEN_TYPE: "input"})
        assert (observed.count, observed.sum) == (1, input_tokens)
        tokens = {p.attributes[semconv.ATTR_TOKEN_TYPE]: p.value for p in recorded.points(semconv.TOKENS[0], **series)}
        assert (tokens["input"], tokens["output"]) == (input_tokens, 0)
    [cost] = recorded.points(semconv.COST[0], **_series("openai_embeddings", "openai"))
    assert cost.value == pytest.approx(_price("openai_embeddings", "openai"), rel=1e-9)
    span = next(s for s in recorded.spans.get_finished_spans() if s.name == "embeddings text-embedding-3-small")
    assert span.attributes[semconv.ATTR_USAGE_INPUT] == 8
    assert semconv.ATTR_USAGE_OUTPUT not in span.attributes


BETA = (
    "anthropic_beta_create",
    "anthropic_beta_create_stream",
    "anthropic_beta_stream",
    "anthropic_beta_async_create",
    "anthropic_beta_async_stream",
)


def test_anthropic_beta_messages_are_recorded_with_tokens_and_cost(recorded: Recorded) -> None:
    recorded.call(*BETA)
    series = _series("anthropic_beta_create", "anthropic")
    assert sum(p.count for p in recorded.points(semconv.DURATION[0], **series)) == 5
    assert sum(p.count for p in recorded.points(semconv.TIME_TO_FIRST_CHUNK[0], **series)) == 3  # the streams
    usage = _answer("anthropic_beta_create")["usage"]
    input_tokens = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    [observed_in] = recorded.points(semconv.TOKEN_USAGE[0], **series, **{semconv.ATTR_TOKEN_TYPE: "input"})
    [observed_out] = recorded.points(semconv.TOKEN_USAGE[0], **series, **{semconv.ATTR_TOKEN_TYPE: "output"})
    assert (observed_in.count, observed_in.sum) == (5, 5 * input_tokens)
    assert (observed_out.count, observed_out.sum) == (5, 5 * usage["output_tokens"])
    for name in BETA[1:]:  # every stream and the async calls report what the plain call does
        assert _price(name, "anthropic") == _price("anthropic_beta_create", "anthropic")
    [cost] = recorded.points(semconv.COST[0], **series)
    assert cost.value == pytest.approx(5 * _price("anthropic_beta_create", "anthropic"), rel=1e-9)
    assert len([s for s in recorded.spans.get_finished_spans() if s.name == "chat claude-sonnet-4-5"]) == 5


def test_ollama_embeddings_calls_are_recorded(recorded: Recorded) -> None:
    recorded.call("ollama_embeddings", "ollama_embeddings_async")
    series = _series("ollama_embeddings", "ollama")
    [duration] = recorded.points(semconv.DURATION[0], **series)
    assert duration.count == 2
    assert [p.value for p in recorded.points(semconv.REQUESTS[0], **series, outcome="success")] == [2]
    # /api/embeddings answers with the vector only: no tokens to observe or price, which the
    # usage-missing count says; Ollama runs on the app's own hardware, so it has no cost series.
    assert _answer("ollama_embeddings").keys() == {"embedding"}
    assert recorded.points(semconv.TOKEN_USAGE[0], **series) == []
    assert [p.value for p in recorded.points(semconv.USAGE_MISSING[0], **series)] == [2]
    assert recorded.points(semconv.COST[0], **series) == []


RATE_LIMITED = {
    "openai_rate_limited": "openai",
    "azure_rate_limited": "azure.ai.openai",
    "anthropic_rate_limited": "anthropic",
}


def test_a_recorded_429_is_a_failed_call_with_its_status_under_its_provider(recorded: Recorded) -> None:
    recorded.call(*RATE_LIMITED)
    for name, provider in RATE_LIMITED.items():
        assert EXCHANGES[name]["response"]["status"] == 429
        assert "retry-after" in EXCHANGES[name]["response"]["headers"]
        series = _series(name, provider)
        [duration] = recorded.points(semconv.DURATION[0], **series)
        assert (duration.count, duration.attributes[semconv.ATTR_ERROR_TYPE]) == (1, "RateLimitError")
        [errors] = recorded.points(semconv.ERRORS[0], **series)
        assert (errors.value, errors.attributes[semconv.ATTR_HTTP_STATUS]) == (1, 429)


PROVIDERS = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic", "ollama": "ollama"}
FIGURES = ("remaining", "limit", "reset")
GAUGES = (semconv.RATELIMIT_REMAINING[0], semconv.RATELIMIT_LIMIT[0], semconv.RATELIMIT_RESET[0])
_OPENAI_HEADER = re.compile(r"x-ratelimit-(remaining|limit|reset)-(requests|tokens)")
_ANTHROPIC_HEADER = re.compile(
    r"anthropic-ratelimit-(requests|tokens|input-tokens|output-tokens)-(remaining|limit|reset)"
)
# The Go durations of the recorded OpenAI resets, in seconds (a reset not listed fails the test).
GO_SECONDS = {"12ms": 0.012, "1m30.5s": 90.5}


def _seconds(header: str, value: str, date: str) -> float:
    """A recorded reset in seconds: OpenAI's Go durations from GO_SECONDS, Anthropic's RFC 3339
    times from the answer's Date."""
    if header.startswith("x-"):
        return GO_SECONDS[value]
    return (datetime.fromisoformat(value.replace("Z", "+00:00")) - parsedate_to_datetime(date)).total_seconds()


def _said(name: str) -> dict[str, tuple[float, ...]]:
    """What a recorded answer's rate-limit headers say, read here: resource -> (remaining, limit,
    seconds to reset)."""
    headers = EXCHANGES[name]["response"]["headers"]
    said: dict[str, list[float]] = {}
    for header, value in headers.items():
        if match := _OPENAI_HEADER.fullmatch(header):
            figure, resource = match.groups()
        elif match := _ANTHROPIC_HEADER.fullmatch(header):
            resource, figure = match.groups()
        else:
            continue
        number = _seconds(header, value, headers["Date"]) if figure == "reset" else float(value)
        said.setdefault(resource.replace("-", "_"), [-1.0] * 3)[FIGURES.index(figure)] = number
    return {resource: tuple(figures) for resource, figures in said.items()}


def _headroom(recorded: Recorded, **attributes: Any) -> dict[str, tuple[float, ...]]:
    """resource -> (remaining, limit, reset seconds) as the gauges export them."""
    out: dict[str, list[float]] = {}
    for index, gauge in enumerate(GAUGES):
        for point in recorded.points(gauge, **attributes):
            out.setdefault(point.attributes["resource"], [-1.0] * 3)[index] = point.value
    return {resource: tuple(figures) for resource, figures in out.items()}


# Every recorded answer of a provider with rate limits (all but Ollama's), with its headers.
RATELIMITED = [name for name, (_, spec) in CALLS.items() if spec.client != "ollama"]


def test_the_corpus_has_rate_limit_headers_of_both_kinds() -> None:
    kinds = {(CALLS[name][1].client, frozenset(_said(name))) for name in RATELIMITED}
    assert kinds == {
        ("openai", frozenset({"requests", "tokens"})),
        ("azure", frozenset({"requests", "tokens"})),
        ("anthropic", frozenset({"requests", "tokens", "input_tokens", "output_tokens"})),
    }
    for name in RATELIMITED:
        assert all(figure >= 0 for reading in _said(name).values() for figure in reading), name
    # The 429s say nothing is left; Anthropic's resets are whole seconds after the Date.
    assert {reading[0] for name in RATE_LIMITED for reading in _said(name).values()} == {0.0}
    assert {r: reading[2] for r, reading in _said("anthropic_messages").items()} == {
        "requests": 1.0,
        "tokens": 6.0,
        "input_tokens": 6.0,
        "output_tokens": 60.0,
    }
    assert all(not _said(name) for name, (_, spec) in CALLS.items() if spec.client == "ollama")


@pytest.mark.parametrize("name", RATELIMITED)
def test_each_recorded_answer_sets_the_ratelimit_gauges_to_what_its_headers_say(recorded: Recorded, name: str) -> None:
    """Plain, streamed (usage in the last chunk), raw, `stream()`, async, beta and 429 answers of
    OpenAI, Azure OpenAI and Anthropic: the three gauges of the call's provider and request model,
    per resource, are its headers' figures, the reset in seconds."""
    recorded.call(name)
    series = _series(name, PROVIDERS[CALLS[name][1].client])
    assert _headroom(recorded, **series) == _said(name)
    assert _headroom(recorded) == _said(name)  # and no other series has any


def test_ollama_answers_set_no_ratelimit_gauges(recorded: Recorded) -> None:
    recorded.call("ollama_chat", "ollama_embed", "ollama_embeddings")
    assert recorded.points(semconv.DURATION[0])
    assert _headroom(recorded) == {}


def test_the_corpus_is_what_its_recorder_records_now() -> None:
    """The committed corpus is in step with the fake server (else: re-record with record.py and
    review the diff), where the installed clients are the versions it was recorded with."""
    import importlib.metadata
    import importlib.util

    versions = json.loads((CORPUS.parent / "versions.json").read_text())
    installed = {name: importlib.metadata.version(name) for name in versions}
    if installed != versions:
        pytest.skip(f"recorded with {versions}, installed {installed}")

    spec = importlib.util.spec_from_file_location("providers_record", CORPUS.parent / "record.py")
    assert spec is not None and spec.loader is not None
    recorder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recorder)
    assert [json.dumps(line, sort_keys=True) for line in recorder.record()] == CORPUS.read_text().splitlines()
