"""`llm-exporter backfill`: the history in the logs, as Prometheus TSDB blocks.

    llm-exporter backfill [--config FILE | --log-path GLOB --format F] --output DIR
        [--from TIME] [--to TIME] [--step DURATION] [--job NAME] [--instance HOST:PORT]
        [--positions FILE] [--rules FILE]...

The configured sources' files are read with their rotated siblings (FILE.1, FILE-20240115,
FILE.2.gz, ...: compressed ones too, which live tailing leaves alone), their lines merged in the
order of their own timestamps, and fed through the live exporter's pipeline, whose clocks follow
the lines' time (so request time-to-lives and retry settling behave as they did live). Every
`--step` the store is sampled through the live exporter's collector, as a scrape would have, into
an OpenMetrics stream with timestamps and the `job` and `instance` labels the scrape adds; each
two-hour window of it becomes a TSDB block through `promtool tsdb create-blocks-from openmetrics`.

Lines without a usable timestamp are counted and reported, never placed at "now". Lines after
`--to` are left to the live exporter: where a positions file is written, each followed file's
offset is the byte where the first line past `--to` begins, so the exporter started on it counts
every line once across the seam. Its counters start from 0, so the backfilled series get a 0 just
after `--to`: Prometheus sees the reset it would see at any restart, even for a series that was
rare before and busy after.

With `--rules`, the recording rules' series are computed over the backfilled blocks by a temporary
Prometheus on loopback and `promtool tsdb create-blocks-from rules`, in rounds when rules read
other rules' series.
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import fnmatch
import gzip
import heapq
import lzma
import math
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import itemgetter
from typing import IO, Any

import orjson
import yaml
from prometheus_client.utils import floatToGoString

from llm_exporter.cli import add_source_arguments
from llm_exporter.config import Config, ConfigError, SourceConfig, config_for_glob, load_config
from llm_exporter.exporter import build_pipeline
from llm_exporter.formats import fields
from llm_exporter.formats.events import Event, Ignored
from llm_exporter.metrics.collector import LLMCollector
from llm_exporter.pipeline.labels import LabelLimiter
from llm_exporter.pipeline.price_cache import cache_dir
from llm_exporter.pipeline.pricing import PriceBook
from llm_exporter.pipeline.processor import SourcePipeline
from llm_exporter.sources.positions import Position, save_positions
from llm_exporter.sources.tailer import FINGERPRINT, glob_paths
from llm_exporter.store.aggregates import MetricsStore
from llm_exporter.store.health import Health

PACKAGE = "prometheus"  # Debian's package with both promtool and prometheus
DEFAULT_JOB = "llm-exporter"  # the job name of the bundle's prometheus.yml
DEFAULT_PORT = 8464
BLOCK = 2 * 3600.0  # promtool's block duration: one OpenMetrics file per aligned window of it
EXPIRE_EVERY = 0.5  # seconds of log time between time-to-live checks (the live poll interval)
HANDOVER_GAP = 0.001  # the backfilled counters go to 0 this long after --to
OPENERS: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw),
    ".bz2": lambda raw: bz2.BZ2File(raw),
    ".xz": lambda raw: lzma.LZMAFile(raw),  # noqa: SIM115 (the reader opens it in a with)
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class BackfillError(Exception):
    """What stops a backfill, said for the user."""


# -- arguments ---------------------------------------------------------------------------------


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


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llm-exporter backfill",
        description="Turn the history in the logs (rotated and compressed files included) into Prometheus "
        "TSDB blocks, sampled as a scrape would have.",
    )
    add_source_arguments(p, "read these files (and their rotations), without a config file")
    p.add_argument("--output", required=True, metavar="DIR", help="where the TSDB blocks go (new or empty)")
    p.add_argument("--from", dest="since", type=parse_time, metavar="TIME", help="default: the first line")
    p.add_argument("--to", dest="until", type=parse_time, metavar="TIME", help="the cut-over time; default: now")
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


# -- files -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFile:
    path: str
    dev: int
    ino: int
    size: int
    followed: bool  # live tailing follows it: the hand-over positions name it


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def history_files(source: SourceConfig) -> tuple[list[HistoryFile], list[str]]:
    """The files live tailing follows, and their rotated siblings (FILE.N, FILE-DATE, compressed or
    not); each file once. Also the paths left out: excluded by the config, or compressed in a way
    this cannot read."""
    live_excluded = source.exclude
    # The config's exclusions, less those that only keep live tailing off compressed files.
    excluded = [x for x in source.exclude if not any(_excluded(f"x{ext}", [x]) for ext in OPENERS)]
    followed = {p for p in glob_paths(source.path) if not _excluded(os.path.basename(p), live_excluded)}
    found: dict[tuple[int, int], HistoryFile] = {}
    skipped: list[str] = []
    for pattern in (source.path, source.path + ".*", source.path + "-*"):
        for path in sorted(glob_paths(pattern)):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in found:
                continue
            if _excluded(os.path.basename(path), excluded):
                skipped.append(path)
                continue
            found[(st.st_dev, st.st_ino)] = HistoryFile(
                path, st.st_dev, st.st_ino, st.st_size, path in followed and not _compressed(path)
            )
    return list(found.values()), skipped


def _compressed(path: str) -> bool:
    return os.path.splitext(path)[1] in OPENERS


# -- reading -----------------------------------------------------------------------------------


@dataclass
class Counts:
    """Per source: what the backfill could not place in time."""

    untimed: int = 0  # lines whose event has no usable timestamp
    before: int = 0  # lines before --from
    late: int = 0  # lines older than a sample already taken (out of order by more than a step)


class LineTime:
    """The clock of the pipelines and the store: the time of the line being processed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Reader:
    """One file's timed events, in file order, up to the first line past `until`."""

    def __init__(
        self, hf: HistoryFile, pipeline: SourcePipeline, counts: Counts, max_line: int, since: float, until: float
    ) -> None:
        self.file = hf
        self.pipeline = pipeline
        self.counts = counts
        self.max_line = max_line
        self.since = since
        self.until = until
        self.offset = 0  # bytes of whole lines read (uncompressed)
        self.line_start = 0  # where the line being handled begins
        self.stop = 0  # where the live exporter goes on: the first line not taken, or the end
        self.raw: IO[bytes] | None = None

    def disk_position(self) -> int:
        raw = self.raw
        return self.file.size if raw is None or raw.closed else raw.tell()

    def _lines(self) -> Iterator[bytes]:
        opener = OPENERS.get(os.path.splitext(self.file.path)[1])
        health = self.pipeline.health
        with open(self.file.path, "rb") as raw:
            self.raw = raw
            with opener(raw) if opener is not None else contextlib.nullcontext(raw) as fh:
                for line in fh:
                    if line[-1:] != b"\n":  # unfinished: left, as live tailing leaves it, for its newline
                        return
                    self.line_start = self.offset
                    self.offset += len(line)
                    health.bytes += len(line)
                    if len(line) > self.max_line + 1:
                        health.lines += 1
                        self.pipeline.reject("too_long", f"a line over {self.max_line} bytes")
                        continue
                    yield line[:-1]

    def events(self) -> Iterator[tuple[float, Event, SourcePipeline]]:
        pipeline = self.pipeline
        event_of = pipeline.event
        since, until = self.since, self.until
        for line in self._lines():
            event = event_of(line)
            if event is None:
                continue
            if type(event) is Ignored:  # no metric of its own, only counted
                pipeline.handle(event)
                continue
            t = event.time
            if t is None:
                self.counts.untimed += 1
            elif t > until:
                self.stop = self.line_start  # the live exporter's from here
                return
            elif t < since:
                self.counts.before += 1
            else:
                yield t, event, pipeline
        self.stop = self.offset


# -- writing -----------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _float(v: float) -> str:
    return repr(v) if math.isfinite(v) else floatToGoString(v)


def _ts(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 1000}.{ms % 1000:03d}"


class Blocks:
    """OpenMetrics text, one file per block window, each turned into a TSDB block by promtool (in
    the background, while the next window is written)."""

    def __init__(self, promtool: str, output: str, workdir: str) -> None:
        self.promtool = promtool
        self.output = output
        self.workdir = workdir
        self.window: int | None = None
        self.out: IO[str] | None = None
        self.running: tuple[subprocess.Popen[bytes], str] | None = None
        self.files = 0

    def write(self, t: float, lines: list[str]) -> None:
        """`lines` end in their timestamp's separator: each gets `t` appended."""
        window = int(t // BLOCK)
        if window != self.window or self.out is None:
            self._flush()
            self.window = window
            self.files += 1
            self.out = open(  # noqa: SIM115 (closed by _flush, when the window is complete)
                os.path.join(self.workdir, f"{self.files:06d}.om"), "w", encoding="utf-8"
            )
        stamp = _ts(t) + "\n"
        self.out.write(stamp.join(lines) + stamp if lines else "")

    def _flush(self) -> None:
        if self.out is None:
            return
        self.out.write("# EOF\n")
        self.out.close()
        path = self.out.name
        self.out = None
        self._wait()
        proc = subprocess.Popen(
            [self.promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", path, self.output],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.running = (proc, path)

    def _wait(self) -> None:
        if self.running is None:
            return
        proc, path = self.running
        self.running = None
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise BackfillError(f"promtool failed on {path}: {err.decode(errors='replace').strip()}")
        os.unlink(path)

    def close(self) -> None:
        self._flush()
        self._wait()


class Sampler:
    """The store as a scrape every `step` would have seen it, with the scrape's job and instance.

    A counter or histogram series sampled for the first time also gets a 0 at the sample before:
    then increase() over any window counts its first increments (Prometheus, scraping, would need
    the series' created timestamp for that)."""

    def __init__(self, collector: LLMCollector, blocks: Blocks, step: float, job: str, instance: str) -> None:
        self.collector = collector
        self.blocks = blocks
        self.step = step
        self.target = (("job", job), ("instance", instance))
        self.prefixes: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        self.counters: list[str] = []  # the prefixes of every counter and histogram sample
        self.last: float | None = None
        self.samples = 0

    def sample(self, t: float) -> None:
        lines: list[str] = []
        new: list[str] = []
        prefixes = self.prefixes
        for family in self.collector.collect():
            counting = family.type in ("counter", "histogram")
            for s in family.samples:
                key = (s.name, tuple(s.labels.items()))
                prefix = prefixes.get(key)
                if prefix is None:
                    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in (*key[1], *self.target))
                    prefix = prefixes[key] = f"{s.name}{{{labels}}} "
                    if counting:
                        new.append(prefix + "0 ")
                        self.counters.append(prefix)
                v = s.value
                lines.append(f"{prefix}{v if type(v) is int else _float(v)} ")
        if new:
            self.blocks.write(self.last if self.last is not None else t - self.step, new)
        self.blocks.write(t, lines)
        self.last = t
        self.samples += 1

    def restart(self, t: float) -> None:
        """Every counter and histogram at 0, as the live exporter starting at `t` exports them."""
        self.blocks.write(t, [p + "0 " for p in self.counters])


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Report:
    lines: int = 0
    bytes: int = 0
    files: list[HistoryFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    counts: dict[str, Counts] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    first: float | None = None
    last: float | None = None
    samples: int = 0
    positions: str | None = None
    blocks: list[str] = field(default_factory=list)
    rule_rounds: int = 0


class Progress:
    """A one-line progress bar on a terminal: lines, bytes and the time span covered."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = max(total, 1)
        self.enabled = enabled
        self.shown = 0.0

    def update(self, report: Report, done: int, now: float | None) -> None:
        if not self.enabled or time.monotonic() - self.shown < 0.2:
            return
        self.shown = time.monotonic()
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 24)
        span = f"{iso(report.first)} → {iso(now)}" if report.first is not None and now is not None else ""
        sys.stderr.write(f"\r[{bar:<24}] {frac:4.0%} {report.lines:,} lines {report.bytes / 1e6:,.1f} MB {span}\x1b[K")
        sys.stderr.flush()

    def end(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def find_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackfillError(f"{name} not found: install Debian's {PACKAGE} package (apt-get install {PACKAGE})")
    return path


def backfill(
    config: Config,
    output: str,
    since: float | None = None,
    until: float | None = None,
    step: float = 60.0,
    job: str = DEFAULT_JOB,
    instance: str = f"localhost:{DEFAULT_PORT}",
    positions: str | None = None,
    rules: Sequence[str] = (),
    progress: bool = False,
) -> Report:
    promtool = find_binary("promtool")
    prometheus = find_binary("prometheus") if rules else None
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise BackfillError(f"{output} is not an empty directory: the blocks go into a new one")
    if positions is not None and os.path.exists(positions):
        raise BackfillError(
            f"positions file {positions} exists: an exporter has read these logs already (stop it, and backfill "
            "--to the time it started with another --positions), or remove the file"
        )
    until = time.time() if until is None else until
    since = -math.inf if since is None else since
    if since > until:
        raise BackfillError(f"--from {iso(since)} is after --to {iso(until)}")
    os.makedirs(output, exist_ok=True)

    clock = LineTime()
    store = MetricsStore(clock)
    health = Health()
    prices = PriceBook(config.pricing.overrides, cache_dir())
    limiter = LabelLimiter(config.limits.max_label_values)
    report = Report()
    readers: list[_Reader] = []
    pipelines: list[SourcePipeline] = []
    for sc in config.sources:
        pipeline = build_pipeline(sc, config, store, health.source(sc.name), prices, limiter, clock)
        pipelines.append(pipeline)
        counts = report.counts[sc.name] = Counts()
        files, skipped = history_files(sc)
        report.files += files
        report.skipped += skipped
        readers += [_Reader(f, pipeline, counts, config.limits.max_line_bytes, since, until) for f in files]
    if not readers:
        raise BackfillError("no file to read: " + ", ".join(f"{s.name}: {s.path}" for s in config.sources))

    bar = Progress(sum(f.size for f in report.files), progress)
    collector = LLMCollector(store, lambda: config.thresholds, created=False)
    with tempfile.TemporaryDirectory(prefix="llm-exporter-backfill-") as workdir:
        blocks = Blocks(promtool, output, workdir)
        sampler = Sampler(collector, blocks, step, job, instance)

        def take(t: float) -> None:
            clock.now = max(clock.now, t)
            for p in pipelines:
                p.expire()
            sampler.sample(t)

        merged = heapq.merge(*(r.events() for r in readers), key=itemgetter(0))
        next_sample: float | None = None
        expired = -math.inf
        for n, (t, event, pipeline) in enumerate(merged, 1):
            if next_sample is None:
                start = t if since == -math.inf else since
                next_sample = math.ceil(start / step) * step
                report.first = t
            while t > next_sample:
                take(next_sample)
                next_sample += step
            if sampler.last is not None and t < sampler.last:
                report.counts[pipeline.name].late += 1
            if t > clock.now:
                clock.now = t
                if t - expired >= EXPIRE_EVERY:
                    expired = t
                    for p in pipelines:
                        p.expire()
            pipeline.handle(event)
            report.last = t if report.last is None else max(report.last, t)
            if n & 1023 == 0:
                report.lines = sum(h.lines for h in health.sources.values())
                report.bytes = sum(h.bytes for h in health.sources.values())
                bar.update(report, sum(r.disk_position() for r in readers), t)
        if next_sample is None:
            raise BackfillError("no line with a usable timestamp between --from and --to")
        while next_sample <= until:
            take(next_sample)
            next_sample += step
        if sampler.last is None or sampler.last < until:
            take(until)
        if positions is not None:
            sampler.restart(until + HANDOVER_GAP)
        blocks.close()
        prices.save()
        bar.end()
        report.samples = sampler.samples
    report.lines = sum(h.lines for h in health.sources.values())
    report.bytes = sum(h.bytes for h in health.sources.values())
    report.rejected = {name: dict(h.rejected) for name, h in health.sources.items() if h.rejected}
    if positions is not None:
        save_positions(positions, _handover(readers))
        report.positions = positions
    if rules:
        assert prometheus is not None
        report.rule_rounds = backfill_rules(promtool, prometheus, output, rules, report.first or until, until)
    report.blocks = sorted(d for d in os.listdir(output) if os.path.isfile(os.path.join(output, d, "meta.json")))
    return report


def _handover(readers: list[_Reader]) -> list[Position]:
    """Where the live exporter goes on in each file it follows: the first line past --to."""
    out = []
    for r in readers:
        if not r.file.followed:
            continue
        with open(r.file.path, "rb") as f:
            fingerprint = f.read(min(r.stop, FINGERPRINT))
        out.append(Position(r.pipeline.name, r.file.path, r.file.dev, r.file.ino, r.stop, fingerprint))
    return out


# -- recording rules ---------------------------------------------------------------------------


def rule_rounds(documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recording rules in rounds: a rule whose expression reads another's series comes in a
    round after it (promtool evaluates rules against stored data only). Alerting rules are left out."""
    rules = [
        (group, rule)
        for doc in documents
        for group in (doc or {}).get("groups", [])
        for rule in group.get("rules", [])
        if "record" in rule
    ]
    names = {rule["record"] for _, rule in rules}
    reads = [
        {n for n in names if re.search(rf"(?<![\w:]){re.escape(n)}(?![\w:])", str(rule["expr"]))} - {rule["record"]}
        for _, rule in rules
    ]
    remaining = list(range(len(rules)))
    rounds: list[dict[str, Any]] = []
    while remaining:
        waiting = {rules[i][1]["record"] for i in remaining}  # a series is there once all its rules ran
        ready = [i for i in remaining if not reads[i] & waiting]
        if not ready:
            cycle = ", ".join(sorted({rules[i][1]["record"] for i in remaining}))
            raise BackfillError(f"recording rules read each other in a cycle: {cycle}")
        groups: dict[str, dict[str, Any]] = {}
        for i in ready:
            group, rule = rules[i]
            out = groups.setdefault(group["name"], {k: v for k, v in group.items() if k != "rules"} | {"rules": []})
            out["rules"].append(rule)
        rounds.append({"groups": list(groups.values())})
        remaining = [i for i in remaining if i not in ready]
    return rounds


def backfill_rules(promtool: str, prometheus: str, output: str, files: Sequence[str], start: float, end: float) -> int:
    """Recording-rule series over [start, end], into `output`; returns the rounds run. promtool
    writes a block per rule and two hours: a day of them at a time is merged into one block per
    two hours, so that Prometheus loads a few dozen blocks a month, not thousands."""
    documents = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                documents.append(yaml.safe_load(f))
        except (OSError, yaml.YAMLError) as exc:
            raise BackfillError(f"cannot read rule file {path}: {exc}") from None
    rounds = rule_rounds(documents)
    with tempfile.TemporaryDirectory(prefix="llm-exporter-rules-") as workdir:
        for i, doc in enumerate(rounds):
            rule_file = os.path.join(workdir, f"round-{i}.yml")
            with open(rule_file, "w", encoding="utf-8") as f:
                yaml.safe_dump(doc, f, sort_keys=False)
            with temporary_prometheus(prometheus, output, os.path.join(workdir, f"data-{i}")) as url:
                day = math.floor(start / 86400) * 86400
                while day < end:
                    scratch = os.path.join(workdir, "rules")
                    os.makedirs(scratch)
                    run = subprocess.run(
                        [
                            promtool,
                            "tsdb",
                            "create-blocks-from",
                            "rules",
                            "-q",
                            f"--url={url}",
                            f"--start={max(math.floor(start), day)}",
                            f"--end={min(math.ceil(end), day + 86400)}",
                            f"--output-dir={scratch}",
                            rule_file,
                        ],
                        capture_output=True,
                        text=True,
                    )
                    if run.returncode != 0:
                        raise BackfillError(f"promtool could not backfill the recording rules: {run.stderr.strip()}")
                    merge_blocks(promtool, scratch, output, workdir)
                    shutil.rmtree(scratch)
                    day += 86400
    return len(rounds)


_DUMPED = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def merge_blocks(promtool: str, blocks: str, output: str, workdir: str) -> None:
    """The samples of the blocks in `blocks`, rewritten into `output` as one block per window."""
    os.makedirs(os.path.join(blocks, "wal"), exist_ok=True)  # promtool's dump reads a WAL too
    windows: dict[int, IO[str]] = {}
    with subprocess.Popen(
        [promtool, "tsdb", "dump", blocks], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as dump:
        assert dump.stdout is not None
        for line in dump.stdout:  # {__name__="x", k="v"} VALUE TIMESTAMP_MS
            labels, _, rest = line.rpartition("} ")
            value, _, ms = rest.partition(" ")
            pairs = {k: orjson.loads(f'"{v}"') for k, v in _DUMPED.findall(labels)}
            name = pairs.pop("__name__")
            window = int(ms) // int(BLOCK * 1000)
            out = windows.get(window)
            if out is None:
                out = windows[window] = open(  # noqa: SIM115 (closed below, with the others)
                    os.path.join(workdir, f"merge-{window}.om"), "w", encoding="utf-8"
                )
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())
            out.write(f"{name}{{{text}}} {value} {_ts(int(ms) / 1000)}\n")
        err = dump.stderr.read() if dump.stderr else ""
    if dump.returncode != 0:
        raise BackfillError(f"promtool could not read the rule blocks: {err.strip()}")
    for _, out in sorted(windows.items()):
        out.write("# EOF\n")
        out.close()
        run = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", out.name, output],
            capture_output=True,
            text=True,
        )
        os.unlink(out.name)
        if run.returncode != 0:
            raise BackfillError(f"promtool failed on the recording rules' samples: {run.stderr.strip()}")


@contextlib.contextmanager
def temporary_prometheus(binary: str, blocks: str, data: str) -> Iterator[str]:
    """A Prometheus on loopback over (links to) the blocks in `blocks`; yields its URL."""
    os.makedirs(data)
    for name in os.listdir(blocks):
        if os.path.isfile(os.path.join(blocks, name, "meta.json")):
            shutil.copytree(os.path.join(blocks, name), os.path.join(data, name), copy_function=os.link)
    config = os.path.join(data, "prometheus.yml")
    with open(config, "w", encoding="utf-8") as f:
        f.write("scrape_configs: []\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log_path = os.path.join(data, "prometheus.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",  # retention counts back from the newest block
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        _wait_ready(proc, url, log_path)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                raise BackfillError(f"the temporary Prometheus stopped: {f.read().strip()[-500:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise BackfillError(f"the temporary Prometheus was not ready within {timeout:.0f}s")


# -- command -----------------------------------------------------------------------------------


def _summary(report: Report, output: str, config_path: str | None, job: str, instance: str) -> str:
    compressed = sum(1 for f in report.files if _compressed(f.path))
    lines = [
        f"read {report.lines:,} lines ({report.bytes / 1e6:,.1f} MB) from {len(report.files)} files "
        f"({compressed} compressed)"
        + (f"; {iso(report.first)} to {iso(report.last)}" if report.first and report.last else ""),
        f"wrote {report.samples:,} samples of every series to {len(report.blocks)} blocks in {output}, "
        f'labelled job="{job}", instance="{instance}" (your scrape config must give the live series the same)',
    ]
    if report.rule_rounds:
        lines.append(f"recording rules evaluated over the history in {report.rule_rounds} round(s)")
    for name, c in sorted(report.counts.items()):
        if c.untimed:
            lines.append(f"source {name}: {c.untimed:,} lines without a usable timestamp: not counted")
        if c.before:
            lines.append(f"source {name}: {c.before:,} lines before --from: not counted")
        if c.late:
            lines.append(f"source {name}: {c.late:,} lines out of time order: counted at the next sample")
    for name, reasons in sorted(report.rejected.items()):
        detail = ", ".join(f"{reason} {n:,}" for reason, n in sorted(reasons.items()))
        lines.append(f"source {name}: rejected lines: {detail}")
    for path in report.skipped:
        lines.append(f"skipped {path} (excluded by the config, or a compression this cannot read)")
    lines.append("next:")
    lines.append(
        f"  prometheus --storage.tsdb.path={os.path.abspath(output)} --storage.tsdb.retention.time=<longer than "
        "the history>   (or stop Prometheus and move the block directories into its --storage.tsdb.path)"
    )
    if report.positions:
        start = f"llm-exporter --config {config_path}" if config_path else "llm-exporter with a config file"
        lines.append(f"  {start} whose positions_file is {report.positions}: it goes on where the backfill stopped")
    else:
        lines.append(
            "  no positions written (no positions_file, no --positions): an exporter started now reads the "
            "followed files from where its start_at says"
        )
    return "\n".join(lines)


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
    print(_summary(report, args.output, args.config, args.job, args.instance))
    return 0
