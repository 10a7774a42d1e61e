"""A backfill run: the history files' timed events merged by line time (a k-way merge) through the
live exporter's pipelines, whose clock is the line's time; the store sampled every step; the
positions where the live exporter goes on; the recording rules last."""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from operator import itemgetter

from llm_exporter.backfill.billing import with_bill
from llm_exporter.backfill.blocks import Blocks
from llm_exporter.backfill.errors import BackfillError
from llm_exporter.backfill.files import history_files
from llm_exporter.backfill.progress import Progress
from llm_exporter.backfill.promtool import find_binary
from llm_exporter.backfill.reader import Reader
from llm_exporter.backfill.report import Counts, Report, iso
from llm_exporter.backfill.rules import backfill_rules
from llm_exporter.backfill.sampler import Sampler
from llm_exporter.config import DEFAULT_PORT, Config
from llm_exporter.exporter import build_pipeline
from llm_exporter.metrics.collector import LLMCollector
from llm_exporter.pipeline.labels import LabelLimiter
from llm_exporter.pipeline.price_cache import cache_dir
from llm_exporter.pipeline.pricing import PriceBook
from llm_exporter.pipeline.processor import SourcePipeline
from llm_exporter.sources.positions import Position, save_positions
from llm_exporter.sources.tailer import FINGERPRINT
from llm_exporter.store.aggregates import MetricsStore
from llm_exporter.store.health import Health

DEFAULT_JOB = "llm-exporter"  # the job name of the bundle's prometheus.yml
EXPIRE_EVERY = 0.5  # seconds of log time between time-to-live checks (the live poll interval)
HANDOVER_GAP = 0.001  # the backfilled counters go to 0 this long after --to
EARLIEST = 946684800.0  # 2000-01-01T00:00:00Z: no LLM app logged before; an earlier time is a broken one
AHEAD = 86400.0  # a line dated more than this past now is a broken time, not a clock a little ahead


def plausible(now: float) -> tuple[float, float]:
    """The line times a backfill takes (and --from and --to may say): from 2000 to a day from now.
    A line outside (epoch 0, year 1, 9999) is counted as out of range and skipped: it neither
    ends its file nor stretches the sampled window over decades."""
    return EARLIEST, now + AHEAD


class LineTime:
    """The clock of the pipelines and the store: the time of the line being processed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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
    # No --to: up to the last line's time (sampling up to now would write every step since the
    # logs ended: years of empty blocks for an old log). `--to now` still says now.
    to_last_line = until is None
    until = math.inf if until is None else until
    since = -math.inf if since is None else since
    if since > until:
        raise BackfillError(f"--from {iso(since)} is after --to {iso(until)}")
    created = not os.path.exists(output)
    # Blocks are made in a hidden directory beside where they go, and moved in only once all are
    # done: a failure, Ctrl-C or SIGTERM leaves the output as it was (and the temporary files gone).
    try:
        os.makedirs(output, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".llm-exporter-unfinished-", dir=output)
    except OSError as exc:
        raise BackfillError(f"cannot write the blocks into {output}: {exc}") from None
    try:
        with Progress(progress) as bar:  # cleared however it ends
            report = _run(
                config,
                promtool,
                prometheus,
                staging,
                since,
                until,
                to_last_line,
                step,
                job,
                instance,
                positions,
                rules,
                bar,
            )
        for name in os.listdir(staging):
            if os.path.isfile(os.path.join(staging, name, "meta.json")):
                os.rename(os.path.join(staging, name), os.path.join(output, name))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(output)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    if positions is not None:
        save_positions(positions, report.handover)
        report.positions = positions
    report.blocks = sorted(d for d in os.listdir(output) if os.path.isfile(os.path.join(output, d, "meta.json")))
    return report


def _run(
    config: Config,
    promtool: str,
    prometheus: str | None,
    output: str,
    since: float,
    until: float,
    to_last_line: bool,
    step: float,
    job: str,
    instance: str,
    positions: str | None,
    rules: Sequence[str],
    bar: Progress,
) -> Report:
    """The backfill into `output` (the staging directory)."""
    clock = LineTime()
    store = MetricsStore(clock)
    health = Health()
    prices = PriceBook(config.pricing.overrides, cache_dir())
    limiter = LabelLimiter(config.limits.max_label_values)
    report = Report(plausible=plausible(time.time()))
    readers: list[Reader] = []
    pipelines: list[SourcePipeline] = []
    for sc in config.sources:
        pipeline = build_pipeline(sc, config, store, health.source(sc.name), prices, limiter, clock)
        pipelines.append(pipeline)
        counts = report.counts[sc.name] = Counts()
        files, skipped = history_files(sc)
        report.files += files
        report.skipped += skipped
        readers += [
            Reader(f, pipeline, counts, config.limits.max_line_bytes, since, until, report.plausible) for f in files
        ]
    if not readers:
        raise BackfillError("no file to read: " + ", ".join(f"{s.name}: {s.path}" for s in config.sources))

    bar.total = max(sum(f.size for f in report.files), 1)
    collector = LLMCollector(store, lambda: config, False, clock, lambda: config.limits.ratelimit_stale_seconds)
    collector = with_bill(collector, config, limiter, until)
    with (
        tempfile.TemporaryDirectory(prefix="llm-exporter-backfill-") as workdir,
        Blocks(promtool, output, workdir, bar.written) as blocks,
    ):
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
        if to_last_line:
            assert report.last is not None
            until = report.last
            for p in pipelines:
                p.settle()  # no later line will say whether a failed attempt was retried
        for p in pipelines:
            p.end_sessions()  # the live exporter after the seam begins its own
        bar.read(until)
        while next_sample <= until:
            take(next_sample)
            next_sample += step
        if sampler.last is None or sampler.last < until:
            take(until)
        if positions is not None:
            sampler.restart(until + HANDOVER_GAP)
        blocks.close()
        prices.save()
        report.samples = sampler.samples
    report.lines = sum(h.lines for h in health.sources.values())
    report.bytes = sum(h.bytes for h in health.sources.values())
    report.rejected = {name: dict(h.rejected) for name, h in health.sources.items() if h.rejected}
    report.damaged = [(r.file.path, r.error) for r in readers if r.error is not None]
    if positions is not None:
        report.handover = _handover(readers)
    if rules:
        assert prometheus is not None
        report.rule_rounds = backfill_rules(promtool, prometheus, output, rules, report.first or until, until, bar)
    return report


def _handover(readers: list[Reader]) -> list[Position]:
    """Where the live exporter goes on in each file it follows: the first line past --to."""
    out = []
    for r in readers:
        if not r.file.followed:
            continue
        with open(r.file.path, "rb") as f:
            fingerprint = f.read(min(r.stop, FINGERPRINT))
        out.append(Position(r.pipeline.name, r.file.path, r.file.dev, r.file.ino, r.stop, fingerprint))
    return out
