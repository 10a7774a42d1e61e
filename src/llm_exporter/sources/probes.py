"""Probes: ask model servers which models they have, the way seed 002's "Stato Modelli" did.

A model nobody called for an hour may be down; traffic cannot tell. Each probe lists a server's
models (OpenAI-compatible `GET {url}/models`, Ollama `/api/tags` and `/api/ps`, Anthropic
`/v1/models`), never a completion, so a probe costs nothing. Probes run concurrently, each with
its timeout, at their own interval, on threads of their own: a hung server delays only itself
and never the tailing. `poll_once(now)` runs the probes that are due, for deterministic tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from llm_exporter.config import ProbeConfig
from llm_exporter.semconv import LABEL_MODEL
from llm_exporter.sources.http import GetError, get_json, read_key

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024  # a model list is small; a server sending more is not one
MAX_WORKERS = 8


def server_address(url: str) -> str:
    """host:port of a URL, never its path, query or credentials."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class ModelState:
    available: bool
    loaded: bool | None = None  # None where the server cannot say
    size_bytes: int | None = None


@dataclass(slots=True)
class ProbeState:
    """The last result of one probe target."""

    provider: str
    up: bool = False
    duration: float = 0.0
    models: dict[str, ModelState] = field(default_factory=dict)


class ProbeError(Exception):
    """A probe that failed; the message is safe to log (no URL credentials, no key)."""


def _get(url: str, headers: dict[str, str], timeout: float) -> object:
    return get_json(url, headers, timeout, MAX_BODY)


def _names(doc: object, key: str, name_field: str) -> dict[str, dict]:
    """{model name: entry} from a list answer such as {"data": [{"id": ...}, ...]}."""
    entries = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ProbeError(f"answer has no {key!r} list")
    out = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get(name_field), str) and entry[name_field]:
            out[entry[name_field]] = entry
    return out


def list_models(probe: ProbeConfig) -> dict[str, ModelState]:
    """The models a server lists now; raises ProbeError or GetError."""
    base = probe.url.rstrip("/")
    key = read_key(probe.api_key_env, probe.api_key_file)
    timeout = probe.timeout_seconds
    if probe.type == "openai":
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return {name: ModelState(True) for name in _names(_get(f"{base}/models", headers, timeout), "data", "id")}
    if probe.type == "anthropic":
        headers = {"anthropic-version": "2023-06-01", **({"x-api-key": key} if key else {})}
        doc = _get(f"{base}/v1/models?limit=1000", headers, timeout)
        return {name: ModelState(True) for name in _names(doc, "data", "id")}
    # Ollama: installed models, and those loaded in memory now.
    tags = _names(_get(f"{base}/api/tags", {}, timeout), "models", "name")
    loaded = _names(_get(f"{base}/api/ps", {}, timeout), "models", "name")
    return {
        name: ModelState(True, name in loaded, entry.get("size") if isinstance(entry.get("size"), int) else None)
        for name, entry in tags.items()
    }


class Prober:
    """The state of every configured probe, updated by `poll_once`; read by the collector."""

    def __init__(
        self,
        probes: Iterable[ProbeConfig],
        limiter: Callable[[str, str], str],
        clock: Callable[[], float] = time.monotonic,
        list_models: Callable[[ProbeConfig], dict[str, ModelState]] = list_models,
    ) -> None:
        self.lock = threading.Lock()
        self.limiter = limiter
        self.clock = clock
        self._list = list_models
        self.states: dict[tuple[str, str], ProbeState] = {}  # (server_address, provider) -> state
        self._pool: ThreadPoolExecutor | None = None  # made for the first probe due: most runs have none
        self._running: set[int] = set()  # indexes of probes whose last run has not ended
        self.configure(probes)

    def configure(self, probes: Iterable[ProbeConfig]) -> None:
        """Apply a (re)loaded `probes:` list; servers no longer probed drop out of /metrics."""
        with self.lock:
            self.probes = list(probes)
            self._due = [0.0] * len(self.probes)
            self._running = set()
            keys = {(server_address(p.url), p.provider or p.type) for p in self.probes}
            self.states = {k: v for k, v in self.states.items() if k in keys}

    def next_due(self) -> float | None:
        with self.lock:
            return min(self._due, default=None)

    def poll_once(self, wait: bool = True) -> int:
        """Start every probe that is due (not one still running); with `wait`, until they end.
        Returns how many started."""
        now = self.clock()
        with self.lock:
            due = [i for i, at in enumerate(self._due) if at <= now and i not in self._running]
            for i in due:
                self._due[i] = now + self.probes[i].interval_seconds
                self._running.add(i)
            jobs = [(i, self.probes[i]) for i in due]
            if not jobs:
                return 0
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="probe")
            pool = self._pool
        futures = [pool.submit(self._run, i, probe) for i, probe in jobs]
        if wait:
            for future in futures:
                future.result()
        return len(futures)

    def _run(self, index: int, probe: ProbeConfig) -> None:
        started = time.monotonic()
        try:
            models: dict[str, ModelState] | None = self._list(probe)
            error = None
        except (ProbeError, GetError) as exc:
            models, error = None, str(exc)
        except Exception as exc:  # a probe must never take the exporter down
            models, error = None, type(exc).__name__
        duration = time.monotonic() - started
        key = (server_address(probe.url), probe.provider or probe.type)
        with self.lock:
            self._running.discard(index)
            if index >= len(self.probes) or self.probes[index] is not probe:
                return  # reloaded meanwhile
            state = self.states.get(key)
            if state is None:
                state = self.states[key] = ProbeState(key[1])
            was_up = state.up
            state.up = models is not None
            state.duration = duration
            if models is not None:
                for model in state.models.values():
                    model.available = False  # listed before, gone now unless listed again
                    model.loaded = False if model.loaded is not None else None
                for name, model in models.items():
                    state.models[self.limiter(LABEL_MODEL, name)] = model
        if error is not None and was_up:
            log.warning("probe %s (%s): %s", key[0], probe.type, error)
        elif error is not None:
            log.debug("probe %s (%s): %s", key[0], probe.type, error)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class PollLoop:
    """Runs a prober's or a biller's `poll_once` (what is due) on a thread of its own until closed:
    again when `next_due` says on `clock`, and a second apart at most (a reload may bring work due
    sooner). A poll that hangs holds only this thread."""

    def __init__(
        self,
        name: str,
        poll: Callable[[], object],
        next_due: Callable[[], float | None],
        clock: Callable[[], float],
    ) -> None:
        self._poll, self._next_due, self._clock = poll, next_due, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._poll()
            due = self._next_due()
            delay = 1.0 if due is None else max(due - self._clock(), 0.05)
            self._stop.wait(min(delay, 1.0))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
