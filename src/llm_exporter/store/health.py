"""The exporter's own health: what it read, rejected, ignored and could not price, per source."""

from __future__ import annotations

import time
from collections.abc import Sized


class SourceHealth:
    __slots__ = (
        "bytes",
        "created",
        "file_errors",
        "files_open",
        "ignored",
        "lag_bytes",
        "lines",
        "open_sessions",
        "orphaned",
        "positions_rejected",
        "rejected",
        "rotations",
        "series_folded",
        "sessions_evicted",
        "source_files",
        "truncations",
        "unpriced",
        "usage_missing",
    )

    def __init__(self, created: float) -> None:
        self.created = created
        self.lines = 0
        self.bytes = 0
        self.rejected: dict[str, int] = {}  # reason -> lines
        self.ignored: dict[str, int] = {}  # event type -> lines
        self.file_errors: dict[str, int] = {}  # reason (permission_denied, ...) -> times
        self.files_open = 0
        self.source_files = 0  # files matching the glob at the last scan
        self.positions_rejected = 0  # saved offsets found impossible (negative, past the end)
        self.rotations = 0
        self.truncations = 0
        self.lag_bytes = 0
        self.orphaned = 0
        self.open_sessions: Sized = ()  # the source's open sessions (its pipeline's), counted at a scrape
        self.sessions_evicted = 0  # sessions ended early: the table of open ones was full (limits.max_open_sessions)
        self.series_folded = 0  # label sets, error types, decisions past limits.max_samples, folded into _overflow
        # (operation, provider, model) -> completions with no price / successful calls with no usage
        self.unpriced: dict[tuple[str, str, str], int] = {}
        self.usage_missing: dict[tuple[str, str, str], int] = {}

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


class Health:
    def __init__(self) -> None:
        self.sources: dict[str, SourceHealth] = {}
        self.positions_last_save: float | None = None
        self.positions_save_errors = 0
        self.positions_load_errors = 0
        self.config_reload_ok = True
        self.otlp_pushes: dict[str, int] = {}  # result (success, failure) -> pushes
        self.otlp_spans: dict[str, int] = {}  # result (exported, failed, dropped) -> spans, with traces on

    def source(self, name: str) -> SourceHealth:
        health = self.sources.get(name)
        if health is None:
            health = self.sources[name] = SourceHealth(time.time())
        return health
