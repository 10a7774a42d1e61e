"""Our cost of a call is genai-prices' own: `Price.cost` against `calc_price(...).total_price` on
models of its bundled price list, at tier boundaries (exactly at a tier's start, which is still
the price below, and one token above), with cache reads and writes, per-request fees and audio."""

from __future__ import annotations

import math

import pytest
from genai_prices import Usage, calc_price
from genai_prices.types import TieredPrices

from llm_exporter.pipeline.pricing import PriceBook

# Both figures are sums of a few products of a count and a price; in floats each product is off by
# at most an ulp or two from the exact Decimal one, so they agree to far better than this.
REL_TOL = 1e-12

IN, OUT, CACHE_READ, CACHE_WRITE, AUDIO_IN, AUDIO_OUT = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
)

# (semconv provider, model, genai-prices' provider id, usage); every usage's input includes its
# cache and audio input tokens, its output its audio output, as genai-prices' `Usage` counts them.
ROWS = [
    # Tiers: exactly at the start (the price below), one above (the tier's, for every token).
    ("gcp.gemini", "gemini-1.5-pro", "google", {IN: 127_999, OUT: 1_000}),
    ("gcp.gemini", "gemini-1.5-pro", "google", {IN: 128_000, OUT: 1_000}),
    ("gcp.gemini", "gemini-1.5-pro", "google", {IN: 128_001, OUT: 1_000}),
    ("gcp.gemini", "gemini-1.5-flash", "google", {IN: 128_000, OUT: 500, CACHE_READ: 100_000}),
    ("gcp.gemini", "gemini-1.5-flash", "google", {IN: 128_001, OUT: 500, CACHE_READ: 100_000}),
    ("gcp.vertex_ai", "gemini-2.5-pro", "google", {IN: 200_000, OUT: 8_000, CACHE_READ: 150_000}),
    ("gcp.vertex_ai", "gemini-2.5-pro", "google", {IN: 200_001, OUT: 8_000, CACHE_READ: 150_000}),
    (
        "anthropic",
        "claude-sonnet-4-5",
        "anthropic",
        {IN: 200_000, OUT: 2_000, CACHE_READ: 150_000, CACHE_WRITE: 40_000},
    ),
    (
        "anthropic",
        "claude-sonnet-4-5",
        "anthropic",
        {IN: 200_001, OUT: 2_000, CACHE_READ: 150_000, CACHE_WRITE: 40_000},
    ),
    ("gcp.vertex_ai", "claude-sonnet-4-5", "google", {IN: 200_000, OUT: 300, CACHE_WRITE: 200_000}),
    ("gcp.vertex_ai", "claude-sonnet-4-5", "google", {IN: 200_001, OUT: 300, CACHE_WRITE: 200_000}),
    ("openai", "gpt-5.4", "openai", {IN: 272_000, OUT: 4_000, CACHE_READ: 200_000}),
    ("openai", "gpt-5.4", "openai", {IN: 272_001, OUT: 4_000, CACHE_READ: 200_000}),
    ("x_ai", "grok-4.3", "x-ai", {IN: 199_999, OUT: 1_000, CACHE_READ: 50_000}),
    ("x_ai", "grok-4.3", "x-ai", {IN: 200_000, OUT: 1_000, CACHE_READ: 50_000}),
    # Two tiers (32k and 128k), each boundary from both sides.
    ("openrouter", "qwen/qwen3-coder-flash", "openrouter", {IN: 32_000, OUT: 100, CACHE_READ: 10_000}),
    ("openrouter", "qwen/qwen3-coder-flash", "openrouter", {IN: 32_001, OUT: 100, CACHE_WRITE: 10_000}),
    ("openrouter", "qwen/qwen3-coder-flash", "openrouter", {IN: 128_000, OUT: 100, CACHE_READ: 10_000}),
    ("openrouter", "qwen/qwen3-coder-flash", "openrouter", {IN: 128_001, OUT: 100, CACHE_READ: 10_000}),
    # Cache reads and writes.
    ("anthropic", "claude-3-5-sonnet-20241022", "anthropic", {IN: 1_000_000, OUT: 10_000, CACHE_READ: 600_000}),
    ("anthropic", "claude-3-5-sonnet-20241022", "anthropic", {IN: 4_740, OUT: 255, CACHE_WRITE: 4_735}),
    ("anthropic", "claude-3-haiku-20240307", "anthropic", {IN: 9_000, OUT: 700, CACHE_READ: 3_000, CACHE_WRITE: 5_000}),
    ("anthropic", "claude-3-7-sonnet-20250219", "anthropic", {IN: 20_000, OUT: 1_000, CACHE_READ: 20_000}),
    ("openai", "gpt-4o-mini", "openai", {IN: 1_200, OUT: 300}),
    ("openai", "gpt-4o-mini", "openai", {IN: 1_200, OUT: 300, CACHE_READ: 1_024}),
    ("openai", "gpt-4o", "openai", {IN: 3_333, OUT: 777, CACHE_READ: 2_048}),
    ("openai", "o3-mini", "openai", {IN: 12_345, OUT: 6_789, CACHE_READ: 10_000}),
    ("openai", "gpt-4.1", "openai", {IN: 1, OUT: 1}),
    (
        "aws.bedrock",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "aws",
        {IN: 8_000, OUT: 900, CACHE_READ: 2_000, CACHE_WRITE: 3_000},
    ),
    ("azure.ai.openai", "gpt-4o", "azure", {IN: 5_000, OUT: 1_000, CACHE_READ: 4_096}),
    # Per-request fees: the whole fee with tokens, and without.
    ("perplexity", "sonar", "perplexity", {IN: 100, OUT: 10}),
    ("perplexity", "sonar", "perplexity", {}),
    ("perplexity", "sonar-pro", "perplexity", {IN: 25_000, OUT: 3_000}),
    # Audio in and out, each at its own price; a model without one bills them as text.
    ("openai", "gpt-audio", "openai", {IN: 2_000, OUT: 1_500, AUDIO_IN: 1_800, AUDIO_OUT: 1_400}),
    ("openai", "gpt-4o-realtime-preview", "openai", {IN: 5_000, OUT: 2_000, AUDIO_IN: 4_000, AUDIO_OUT: 1_900}),
    ("openai", "gpt-4o-realtime-preview", "openai", {IN: 5_000, OUT: 2_000, CACHE_READ: 3_000, AUDIO_OUT: 1_000}),
    ("gcp.gemini", "gemini-2.0-flash", "google", {IN: 30_000, OUT: 500, AUDIO_IN: 25_000}),
    ("aws.bedrock", "amazon.nova-sonic-v1:0", "aws", {IN: 10_000, OUT: 8_000, AUDIO_IN: 9_000, AUDIO_OUT: 7_500}),
    ("openai", "gpt-4o-audio-preview", "openai", {IN: 2_000, OUT: 1_000, AUDIO_IN: 1_500, AUDIO_OUT: 800}),
    # Other providers, an embedding model (input price only), a provider genai-prices does not know.
    ("mistral_ai", "mistral-large-latest", "mistral", {IN: 7_000, OUT: 1_100}),
    ("x_ai", "grok-3", "x-ai", {IN: 4_000, OUT: 400, CACHE_READ: 1_000}),
    ("groq", "llama-3.3-70b-versatile", "groq", {IN: 999, OUT: 111}),
    ("cohere", "command-r-plus", "cohere", {IN: 2_500, OUT: 250}),
    ("together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "together", {IN: 64_000, OUT: 2_000}),
    ("openai", "text-embedding-3-small", "openai", {IN: 8_191}),
    ("some_cloud", "gpt-4o", None, {IN: 1_000, OUT: 100}),
]


def _ours(provider: str, model: str, usage: dict[str, int]) -> float:
    price = PriceBook().lookup(provider, model)
    assert price is not None
    return price.cost(
        usage.get(IN, 0),
        usage.get(OUT, 0),
        cache_read=usage.get(CACHE_READ, 0),
        cache_write=usage.get(CACHE_WRITE, 0),
        input_audio=usage.get(AUDIO_IN, 0),
        output_audio=usage.get(AUDIO_OUT, 0),
    )


@pytest.mark.parametrize(("provider", "model", "provider_id", "usage"), ROWS)
def test_cost_is_genai_prices_own(provider: str, model: str, provider_id: str | None, usage: dict[str, int]) -> None:
    theirs = float(calc_price(Usage(**usage), model, provider_id=provider_id).total_price)
    ours = _ours(provider, model, usage)
    assert math.isclose(ours, theirs, rel_tol=REL_TOL, abs_tol=0.0), (ours, theirs)


def test_the_table_covers_what_it_claims() -> None:
    assert len(ROWS) >= 40
    by_usage = [set(usage) for *_, usage in ROWS]
    assert any(CACHE_READ in u and CACHE_WRITE in u for u in by_usage)
    assert any(AUDIO_IN in u for u in by_usage) and any(AUDIO_OUT in u for u in by_usage)
    fees = [model for _, model, pid, _ in ROWS if calc_price(Usage(), model, provider_id=pid).total_price]
    assert fees == ["sonar", "sonar", "sonar-pro"]
    # Exactly at a tier's start and one token above, for every tier start of the table's models.
    starts = {
        (provider_id, model, tier.start)
        for _, model, provider_id, _ in ROWS
        for value in vars(calc_price(Usage(), model, provider_id=provider_id).model_price).values()
        if isinstance(value, TieredPrices)
        for tier in value.tiers
    }
    inputs = {(provider_id, model, usage.get(IN, 0)) for _, model, provider_id, usage in ROWS}
    # 9 starts with genai-prices 0.2 (qwen3-coder-flash has two tiers there); 7 with 0.1.13, the
    # newest on Python 3.10, which prices it flat.
    assert len(starts) >= 7
    assert all((*key, start) in inputs and (*key, start + 1) in inputs for *key, start in starts)


def test_a_prompt_of_exactly_a_tiers_start_pays_the_price_below() -> None:
    price = PriceBook().lookup("gcp.gemini", "gemini-1.5-pro")
    assert price is not None
    # $1.25 a million input tokens up to 128k, $2.50 for every token of a longer prompt.
    assert price.cost(128_000, 0) == pytest.approx(128_000 * 1.25e-6, rel=REL_TOL)
    assert price.cost(128_001, 0) == pytest.approx(128_001 * 2.5e-6, rel=REL_TOL)


def test_cached_audio_counts_as_text() -> None:
    """A model with a price for cached audio, a call with cache reads and audio input: genai-prices
    wants to be told how much of the cache was audio, which no usage shape read here says; the
    cache is priced as text, as genai-prices does when told that none of it was audio."""
    usage = {IN: 5_000, OUT: 2_000, CACHE_READ: 3_000, AUDIO_IN: 1_500, AUDIO_OUT: 1_000}
    with pytest.raises(ValueError, match="cache_audio_read_tokens"):
        calc_price(Usage(**usage), "gpt-4o-realtime-preview", provider_id="openai")
    theirs = calc_price(Usage(**usage, cache_audio_read_tokens=0), "gpt-4o-realtime-preview", provider_id="openai")
    ours = _ours("openai", "gpt-4o-realtime-preview", usage)
    assert math.isclose(ours, float(theirs.total_price), rel_tol=REL_TOL, abs_tol=0.0)


def test_counts_that_do_not_add_up_cost_no_less_than_their_parts() -> None:
    """More cache reads than input tokens (a log's inconsistent counts): genai-prices refuses the
    call; the cost is that of the cache reads and the output, never negative."""
    price = PriceBook().lookup("openai", "gpt-4o-mini")
    assert price is not None
    with pytest.raises(ValueError):
        calc_price(Usage(**{IN: 100, OUT: 10, CACHE_READ: 500}), "gpt-4o-mini", provider_id="openai")
    assert price.cost(100, 10, cache_read=500) == pytest.approx(500 * 0.075e-6 + 10 * 0.6e-6, rel=REL_TOL)
