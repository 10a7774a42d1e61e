"""Pending requests awaiting their response, bounded in size and age.

Requests leave the table when answered, when they are older than the time-to-live, or when the
table is full (the oldest first); the last two are counted as orphaned. Answered requests are
remembered (bounded too) so the decision that follows can be labelled with the call's model.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedTable(Generic[V]):
    """Insertion-ordered map that drops its oldest entries past `max_size` or `ttl` seconds.
    `on_drop` hears of every entry dropped that way (never of one taken with `pop`)."""

    def __init__(
        self, max_size: int, ttl: float, clock: Callable[[], float], on_drop: Callable[[V], None] | None = None
    ) -> None:
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self.on_drop = on_drop
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: str, value: V) -> None:
        items = self._items
        if key in items:
            self._drop(items.pop(key)[1])
        items[key] = (self._clock(), value)
        while len(items) > self.max_size:
            self._drop(items.popitem(last=False)[1][1])

    def pop(self, key: str) -> V | None:
        entry = self._items.pop(key, None)
        return None if entry is None else entry[1]

    def get(self, key: str) -> V | None:
        entry = self._items.get(key)
        return None if entry is None else entry[1]

    def expire(self) -> int:
        """Drop entries older than the time-to-live; returns how many."""
        deadline = self._clock() - self.ttl
        items = self._items
        dropped = 0
        while items:
            key, (born, value) = next(iter(items.items()))
            if born > deadline:
                break
            del items[key]
            self._drop(value)
            dropped += 1
        return dropped

    def adopt(self, other: BoundedTable[V]) -> None:
        """Take over `other`'s entries, oldest first, keeping this table's bounds and callback."""
        for key, (born, value) in other._items.items():
            self._items[key] = (born, value)
        other._items.clear()
        while len(self._items) > self.max_size:
            self._drop(self._items.popitem(last=False)[1][1])

    def drain(self) -> None:
        """Drop every entry, as if each had expired."""
        while self._items:
            self._drop(self._items.popitem(last=False)[1][1])

    def _drop(self, value: V) -> None:
        if self.on_drop is not None:
            self.on_drop(value)
