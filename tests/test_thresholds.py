"""The `thresholds:` config the alert rules read: its gauge samples, the per-source stall windows,
and check-config refusing a latency threshold the duration buckets cannot express."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_exporter.cli import main
from llm_exporter.config import ConfigError, ThresholdsConfig, parse_config, unreachable_latency_threshold
from llm_exporter.semconv import DURATION_BUCKETS

SEMCONV_BUCKETS = tuple(0.01 * 2**i for i in range(14))  # 0.01 ... 81.92


def _config(thresholds: dict) -> dict:
    return {"sources": [{"name": "chat", "path": "/nonexistent/*.log"}], "thresholds": thresholds}


def test_gauge_samples_carry_every_threshold_and_the_per_source_windows() -> None:
    thresholds = ThresholdsConfig(logs_stalled_after_seconds_by_source={"nightly": 90000, "archive": 0})
    assert thresholds.gauge_samples() == [
        ({"threshold": "max_response_time_seconds"}, 30.0),
        ({"threshold": "max_cost_per_hour_usd"}, 10.0),
        ({"threshold": "min_success_ratio"}, 0.9),
        ({"threshold": "max_consecutive_failures"}, 3.0),
        ({"threshold": "monthly_budget_usd"}, 500.0),
        ({"threshold": "min_ratio_volume"}, 20.0),
        ({"threshold": "logs_stalled_after_seconds"}, 1800.0),
        ({"threshold": "min_ratelimit_remaining_ratio"}, 0.1),
        ({"threshold": "min_capture_ratio"}, 0.95),
        ({"threshold": "max_capture_ratio"}, 1.05),
        ({"threshold": "min_capture_billed_usd"}, 1.0),
        ({"threshold": "capture_settle_hours"}, 12.0),
        ({"threshold": "owner_budget_warn_ratio"}, 0.8),
        ({"threshold": "logs_stalled_after_seconds", "source": "archive"}, 0.0),
        ({"threshold": "logs_stalled_after_seconds", "source": "nightly"}, 90000.0),
    ]


def test_a_capture_band_whose_minimum_is_not_below_its_maximum_is_refused() -> None:
    with pytest.raises(ConfigError, match="thresholds: Value error, min_capture_ratio must be below max_capture_ratio"):
        parse_config(_config({"min_capture_ratio": 1.1, "max_capture_ratio": 1.05}), "t.yml", environ={})


def test_a_stall_window_names_a_configured_source() -> None:
    with pytest.raises(ConfigError, match="no source named nightly"):
        parse_config(_config({"logs_stalled_after_seconds_by_source": {"nightly": 90000}}), "t.yml", environ={})
    with pytest.raises(ConfigError, match=r"chat: -1\.0 is negative"):
        parse_config(_config({"logs_stalled_after_seconds_by_source": {"chat": -1}}), "t.yml", environ={})


@pytest.mark.parametrize(
    ("seconds", "reachable"),
    [(30.0, True), (40.95, True), (40.96, False), (60.0, False), (100.0, False)],
)
def test_latency_threshold_reachable_with_the_semconv_buckets(seconds: float, reachable: bool) -> None:
    problem = unreachable_latency_threshold(ThresholdsConfig(max_response_time_seconds=seconds), SEMCONV_BUCKETS)
    assert (problem is None) == reachable
    if problem:
        assert problem == (
            f"thresholds.max_response_time_seconds: {seconds:g} s cannot alert: the duration histogram's highest "
            f"bucket is 81.92 s, so p95 never exceeds it and the critical alert (2 x {seconds:g} s) can never "
            "fire; set it below 40.96 s"
        )


def test_check_config_refuses_an_unreachable_latency_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top = max(DURATION_BUCKETS)
    path = tmp_path / "c.yml"
    path.write_text(
        f"sources: [{{name: chat, path: {tmp_path}/*.log}}]\nthresholds: {{max_response_time_seconds: {top / 2}}}\n"
    )
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llm-exporter: {path}: thresholds.max_response_time_seconds: {top / 2:g} s cannot alert")
    path.write_text(
        f"sources: [{{name: chat, path: {tmp_path}/*.log}}]\nthresholds: {{max_response_time_seconds: {top / 4}}}\n"
    )
    assert main(["check-config", str(path)]) == 0
