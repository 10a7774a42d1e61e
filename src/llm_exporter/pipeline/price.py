"""A model's price as floats, and the cost of one call by genai-prices' rules.

genai-prices' own `calc_price` costs 100-230 us a call (Decimal arithmetic, a model lookup), far
too slow per log line; a model's prices are read from it once (pricing.py) and a call's cost is a
few float multiplications here, by the rules of that `calc_price`
(tests/test_pricing_genai_prices.py holds the two to the same figure):
- `input_tokens` is the whole prompt. Cache reads, cache writes and audio input are parts of it,
  each at its own price where the model has one, else at the input price; audio output is part of
  `output_tokens` alike. Cached tokens count as text: the usage shapes read here do not say how
  many of them were audio (genai-prices then refuses a model with a cached-audio price; this
  prices them as it does when told that none were).
- A tiered price bills every unit of a call at the tier whose start its input tokens exceed
  (strictly: a prompt of exactly the start's size pays the price below).
- A per-request fee is added once a call.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class UnitPrice:
    """US dollars a unit (a token; a call for `Price.request`). `tiers` are (start, price) pairs in
    ascending order of start: a call of more input tokens than a start pays that tier's price."""

    base: float
    tiers: tuple[tuple[int, float], ...] = ()

    def at(self, input_tokens: int) -> float:
        for start, price in reversed(self.tiers):
            if input_tokens > start:
                return price
        return self.base


# A call's prices at one tier: input, output, cache read, cache write, audio input, audio output
# (those four None where the model has no price of their own) and the request fee.
_Rates = tuple[float, float, float | None, float | None, float | None, float | None, float]


def _rates_at(price: Price, input_tokens: int) -> _Rates:
    def at(unit: UnitPrice | None) -> float | None:
        return None if unit is None else unit.at(input_tokens)

    return (
        price.input.at(input_tokens),
        price.output.at(input_tokens),
        at(price.cache_read),
        at(price.cache_write),
        at(price.input_audio),
        at(price.output_audio),
        0.0 if price.request is None else price.request.at(input_tokens),
    )


@dataclass(frozen=True, slots=True)
class Price:
    """A model's prices; a part of the input or output without a price of its own (None) is billed
    as input or output."""

    input: UnitPrice
    output: UnitPrice
    cache_read: UnitPrice | None = None
    cache_write: UnitPrice | None = None
    input_audio: UnitPrice | None = None
    output_audio: UnitPrice | None = None
    request: UnitPrice | None = None
    # Every tier start of every unit, ascending, and the rates between them: a call finds its rates
    # with one bisection, whatever the number of tiered units.
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _rates: tuple[_Rates, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        units = (self.input, self.output, self.cache_read, self.cache_write, self.input_audio, self.output_audio)
        starts = sorted({start for u in (*units, self.request) if u is not None for start, _ in u.tiers})
        # Between two starts every unit has one price: that of one token past the lower start.
        object.__setattr__(self, "_starts", tuple(starts))
        object.__setattr__(self, "_rates", tuple(_rates_at(self, n) for n in [0, *(s + 1 for s in starts)]))

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cache_read: int = 0,
        cache_write: int = 0,
        input_audio: int = 0,
        output_audio: int = 0,
    ) -> float:
        """US dollars for one call; cache reads, cache writes and audio input are part of
        `input_tokens`, audio output part of `output_tokens`."""
        starts = self._starts
        rates = self._rates[bisect_left(starts, input_tokens)] if starts else self._rates[0]
        input_rate, output_rate, cache_read_rate, cache_write_rate, input_audio_rate, output_audio_rate, fee = rates
        read = write = audio_in = audio_out = 0.0
        if cache_read_rate is not None:
            input_tokens -= cache_read
            read = cache_read * cache_read_rate
        if cache_write_rate is not None:
            input_tokens -= cache_write
            write = cache_write * cache_write_rate
        if input_audio_rate is not None:
            input_tokens -= input_audio
            audio_in = input_audio * input_audio_rate
        if output_audio_rate is not None:
            output_tokens -= output_audio
            audio_out = output_audio * output_audio_rate
        # Parts larger than their whole (a log's inconsistent counts, which genai-prices refuses)
        # leave nothing at the input or output price rather than a negative cost.
        rest_in = input_tokens if input_tokens > 0 else 0
        rest_out = output_tokens if output_tokens > 0 else 0
        return rest_in * input_rate + read + write + rest_out * output_rate + audio_in + audio_out + fee
