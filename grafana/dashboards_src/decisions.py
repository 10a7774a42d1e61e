"""LLM / Decisions: trading decisions taken from model answers."""

# ruff: noqa: E501  (PromQL strings read better unwrapped)
from __future__ import annotations

from .common import MODEL_LEGEND, PM, SEL, dashboard, decision_markers, llm_vars, query_var
from .panels import Json, bargauge, col, piechart, row, sized, stat, table, targets, thresholds, timeseries

VALIDATION_THR = thresholds((None, "red"), (0.8, "orange"), (0.95, "green"))


def by_symbol_table(dsel: str) -> Json:
    """One row per symbol: its decisions in the range, by action and passed validation."""

    def decided(matcher: str = "") -> str:
        return f"sum by (symbol) (increase(llm_decisions_total{{{dsel}{matcher}}}[$__range]))"

    # a symbol with no decision of a kind reads 0 rather than an empty cell
    def part(matcher: str) -> str:
        return f"({decided(matcher)} or 0 * {decided()})"

    passed = part(', validation_result=~"(?i)passed"')
    return table(
        "Decisions by symbol (range)",
        targets(
            (decided(), ""),
            (part(', action=~"(?i)long"'), ""),
            (part(', action=~"(?i)short"'), ""),
            (part(', action=~"(?i)close"'), ""),
            (part(', action!~"(?i)(long|short|close)"'), ""),
            (passed, ""),
            (f"{passed} / ({decided()} > 0)", ""),
        ),
        rename={
            "symbol": "Symbol",
            "Value #A": "Decisions",
            "Value #B": "LONG",
            "Value #C": "SHORT",
            "Value #D": "CLOSE",
            "Value #E": "HOLD and other",
            "Value #F": "Passed validation",
            "Value #G": "Passed share",
        },
        overrides=[
            *(col(f"Value #{ref}", "short", decimals=0) for ref in "ABCDEF"),
            col("Value #G", "percentunit", thr=VALIDATION_THR, decimals=1, color_cells=True),
        ],
        desc="Decisions per symbol over the time range, by action (HOLD and any action other than LONG, SHORT"
        " and CLOSE together) and by validation result.",
    )


def decisions() -> Json:
    dsel = f'{SEL}, symbol=~"$symbol"'
    symbol_var = query_var(
        "symbol",
        "Symbol",
        'label_values(llm_decisions_total{job=~"$job", instance=~"$instance", '
        'gen_ai_provider_name=~"$provider", gen_ai_request_model=~"$model"}, symbol)',
    )
    p = [
        row("Decisions"),
        sized(
            stat(
                "Decisions in range",
                targets((f"sum(increase(llm_decisions_total{{{dsel}}}[$__range]))", "decisions")),
                decimals=0,
                graph=False,
            ),
            6,
            5,
        ),
        sized(
            stat(
                "Validation passed (range)",
                targets(
                    (
                        f'(sum(increase(llm_decisions_total{{{dsel}, validation_result=~"(?i)passed"}}[$__range])) or vector(0))'
                        f" / (sum(increase(llm_decisions_total{{{dsel}}}[$__range])) > 0)",
                        "passed",
                    )
                ),
                unit="percentunit",
                decimals=1,
                graph=False,
                color_mode="background",
                no_value="no decisions",
                thr=VALIDATION_THR,
            ),
            6,
            5,
        ),
        sized(
            bargauge(
                "By action (range)",
                targets((f"sum by (action) (increase(llm_decisions_total{{{dsel}}}[$__range]))", "{{action}}")),
                decimals=0,
            ),
            12,
            5,
        ),
        sized(
            timeseries(
                "Decisions per hour by action",
                targets(
                    (f"3600 * sum by (action) (rate(llm_decisions_total{{{dsel}}}[$__rate_interval]))", "{{action}}")
                ),
                unit="short",
                stack=True,
                desc="LONG / SHORT / HOLD / CLOSE and any other action the log names.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Validation results per hour",
                targets(
                    (
                        f"3600 * sum by (validation_result) (rate(llm_decisions_total{{{dsel}}}[$__rate_interval]))",
                        "{{validation_result}}",
                    )
                ),
                unit="short",
                stack=True,
            ),
            12,
            8,
        ),
        sized(
            bargauge(
                "By symbol (range)",
                targets((f"sum by (symbol) (increase(llm_decisions_total{{{dsel}}}[$__range]))", "{{symbol}}")),
                decimals=0,
            ),
            8,
            8,
        ),
        sized(
            piechart(
                "Validation results (range)",
                targets(
                    (
                        f"sum by (validation_result) (increase(llm_decisions_total{{{dsel}}}[$__range]))",
                        "{{validation_result}}",
                    )
                ),
            ),
            8,
            8,
        ),
        sized(
            table(
                "Symbol x action (range)",
                targets((f"sum by (symbol, action) (increase(llm_decisions_total{{{dsel}}}[$__range]))", "")),
                rename={"symbol": "Symbol", "action": "Action", "Value": "Decisions"},
                overrides=[col("Value", "short", decimals=0)],
            ),
            8,
            8,
        ),
        sized(by_symbol_table(dsel), 24, 8),
        sized(
            table(
                "Per model (range)",
                targets(
                    (
                        f"sum by ({PM}, action, validation_result) (increase(llm_decisions_total{{{dsel}}}[$__range]))",
                        "",
                    )
                ),
                rename={
                    "gen_ai_provider_name": "Provider",
                    "gen_ai_request_model": "Model",
                    "action": "Action",
                    "validation_result": "Validation",
                    "Value": "Decisions",
                },
                overrides=[col("Value", "short", decimals=0)],
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Decisions per hour by model",
                targets(
                    (f"3600 * sum by ({PM}) (rate(llm_decisions_total{{{dsel}}}[$__rate_interval]))", MODEL_LEGEND)
                ),
                unit="short",
                stack=True,
            ),
            12,
            8,
        ),
    ]
    return dashboard(
        "llm-decisions",
        "LLM / Decisions",
        "Trading decisions taken from model answers: actions, symbols, validation.",
        p,
        llm_vars([symbol_var]),
        time_from="now-24h",
        annotations=decision_markers(dsel),
    )
