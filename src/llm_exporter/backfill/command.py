"""The command line of `llm-exporter backfill`: its arguments, the run, the summary printed."""

from __future__ import annotations

import argparse
import re
import socket
import sys
import time
from collections.abc import Sequence

from llm_exporter.backfill.errors import BackfillError
from llm_exporter.backfill.report import summary
from llm_exporter.backfill.run import DEFAULT_JOB, backfill
from llm_exporter.config import DEFAULT_PORT, ConfigError, add_source_arguments, config_for_glob, load_config
from llm_exporter.formats import fields

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """Prometheus durations: 30s, 1m, 1h30m, 2d."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30s, 1m, 1h30m")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    return seconds


def parse_time(text: str) -> float:
    """RFC 3339 / ISO 8601 (no zone: UTC) or epoch seconds; `now`."""
    if text == "now":
        return time.time()
    moment = fields.timestamp(text)
    if moment is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time such as 2024-01-15T00:00:00Z or 1705276800")
    return moment


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llm-exporter backfill",
        description="Turn the history in the logs (rotated and compressed files included) into Prometheus "
        "TSDB blocks, sampled as a scrape would have.",
    )
    add_source_arguments(p, "read these files (and their rotations), without a config file")
    p.add_argument("--output", required=True, metavar="DIR", help="where the TSDB blocks go (new or empty)")
    p.add_argument("--from", dest="since", type=parse_time, metavar="TIME", help="default: the first line")
    p.add_argument(
        "--to",
        dest="until",
        type=parse_time,
        metavar="TIME",
        help="the cut-over time; default: the last line's (`now`: now)",
    )
    p.add_argument("--step", type=parse_duration, default=60.0, metavar="DURATION", help="default 1m")
    p.add_argument("--job", default=DEFAULT_JOB, help=f"the scrape's job label (default {DEFAULT_JOB})")
    p.add_argument(
        "--instance",
        default=f"{socket.gethostname()}:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        help="the scrape's instance label: the target as Prometheus names it (default HOSTNAME:8464)",
    )
    p.add_argument(
        "--positions",
        metavar="FILE",
        help="write the live exporter's positions at --to here (default: the config's positions_file)",
    )
    p.add_argument(
        "--rules",
        action="append",
        default=[],
        metavar="FILE",
        help="Prometheus rule files whose recording rules to compute over the history (repeatable)",
    )
    return p


def main(argv: Sequence[str]) -> int:
    from llm_exporter.logs import configure_logging

    args = _parser().parse_args(argv)
    configure_logging("warn")
    try:
        config = load_config(args.config) if args.config else config_for_glob(args.log_path, args.format)
        positions = args.positions if args.positions is not None else config.positions_file
        report = backfill(
            config,
            args.output,
            args.since,
            args.until,
            args.step,
            args.job,
            args.instance,
            positions or None,
            args.rules,
            progress=sys.stderr.isatty(),
        )
    except (ConfigError, BackfillError) as exc:
        print(f"llm-exporter backfill: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    print(summary(report, args.output, args.config, args.job, args.instance))
    return 0
