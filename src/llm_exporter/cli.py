"""Command line, after the Prometheus exporter conventions.

    llm-exporter --config FILE [--web.listen-address HOST:PORT] [--web.config.file FILE]
                 [--log.level debug|info|warn|error] [--log.format logfmt|json]
    llm-exporter --log-path GLOB [--format F]          (no config file)
    llm-exporter check-config FILE [--web.config.file FILE] [--strict]
    llm-exporter replay [--config FILE] [--format F] [--openmetrics] FILE...
    llm-exporter backfill [--config FILE | --log-path GLOB] --output DIR ...   (see backfill/)

Exit codes: 0 ok, 1 runtime failure (for example the port is taken), 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import glob
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from llm_exporter import __version__
from llm_exporter.config import (
    DEFAULT_PORT,
    FORMATS,
    Config,
    ConfigError,
    add_source_arguments,
    config_for_glob,
    load_config,
    no_files,
    parse_config,
    sources_config,
    unreachable_latency_threshold,
)
from llm_exporter.logs import FORMATS as LOG_FORMATS
from llm_exporter.logs import LEVELS, configure_logging

DEFAULT_LISTEN = f":{DEFAULT_PORT}"


def parse_listen_address(value: str) -> tuple[str, int]:
    """HOST:PORT; an IPv6 address in brackets (`[::1]:8464`). No host (`:8464`) or `[::]` listens on
    IPv6 and IPv4 both where the OS allows; `0.0.0.0` on IPv4 only."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise argparse.ArgumentTypeError(f"{value!r}: put an IPv6 address in brackets, as in [::1]:{port}")
    return (host, int(port))


def _serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llm-exporter",
        description="Follow LLM completion logs and serve Prometheus metrics. "
        "Subcommands: check-config, replay, backfill.",
    )
    add_source_arguments(p, "follow these files, without a config file")
    p.add_argument(
        "--web.listen-address",
        dest="listen",
        type=parse_listen_address,
        default=parse_listen_address(DEFAULT_LISTEN),
        metavar="HOST:PORT",
        help=f"where to serve /metrics (default {DEFAULT_LISTEN})",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config",
        metavar="FILE",
        help="TLS and basic auth, in the exporter-toolkit web-config.yml format",
    )
    p.add_argument("--log.level", dest="log_level", default="info", choices=LEVELS)
    p.add_argument("--log.format", dest="log_format", default="logfmt", choices=LOG_FORMATS)
    p.add_argument("--version", action="version", version=f"llm-exporter {__version__}")
    return p


def _fail(message: str, code: int = 2) -> int:
    print(f"llm-exporter: {message}", file=sys.stderr)
    return code


def _serve(argv: Sequence[str]) -> int:
    args = _serve_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    from llm_exporter.daemon import Daemon
    from llm_exporter.exposition.webconfig import load_web_config

    try:
        if args.config:
            path = args.config
            config = load_config(path)
            reload = lambda: load_config(path)  # noqa: E731
        else:
            config = config_for_glob(args.log_path, args.format)
            reload = None
        web = load_web_config(args.web_config) if args.web_config else None
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        daemon = Daemon(config, reload, args.listen, web)
    except OSError as exc:
        host, port = args.listen
        return _fail(f"cannot listen on {f'[{host}]' if ':' in host else host}:{port}: {exc.strerror or exc}", 1)
    return daemon.run()


def _check_config(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="llm-exporter check-config",
        description="Validate a config file. A source that matches no file is a warning (exit 0) unless --strict.",
    )
    p.add_argument("file")
    p.add_argument("--web.config.file", dest="web_config", metavar="FILE")
    p.add_argument("--strict", action="store_true", help="exit 2 on warnings too")
    args = p.parse_args(argv)
    from llm_exporter.exposition.webconfig import load_web_config

    try:
        config = load_config(args.file)
        if args.web_config:
            load_web_config(args.web_config)
    except ConfigError as exc:
        return _fail(str(exc))
    # Valid for the daemon, yet an alert that silently can never fire.
    if problem := unreachable_latency_threshold(config.thresholds, config.histograms.duration_buckets):
        return _fail(f"{args.file}: {problem}")
    # Valid, yet it would read nothing: the daemon would start, serve and stay idle.
    warnings = [f"source {s.name}: {problem}" for s in config.sources if (problem := no_files(s))]
    for warning in warnings:
        print(f"llm-exporter: warning: {args.file}: {warning}", file=sys.stderr)
    if warnings and args.strict:
        return _fail(f"{args.file}: {len(warnings)} warning(s) (--strict)")
    names = ", ".join(s.name for s in config.sources)
    print(f"{args.file}: ok ({len(config.sources)} source(s): {names})")
    return 0


def _replay_config(config_path: str | None, fmt: str | None, files: list[str]) -> Config:
    """Sources for replay: each file joins the config source whose glob matches it, else a
    source named `replay` (`replay-2`, ...) in `--format`."""
    raw = asdict(load_config(config_path)) if config_path else {}
    configured = raw.get("sources", [])
    if not files:
        if not configured:
            raise ConfigError("replay: name the files to read, or a config with sources")
        return parse_config(raw, config_path or "replay")
    sources: list[dict[str, Any]] = []
    for i, path in enumerate(files):
        match = next((s for s in configured if fnmatch.fnmatch(path, s["path"])), None)
        name = match["name"] if match else ("replay" if i == 0 else f"replay-{i + 1}")
        if match and any(s["name"] == name for s in sources):
            name = f"{name}-{i + 1}"
        base = dict(match) if match else {"labels": {}}
        base.update(name=name, path=glob.escape(path), start_at="beginning")
        if fmt or not match:
            base["format"] = fmt or "auto"
        sources.append(base)
    if not config_path:
        return sources_config(sources, "replay")
    raw["sources"] = sources
    raw["positions_file"] = None
    return parse_config(raw, config_path)


def replay(config_path: str | None, fmt: str | None, files: list[str], openmetrics: bool = False) -> bytes:
    """Read the files (or the config's sources) to their end; the exposition they produce."""
    from llm_exporter.exporter import Exporter
    from llm_exporter.exposition import render

    exporter = Exporter(_replay_config(config_path, fmt, files), use_positions=False)
    gc.freeze()  # what start-up built lives as long as the process: keep it out of every collection
    exporter.drain()
    exporter.settle()
    exporter.close()
    families = (f for c in exporter.collectors(openmetrics) for f in c.collect())
    return render.openmetrics(families) if openmetrics else render.text(families)


def _replay(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="llm-exporter replay", description="Read log files to their end, print the metrics, exit."
    )
    p.add_argument("--config", metavar="FILE")
    p.add_argument("--format", choices=FORMATS)
    p.add_argument("--openmetrics", action="store_true", help="print OpenMetrics, with _created samples")
    p.add_argument("files", nargs="*", metavar="FILE")
    args = p.parse_args(argv)
    configure_logging("warn")
    for path in args.files:
        # The daemon would wait for a missing or unreadable file to become readable; replay
        # reads once, so it says what is wrong and fails instead.
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            return _fail(f"replay: {path}: {exc.strerror or exc}")
    try:
        sys.stdout.buffer.write(replay(args.config, args.format, args.files, args.openmetrics))
    except ConfigError as exc:
        return _fail(str(exc))
    return 0


def _backfill(argv: Sequence[str]) -> int:
    from llm_exporter.backfill.command import main

    return main(argv)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "check-config": _check_config,
    "replay": _replay,
    "backfill": _backfill,
}


def main(argv: Sequence[str] | None = None) -> int:
    whole_process = argv is None  # the process' own command line, not a caller's list
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):  # serving takes flags only: a first word is a command
        command = COMMANDS.get(argv[0])
        if command is None:
            import difflib

            close = difflib.get_close_matches(argv[0], COMMANDS, n=1)
            hint = f"; did you mean {close[0]}?" if close else f" (commands: {', '.join(COMMANDS)})"
            return _fail(f"unknown command {argv[0]!r}{hint}")
        code = command(argv[1:])
        if whole_process and command is _replay:
            # Its output written, a replay has nothing left to close: tearing down the heap it
            # built (every line's aggregates, the pending tables) would only cost time.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    return _serve(argv)
