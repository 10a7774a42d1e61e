"""The store sampled every step as a scrape would have seen it, into the blocks' OpenMetrics."""

from __future__ import annotations

from llm_exporter.backfill.blocks import Blocks
from llm_exporter.exposition import render
from llm_exporter.metrics.collector import LLMCollector


class Sampler:
    """The store as a scrape every `step` would have seen it, with the scrape's job and instance.

    A counter or histogram series sampled for the first time also gets a 0 at the sample before:
    then increase() over any window counts its first increments (Prometheus, scraping, would need
    the series' created timestamp for that)."""

    def __init__(self, collector: LLMCollector, blocks: Blocks, step: float, job: str, instance: str) -> None:
        self.collector = collector
        self.blocks = blocks
        self.step = step
        self.target = {"job": job, "instance": instance}
        self.series: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}  # a sample key: its text, made once
        self.counters: list[str] = []  # the series of every counter and histogram sample
        self.last: float | None = None
        self.samples = 0

    def sample(self, t: float) -> None:
        lines: list[str] = []
        new: list[str] = []
        known = self.series
        line = render.sample
        for family in self.collector.collect():
            counting = family.type in ("counter", "histogram")
            for s in family.samples:
                key = (s.name, tuple(s.labels.items()))
                series = known.get(key)
                if series is None:
                    series = known[key] = render.series(s.name, {**s.labels, **self.target})
                    if counting:
                        new.append(line(series, 0))
                        self.counters.append(series)
                lines.append(line(series, s.value))
        if new:
            self.blocks.write(self.last if self.last is not None else t - self.step, new)
        self.blocks.write(t, lines)
        self.last = t
        self.samples += 1

    def restart(self, t: float) -> None:
        """Every counter and histogram at 0, as the live exporter starting at `t` exports them."""
        self.blocks.write(t, [render.sample(series, 0) for series in self.counters])
