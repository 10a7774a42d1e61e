"""What a backfill did, and the summary it prints: lines and files read, samples and blocks
written, the lines it could not place in time or rejected, and what to run next."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

from llm_exporter.backfill.files import HistoryFile, is_compressed
from llm_exporter.sources.positions import Position


@dataclass
class Counts:
    """Per source: what the backfill could not place in time."""

    untimed: int = 0  # lines whose event has no usable timestamp
    out_of_range: int = 0  # lines dated outside the plausible window (before 2000, or in the future)
    before: int = 0  # lines before --from
    late: int = 0  # lines older than a sample already taken (out of order by more than a step)


@dataclass
class Report:
    lines: int = 0
    bytes: int = 0
    files: list[HistoryFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (path, what stopped its reading)
    plausible: tuple[float, float] = (0.0, 0.0)  # the line times taken: others are out of range
    counts: dict[str, Counts] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    first: float | None = None
    last: float | None = None
    samples: int = 0
    positions: str | None = None
    handover: list[Position] = field(default_factory=list)  # the positions file's content
    blocks: list[str] = field(default_factory=list)
    rule_rounds: int = 0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(report: Report, output: str, config_path: str | None, job: str, instance: str) -> str:
    compressed = sum(1 for f in report.files if is_compressed(f.path))
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
        if c.out_of_range:
            first, last = report.plausible
            lines.append(
                f"source {name}: {c.out_of_range:,} lines dated before {iso(first)} or after {iso(last)}: "
                "out of range, not counted"
            )
        if c.before:
            lines.append(f"source {name}: {c.before:,} lines before --from: not counted")
        if c.late:
            lines.append(f"source {name}: {c.late:,} lines out of time order: counted at the next sample")
    for name, reasons in sorted(report.rejected.items()):
        detail = ", ".join(f"{reason} {n:,}" for reason, n in sorted(reasons.items()))
        lines.append(f"source {name}: rejected lines: {detail}")
    for path, error in report.damaged:
        lines.append(f"could not read all of {path}: {error}; the lines before it were backfilled")
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
