"""`llm-exporter backfill` as a new user runs it: logs (rotated, one rotation gzipped) in, TSDB
blocks out, a fresh real Prometheus on them answering what the log lines say (issue 12)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import orjson
import pytest
import yaml

from llm_exporter.backfill.command import parse_duration, parse_time
from llm_exporter.backfill.files import history_files
from llm_exporter.backfill.rules import rule_rounds
from llm_exporter.cli import replay
from llm_exporter.config import SourceConfig
from llm_exporter.formats.values import timestamp
from llm_exporter.sources.positions import load_state
from testkit import ROOT, TESTDATA, free_port, parse_samples, require_binary, value, wait_for

sys.path.insert(0, str(ROOT / "benchmarks"))
from generate import lines as generated

DAY = 86400
START = 1709251200  # 2024-03-01T00:00:00Z
LITELLM = TESTDATA / "litellm_recorded"


def run_backfill(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "llm_exporter", "backfill", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


class Prometheus:
    """A real Prometheus on loopback over `data`, scraping what `scrape` says."""

    def __init__(self, tmp: Path, data: Path, scrape: list[dict] | None = None) -> None:
        binary = require_binary("prometheus", "prometheus")
        config = tmp / "prometheus.yml"
        config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": scrape or []}))
        self.port = free_port()
        self.log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        wait_for(self.ready, timeout=60)

    def ready(self) -> bool:
        assert self.proc.poll() is None, "prometheus stopped"
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=30) as resp:
            return resp.status == 200

    def query(self, expr: str, at: float) -> list[dict]:
        params = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/query?{params}", timeout=30) as resp:
            return json.load(resp)["data"]["result"]

    def scalar(self, expr: str, at: float) -> float:
        result = self.query(expr, at)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


@contextmanager
def prometheus(tmp: Path, data: Path, scrape: list[dict] | None = None) -> Iterator[Prometheus]:
    p = Prometheus(tmp, data, scrape)
    try:
        yield p
    finally:
        p.stop()


def truth(tmp: Path, lines: list[bytes], fmt: str = "completion") -> tuple[float, float]:
    """(cost, requests) the exporter counts for these lines, replayed whole."""
    path = tmp / "truth.log"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    samples = parse_samples(replay(None, fmt, [str(path)]).decode())
    return value(samples, "llm_cost_usd_total"), value(samples, "llm_requests_total")


def three_days(logs: Path) -> list[tuple[float, bytes]]:
    """Three days of completion logs, a call every 47 s: app.log.2.gz, app.log.1, app.log."""
    out = []
    for line in generated(3 * 5514, start=START + 13, spacing=47.0):
        out.append((parse_time(orjson.loads(line)["timestamp"]), line))
    days: list[list[bytes]] = [[], [], []]
    for t, line in out:
        days[int((t - START) // DAY)].append(line)
    with gzip.open(logs / "app.log.2.gz", "wb") as f:
        f.write(b"".join(line + b"\n" for line in days[0]))
    (logs / "app.log.1").write_bytes(b"".join(line + b"\n" for line in days[1]))
    (logs / "app.log").write_bytes(b"".join(line + b"\n" for line in days[2]))
    return out


# -- pieces ------------------------------------------------------------------------------------


def test_durations_and_times() -> None:
    assert parse_duration("1m") == 60.0
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("2d") == 172800.0
    assert parse_time("2024-03-01T00:00:00Z") == START
    assert parse_time("2024-03-01T00:00:00") == START
    assert parse_time(str(START)) == START


def test_history_files_take_rotations_and_what_can_be_decompressed(tmp_path: Path) -> None:
    for name in ("app.log", "app.log.1", "app.log.2.gz", "app.log-20240301.xz", "app.log.3.zst", "other.log"):
        (tmp_path / name).write_bytes(b"")
    files, skipped = history_files(SourceConfig(name="app", path=str(tmp_path / "app.log")))
    assert sorted((Path(f.path).name, f.followed) for f in files) == [
        ("app.log", True),
        ("app.log-20240301.xz", False),
        ("app.log.1", False),
        ("app.log.2.gz", False),
    ]
    assert [Path(p).name for p in skipped] == ["app.log.3.zst"]


def test_rules_that_read_rules_come_in_a_later_round() -> None:
    doc = {
        "groups": [
            {
                "name": "a",
                "interval": "30s",
                "rules": [
                    {"record": "x:daily", "expr": "x:hourly * 24"},
                    {"record": "x:hourly", "expr": "sum(rate(x_total[1h])) * 3600"},
                    {"alert": "XHigh", "expr": "x:daily > 1"},
                ],
            },
            {"name": "b", "interval": "1m", "rules": [{"record": "x:monthly", "expr": "x:daily * 30 + x:hourly"}]},
        ]
    }
    rounds = [
        [(g["name"], g["interval"], r["record"]) for g in doc["groups"] for r in g["rules"]]
        for doc in rule_rounds([doc])
    ]
    assert rounds == [[("a", "30s", "x:hourly")], [("a", "30s", "x:daily")], [("b", "1m", "x:monthly")]]
    # The bundle's rules: every rule comes after those it reads.
    bundle = yaml.safe_load((ROOT / "prometheus" / "rules" / "llm_recording.yml").read_text())
    seen: list[str] = []
    for doc in rule_rounds([bundle]):
        records = [r["record"] for g in doc["groups"] for r in g["rules"]]
        later = {r["record"] for g in bundle["groups"] for r in g["rules"] if "record" in r} - set(seen)
        for g in doc["groups"]:
            for r in g["rules"]:
                assert not any(re.search(rf"{re.escape(n)}(?![\w:])", r["expr"]) for n in later - {r["record"]})
        seen += records
    assert len(seen) == sum(1 for g in bundle["groups"] for r in g["rules"] if "record" in r)


def test_no_promtool_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.log").write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    proc = subprocess.run(
        [sys.executable, "-m", "llm_exporter", "backfill", "--log-path", str(tmp_path / "app.log"), "--output", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "promtool not found: install Debian's prometheus package" in proc.stderr


# -- as a user runs it ---------------------------------------------------------------------------


def test_three_days_of_rotated_logs_into_a_fresh_prometheus(tmp_path: Path) -> None:
    require_binary("promtool", "prometheus")
    require_binary("prometheus", "prometheus")
    logs = tmp_path / "logs"
    logs.mkdir()
    timed = three_days(logs)
    # The rules the cost dashboard reads (a rule reading a rule among them), and an alerting rule
    # promtool leaves alone.
    rules = yaml.safe_load((ROOT / "prometheus" / "rules" / "llm_recording.yml").read_text())
    wanted = {
        "model:llm_cost_usd:increase24h",
        "model:llm_cost_usd:hourly_rate1h",
        "model:llm_cost_usd:projected_daily_1h",
        "model:llm_requests:increase24h",
    }
    groups = [
        {**g, "rules": [r for r in g["rules"] if r["record"] in wanted]}
        for g in rules["groups"]
        if any(r["record"] in wanted for r in g["rules"])
    ]
    groups[0]["rules"].append({"alert": "Never", "expr": "vector(1) == 0"})
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": groups}))
    output = tmp_path / "blocks"
    out = run_backfill(
        "--log-path",
        str(logs / "app.log"),
        "--format",
        "completion",
        "--output",
        str(output),
        "--to",
        "2024-03-04T00:00:00Z",
        "--step",
        "5m",
        "--instance",
        "bot:8464",
        "--rules",
        str(rule_file),
    )
    assert f"read {len(timed):,} lines" in out
    assert "from 3 files (1 compressed)" in out
    assert f"--storage.tsdb.path={output}" in out

    with prometheus(tmp_path, output) as prom:
        for day in (1, 2, 3):
            end = START + day * DAY
            cost, requests = truth(tmp_path, [line for t, line in timed if t <= end])
            assert prom.scalar("sum(llm_cost_usd_total)", end) == pytest.approx(cost, abs=1e-9)
            assert prom.scalar("sum(llm_requests_total)", end) == requests
            labels = prom.query("llm_requests_total", end)[0]["metric"]
            assert (labels["job"], labels["instance"]) == ("llm-exporter", "bot:8464")
            # The cost dashboard's "Daily cost" panel: increase over each day, at its end.
            day_cost, day_requests = truth(tmp_path, [line for t, line in timed if end - DAY < t <= end])
            assert prom.scalar("sum(increase(llm_cost_usd_total[1d]))", end) == pytest.approx(day_cost, abs=1e-9)
            assert prom.scalar("sum(increase(llm_requests_total[1d]))", end) == pytest.approx(day_requests, abs=1e-9)
            # The recording rules exist for every day. Prometheus evaluates a group at an offset of
            # its own (a hash of its name), so a rule's 24 hours end up to a minute before
            # midnight and are extrapolated: the truth within 1%.
            assert prom.scalar("sum(model:llm_cost_usd:increase24h)", end) == pytest.approx(day_cost, rel=0.01)
            assert prom.scalar("sum(model:llm_requests:increase24h)", end) == pytest.approx(day_requests, rel=0.01)
            hourly = prom.scalar("sum(model:llm_cost_usd:hourly_rate1h)", end)
            assert prom.scalar("sum(model:llm_cost_usd:projected_daily_1h)", end) == pytest.approx(24 * hourly)


def test_litellm_payloads_of_two_sources(tmp_path: Path) -> None:
    require_binary("promtool", "prometheus")
    require_binary("prometheus", "prometheus")
    config = tmp_path / "config.yml"
    sources = [
        {"name": "proxy", "path": str(LITELLM / "proxy.jsonl"), "format": "litellm"},
        {"name": "sdk", "path": str(LITELLM / "sdk.jsonl"), "format": "litellm"},
    ]
    config.write_text(yaml.safe_dump({"sources": sources}))
    proxy = (LITELLM / "proxy.jsonl").read_bytes().splitlines()
    sdk = (LITELLM / "sdk.jsonl").read_bytes().splitlines()
    last = max(orjson.loads(line)["endTime"] for line in proxy + sdk)
    to = int(last) + 3600  # past the retries' settling: every request has its outcome
    output = tmp_path / "blocks"
    run_backfill("--config", str(config), "--output", str(output), "--to", str(to), "--step", "5s")
    # The SDK's calls ended before the proxy's began: a sample between them holds the SDK's cost.
    between = 1795598575
    assert max(orjson.loads(line)["endTime"] for line in sdk) < between
    assert min(orjson.loads(line)["endTime"] for line in proxy) > between
    with prometheus(tmp_path, output) as prom:
        sdk_cost, _ = truth(tmp_path, sdk, "litellm")
        proxy_cost, proxy_requests = truth(tmp_path, proxy, "litellm")
        _, sdk_requests = truth(tmp_path, sdk, "litellm")
        assert prom.scalar("sum(llm_cost_usd_total)", between) == pytest.approx(sdk_cost, abs=1e-9)
        assert prom.scalar("sum(llm_cost_usd_total)", to) == pytest.approx(sdk_cost + proxy_cost, abs=1e-9)
        assert prom.scalar("sum(llm_requests_total)", to) == sdk_requests + proxy_requests


def test_handover_backfill_to_t_then_live_from_t(tmp_path: Path) -> None:
    """Backfill up to T, the live exporter from T (positions the backfill wrote), one Prometheus
    holding both: increase() across the seam equals the log's totals, nothing counted twice."""
    require_binary("promtool", "prometheus")
    require_binary("prometheus", "prometheus")
    now = time.time()
    step = 60
    start = (int(now) // step - 120) * step  # two hours of history
    cut = start + 100 * step + 17  # T, between two samples
    log = tmp_path / "app.log"
    calls = list(generated(3 * 480, start=start + 5, spacing=15.0))  # up to T + 20 minutes
    history = [line for line in calls if parse_time(orjson.loads(line)["timestamp"]) > start]
    log.write_bytes(b"".join(line + b"\n" for line in history))  # lines before and after T
    positions = tmp_path / "positions.json"
    config = tmp_path / "config.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "sources": [{"name": "app", "path": str(log), "format": "completion"}],
                "positions_file": str(positions),
            }
        )
    )
    port = free_port()
    output = tmp_path / "blocks"
    out = run_backfill(
        "--config", str(config), "--output", str(output), "--to", str(cut), "--instance", f"127.0.0.1:{port}"
    )
    assert f"positions_file is {positions}" in out
    (saved,), _ = load_state(str(positions))
    data = log.read_bytes()
    before = [line for line in history if parse_time(orjson.loads(line)["timestamp"]) <= cut]
    assert data[: saved.offset] == b"".join(line + b"\n" for line in before)

    # More lines arrive after the backfill; the live exporter starts later still.
    later = list(generated(3 * 200, seed=2, start=now, spacing=1.0))
    with open(log, "ab") as f:
        f.write(b"".join(line + b"\n" for line in later))
    cost, requests = truth(tmp_path, history + later)
    live_cost, live_requests = truth(tmp_path, [line for line in history if line not in before] + later)
    assert 0 < live_requests < requests

    target = [{"job_name": "llm-exporter", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]
    with prometheus(tmp_path, output, target) as prom:
        exporter = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llm_exporter",
                "--config",
                str(config),
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ],
            stderr=subprocess.DEVNULL,
        )

        def scraped_all() -> bool:
            result = prom.query("sum(llm_requests_total)", time.time())
            return bool(result) and float(result[0]["value"][1]) == live_requests

        try:
            wait_for(scraped_all, timeout=60)
        finally:
            exporter.terminate()
            exporter.wait(timeout=30)
        # The window starts at the 0 the backfill writes a step before a series' first sample and
        # ends at the last scrape: its edges are samples, so nothing is extrapolated.
        (last,) = prom.query("max(timestamp(llm_requests_total))", time.time())
        end = float(last["value"][1])
        first = start + step
        window = f"[{round((end - first + step) * 1000)}ms]"
        assert prom.scalar(f"sum(increase(llm_requests_total{window}))", end) == requests
        assert prom.scalar(f"sum(increase(llm_cost_usd_total{window}))", end) == pytest.approx(cost, abs=1e-9)
        assert prom.scalar("sum(llm_requests_total)", cut) == requests - live_requests
        assert prom.scalar("sum(llm_cost_usd_total)", cut) == pytest.approx(cost - live_cost, abs=1e-9)
        # One series each, the backfilled and the live samples in it.
        assert len(prom.query("llm_requests_total", end)) == len(prom.query("llm_requests_total", cut))


def test_without_to_the_blocks_end_at_the_last_line(tmp_path: Path) -> None:
    """Sampling up to now wrote every step since the logs ended: for the January 2024 sample logs,
    about 12,600 two-hour blocks and hours of work. Without --to the last line's time ends it."""
    require_binary("promtool", "prometheus")
    start = int(time.time()) - DAY  # a day old: sampling up to now would still be quick, and wrong
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(line + b"\n" for line in islice(generated(30, start=start, spacing=60.0), 30)))
    last = max(timestamp(orjson.loads(line)["timestamp"]) or 0 for line in log.read_bytes().splitlines())
    output = tmp_path / "blocks"
    run_backfill("--log-path", str(log), "--format", "completion", "--output", str(output))
    ends = [json.loads((block / "meta.json").read_text())["maxTime"] for block in output.iterdir()]
    assert ends and max(ends) <= (last + 60) * 1000  # the last sample, at the last line's time
