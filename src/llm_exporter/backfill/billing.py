"""The bill in the backfilled history (issue 24): with a `billing:` section, each sample also has
llm_billing_cost_usd and llm_billing_day_timestamp_seconds as the live exporter would have
exported them at that time (the `billing.days` closed days before it), so that the recording
rules of prometheus/rules/llm_billing.yml (`--rules`) compare our cost and the bill of every day
of the history, not only of the days after the exporter started.

The providers' cost reports are fetched once, at the first sample, from `billing.days` before
the history's first day to the day of `--to` (or today); a failed fetch is a warning and the
history goes without that account's bill. The bill is today's: days it has revised since are
backfilled as they are billed now.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timezone

from llm_exporter.config import BillingAccount, Config
from llm_exporter.metrics.billing import BillingCollector
from llm_exporter.metrics.collector import LLMCollector
from llm_exporter.metrics.families import Family
from llm_exporter.pipeline.billing import Biller, Costs, closed_days, fetch_bill
from llm_exporter.pipeline.labels import LabelLimiter

DAY = 86400.0
FAMILIES = frozenset({"llm_billing_cost_usd", "llm_billing_day_timestamp_seconds"})  # not the live fetches' health


class BilledCollector(LLMCollector):
    """The LLM metrics of the backfill's store, and the bill as of the sample's time."""

    def __init__(self, inner: LLMCollector, biller: Biller) -> None:
        super().__init__(inner.store, inner.config, inner.f.created, inner.clock, inner.ratelimit_stale)
        self.biller = biller
        self._day: float | None = None  # the bill's families change only when a UTC day ends
        self._bill: list[Family] = []

    def collect(self) -> Iterable[Family]:
        yield from super().collect()
        day = self.clock() // DAY
        if day != self._day:
            self.biller.poll_once()  # once: the first sample's, then never due again
            self._day = day
            self._bill = [f for f in BillingCollector(self.biller).collect() if f.name in FAMILIES]
        yield from self._bill


def with_bill(collector: LLMCollector, config: Config, limiter: LabelLimiter, until: float) -> LLMCollector:
    """`collector`, and the bill where the config has a `billing:` section, as of the sample's time
    (the collector's clock); `until`: the history's end (inf: up to now)."""
    if not config.billing.accounts:
        return collector
    last_day = closed_days(datetime.fromtimestamp(min(until, time.time()), timezone.utc), 0)[1]

    def fetch(account: BillingAccount, start: datetime, _end: datetime) -> Costs:
        return fetch_bill(account, start, last_day)  # from `days` before the first sample

    biller = Biller(
        config.billing,
        limiter,
        clock=lambda: 0.0,  # due at the first sample, and not again within the history
        now=lambda: datetime.fromtimestamp(collector.clock(), timezone.utc),
        fetch=fetch,
    )
    return BilledCollector(collector, biller)
