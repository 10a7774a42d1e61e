"""The bill's gauges (llm_billing_cost_usd and the days it covers) and its fetches' health."""

from __future__ import annotations

from collections.abc import Iterator

from llm_exporter.metrics.families import Family
from llm_exporter.pipeline.billing import Biller
from llm_exporter.semconv import LABEL_MODEL, LABEL_PROVIDER


class BillingCollector:
    def __init__(self, biller: Biller) -> None:
        self.biller = biller

    def collect(self) -> Iterator[Family]:
        biller = self.biller
        cost = Family(
            "llm_billing_cost_usd",
            "What the provider's own cost report bills for a closed UTC day, in US dollars, per model where it says.",
            "gauge",
        )
        for (provider, model, day), usd in sorted(biller.bill().items()):
            cost.add_sample(cost.name, {LABEL_PROVIDER: provider, LABEL_MODEL: model, "day": day}, usd)
        days = Family(
            "llm_billing_day_timestamp_seconds",
            "The start (UTC midnight) of each day llm_billing_cost_usd covers, for rules to find a day by its date.",
            "gauge",
        )
        for day, start in biller.day_starts():
            days.add_sample(days.name, {"day": day}, start)
        fetches = Family(
            "llm_exporter_billing_fetches", "Fetches of the providers' cost reports, by result.", "counter"
        )
        last = Family(
            "llm_exporter_billing_last_success_timestamp_seconds",
            "When a provider's cost report was last fetched whole.",
            "gauge",
        )
        with biller.lock:
            for (provider, result), n in sorted(biller.fetches.items()):
                fetches.add_sample(f"{fetches.name}_total", {LABEL_PROVIDER: provider, "result": result}, n)
            success: dict[str, float] = {}
            for state in biller.states:
                if state.last_success is not None:
                    success[state.provider] = max(success.get(state.provider, 0.0), state.last_success)
        for provider, at in sorted(success.items()):
            last.add_sample(last.name, {LABEL_PROVIDER: provider}, at)
        yield from (family for family in (cost, days, fetches, last) if family.samples)
