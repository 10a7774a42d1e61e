"""Model prices: config overrides first, then genai-prices, each model resolved once.

genai-prices' own `calc_price` costs 100-230 us a call, far too slow per log line; a model's
price is looked up once, kept as floats, and the cost of a call is a few multiplications.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_exporter.providers import SELF_HOSTED, resolve

if TYPE_CHECKING:
    from llm_exporter.config import PriceOverride
    from llm_exporter.pipeline.price_cache import PriceCache

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
_PER_MILLION = 1e-6


@dataclass(frozen=True, slots=True)
class UnitPrice:
    """US dollars per token; `tiers` are (input-token threshold, price) pairs, ascending, for
    models whose whole request is billed at a higher rate past a prompt size."""

    base: float
    tiers: tuple[tuple[int, float], ...] = ()

    def at(self, input_tokens: int) -> float:
        if not self.tiers:
            return self.base
        i = bisect_right([start for start, _ in self.tiers], input_tokens)
        return self.tiers[i - 1][1] if i else self.base


@dataclass(frozen=True, slots=True)
class Price:
    input: UnitPrice
    output: UnitPrice
    cache_read: UnitPrice
    cache_write: UnitPrice

    def cost(self, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> float:
        """Cost of one call; cache reads and writes are part of `input_tokens`."""
        uncached = max(input_tokens - cache_read - cache_write, 0)
        return (
            uncached * self.input.at(input_tokens)
            + cache_read * self.cache_read.at(input_tokens)
            + cache_write * self.cache_write.at(input_tokens)
            + output_tokens * self.output.at(input_tokens)
        )


def _from_override(override: PriceOverride) -> Price:
    def unit(per_million: float | None, fallback: float) -> UnitPrice:
        return UnitPrice((fallback if per_million is None else per_million) * _PER_MILLION)

    return Price(
        input=unit(override.input, 0.0),
        output=unit(override.output, 0.0),
        cache_read=unit(override.cache_read, override.input),
        cache_write=unit(override.cache_write, override.input),
    )


def _unit(value: Any, fallback: UnitPrice) -> UnitPrice:
    """A genai-prices value (Decimal, TieredPrices or None) per million -> UnitPrice per token."""
    if value is None:
        return fallback
    tiers = getattr(value, "tiers", None)
    if tiers is None:
        return UnitPrice(float(value) * _PER_MILLION)
    return UnitPrice(
        float(value.base) * _PER_MILLION,
        tuple((int(t.start), float(t.price) * _PER_MILLION) for t in tiers),
    )


# What genai-prices' package imports for its price list's auto-update only (asyncio and an HTTP
# client: about 25 ms of a replay that prices a call), which the exporter never runs.
_UPDATE_ONLY = ("asyncio", "httpx", "httpx2")


class _OnFirstUse(types.ModuleType):
    """Stands in for a module while genai-prices is imported: whatever reads from it later gets
    the real module, imported then."""

    def __getattr__(self, attr: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def _data_snapshot() -> types.ModuleType:
    """genai_prices.data_snapshot. The first import, by the process' only thread (replay,
    backfill), has stand-ins in sys.modules for the modules of _UPDATE_ONLY not imported yet, for
    the time of the import only: no other thread can import them meanwhile, and the prices are
    the same (the price data and the code that matches models are genai-prices' own)."""
    stand_ins: dict[str, _OnFirstUse] = {}
    if "genai_prices" not in sys.modules and threading.active_count() == 1:
        stand_ins = {name: _OnFirstUse(name) for name in _UPDATE_ONLY if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        return importlib.import_module("genai_prices.data_snapshot")
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def _from_genai_prices(provider: str, model: str) -> tuple[Price | None, bool]:
    """The price genai-prices gives now, and whether it is the same at every date and hour
    (it may be kept for later runs)."""
    data_snapshot = _data_snapshot()
    snapshot = data_snapshot.get_snapshot()
    provider_id: str | None = _GENAI_PRICES_IDS.get(provider, provider)
    # A provider the price list knows is held to its own prices (Groq's Llama is not Together's);
    # one it does not know is matched by model family, as genai-prices does without a provider.
    if data_snapshot.find_provider_by_id(snapshot.providers, provider_id) is None:
        provider_id = None
    try:
        _, info = snapshot.find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None, True
    now = datetime.now(timezone.utc)
    prices = info.get_prices(now)
    zero = UnitPrice(0.0)
    input_price = _unit(getattr(prices, "input_mtok", None), zero)
    output_price = _unit(getattr(prices, "output_mtok", None), zero)
    if input_price == zero and output_price == zero:
        return None, _lasting(info, now)  # listed, but not priced by tokens
    price = Price(
        input=input_price,
        output=output_price,
        cache_read=_unit(getattr(prices, "cache_read_mtok", None), input_price),
        cache_write=_unit(getattr(prices, "cache_write_mtok", None), input_price),
    )
    return price, _lasting(info, now)


def _lasting(info: Any, now: datetime) -> bool:
    """Whether a model's prices are those of every later date and hour too: one price, or prices
    by start date that have all started (the last then applies for good). Not for prices by hour
    of the day, nor while a change is still to come."""
    if not isinstance(info.prices, list):
        return True
    from genai_prices.types import StartDateConstraint  # imported with the price data already

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

    def _genai_prices(self, provider: str, model: str) -> Price | None:
        if self._kept_in is None:
            return _from_genai_prices(provider, model)[0]
        if self._kept is None:
            from llm_exporter.pipeline.price_cache import PriceCache  # imports this module

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
