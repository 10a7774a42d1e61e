"""Helpers for the live-stack tests: the real exporter, Prometheus and Alertmanager on loopback.

Everything listens on 127.0.0.1 and lives in a temporary directory; configs and rules are
copies of the committed bundle with intervals shortened for a test run.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from bundle_helpers import ROOT, dashboards, prometheus_queries, promql_for_prometheus, rule_files

from fakes.billing_server import FakeBillServer, Item
from fakes.models_server import FakeModelServer
from testkit import Running, free_port, require_binary

# urllib without any proxy from the environment: the tests only talk to 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_json(url: str, data: bytes | None = None) -> Any:
    with _opener.open(url, data=data, timeout=30) as resp:
        return json.loads(resp.read())


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


# --- processes -------------------------------------------------------------------------------


class Service:
    """A child process whose output goes to a file; stop() terminates, waits, kills on timeout."""

    def __init__(self, name: str, cmd: list[str], log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env or _child_env()
        )

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, url: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with _opener.open(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} not ready within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


class _Exporter(Running):
    """Running, but the process is killed when it does not become ready."""

    def __init__(self, cwd: Path, *args: str) -> None:
        try:
            super().__init__(cwd, *args)
        except BaseException:
            if getattr(self, "proc", None) is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate(timeout=10)
            raise


@contextmanager
def exporter(config: Path) -> Iterator[Any]:
    """The real exporter (the shared helpers' Running) on the config; stopped with SIGTERM,
    killed if it does not stop."""
    running = _Exporter(config.parent, "--config", str(config))
    try:
        yield running
    finally:
        try:
            running.stop()
        except subprocess.TimeoutExpired:
            running.proc.kill()
            running.proc.communicate(timeout=10)


# --- the bundle's configs, shortened -------------------------------------------------------------


def copy_rules(dest: Path, for_overrides: dict[str, str] | None = None) -> Path:
    """The project's rule files in dest/: every group evaluated at the global (1 s) interval
    instead of 30 s / 1 m, and `for:` replaced for the alerts named in for_overrides."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in rule_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            group.pop("interval", None)
            for rule in group["rules"]:
                if for_overrides and rule.get("alert") in for_overrides:
                    rule["for"] = for_overrides[rule["alert"]]
        (dest / path.name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return dest


RUNBOOK_BASE_URL = "https://git.example.org/ops/llm-exporter/-/blob/main/"


def prometheus_config(tmp: Path, exporter_port: int, rules_dir: Path, alertmanager_port: int | None = None) -> Path:
    """prometheus/prometheus.yml with 1 s intervals, the exporter job pointed at 127.0.0.1, the
    other jobs (collector, Prometheus, Alertmanager) left out, and the rules from rules_dir."""
    cfg = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    # What ${RUNBOOK_BASE_URL} would expand to (Prometheus 2.x leaves it as it is without a flag).
    cfg["global"]["external_labels"]["runbook_base_url"] = RUNBOOK_BASE_URL
    cfg["rule_files"] = [str(rules_dir / "*.yml")]
    jobs = [job for job in cfg["scrape_configs"] if job["job_name"] == "llm-exporter"]
    assert jobs, "prometheus.yml has no llm-exporter job"
    jobs[0]["static_configs"] = [{"targets": [f"127.0.0.1:{exporter_port}"]}]
    cfg["scrape_configs"] = jobs
    if alertmanager_port is None:
        cfg.pop("alerting", None)
    else:
        cfg["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def prometheus(tmp: Path, config: Path, *, agent: bool = False, args: Sequence[str] = ()) -> Iterator[Prometheus]:
    """Prometheus on config with its data in tmp; agent=True runs it in agent mode (scrape and
    remote-write only), args are further flags."""
    binary = require_binary("prometheus", "prometheus")
    port = free_port()
    storage = (
        ["--enable-feature=agent", f"--storage.agent.path={tmp / 'wal'}"]
        if agent
        else [f"--storage.tsdb.path={tmp / 'tsdb'}"]
    )
    service = Service(
        "prometheus",
        [binary, f"--config.file={config}", *storage, f"--web.listen-address=127.0.0.1:{port}", *args],
        tmp,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        service.wait_ready(url + "/-/ready")
        yield Prometheus(url, service)
    finally:
        service.stop()


class Prometheus:
    def __init__(self, url: str, service: Service) -> None:
        self.url = url
        self.service = service

    def api(self, path: str, **params: str | list[str]) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        res = http_json(f"{self.url}/api/v1/{path}?{query}")
        assert res["status"] == "success", res
        return res["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def alerts(self, alertname: str) -> list[dict]:
        return [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == alertname]

    def last_evaluation(self, group: str) -> float:
        """When the rule group was last evaluated (Unix seconds)."""
        for g in self.api("rules")["groups"]:
            if g["name"] == group:
                return rfc3339(g["lastEvaluation"])
        raise AssertionError(f"no rule group {group}")

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline or self.service.proc.poll() is not None:
                pytest.fail(f"{what}: not within {timeout}s\nprometheus log:\n{self.service.log_tail()}")
            time.sleep(0.1)


# --- dashboard queries against a live Prometheus ---------------------------------------------------


def panel_queries(rate_interval: str) -> list[tuple[str, str, str, bool]]:
    """(dashboard, panel title or annotation name, PromQL as Prometheus gets it, instant?) for every
    dashboard query Prometheus answers (bundle_helpers.prometheus_queries: Tempo's are skipped)."""
    return [
        (name, title, promql_for_prometheus(expr, rate_interval=rate_interval), instant)
        for name, title, expr, instant in prometheus_queries()
    ]


def _range_query(prom: Prometheus, expr: str) -> list[dict]:
    end = time.time()
    return prom.api("query_range", query=expr, start=f"{end - 30:.3f}", end=f"{end:.3f}", step="1")["result"]


# `<expr> or vector(0)` always has data: the part before `or` must have data too.
_FALLBACK = re.compile(r"(?s)(.*\S)\s+or\s+(?:on\s*\(\s*\)\s*)?vector\([^()]*\)\s*")


def has_data(prom: Prometheus, expr: str, instant: bool) -> bool:
    m = _FALLBACK.fullmatch(expr)
    if m and not has_data(prom, m.group(1), instant):
        return False
    # Instant queries at "now", as a stat / table panel asks; the queries of range panels must
    # also answer a range query over the last 30 s.
    return bool(prom.query(expr)) and (instant or bool(_range_query(prom, expr)))


def panels_without_data(
    prom: Prometheus, rate_interval: str, exempt: Sequence[str] = (), timeout: float = 20.0
) -> list[str]:
    """The panel queries (outside the exempt titles) still without data after up to timeout s."""
    queries = panel_queries(rate_interval)
    assert len(queries) > 100
    assert set(exempt) <= {title for _, title, _, _ in queries}, "exemptions for panels that no longer exist"
    pending = [q for q in queries if q[1] not in exempt]
    deadline = time.monotonic() + timeout
    while True:
        pending = [q for q in pending if not has_data(prom, q[2], q[3])]
        if not pending or time.monotonic() > deadline:
            return [f"{n} / {t}: {e}" for n, t, e, _ in pending]
        time.sleep(0.5)


def _label_values_request(query: str) -> tuple[str, list[str]]:
    """label_values(selector, label) or label_values(label), with every variable at "All":
    the label and the match[] for /api/v1/label/<label>/values."""
    m = re.fullmatch(r"\s*label_values\(\s*(?:(.+?)\s*,\s*)?([A-Za-z_]\w*)\s*\)\s*", query)
    assert m, f"not a label_values() query: {query}"
    selector, label = m.groups()
    return label, [promql_for_prometheus(selector)] if selector else []


def variable_values(prom: Prometheus) -> dict[str, set[str]]:
    """The values of every dashboard template variable (a query variable), by variable name;
    fails when a variable has none."""
    start = f"{time.time() - 3600:.3f}"
    values: dict[str, set[str]] = {}
    for name, dashboard in dashboards().items():
        for var in dashboard.get("templating", {}).get("list", []):
            if var["type"] != "query":
                continue
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            label, match = _label_values_request(query)
            params: dict = {"start": start}
            if match:
                params["match[]"] = match
            got = prom.api(f"label/{label}/values", **params)
            assert got, f"{name}: variable {var['name']} ({query}) has no values"
            values.setdefault(var["name"], set()).update(got)
    return values


def rfc3339(text: str) -> float:
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    assert m, text
    base = datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    return base.timestamp() + float("0." + (m.group(2) or "0"))


def alertmanager_source(tmp: Path, slack_url: str) -> Path:
    """A copy of alertmanager/ (config and templates) with group_wait/group_interval of 1 s and
    the Slack URL file in tmp. Returns the copied alertmanager.yml; the webhook and Discord
    placeholders are left for entrypoint.sh to replace."""
    src = tmp / "alertmanager-src"
    shutil.copytree(ROOT / "alertmanager" / "templates", src / "templates")
    (src / "slack_webhook_url").write_text(slack_url + "\n", encoding="utf-8")
    cfg = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    routes = [cfg["route"], *cfg["route"].get("routes", [])]
    for route in routes:
        for key in ("group_wait", "group_interval"):
            if key in route or route is cfg["route"]:
                route[key] = "1s"
    for receiver in cfg["receivers"]:
        for slack in receiver.get("slack_configs", []):
            slack["api_url_file"] = str(src / "slack_webhook_url")
    path = src / "alertmanager.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def alertmanager(
    tmp: Path,
    source_config: Path,
    webhook_url: str,
    discord_url: str,
    cluster: Sequence[str] = ("--cluster.listen-address=",),
    heartbeat_url: str = "",
) -> Iterator[str]:
    """The real Alertmanager started through alertmanager/entrypoint.sh (which substitutes the
    webhook, Discord and heartbeat URLs from the environment); yields its base URL. cluster: the
    --cluster.* flags (by default none: clustering off)."""
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    env = _child_env()
    env.update(
        ALERTMANAGER_CONFIG_TEMPLATE=str(source_config),
        ALERTMANAGER_CONFIG_DIR=str(tmp / "alertmanager-config"),
        ALERTMANAGER_BIN=binary,
        ALERT_WEBHOOK_URL=webhook_url,
        DISCORD_WEBHOOK_URL=discord_url,
        HEARTBEAT_URL=heartbeat_url,
    )
    service = Service(
        "alertmanager",
        [
            "sh",
            str(ROOT / "alertmanager" / "entrypoint.sh"),
            f"--storage.path={tmp / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *cluster,
        ],
        tmp,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        service.wait_ready(url + "/-/ready")
        yield url
    finally:
        service.stop()


# --- a webhook receiver ------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST body by path."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = body.decode(errors="replace")
                with receiver.lock:
                    receiver.posts.append((self.path, payload))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self, path: str) -> list[Any]:
        with self.lock:
            return [payload for p, payload in self.posts if p == path]


# --- the log writer ------------------------------------------------------------------------------


class CompletionLog:
    """Writes the completion format: request, response (success or failure), trading decision."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids = itertools.count(1)

    def write(self, *lines: dict | str) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for line in lines:
                f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")

    @staticmethod
    def _ts() -> str:
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def request(self, model: str) -> str:
        rid = f"req_{next(self.ids):06d}"
        self.write({"event_type": "completion_request", "timestamp": self._ts(), "request_id": rid, "model": model})
        return rid

    def response(
        self,
        rid: str,
        *,
        ms: float = 900,
        cost: float | None = None,
        error: str | None = None,
        ttfc_ms: float | None = None,
        tokens: tuple[int, int] = (800, 120),
    ) -> None:
        line: dict[str, Any] = {
            "event_type": "completion_response",
            "timestamp": self._ts(),
            "request_id": rid,
            "success": error is None,
            "response_time_ms": ms,
            "token_usage": {
                "prompt_tokens": tokens[0],
                "completion_tokens": tokens[1],
                "total_tokens": sum(tokens),
            },
        }
        if cost is not None:
            line["cost_estimate_usd"] = cost
        if error is not None:
            line["error_type"] = error
        if ttfc_ms is not None:
            line["time_to_first_chunk_ms"] = ttfc_ms
        self.write(line)

    def call(self, model: str, **response: Any) -> str:
        rid = self.request(model)
        self.response(rid, **response)
        return rid

    def decision(self, rid: str, action: str, symbol: str, result: str) -> None:
        self.write(
            {
                "event_type": "trading_decision",
                "timestamp": self._ts(),
                "request_id": rid,
                "action": action,
                "symbol": symbol,
                "validation_result": result,
            }
        )


def litellm_line(n: int) -> dict:
    """A streamed LiteLLM call (completionStartTime before endTime), every other one a cache hit
    (as LiteLLM writes a hit: response_cost 0.0, what it saved in saved_cache_cost), with the
    provider's rate-limit headers as LiteLLM keeps them; its key's team in metadata, research on every fourth
    line and support on the others (budgets per owner); four calls in a row are one session (a second
    of traffic at 0.25 s a tick)."""
    end = time.time()
    start = end - 1.2
    hit = n % 2 == 0
    return {
        "id": f"chatcmpl-{n}",
        "call_type": "acompletion",
        "stream": True,
        "model": "gpt-4o",
        "custom_llm_provider": "openai",
        "status": "success",
        "startTime": start,
        "completionStartTime": start + 0.3,
        "endTime": end,
        "prompt_tokens": 600,
        "completion_tokens": 90,
        "total_tokens": 690,
        "response_cost": 0.0 if hit else 0.0024,
        "saved_cache_cost": 0.0024 if hit else None,
        "cache_hit": hit,
        "response": {
            "usage": {
                "prompt_tokens": 600,
                "completion_tokens": 90,
                "prompt_tokens_details": {"cached_tokens": 200},
                "completion_tokens_details": {"reasoning_tokens": 10},
            }
        },
        "error_information": None,
        "hidden_params": {
            "additional_headers": {
                "x_ratelimit_limit_requests": 5000,
                "x_ratelimit_remaining_requests": 5000 - n % 50,
                "llm_provider-x-ratelimit-reset-requests": "12ms",
                "llm_provider-x-ratelimit-limit-tokens": "160000",
                "llm_provider-x-ratelimit-remaining-tokens": str(160000 - 690 * (n % 50)),
                "llm_provider-x-ratelimit-reset-tokens": "1m30.5s",
            }
        },
        "metadata": {"user_api_key_team_alias": "research" if n % 4 == 1 else "support"},
        "session_id": f"chat-{n // 4}",
    }


# The teams' budgets of the stack's exporter (PanelTraffic): the Cost dashboard's owner row.
OWNER_BUDGETS = [{"match": {"team": "research"}, "monthly_usd": 100}, {"match": {"team": "support"}, "monthly_usd": 50}]


class TrafficWriter(threading.Thread):
    """Appends a few calls to both logs every 0.25 s until stopped, so counters keep growing
    between scrapes (a counter first seen at its final value has rate 0 in Prometheus)."""

    ACTIONS = ("HOLD", "LONG", "SHORT", "CLOSE")
    SYMBOLS = ("BTC-USD", "ETH-USD")

    def __init__(self, completion: CompletionLog, litellm: Path) -> None:
        super().__init__(daemon=True)
        self.completion = completion
        self.litellm = litellm
        self.halt = threading.Event()
        self.ticks = 0
        self.pending: str | None = None

    def tick(self) -> None:
        n = self.ticks
        log = self.completion
        rid = log.call("gpt-4o-mini", ms=700 + 50 * (n % 7), cost=0.0009, ttfc_ms=180 + 10 * (n % 5))
        log.decision(rid, self.ACTIONS[n % 4], self.SYMBOLS[n % 2], "PASSED" if n % 3 else "REJECTED")
        rid = log.call(
            "claude-3-5-sonnet-20241022",
            ms=2100 if n % 4 else 400,
            cost=0.006,
            error="RateLimitError" if n % 4 == 0 else None,
        )
        log.decision(rid, self.ACTIONS[(n + 1) % 4], self.SYMBOLS[(n + 1) % 2], "PASSED")
        # a local model with neither a logged cost nor a price: unpriced completions
        log.call("llama3:8b", ms=4000, tokens=(500, 200))
        # a model that always fails: consecutive failures climb, LLMConsecutiveFailures fires
        log.call("o3-mini", ms=30000, error="APITimeoutError")
        # one call stays in flight until the next tick
        if self.pending is not None:
            log.response(self.pending, ms=1500, cost=0.001)
        self.pending = log.request("gpt-4o-mini")
        with open(self.litellm, "a", encoding="utf-8") as f:
            f.write(json.dumps(litellm_line(n)) + "\n")
        self.ticks += 1

    def run(self) -> None:
        while not self.halt.is_set():
            self.tick()
            self.halt.wait(0.25)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)


def exporter_config(tmp: Path, sources: list[dict], **extra: Any) -> Path:
    cfg: dict[str, Any] = {
        "sources": sources,
        "positions_file": str(tmp / "positions.json"),
        "positions_save_interval_seconds": 1,
        "poll_interval_seconds": 0.2,
        "glob_interval_seconds": 1,
        **extra,
    }
    path = tmp / "exporter.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def demo_sources(logs: Path) -> list[dict]:
    """A completion-format source (the file and its rotated siblings) and a LiteLLM one in logs/."""
    return [
        {
            "name": "trading-bot",
            "path": str(logs / "llm_completions.log*"),
            "format": "completion",
            "labels": {"app": "trading-bot"},
        },
        {
            "name": "litellm-proxy",
            "path": str(logs / "litellm.jsonl"),
            "format": "litellm",
            "labels": {"app": "litellm"},
            "label_fields": {"team": "metadata.user_api_key_team_alias"},
        },
    ]


class BillHistory:
    """An OpenAI bill of the two closed UTC days before today (a fake admin API) and the same spend
    as llm_cost_usd_total history in a Prometheus TSDB (promtool's backfill): the "Logs vs bill"
    panels and rules need a closed day on both sides, which a test run of seconds never has. The
    history is the bill to the cent for the one model, so the capture ratio is in the band."""

    MODEL = "gpt-4o-mini"  # a model the traffic calls: no label value of its own
    # $0.001 every 5 minutes: little beside the fleet test's $10 monthly budget
    PER_DAY = Decimal("0.288")

    def __init__(self, tmp: Path) -> None:
        self.today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        items = []
        for n in (1, 2):
            day = (self.today - timedelta(days=n)).strftime("%Y-%m-%d")
            items += [
                Item(day, "proj_a", self.MODEL, "input", "0.100"),
                Item(day, "proj_b", self.MODEL, "input", "0.088"),
                Item(day, "proj_a", self.MODEL, "output", "0.100"),
                Item(day, "proj_a", None, "web search tool calls", "0.001"),
            ]
        self.key_file = tmp / "openai-admin.key"
        self.key_file.write_text("sk-admin-stack-test\n", encoding="utf-8")
        self.server = FakeBillServer("openai", items, "sk-admin-stack-test")

    def account(self) -> dict[str, Any]:
        url, key = self.server.url, str(self.key_file)
        return {"provider": "openai", "url": url, "admin_key_file": key, "interval_seconds": 60}

    def backfill(self, tsdb: Path) -> None:
        """The two days' llm_cost_usd_total, every 5 minutes, as blocks in `tsdb` (before Prometheus starts)."""
        promtool = require_binary("promtool", "prometheus")
        labels = (
            'gen_ai_operation_name="chat",gen_ai_provider_name="openai",'
            f'gen_ai_request_model="{self.MODEL}",instance="history:8464",job="llm-exporter"'
        )
        start = self.today - timedelta(days=2)
        step = self.PER_DAY / 288
        lines = ["# TYPE llm_cost_usd_total unknown"]
        for i in range(2 * 288 + 1):
            lines.append(f"llm_cost_usd_total{{{labels}}} {step * i} {start.timestamp() + 300 * i:.0f}")
        lines.append("# EOF")
        data = tsdb.parent / "history.om"
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(data), str(tsdb)],
            check=True,
            capture_output=True,
            timeout=60,
        )


class PanelTraffic:
    """Logs in tmp/logs and an exporter config (tmp/exporter.yml) that give every dashboard panel
    data while the traffic runs (`with traffic:` runs a TrafficWriter): besides the writer's
    calls, a performance summary (ignored), a line that is not JSON (rejected), a request that
    never gets an answer (orphaned after pending_ttl_seconds), a success without token usage,
    and, from wait_until_rules_fire(), a sixth model past max_label_values (folded). The exporter
    also probes a fake Ollama server (served while the traffic runs; one model, loaded) for the probe
    panels, and fetches a fake OpenAI bill (BillHistory: backfill() its history into the Prometheus
    TSDB before Prometheus starts) for the "Logs vs bill" panels."""

    FOLDED_MODEL = "my-finetune-v2"
    # The probed server's model: one the traffic names too, as a model label value of its own
    # would take one of the five places under max_label_values.
    PROBED_MODEL = "llama3:8b"

    def __init__(self, tmp: Path, **config: Any) -> None:
        logs = tmp / "logs"
        logs.mkdir(parents=True)
        self.completion = CompletionLog(logs / "llm_completions.log")
        self.completion.write({"event_type": "performance_metrics", "total_completions": 0}, "Traceback (not JSON)")
        self.completion.request("gpt-4o-mini")
        self.completion.call("gpt-4o-mini", tokens=(0, 0))
        self.litellm = logs / "litellm.jsonl"
        self.litellm.touch()
        # five models fit under max_label_values; the sixth is folded; a LiteLLM session (a second
        # of calls) ends idle a second after its last call, so the session panels fill while it runs
        limits = {
            "pending_ttl_seconds": 2,
            "max_label_values": 5,
            "session_idle_seconds": 1,
            **config.pop("limits", {}),
        }
        self.model_server = FakeModelServer("ollama", [self.PROBED_MODEL], loaded=[self.PROBED_MODEL])
        probes = [{"url": self.model_server.url, "type": "ollama", "interval_seconds": 1, "timeout_seconds": 1}]
        self.bill = BillHistory(tmp)
        billing = {"days": 3, "accounts": [self.bill.account()]}
        self.config = exporter_config(
            tmp, demo_sources(logs), limits=limits, probes=probes, billing=billing, budgets=OWNER_BUDGETS, **config
        )
        self.writer = TrafficWriter(self.completion, self.litellm)

    def __enter__(self) -> PanelTraffic:
        self.model_server.__enter__()
        self.bill.server.__enter__()
        self.writer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.writer.stop()
        self.model_server.__exit__(*exc)
        self.bill.server.__exit__(*exc)

    def wait_until_rules_fire(self, prom: Prometheus) -> None:
        """Scraped, rules evaluated (recording rules over recording rules too) and the alerts the
        "Firing alerts" panels show firing; then the sixth model is written."""
        for alertname in ("LLMUnpricedCompletions", "LLMConsecutiveFailures"):
            firing = f'ALERTS{{alertname="{alertname}", alertstate="firing"}}'
            prom.wait(lambda q=firing: bool(prom.query(q)), f"{alertname} firing")
        prom.wait(lambda: bool(prom.query('llm_cost_usd_total{gen_ai_request_model="gpt-4o"}')), "the LiteLLM source")
        ratio = "provider_model_day:llm_billing_capture:ratio"
        prom.wait(lambda: bool(prom.query(ratio)), "the bill beside the backfilled history (BillHistory)")
        self.completion.call(self.FOLDED_MODEL, cost=0.001)
