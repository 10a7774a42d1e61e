"""LLM / Exporter: health of llm-exporter itself."""

# ruff: noqa: E501  (PromQL strings read better unwrapped)
from __future__ import annotations

from typing import Any

from .common import JI, MODEL_LEGEND, PM, XSEL, ZERO_BAD, dashboard, ds_var, query_var
from .panels import Json, row, sized, stat, table, targets, thresholds, timeseries


def _range_count(title: str, metric: str, legend: str, sel: str = XSEL, or_zero: bool = False, **kw: Any) -> Json:
    """A 4x4 stat of a counter's increase over the dashboard's time range."""
    expr = f"sum(increase({metric}{{{sel}}}[$__range]))" + (" or vector(0)" if or_zero else "")
    return sized(stat(title, targets((expr, legend)), decimals=0, graph=False, **kw), 4, 4)


def exporter() -> Json:
    variables = [
        ds_var(),
        query_var("job", "Job", "label_values(llm_exporter_build_info, job)"),
        query_var("instance", "Instance", 'label_values(llm_exporter_build_info{job=~"$job"}, instance)'),
        query_var(
            "source",
            "Source",
            'label_values(llm_exporter_lines_read_total{job=~"$job", instance=~"$instance"}, source)',
        ),
    ]
    p = [
        row("Status"),
        sized(
            stat(
                "Up",
                targets((f"min(up{{{JI}}})", "up")),
                thr=thresholds((None, "red"), (1, "green")),
                color_mode="background",
                graph=False,
                decimals=0,
            ),
            3,
            4,
        ),
        sized(
            table(
                "Version", targets((f"llm_exporter_build_info{{{JI}}}", "")), hide=("Time", "Value", "__name__", "job")
            ),
            5,
            4,
        ),
        sized(
            stat(
                "Config reload OK",
                targets((f"min(llm_exporter_config_last_reload_successful{{{JI}}})", "reload ok")),
                thr=thresholds((None, "red"), (1, "green")),
                color_mode="background",
                graph=False,
                decimals=0,
            ),
            4,
            4,
        ),
        sized(
            stat(
                "Since last positions save",
                targets((f"time() - max(llm_exporter_positions_last_save_timestamp_seconds{{{JI}}})", "age")),
                unit="s",
                thr=thresholds((None, "green"), (300, "orange"), (900, "red")),
                decimals=0,
                color_mode="background",
                graph=False,
            ),
            4,
            4,
        ),
        _range_count(
            "Positions save errors (range)",
            "llm_exporter_positions_save_errors_total",
            "errors",
            sel=JI,
            thr=ZERO_BAD,
            color_mode="background",
        ),
        sized(
            stat("Files open", targets((f"sum(llm_exporter_files_open{{{XSEL}}})", "files")), decimals=0, graph=False),
            4,
            4,
        ),
        row("Reading"),
        sized(
            timeseries(
                "Lines read/s",
                targets(
                    (f"sum by (source) (rate(llm_exporter_lines_read_total{{{XSEL}}}[$__rate_interval]))", "{{source}}")
                ),
                unit="short",
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Bytes read/s",
                targets(
                    (f"sum by (source) (rate(llm_exporter_bytes_read_total{{{XSEL}}}[$__rate_interval]))", "{{source}}")
                ),
                unit="Bps",
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Lag (unread bytes)",
                targets((f"sum by (source) (llm_exporter_lag_bytes{{{XSEL}}})", "{{source}}")),
                unit="bytes",
                thr=thresholds((None, "green"), (1048576, "orange"), (10485760, "red")),
                threshold_line=True,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Lines rejected/s by reason",
                targets(
                    (
                        f"sum by (source, reason) (rate(llm_exporter_lines_rejected_total{{{XSEL}}}[$__rate_interval]))",
                        "{{source}} {{reason}}",
                    )
                ),
                unit="short",
                stack=True,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Events ignored/s by type",
                targets(
                    (
                        f"sum by (source, event_type) (rate(llm_exporter_events_ignored_total{{{XSEL}}}[$__rate_interval]))",
                        "{{source}} {{event_type}}",
                    )
                ),
                unit="short",
                stack=True,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Files open",
                targets((f"sum by (source) (llm_exporter_files_open{{{XSEL}}})", "{{source}}")),
                unit="short",
                decimals=0,
            ),
            8,
            8,
        ),
        row("Files and requests"),
        _range_count("Rotations (range)", "llm_exporter_rotations_total", "rotations"),
        _range_count("Truncations (range)", "llm_exporter_truncations_total", "truncations", thr=ZERO_BAD),
        _range_count(
            "Orphaned requests (range)",
            "llm_exporter_orphaned_requests_total",
            "orphaned",
            desc="Requests whose response never came.",
        ),
        _range_count(
            "Label values folded (range)",
            "llm_exporter_label_values_folded_total",
            "folded",
            sel=JI,
            or_zero=True,
            thr=ZERO_BAD,
            desc="Label values replaced by the cardinality limit.",
        ),
        _range_count("Rejected lines (range)", "llm_exporter_lines_rejected_total", "rejected", or_zero=True),
        _range_count(
            "Unpriced completions (range)",
            "llm_exporter_unpriced_completions_total",
            "unpriced",
            or_zero=True,
            thr=ZERO_BAD,
        ),
        sized(
            timeseries(
                "Rotations and truncations (per hour)",
                targets(
                    (
                        f"sum by (source) (increase(llm_exporter_rotations_total{{{XSEL}}}[1h]))",
                        "{{source}} rotations",
                    ),
                    (
                        f"sum by (source) (increase(llm_exporter_truncations_total{{{XSEL}}}[1h]))",
                        "{{source}} truncations",
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                calcs=("sum",),
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Orphaned requests (per hour)",
                targets(
                    (
                        f"sum by (source) (increase(llm_exporter_orphaned_requests_total{{{XSEL}}}[1h]))",
                        "{{source}}",
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                calcs=("sum",),
            ),
            12,
            8,
        ),
        row("Completeness"),
        sized(
            timeseries(
                "Unpriced completions by model (per hour)",
                targets(
                    (
                        f"sum by (job, source, {PM}) (source_model:llm_exporter_unpriced_completions:increase1h{{{XSEL}}})",
                        "{{job}} {{source}} " + MODEL_LEGEND,
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                stack=True,
                calcs=("sum",),
                desc="Completions with tokens but no cost and no known price, from the exporter (with source) and"
                " from in-app OTLP (job = the application, no source). Alert: LLMUnpricedCompletions.",
            ),
            12,
            8,
        ),
        sized(
            timeseries(
                "Calls without token usage (per hour)",
                targets(
                    (
                        f"sum by (job, source, {PM}) (increase(llm_exporter_usage_missing_total{{{XSEL}}}[1h]))",
                        "{{job}} {{source}} " + MODEL_LEGEND,
                    ),
                    interval="1h",
                ),
                unit="short",
                bars=True,
                stack=True,
                calcs=("sum",),
                desc="Successful calls without token usage (streams without include_usage): counted as requests,"
                " not in tokens or cost. Alert: LLMUsageMissing.",
            ),
            12,
            8,
        ),
        row("Process and scrape"),
        sized(
            timeseries(
                "Scrape duration",
                targets((f"scrape_duration_seconds{{{JI}}}", "{{instance}}")),
                unit="s",
                thr=thresholds((None, "green"), (1, "orange"), (5, "red")),
                threshold_line=True,
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "Resident memory", targets((f"process_resident_memory_bytes{{{JI}}}", "{{instance}}")), unit="bytes"
            ),
            8,
            8,
        ),
        sized(
            timeseries(
                "CPU",
                targets((f"rate(process_cpu_seconds_total{{{JI}}}[$__rate_interval])", "{{instance}}")),
                unit="percentunit",
            ),
            8,
            8,
        ),
    ]
    return dashboard(
        "llm-exporter",
        "LLM / Exporter",
        "Health of llm-exporter: reading, rejects, lag, files.",
        p,
        variables,
        time_from="now-3h",
    )
