"""End to end against the real process, as a new user runs it: the README's command on the
sample logs. The totals must equal the sums of the log lines themselves."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from testkit import EXAMPLES, Running, Samples, require_binary, value, wait_for

OVERRIDES = {"llama3:8b": (0.0, 0.0)}  # as examples/config.yml says
PROVIDERS = {"gpt": "openai", "o3": "openai", "claude": "anthropic", "gemini": "google", "llama3": None}


def price(model: str, pt: int, ct: int) -> float:
    if model in OVERRIDES:
        i, o = OVERRIDES[model]
        return (pt * i + ct * o) / 1e6
    return float(calc_price(Usage(input_tokens=pt, output_tokens=ct), model).total_price)


def expected_totals(logs: Path) -> tuple[dict, dict]:
    """Sums straight from the sample logs: per (model, ok) provider calls, tokens, cost, requests;
    decisions per action. Cache hits are requests, not provider calls; their tokens are saved."""
    totals: dict = defaultdict(lambda: [0, 0, 0, 0.0, 0])
    decisions: dict = defaultdict(int)
    models: dict[str, str] = {}

    def add(model: str, ok: bool, pt: int, ct: int, cost: float | None, hit: bool = False) -> None:
        t = totals[(model, ok)]
        t[4] += 1
        if hit:  # saved, not spent
            return
        t[0] += 1
        t[1] += pt
        t[2] += ct
        t[3] += cost if cost is not None else price(model, pt, ct)

    for line in (logs / "llm_completions.log").read_text().splitlines():
        e = json.loads(line)
        if e["event_type"] == "completion_request":
            models[e["request_id"]] = e["model"]
        elif e["event_type"] == "completion_response":
            u = e.get("token_usage", {})
            add(
                models[e["request_id"]],
                e["success"],
                u.get("prompt_tokens", 0),
                u.get("completion_tokens", 0),
                e.get("cost_estimate_usd"),
            )
        elif e["event_type"] == "trading_decision":
            decisions[e["action"]] += 1
    for line in (logs / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        add(e["model"], e["status"] == "success", e["prompt_tokens"], e["completion_tokens"], e.get("cost_usd"))
    for line in (logs / "litellm.jsonl").read_text().splitlines():
        e = json.loads(line)
        ok = e["status"] == "success"
        # A hit names the model with its provider prefix (as LiteLLM writes it): the same model.
        model = e["model"].removeprefix(f"{e['custom_llm_provider']}/")
        add(model, ok, e["prompt_tokens"], e["completion_tokens"], e["response_cost"], e["cache_hit"] is True)
    return dict(totals), dict(decisions)


def requests(s: Samples, model: str, ok: bool) -> float:
    """Calls of a model that succeeded (no error_type) or failed (any error_type)."""
    return sum(
        v
        for (name, labels), v in s.items()
        if name == "gen_ai_client_operation_duration_seconds_count"
        and ("gen_ai_request_model", model) in labels
        and any(k == "error_type" for k, _ in labels) != ok
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    cfg = tmp_path / "examples" / "config.yml"
    # A short settle time, so failed LiteLLM requests (which wait for a retry) count at once.
    text = cfg.read_text().replace("max_label_values: 500", "max_label_values: 500\n  request_settle_seconds: 0.1")
    cfg.write_text(text + f"positions_file: {tmp_path / 'pos.json'}\n")
    return tmp_path


@pytest.fixture
def running(workdir: Path) -> Iterator[Running]:
    r = Running(workdir, "--config", "examples/config.yml")
    yield r
    if r.proc.poll() is None:
        r.proc.kill()
        r.proc.wait()


def test_sample_logs_totals_equal_the_log_lines(running: Running, workdir: Path) -> None:
    s = running.scrape()
    totals, decisions = expected_totals(workdir / "examples" / "logs")
    assert len(totals) >= 10
    for (model, ok), (n, _, _, _, _) in totals.items():
        assert requests(s, model, ok) == n, (model, ok)
    # End-to-end requests settle once their failures have waited request_settle_seconds.
    failed = sum(t[4] for (_, ok), t in totals.items() if not ok)
    wait_for(lambda: value(running.scrape(), "llm_requests_total", outcome="failure") == failed)
    s = running.scrape()
    for (model, ok), t in totals.items():
        outcome = "success" if ok else "failure"
        assert value(s, "llm_requests_total", gen_ai_request_model=model, outcome=outcome) == t[4], (model, ok)
    for model in {m for m, _ in totals}:
        sel = {"gen_ai_request_model": model}
        want = [sum(t[i] for (m, _), t in totals.items() if m == model) for i in range(5)]
        assert value(s, "llm_tokens_total", gen_ai_token_type="input", **sel) == want[1], model
        assert value(s, "llm_tokens_total", gen_ai_token_type="output", **sel) == want[2], model
        assert value(s, "gen_ai_client_token_usage_sum", gen_ai_token_type="input", **sel) == want[1], model
        assert value(s, "llm_cost_usd_total", **sel) == pytest.approx(want[3], rel=1e-9, abs=1e-15), model
    for action, n in decisions.items():
        assert value(s, "llm_decisions_total", action=action) == n
    assert value(s, "llm_exporter_lines_rejected_total") == 0
    assert value(s, "llm_exporter_unpriced_completions_total") == 0
    assert value(s, "llm_requests_in_flight", gen_ai_request_model="gpt-4o-mini", app="trading-bot") == 1


def test_appended_lines_show_within_a_second_and_reload_keeps_counts(running: Running, workdir: Path) -> None:
    log = workdir / "examples" / "logs" / "events.jsonl"
    before = running.scrape()
    n0 = value(before, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="gpt-4o")
    with open(log, "a") as f:
        f.write(
            '{"model":"gpt-4o","prompt_tokens":10,"completion_tokens":5,"latency_ms":300,"status":"success","cost_usd":0.0}\n'
        )
    wait_for(
        lambda: (
            value(running.scrape(), "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="gpt-4o")
            == n0 + 1
        )
    )

    cfg = workdir / "examples" / "config.yml"
    cfg.write_text(cfg.read_text().replace("monthly_budget_usd: 500", "monthly_budget_usd: 750"))
    running.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: value(running.scrape(), "llm_alert_threshold", threshold="monthly_budget_usd") == 750)
    after = running.scrape()
    assert value(after, "llm_cost_usd_total") == pytest.approx(value(before, "llm_cost_usd_total"), rel=1e-12)
    assert value(after, "llm_exporter_lines_read_total") == value(before, "llm_exporter_lines_read_total") + 1

    cfg.write_text("sources: [")  # a broken reload keeps the running config
    running.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: value(running.scrape(), "llm_exporter_config_last_reload_successful") == 0)
    assert value(running.scrape(), "llm_alert_threshold", threshold="monthly_budget_usd") == 750

    code, err = running.stop()
    assert code == 0
    assert "reload failed" in err
    saved = json.loads((workdir / "pos.json").read_text())
    assert {f["source"] for f in saved["files"]} == {"trading-bot", "monitor-sdk", "litellm-proxy"}


def test_restart_resumes_without_double_counting(workdir: Path) -> None:
    first = Running(workdir, "--config", "examples/config.yml")
    lines_first = value(first.scrape(), "llm_exporter_lines_read_total")
    assert first.stop()[0] == 0
    log = workdir / "examples" / "logs" / "events.jsonl"
    with open(log, "a") as f:  # written while the exporter was down
        f.write('{"model":"gpt-4o","prompt_tokens":10,"completion_tokens":5,"latency_ms":300,"cost_usd":1.0}\n')
    second = Running(workdir, "--config", "examples/config.yml")
    try:
        s = second.scrape()
        assert value(s, "llm_exporter_lines_read_total") == 1
        assert value(s, "llm_cost_usd_total") == 1.0
        assert lines_first == 126
    finally:
        second.stop()


def test_promtool_finds_nothing_wrong(running: Running) -> None:
    promtool = require_binary("promtool", "prometheus")
    with urllib.request.urlopen(f"http://127.0.0.1:{running.port}/metrics", timeout=10) as resp:
        body = resp.read()
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip() == b""


def test_log_path_without_config(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text(
        '{"model":"gpt-4o","prompt_tokens":10,"completion_tokens":5,"latency_ms":300,"cost_usd":0.5}\n'
    )
    r = Running(tmp_path, "--log-path", str(tmp_path / "*.log"))
    try:
        s = r.scrape()
        assert value(s, "llm_cost_usd_total", gen_ai_request_model="gpt-4o") == 0.5
        assert value(s, "llm_exporter_lines_read_total", source="default") == 1
    finally:
        assert r.stop()[0] == 0
    assert not os.path.exists(tmp_path / "positions.json")
