"""Open sessions: the calls that share a session id, from the first to the one after which the
session stays idle. The daemon's pipelines and the in-app telemetry both keep theirs here.

A session begins with the first call of an id that is not open, and ends when no call of it
came for `idle` seconds of the clock (`expire`), when its next call starts `idle` seconds or more
after its last one ended in the calls' own times (a log read at once after a restart or in a
backfill), when the table is full and it is the least recently active one (evicted, counted),
or when everything ends (`end_all`: a replay, a backfill, an app's exit). A clock that goes
back is taken as standing still, so no session ends early or lives on for that step.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

SavedSession = list[Any]  # [id, first, last, calls, cost, trace id or None], as the positions file keeps it


class Session:
    """One open session: its calls' earliest start and latest end (out-of-order calls widen it,
    never shrink it), calls, cost, the trace id of its calls' spans where one went out, and when
    the clock last saw a call of it."""

    __slots__ = ("calls", "cost", "first", "last", "seen", "trace")

    def __init__(
        self, first: float, last: float, seen: float, calls: int = 0, cost: float = 0.0, trace: str | None = None
    ) -> None:
        self.first = first
        self.last = last
        self.seen = seen
        self.calls = calls
        self.cost = cost
        self.trace = trace

    @property
    def duration(self) -> float:
        return max(self.last - self.first, 0.0)


class Sessions:
    """The open sessions, least recently active first, at most `max_open` of them.

    `on_begin()` hears of each session begun; `on_end(session, evicted)` of each one ended
    (`evicted`: pushed out of a full table before it was idle)."""

    def __init__(
        self,
        max_open: int,
        idle: float,
        clock: Callable[[], float],
        on_begin: Callable[[], None],
        on_end: Callable[[Session, bool], None],
    ) -> None:
        self.max_open = max_open
        self.idle = idle
        self._clock = clock
        self._skew = 0.0  # what the clock went back by, in all
        self._last = float("-inf")
        self.on_begin = on_begin
        self.on_end = on_end
        self._open: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def now(self) -> float:
        """The clock, never going back: a step back is added to the skew."""
        now = self._clock() + self._skew
        if now < self._last:
            self._skew += self._last - now
            now = self._last
        self._last = now
        return now

    def call(self, session_id: str, start: float, end: float, cost: float | None, trace: str | None) -> None:
        """A call of the session, from `start` to `end` (its own times, epoch seconds)."""
        now = self.now()
        items = self._open
        found = items.get(session_id)
        if found is not None and start - found.last >= self.idle:
            del items[session_id]
            self.on_end(found, False)
            found = None
        if found is None:
            found = items[session_id] = Session(start, end, now)  # the most recently active: last
            self.on_begin()
            self._bound()
        else:
            items.move_to_end(session_id)
            if start < found.first:
                found.first = start
            if end > found.last:
                found.last = end
            found.seen = now
        found.calls += 1
        if cost:
            found.cost += cost
        if trace is not None:
            found.trace = trace

    def expire(self) -> None:
        """End the sessions idle for `idle` seconds of the clock."""
        deadline = self.now() - self.idle
        items = self._open
        while items:
            key = next(iter(items))
            if items[key].seen > deadline:
                break
            self.on_end(items.pop(key), False)

    def end_all(self) -> None:
        while self._open:
            self.on_end(self._open.popitem(last=False)[1], False)

    def adopt(self, other: Sessions) -> None:
        """Take over `other`'s open sessions (a reload rebuilt the source), oldest first."""
        for key, session in other._open.items():
            session.seen = self.now()
            self._open[key] = session
        other._open.clear()
        self._bound()

    def _bound(self) -> None:
        while len(self._open) > self.max_open:
            self.on_end(self._open.popitem(last=False)[1], True)

    # -- across restarts ----------------------------------------------------------------------------

    def saved(self) -> list[SavedSession]:
        """The open sessions, least recently active first, as the positions file keeps them."""
        return [[key, s.first, s.last, s.calls, s.cost, s.trace] for key, s in self._open.items()]

    def restore(self, saved: Iterable[SavedSession]) -> int:
        """Open the sessions a previous run saved (not begun again: that run counted them); the
        time the exporter was down does not count as idle. Returns the entries found unusable."""
        bad = 0
        now = self.now()
        for entry in saved:
            try:
                key, first, last, calls, cost, trace = entry
                if not (type(key) is str and type(calls) is int and (trace is None or type(trace) is str)):
                    raise TypeError
                session = Session(float(first), float(last), now, calls, float(cost), trace)
            except (TypeError, ValueError):
                bad += 1
                continue
            self._open.pop(key, None)
            self._open[key] = session
        self._bound()
        return bad
