"""LLM / Cost: spend, projections and budget."""

# ruff: noqa: E501  (PromQL strings read better unwrapped)
from __future__ import annotations

from .common import BUDGET_THR, COST_HOUR_THR, DAILY_THR, JI, MODEL_LEGEND, PM, SEL, ZERO_BAD, dashboard, llm_vars
from .panels import Json, bargauge, col, piechart, row, sized, stat, table, targets, thresholds, timeseries

# Logs vs bill (prometheus/rules/llm_billing.yml): the bill and our count per closed UTC day. The
# bill's series have no job or instance (deduplicated over exporters): filtered by provider and model.
BILL_SEL = 'gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"'
BILLED = f"provider_model_day:llm_billing_cost_usd:max{{{BILL_SEL}}}"
BILLED_MODELS = f'provider_model_day:llm_billing_cost_usd:max{{{BILL_SEL}, gen_ai_request_model!="_all"}}'
COUNTED = f"last_over_time(provider_model_day:llm_cost_usd:closed_day{{{BILL_SEL}}}[35d])"
CAPTURE_THR = thresholds((None, "red"), (0.95, "green"), (1.05, "red"))  # the default band


# The owners' budgets (the exporter config's `budgets:`) as the rules join them: one series per
# budget across exporters, the lowest where two export the same match. Fleet-wide, as the rules
# (prometheus/rules/llm_owner_budget.yml) are: the job and instance variables do not apply.
OWNER_BUDGET = "min without (job, instance) (llm_budget_usd)"
# A share of a budget spent: the default owner_budget_warn_ratio, then all of it.
SHARE_THR = thresholds((None, "green"), (0.8, "orange"), (1, "red"))
OWNERS_DESC = (
    " Fleet-wide (every exporter); the job, instance, provider and model variables do not apply."
    " Budgets come from the exporter config's budgets:, owners are the static labels and label_fields of the sources."
)


def owner_budgets() -> list[Json]:
    """The row of budgets per owner: spend against budget, top owners, projection."""
    return [
        row("Budgets per owner"),
        sized(
            bargauge(
                "Share of budget spent this month",
                targets(
                    (
                        f"budget:llm_cost_usd:month_to_date / on(budget) group_left() {OWNER_BUDGET}",
                        "{{budget}}",
                    ),
                    instant=True,
                ),
                unit="percentunit",
                thr=SHARE_THR,
                decimals=0,
                desc="Each budget's spend since the first of the month (UTC) over its monthly_usd." + OWNERS_DESC,
            ),
            8,
            8,
        ),
        sized(
            table(
                "Budgets this month",
                targets(
                    ("budget:llm_cost_usd:month_to_date", ""),
                    ("budget:llm_cost_usd:projected_month_end", ""),
                    (OWNER_BUDGET, ""),
                ),
                rename={
                    "budget": "Budget",
                    "Value #A": "Spent this month",
                    "Value #B": "Projected month end",
                    "Value #C": "Monthly budget",
                },
                overrides=[
                    col("Value #A", "currencyUSD", decimals=2),
                    col("Value #B", "currencyUSD", decimals=2),
                    col("Value #C", "currencyUSD", decimals=2),
                ],
                desc="Spent since the first of the month, that plus the last 24 hours' rate for the days left, and the"
                " budget, per budget." + OWNERS_DESC,
            ),
            8,
            8,
        ),
        sized(
            bargauge(
                "Top owners this month",
                targets(("topk(10, owner:llm_cost_usd:month_to_date)", ""), instant=True),
                unit="currencyUSD",
                decimals=2,
                desc="The ten owner label sets (every source label but the model's) that spent the most since the first"
                " of the month, with a budget or not." + OWNERS_DESC,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Projected month end by owner vs budget",
                targets(
                    ("budget:llm_cost_usd:projected_month_end", "{{budget}} projected"),
                    ("budget:llm_cost_usd:month_to_date", "{{budget}} spent"),
                    (OWNER_BUDGET, "{{budget}} budget"),
                ),
                unit="currencyUSD",
                decimals=2,
                desc="Per budget: spent this month, the projection to the month's end (the last 24 hours' rate), and"
                " the budget." + OWNERS_DESC,
            ),
            24,
            8,
        ),
    ]


def cost() -> Json:
    budget = f'min(llm_alert_threshold{{{JI}, threshold="monthly_budget_usd"}}) or on() vector(500)'
    hourly_max = f'min(llm_alert_threshold{{{JI}, threshold="max_cost_per_hour_usd"}}) or on() vector(10)'
    p = [
        row("Spend"),
        sized(
            stat(
                "Last hour",
                targets((f"sum(model:llm_cost_usd:increase1h{{{SEL}}})", "USD")),
                unit="currencyUSD",
                thr=COST_HOUR_THR,
                decimals=2,
                color_mode="background",
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Last 24 hours",
                targets((f"sum(model:llm_cost_usd:increase24h{{{SEL}}})", "USD")),
                unit="currencyUSD",
                thr=DAILY_THR,
                decimals=2,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Last 7 days",
                targets((f"sum(model:llm_cost_usd:increase7d{{{SEL}}})", "USD")),
                unit="currencyUSD",
                decimals=2,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Projected today",
                targets(
                    (f"sum(model:llm_cost_usd:projected_daily_1h{{{SEL}}})", "from 1h rate"),
                    (f"sum(model:llm_cost_usd:projected_daily_24h{{{SEL}}})", "from 24h rate"),
                ),
                unit="currencyUSD",
                thr=DAILY_THR,
                decimals=2,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Projected 30 days",
                targets(
                    (f"sum(model:llm_cost_usd:projected_monthly_1h{{{SEL}}})", "from 1h rate"),
                    (f"sum(model:llm_cost_usd:projected_monthly_24h{{{SEL}}})", "from 24h rate"),
                ),
                unit="currencyUSD",
                thr=BUDGET_THR,
                decimals=2,
                graph=False,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Monthly budget",
                targets((budget, "budget")),
                unit="currencyUSD",
                decimals=0,
                graph=False,
                desc='llm_alert_threshold{threshold="monthly_budget_usd"}, 500 when no exporter exports it.',
            ),
            4,
            4,
        ),
        row("Over time"),
        sized(
            timeseries(
                "Hourly cost, last 24 hours",
                targets((f"sum by ({PM}) (increase(llm_cost_usd_total{{{SEL}}}[1h]))", MODEL_LEGEND)),
                unit="currencyUSD",
                bars=True,
                stack=True,
                decimals=3,
                interval="1h",
                time_from="24h",
                calcs=("sum", "max"),
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Daily cost, last 7 days",
                targets((f"sum by ({PM}) (increase(llm_cost_usd_total{{{SEL}}}[1d]))", MODEL_LEGEND)),
                unit="currencyUSD",
                bars=True,
                stack=True,
                decimals=2,
                interval="1d",
                time_from="7d",
                calcs=("sum", "max"),
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Cost per hour vs threshold",
                targets(
                    (f"sum(model:llm_cost_usd:hourly_rate1h{{{SEL}}})", "last hour"),
                    (f"sum(model:llm_cost_usd:hourly_rate5m{{{SEL}}})", "5m rate"),
                    (hourly_max, "max_cost_per_hour_usd"),
                ),
                unit="currencyUSD",
                decimals=2,
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Projected 30-day cost vs budget",
                targets(
                    (f"sum(model:llm_cost_usd:projected_monthly_1h{{{SEL}}})", "from 1h rate"),
                    (f"sum(model:llm_cost_usd:projected_monthly_24h{{{SEL}}})", "from 24h rate"),
                    (budget, "monthly_budget_usd"),
                ),
                unit="currencyUSD",
                decimals=2,
            ),
            12,
            8,
        ),
        row("By model"),
        sized(
            piechart(
                "Cost by model, last 24 hours",
                targets((f"sum by ({PM}) (model:llm_cost_usd:increase24h{{{SEL}}})", MODEL_LEGEND)),
                unit="currencyUSD",
            ),
            8,
            8,
        ),
        sized(
            bargauge(
                "Cost per hour by model (1h)",
                targets((f"sum by ({PM}) (model:llm_cost_usd:hourly_rate1h{{{SEL}}})", MODEL_LEGEND)),
                unit="currencyUSD",
                thr=COST_HOUR_THR,
                decimals=3,
            ),
            8,
            8,
        ),
        sized(
            table(
                "Tokens and cost by model, last 24 hours",
                targets(
                    (f'sum by ({PM}) (increase(llm_tokens_total{{{SEL}, gen_ai_token_type="input"}}[24h]))', ""),
                    (f'sum by ({PM}) (increase(llm_tokens_total{{{SEL}, gen_ai_token_type="output"}}[24h]))', ""),
                    (f"sum by ({PM}) (model:llm_cost_usd:increase24h{{{SEL}}})", ""),
                ),
                rename={
                    "gen_ai_provider_name": "Provider",
                    "gen_ai_request_model": "Model",
                    "Value #A": "Input tokens",
                    "Value #B": "Output tokens",
                    "Value #C": "Cost",
                },
                overrides=[
                    col("Value #A", "short", decimals=0),
                    col("Value #B", "short", decimals=0),
                    col("Value #C", "currencyUSD", decimals=4),
                ],
            ),
            8,
            8,
        ),
        row("Logs vs bill"),
        sized(
            table(
                "Billed and counted per closed UTC day",
                targets(
                    (f"sum by (gen_ai_provider_name, day) ({BILLED})", ""),
                    (f"sum by (gen_ai_provider_name, day) ({COUNTED})", ""),
                    (
                        f"sum by (gen_ai_provider_name, day) ({COUNTED}) / sum by (gen_ai_provider_name, day) ({BILLED})",
                        "",
                    ),
                ),
                rename={
                    "gen_ai_provider_name": "Provider",
                    "day": "Day (UTC)",
                    "Value #A": "Billed",
                    "Value #B": "Counted",
                    "Value #C": "Counted / billed",
                },
                overrides=[
                    col("Value #A", "currencyUSD", decimals=2),
                    col("Value #B", "currencyUSD", decimals=2),
                    col("Value #C", "percentunit", thr=CAPTURE_THR, decimals=1, color_cells=True),
                ],
                desc="What the provider's cost report bills for each closed UTC day (llm_billing_cost_usd, from the"
                " exporter's billing: section) beside llm_cost_usd_total's increase over that day. The bill of a day"
                " keeps changing for hours after it ends; LLMBillingCaptureOutOfBand waits capture_settle_hours.",
            ),
            10,
            9,
        ),
        sized(
            timeseries(
                "Capture ratio of the last closed days (counted / billed)",
                targets(
                    (
                        'provider_day:llm_billing_capture:ratio{gen_ai_provider_name=~"$provider"}',
                        "{{gen_ai_provider_name}} {{day}}",
                    ),
                    ('fleet:llm_alert_threshold:strictest{threshold="min_capture_ratio"}', "min_capture_ratio"),
                    ('fleet:llm_alert_threshold:strictest{threshold="max_capture_ratio"}', "max_capture_ratio"),
                ),
                unit="percentunit",
                decimals=1,
                desc="Each day's ratio as the bill of that day was fetched: a bill the provider has not closed yet"
                " reads high, then settles.",
            ),
            7,
            9,
        ),
        sized(
            table(
                "Models with the largest gap (billed - counted, days both have)",
                targets(
                    (
                        f"topk(10, abs(sum by ({PM}) ({BILLED_MODELS} and on(day) group by (day) ({COUNTED}))"
                        f" - (sum by ({PM}) ({COUNTED}) or 0 * sum by ({PM}) ({BILLED_MODELS}))))",
                        "",
                    ),
                ),
                rename={
                    "gen_ai_provider_name": "Provider",
                    "gen_ai_request_model": "Model",
                    "Value": "|Billed - counted|",
                },
                overrides=[col("Value", "currencyUSD", decimals=2)],
                desc="Per model over the closed days our count covers. A model billed under a dated snapshot"
                " (gpt-4o-2024-08-06) that calls name by its alias (gpt-4o) shows its whole bill here, and the alias"
                " nowhere: compare the provider's total.",
            ),
            7,
            9,
        ),
        *owner_budgets(),
        row("Response cache"),
        sized(
            stat(
                "Saved by the response cache (range)",
                targets(
                    (f"sum(increase(llm_cache_saved_cost_usd_total{{{SEL}}}[$__range])) or vector(0)", "USD"),
                ),
                unit="currencyUSD",
                decimals=2,
                graph=False,
                desc="What the cache hits would have cost as provider calls (LiteLLM's saved_cache_cost). Hits"
                " themselves cost $0 and are not in the spend above.",
            ),
            6,
            6,
        ),
        sized(
            timeseries(
                "Saved by the response cache per hour by model",
                targets(
                    (
                        f"3600 * sum by ({PM}) (rate(llm_cache_saved_cost_usd_total{{{SEL}}}[$__rate_interval]))",
                        MODEL_LEGEND,
                    )
                ),
                unit="currencyUSD",
                stack=True,
                decimals=3,
            ),
            18,
            6,
        ),
        row("Completeness"),
        sized(
            stat(
                "Unpriced completions in range",
                targets(
                    (
                        f'sum(increase(llm_exporter_unpriced_completions_total{{{JI}, gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"}}[$__range])) or vector(0)',
                        "unpriced",
                    )
                ),
                thr=ZERO_BAD,
                color_mode="background",
                decimals=0,
                graph=False,
                desc="Completions with no cost in the log and no known price: the totals above are short by their cost.",
            ),
            6,
            6,
        ),
        sized(
            stat(
                "Calls without token usage (range)",
                targets(
                    (
                        f'sum(increase(llm_exporter_usage_missing_total{{{JI}, gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"}}[$__range])) or vector(0)',
                        "calls",
                    )
                ),
                thr=ZERO_BAD,
                color_mode="background",
                decimals=0,
                graph=False,
                desc="Successful calls that reported no tokens (streams without include_usage): their tokens and cost are not counted.",
            ),
            6,
            6,
        ),
        sized(
            timeseries(
                "Unpriced completions by model (per hour)",
                targets(
                    (
                        f'sum by ({PM}) (source_model:llm_exporter_unpriced_completions:increase1h{{{JI}, gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"}})',
                        MODEL_LEGEND,
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                stack=True,
                calcs=("sum",),
            ),
            12,
            6,
        ),
    ]
    return dashboard(
        "llm-cost", "LLM / Cost", "Spend, projections and budget of LLM calls.", p, llm_vars(), time_from="now-24h"
    )
