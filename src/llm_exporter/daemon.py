"""The long-running process: HTTP server, file watcher, poll loop, signals.

The poll loop is the only thread that reads files and feeds pipelines. watchfiles is a hint that
something changed (it wakes the loop early); a periodic poll guarantees progress where no
notification arrives (NFS, bind mounts, a full inotify queue, `force_polling`).
"""

from __future__ import annotations

import gc
import glob
import logging
import os
import resource
import signal
import threading
import time
from collections.abc import Callable

from llm_exporter.config import Config, ConfigError, no_files
from llm_exporter.exporter import Exporter
from llm_exporter.exposition.http import MetricsServer
from llm_exporter.exposition.webconfig import WebConfig
from llm_exporter.metrics.probes import probe_target
from llm_exporter.sources.probes import PollLoop

log = logging.getLogger(__name__)

# Bytes read per source between two looks at signals and the positions save: ~0.1 s of parsing,
# so SIGTERM is honoured and positions are saved during a long start-up read too.
READ_SLICE = 4 * 1024 * 1024


def raise_fd_limit() -> None:
    """Raise the soft limit on open files to the hard one (systemd's default soft limit is 1024):
    followed files, HTTP clients and watches all need descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or hard == resource.RLIM_INFINITY:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open files limit from %d to %d: %s", soft, hard, exc)
    else:
        log.info("open files limit raised from %d to %d", soft, hard)


def _watch_roots(config: Config) -> tuple[list[str], bool]:
    """The deepest existing directory above each glob (what watchfiles watches) and whether any
    needs watching recursively (magic or missing directories in the glob). The filesystem root
    is never watched: polling alone serves such a source."""
    roots, recursive = set(), False
    for source in config.sources:
        directory = os.path.dirname(os.path.abspath(source.path))
        while glob.has_magic(directory) or not os.path.isdir(directory):
            recursive = True
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        if directory != os.path.dirname(directory):
            roots.add(directory)
    return sorted(roots), recursive


class Watcher:
    """Sets `wake` whenever watchfiles reports a change under the watched directories."""

    def __init__(self, roots: list[str], recursive: bool, wake: threading.Event) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(roots, recursive, wake), name="watch", daemon=True)
        self.thread.start()

    def _run(self, roots: list[str], recursive: bool, wake: threading.Event) -> None:
        if not roots:
            return
        try:
            from watchfiles import watch

            for _ in watch(
                *roots,
                recursive=recursive,
                stop_event=self.stop,
                debounce=50,
                step=20,
                yield_on_timeout=False,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                wake.set()
        except Exception as exc:  # notifications are only a hint; polling carries on
            log.warning("file notifications unavailable (%s); polling only", exc)

    def close(self) -> None:
        self.stop.set()


class Daemon:
    def __init__(
        self,
        config: Config,
        load_config: Callable[[], Config] | None,
        server_address: tuple[str, int],
        web: WebConfig | None,
    ) -> None:
        raise_fd_limit()  # before the exporter sizes its open files from it
        self.exporter = Exporter(config)
        self.load_config = load_config
        self.wake = threading.Event()
        self.ready = threading.Event()
        self.stopping = False
        self.reload_requested = False
        self._unsaved = 0  # bytes read since positions were last saved
        self._last_save = time.monotonic()
        self.server = MetricsServer(
            server_address,
            self.exporter.registry(),
            self.exporter.registry(openmetrics=True),
            web,
            self.ready,
            probe=probe_target,
        )
        self.watcher: Watcher | None = None
        self.without_files: set[str] = set()  # sources last seen with no file, already warned of
        self.otlp = None
        from llm_exporter.exposition.otlp import settings_from

        settings = settings_from(config.otlp)
        if settings is not None:
            from llm_exporter.exposition.otlp import OTLPPusher

            self.otlp = OTLPPusher(self.exporter, settings)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested = True
            self.server.reload_web_config()  # also during the start-up read, which defers the rest
        else:
            self.stopping = True
        self.wake.set()

    def _reload(self) -> None:
        self.reload_requested = False
        if self.load_config is None:
            log.info("SIGHUP: no config file to reload")
            return
        try:
            config = self.load_config()
        except ConfigError as exc:
            self.exporter.health.config_reload_ok = False
            log.error("reload failed, keeping the running config: %s", exc)
            return
        self.exporter.reload(config)
        self.exporter.health.config_reload_ok = True
        self._start_watcher()
        self._reload_otlp(config)
        log.info("config reloaded")

    def _reload_otlp(self, config: Config) -> None:
        """Apply a reloaded `otlp:` section: unchanged settings keep the running pusher; changed
        ones stop it (with a last push to where it pushed) and start one with the new settings;
        a removed section stops it."""
        from llm_exporter.exposition.otlp import settings_from

        settings = settings_from(config.otlp)
        current = self.otlp
        if current is not None and current.settings == settings:
            return
        if current is not None:
            self.otlp = None
            current.close()
            log.info("OTLP push stopped")
        if settings is not None:
            from llm_exporter.exposition.otlp import OTLPPusher

            self.otlp = OTLPPusher(self.exporter, settings).start()
            log.info("OTLP push to %s (%s)", settings.endpoint or "the OTEL_* endpoint", settings.protocol)

    def _warn_without_files(self) -> None:
        """A source with no file reads nothing and would say nothing: warn at start-up, and when
        a source that had files has none (a wrong path, a deleted or unmounted directory)."""
        self.without_files &= set(self.exporter.sources)  # a source removed by a reload
        for name, source in self.exporter.sources.items():
            if source.tailer.health.source_files:
                self.without_files.discard(name)
            elif name not in self.without_files:
                self.without_files.add(name)
                why = no_files(source.config) or "no file is open"
                log.warning("source %s: %s; reading nothing until a file appears", name, why, extra={"source": name})

    def _step(self, rescan: bool) -> int:
        """Read one slice, then save positions if `positions_save_bytes` were read or
        `positions_save_interval_seconds` passed since the last save; returns bytes read."""
        exporter = self.exporter
        try:
            read = exporter.poll_once(rescan, READ_SLICE)
        except Exception as exc:  # a bug must not end the daemon: say so, keep serving
            # The type only: an exception's message may quote log content.
            log.error("poll failed (%s); retrying at the next interval", type(exc).__name__)
            log.debug("poll failure", exc_info=True)
            read = 0
        self._unsaved += read
        now = time.monotonic()
        config = exporter.config
        if (
            self._unsaved >= config.positions_save_bytes
            or now - self._last_save >= config.positions_save_interval_seconds
        ):
            exporter.save_positions()
            self._unsaved, self._last_save = 0, now
        return read

    def _start_watcher(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
        if not self.exporter.config.force_polling:
            self.watcher = Watcher(*_watch_roots(self.exporter.config), self.wake)

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        web = self.server.web.current() if self.server.web else None
        log.info("listening on %s (%s)", self.server.url_address, "https" if web and web.ssl_context else "http")
        self.server.serve_in_thread()
        if self.otlp is not None:
            self.otlp.start()
        self._start_watcher()
        exporter = self.exporter
        # On threads of their own: never in the tailing's way. Probes run in a pool, the bill's
        # fetches one after the other on the loop's thread.
        prober, biller = exporter.prober, exporter.biller
        probes = PollLoop("probes", lambda: prober.poll_once(wait=False), prober.next_due, lambda: prober.clock())
        billing = PollLoop("billing", biller.poll_once, biller.next_due, lambda: biller.clock())
        gc.freeze()  # what start-up built lives as long as the process: keep it out of every collection
        try:
            rescan = True
            while not self.stopping and self._step(rescan):  # the start-up read, slice by slice
                rescan = False
            self._warn_without_files()
            self.ready.set()
            last_glob = time.monotonic()
            while not self.stopping:
                config = exporter.config
                woken = False if exporter.behind else self.wake.wait(config.poll_interval_seconds)
                self.wake.clear()
                if self.stopping:
                    break
                if self.reload_requested:
                    self._reload()
                now = time.monotonic()
                rescan = woken or now - last_glob >= config.glob_interval_seconds
                if rescan:
                    last_glob = now
                self._step(rescan)
                if rescan:
                    self._warn_without_files()
            if not exporter.behind:  # what was written before the signal still counts; a backlog waits
                exporter.poll_once(rescan=False, budget=READ_SLICE)
        finally:
            probes.close()
            billing.close()
            if self.watcher is not None:
                self.watcher.close()
            if not exporter.save_positions():  # saved, open sessions go on after a restart; else they end here
                exporter.end_sessions()
            if self.otlp is not None:
                self.otlp.close()  # one last push of what was read
            self.server.shutdown()
            self.server.server_close()
            exporter.close()
        log.info("stopped")
        return 0
