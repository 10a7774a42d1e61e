"""Model prices: config overrides first, then genai-prices, each model resolved once.

A model genai-prices knows is resolved with its public `calc_price`, whose answer names the model
and its prices now; those are kept as floats (price.py, where a call's cost is computed by
genai-prices' rules) and, for the exporter's commands, on disk for later runs (price_cache.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from llm_exporter.pipeline.price import Price, UnitPrice
from llm_exporter.pipeline.price_cache import PriceCache
from llm_exporter.providers import SELF_HOSTED, resolve

if TYPE_CHECKING:
    from genai_prices.types import ModelInfo, TieredPrices

    from llm_exporter.config import PriceOverride

# semconv provider names -> genai-prices provider ids, where they differ.
_GENAI_PRICES_IDS = {
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "azure.ai.inference": "azure",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
}
# Prices are per million tokens (genai-prices' `*_mtok`, the overrides) or per thousand requests
# (genai-prices' `requests_kcount`).
_PER_MILLION = 1e-6
_PER_THOUSAND = 1e-3


def _from_override(override: PriceOverride) -> Price:
    def unit(per_million: float | None) -> UnitPrice | None:
        return None if per_million is None else UnitPrice(per_million * _PER_MILLION)

    return Price(
        input=UnitPrice(override.input * _PER_MILLION),
        output=UnitPrice(override.output * _PER_MILLION),
        cache_read=unit(override.cache_read),  # None: at the input price
        cache_write=unit(override.cache_write),
    )


def _unit(value: Decimal | TieredPrices | None, scale: float) -> UnitPrice | None:
    """A genai-prices price (Decimal or TieredPrices) -> US dollars a unit."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return UnitPrice(float(value) * scale)
    return UnitPrice(float(value.base) * scale, tuple((tier.start, float(tier.price) * scale) for tier in value.tiers))


def _from_genai_prices(provider: str, model: str) -> tuple[Price | None, bool]:
    """The price genai-prices gives now, and whether it is the same at every date and hour
    (it may be kept for later runs)."""
    # Imported here: a run that prices only models kept on disk never imports genai-prices.
    from genai_prices import Usage, calc_price

    provider_id = _GENAI_PRICES_IDS.get(provider, provider)
    now = datetime.now(timezone.utc)
    try:
        try:
            found = calc_price(Usage(), model, provider_id=provider_id, genai_request_timestamp=now)
        except LookupError:
            # A provider the price list knows is held to its own prices (Groq's Llama is not
            # Together's); one it does not know is matched by model family, as genai-prices does
            # without a provider.
            if _knows_provider(provider_id):
                raise
            found = calc_price(Usage(), model, genai_request_timestamp=now)
    except LookupError:
        return None, True
    except ValueError:  # listed with prices genai-prices itself cannot apply to any call
        return None, True
    prices = found.model_price
    lasting = _lasting(found.model, now)

    def unit(key: str, scale: float = _PER_MILLION) -> UnitPrice | None:
        return _unit(getattr(prices, key, None), scale)

    input_price, output_price = unit("input_mtok"), unit("output_mtok")
    if input_price is None and output_price is None:
        return None, lasting  # listed, but not priced by tokens (by the hour of audio, the page...)
    price = Price(
        input=UnitPrice(0.0) if input_price is None else input_price,
        output=UnitPrice(0.0) if output_price is None else output_price,
        cache_read=unit("cache_read_mtok"),
        cache_write=unit("cache_write_mtok"),
        input_audio=unit("input_audio_mtok"),
        output_audio=unit("output_audio_mtok"),
        request=unit("requests_kcount", _PER_THOUSAND),
    )
    return price, lasting


def _knows_provider(provider_id: str) -> bool:
    """Whether genai-prices has prices of a provider. Of its public functions only `extract_usage`
    says so: it raises LookupError for a provider it does not know before it reads the response
    (`calc_price` raises LookupError for a model it does not know as well)."""
    from genai_prices import extract_usage

    try:
        extract_usage({}, provider_id=provider_id)
    except LookupError:
        return False
    except ValueError:
        pass  # a provider it knows, which finds no usage in `{}`
    return True


def _lasting(info: ModelInfo, now: datetime) -> bool:
    """Whether a model's prices are those of every later date and hour too: one price, or prices
    by start date that have all started (the last then applies for good). Not for prices by hour
    of the day, nor while a change is still to come."""
    if not isinstance(info.prices, list):
        return True
    from genai_prices.types import StartDateConstraint  # imported with calc_price already

    return all(
        c.constraint is None or (isinstance(c.constraint, StartDateConstraint) and c.constraint.active(now))
        for c in info.prices
    )


class PriceBook:
    """Resolves and caches the price of each (provider, model); None means no known price.

    With `kept_in` (the exporter's commands, not an app's instrumentation) genai-prices' answers
    are also kept in that directory for later runs (price_cache.py), written by `save`."""

    def __init__(self, overrides: dict[str, PriceOverride] | None = None, kept_in: Path | None = None) -> None:
        self._overrides = {name.lower(): _from_override(o) for name, o in (overrides or {}).items()}
        self._cache: dict[tuple[str, str], Price | None] = {}
        self._kept_in = kept_in
        self._kept: PriceCache | None = None

    def lookup(self, provider: str, model: str) -> Price | None:
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        # Either spelling of a model (`openai/gpt-4o`, `gpt-4o`) finds the same price.
        provider_name, label = resolve(model, provider)
        price = self._overrides.get(model.lower()) or self._overrides.get(label.lower())
        if price is None and provider_name not in SELF_HOSTED:
            price = self._genai_prices(provider_name, label)
        self._cache[key] = price
        return price

    def billed(self, provider: str, model: str | None, response_model: str | None) -> Price | None:
        """The price of a call: its request model's, else, where neither overrides nor genai-prices
        know the request model, the model the response says answered (an Azure deployment name is
        any string its owner chose; the response names the model billed, `gpt-4o-2024-08-06`)."""
        price = self.lookup(provider, model) if model else None
        if price is None and response_model and response_model != model:
            price = self.lookup(provider, response_model)
        return price

    def _genai_prices(self, provider: str, model: str) -> Price | None:
        if self._kept_in is None:
            return _from_genai_prices(provider, model)[0]
        if self._kept is None:
            self._kept = PriceCache(__file__, self._kept_in)
        try:
            return self._kept.prices[provider, model]
        except KeyError:
            pass
        price, lasting = _from_genai_prices(provider, model)
        if lasting:
            self._kept.put(provider, model, price)
        return price

    def save(self) -> None:
        """Write the answers kept this run for later runs (a no-op without `kept_in`)."""
        if self._kept is not None:
            self._kept.save()
