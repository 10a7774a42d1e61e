"""The command line of `llm-exporter backfill`: its arguments, the run, the summary printed."""

from __future__ import annotations

import argparse
import re
import signal
import socket
import sys
import time
from collections.abc import Sequence

from llm_exporter.backfill.errors import BackfillError, Stopped
from llm_exporter.backfill.report import iso, summary
from llm_exporter.backfill.run import DEFAULT_JOB, backfill, plausible
from llm_exporter.config import DEFAULT_PORT, ConfigError, add_source_arguments, config_for_glob, load_config
from llm_exporter.formats import fields

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# A step under a second samples faster than any scrape (and, small enough, stops adding to a
# timestamp at all); one over a day leaves Prometheus' 5-minute look-back nothing to find.
STEPS = (1.0, 86400.0)


def parse_duration(text: str) -> float:
    """Prometheus durations: 30s, 1m, 1h30m, 2d."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30s, 1m, 1h30m")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    return seconds


def parse_step(text: str) -> float:
    """A duration between STEPS' bounds."""
    seconds = parse_duration(text)
    if not STEPS[0] <= seconds <= STEPS[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not a step between 1s and 1d")
    return seconds


def parse_time(text: str) -> float:
    """RFC 3339 / ISO 8601 (no zone: UTC) or epoch seconds; `now`. Within the plausible window
    of line times (run.plausible)."""
    now = time.time()
    if text == "now":
        return now
    moment = fields.timestamp(text)
    if moment is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time such as 2024-01-15T00:00:00Z or 1705276800")
    first, last = plausible(now)
    if not first <= moment <= last:
        raise argparse.ArgumentTypeError(f"{text!r} is not between {iso(first)} and {iso(last)} (a day from now)")
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
    p.add_argument("--step", type=parse_step, default=60.0, metavar="DURATION", help="from 1s to 1d; default 1m")
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


def _stop(signum: int, _frame: object) -> None:
    for other in (signal.SIGINT, signal.SIGTERM):  # a second one would interrupt the clean-up
        signal.signal(other, signal.SIG_IGN)
    raise Stopped(signum)


def main(argv: Sequence[str]) -> int:
    from llm_exporter.logs import configure_logging

    args = _parser().parse_args(argv)
    configure_logging("warn")
    try:
        config = load_config(args.config) if args.config else config_for_glob(args.log_path, args.format)
    except ConfigError as exc:
        print(f"llm-exporter backfill: {exc}", file=sys.stderr)
        return 2
    # From here, raised as Stopped, so that the clean-ups run (not earlier: a signal raised inside
    # the config's first validation comes out wrapped); the callers' handlers back after.
    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
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
    except BackfillError as exc:
        print(f"llm-exporter backfill: {exc}", file=sys.stderr)
        return 1
    except Stopped as exc:
        print(
            f"llm-exporter backfill: stopped by {signal.Signals(exc.signum).name}: no block written to "
            f"{args.output}, temporary files removed",
            file=sys.stderr,
        )
        return 128 + exc.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(summary(report, args.output, args.config, args.job, args.instance))
    return 0
