"""genai-prices' answers kept on disk, so that a run pricing models seen before never imports it.

Importing genai-prices (its pydantic types, its whole price list, the asyncio and HTTP client of its
price list's auto-update) costs tens of milliseconds, a large part of a short replay's whole run.
What it answers for a (provider, model) is fixed by its price data and by the code that asks and
keeps the answer (pricing.py, price.py, this file), except for models whose prices change with the
date or the hour: those are never kept. So each answer is kept in
`$XDG_CACHE_HOME/llm-exporter/prices.json` (default `~/.cache`) under a fingerprint of those
files; an upgrade of any, or an edit, changes the fingerprint and the file is ignored.

The file is only ever an optimisation: unreadable, damaged, from another version or unwritable,
it is ignored and prices come from genai-prices as they would without it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson

from llm_exporter.pipeline import price as price_module
from llm_exporter.pipeline.price import Price, UnitPrice

_FILE = "prices.json"
# Answers kept at most (about 300 KB): a log naming ever new made-up models must not grow the file,
# and every run's start-up reading it, without end. genai-prices knows about 2,300 models.
MAX_KEPT = 10_000


def cache_dir() -> Path:
    """Where the exporter's commands keep prices: `$XDG_CACHE_HOME/llm-exporter`, else
    `~/.cache/llm-exporter`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "llm-exporter"


def _fingerprint(asker: str) -> list[int] | None:
    """Identity (inode, mtime, size) of genai-prices' price data, of the asking module and of the
    modules that define and encode a price, or None when genai-prices' files cannot be found (no
    cache then)."""
    spec = importlib.util.find_spec("genai_prices")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    out: list[int] = []
    for path in (os.path.join(spec.submodule_search_locations[0], "data.py"), asker, price_module.__file__, __file__):
        try:
            st = os.stat(path)
        except OSError:
            return None
        out += [st.st_ino, st.st_mtime_ns, st.st_size]
    return out


# A price on disk: its units in the order Price names them, each null or [base, [[start, price], ...]].
_UNITS = tuple(f.name for f in fields(Price) if f.init)


def _encode(price: Price | None) -> list[Any] | None:
    if price is None:
        return None
    units = (getattr(price, name) for name in _UNITS)
    return [None if u is None else [u.base, [list(t) for t in u.tiers]] for u in units]


def _unit(raw: Any) -> UnitPrice:
    base, tiers = raw
    if not isinstance(base, float) or not isinstance(tiers, list):
        raise ValueError("not a unit price")
    pairs = tuple((int(start), float(price)) for start, price in tiers)
    return UnitPrice(base, pairs)


def _decode(raw: Any) -> Price | None:
    if raw is None:
        return None
    # Input and output always have a price (Price's first two units).
    if not isinstance(raw, list) or len(raw) != len(_UNITS) or raw[0] is None or raw[1] is None:
        raise ValueError("not a price")
    return Price(*(None if u is None else _unit(u) for u in raw))


class PriceCache:
    """The prices of one fingerprint: `prices` holds what runs before resolved, `put` adds what
    this one does, `save` writes them for later runs."""

    def __init__(self, asker: str, directory: Path) -> None:
        self._path = directory / _FILE
        self._fingerprint = _fingerprint(asker)
        self.prices: dict[tuple[str, str], Price | None] = {}
        self._unsaved = False
        if self._fingerprint is not None:
            self._load()

    def _load(self) -> None:
        try:
            data = orjson.loads(self._path.read_bytes())
            if data["fingerprint"] != self._fingerprint:
                return
            self.prices = {(provider, model): _decode(price) for provider, model, price in data["prices"]}
        except (OSError, ValueError, KeyError, TypeError):
            pass  # absent, damaged or another version's: priced afresh

    def put(self, provider: str, model: str, price: Price | None) -> None:
        """Keep an answer for later runs (written by `save`: once a run, not once a model, which
        made a log of thousands of unknown models write the growing file thousands of times).
        Past MAX_KEPT answers, new ones are not kept."""
        if len(self.prices) >= MAX_KEPT and (provider, model) not in self.prices:
            return
        self.prices[provider, model] = price
        self._unsaved = True

    def save(self) -> None:
        """Write what `put` kept, if anything: the file is rewritten whole and replaced in one step,
        so a reader never sees half of it; a run writing at the same time may lose entries (those
        models are then priced by genai-prices once more)."""
        if not self._unsaved or self._fingerprint is None:
            return
        self._unsaved = False
        entries = [[provider, model, _encode(price)] for (provider, model), price in self.prices.items()]
        text = orjson.dumps({"fingerprint": self._fingerprint, "prices": entries})
        part = self._path.with_name(f"{_FILE}.{os.getpid()}")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            part.write_bytes(text)
            os.replace(part, self._path)
        except OSError:
            self._fingerprint = None  # unwritable (read-only home): no more attempts this run
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
