"""The providers' own bill beside ours (issue 24): fake admin APIs in each documented wire format."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from fakes.billing_server import FakeBillServer, Item
from llm_exporter.config import ConfigError, parse_config
from llm_exporter.exporter import Exporter
from llm_exporter.formats.billing import anthropic_model, bill_rows, openai_model
from llm_exporter.pipeline.billing import closed_days, fetch_bill
from llm_exporter.sources.billing import BillingError
from testkit import FakeClock, Running, Samples, scrape, value, wait_for

OPENAI_KEY = "sk-admin-openai-s3cr3t-0001"
ANTHROPIC_KEY = "sk-ant-admin01-s3cr3t-0002"
NOW = datetime(2026, 12, 7, 6, 30, tzinfo=timezone.utc)  # the bill ends with 2026-12-06
TODAY = NOW.date()


def month(provider: str, today: date) -> list[Item]:
    """35 closed days of a bill: two models in two projects (workspaces), each token kind its own
    line item, sub-cent amounts, and a cost of no model (web search)."""
    items = []
    for n in range(1, 36):
        day = (today - timedelta(days=n)).isoformat()
        if provider == "openai":
            models = ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06")
            kinds = ("input", "cached input", "output")
            owners = ("proj_a", "proj_b")
        else:
            models = ("claude-sonnet-4-5-20250929", "claude-3-5-haiku-20241022")
            kinds = ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens")
            owners = ("wrkspc_a", "wrkspc_b")
        for m, model in enumerate(models):
            for k, kind in enumerate(kinds):
                for o, owner in enumerate(owners):
                    items.append(Item(day, owner, model, kind, f"{n * 1.37 + m * 3.11 + k * 0.29 + o * 0.05:.6f}"))
        search = "web search tool calls" if provider == "openai" else "web_search"
        items.append(Item(day, owners[0], None, search, "0.25"))
    return items


def billing_config(tmp_path: Path, *servers: FakeBillServer, days: int = 35, **account: object) -> dict:
    keys = {"openai": "TEST_OPENAI_ADMIN_KEY", "anthropic": "TEST_ANTHROPIC_ADMIN_KEY"}
    return {
        "sources": [{"name": "app", "path": str(tmp_path / "none.log")}],
        "billing": {
            "days": days,
            "accounts": [
                {"provider": s.provider, "url": s.url, "admin_key_env": keys[s.provider], **account} for s in servers
            ],
        },
    }


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_ADMIN_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)


def exporter_for(raw: dict, clock: FakeClock | None = None) -> Exporter:
    exporter = Exporter(parse_config(raw, "test"))
    exporter.biller.now = lambda: NOW
    if clock is not None:
        exporter.biller.clock = clock
    return exporter


def billed(samples: Samples) -> dict[tuple[str, str, str], float]:
    return {
        (labels["gen_ai_provider_name"], labels["gen_ai_request_model"], labels["day"]): v
        for (name, ls), v in samples.items()
        if name == "llm_billing_cost_usd"
        for labels in (dict(ls),)
    }


def expected(*servers: FakeBillServer, days: int = 35, today: date = TODAY) -> dict[tuple[str, str, str], float]:
    """The fake bills of the last `days` closed days, summed per provider, model and day."""
    first = (today - timedelta(days=days)).isoformat()
    out: dict[tuple[str, str, str], Decimal] = {}
    for server in servers:
        for item in server.items:
            if item.day < first:
                continue
            key = (server.provider, item.model or "_all", item.day)
            out[key] = out.get(key, Decimal(0)) + Decimal(item.usd)
    return {key: float(usd) for key, usd in out.items()}


def test_the_exported_bill_equals_both_fake_bills_per_provider_model_and_day_after_a_restart_too(
    tmp_path: Path, keys: None
) -> None:
    today = NOW.date()
    with (
        FakeBillServer("openai", month("openai", today), OPENAI_KEY) as openai,
        FakeBillServer("anthropic", month("anthropic", today), ANTHROPIC_KEY) as anthropic,
    ):
        raw = billing_config(tmp_path, openai, anthropic)
        exporter = exporter_for(raw)
        assert exporter.biller.poll_once() == 2
        first = scrape(exporter)
        restarted = exporter_for(raw)  # nothing persisted: the bill is fetched again
        restarted.biller.poll_once()
        second = scrape(restarted)
    want = expected(openai, anthropic)
    assert len(want) == 2 * 35 * 3
    assert billed(first) == want
    assert billed(second) == want
    # to the cent, as a person reads the bill
    day = "2026-11-20"
    assert round(value(first, "llm_billing_cost_usd", gen_ai_provider_name="openai", day=day), 2) == round(
        float(openai.billed(day)), 2
    )
    assert value(first, "llm_billing_cost_usd", gen_ai_request_model="gpt-4o-2024-08-06", day=day) == float(
        openai.billed(day, "gpt-4o-2024-08-06")
    )
    # 35 days at most 2 buckets a page: 18 pages each, every one asked for
    for server in (openai, anthropic):
        pages = [q for _, q, _ in server.requests]
        assert len(pages) == 2 * 18
        assert [q.get("page") is None for q in pages].count(True) == 2
        assert all(q["bucket_width"] == ["1d"] for q in pages)
    assert openai.requests[0][1]["group_by[]"] == ["line_item", "project_id"]
    assert anthropic.requests[0][1]["group_by[]"] == ["description"]
    assert anthropic.requests[0][1]["starting_at"] == ["2026-11-02T00:00:00Z"]
    assert anthropic.requests[0][1]["ending_at"] == ["2026-12-07T00:00:00Z"]
    assert openai.requests[0][1]["start_time"] == [str(int(datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()))]
    assert value(first, "llm_exporter_billing_fetches_total", result="success") == 2
    days = {dict(ls)["day"]: v for (n, ls), v in first.items() if n == "llm_billing_day_timestamp_seconds"}
    assert len(days) == 35 and days["2026-12-06"] == datetime(2026, 12, 6, tzinfo=timezone.utc).timestamp()


def test_line_items_and_report_models_become_the_model_labels_completions_have() -> None:
    assert openai_model("gpt-4o-mini-2024-07-18, input") == "gpt-4o-mini-2024-07-18"
    assert openai_model("gpt-4o-2024-08-06, cached input") == "gpt-4o-2024-08-06"
    assert openai_model("o3-2025-04-16, output") == "o3-2025-04-16"
    assert openai_model("ft:gpt-4o-mini-2024-07-18:acme::abc123, training") == "ft:gpt-4o-mini-2024-07-18:acme::abc123"
    assert openai_model("web search tool calls") == "_all"
    assert openai_model("Assistants API | file search, storage") == "_all"
    assert openai_model(None) == "_all"
    assert anthropic_model("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5-20250929"
    assert anthropic_model("anthropic/claude-3-5-haiku-20241022") == "claude-3-5-haiku-20241022"
    assert anthropic_model(None) == "_all"
    page = {
        "data": [
            {
                "starting_at": "2026-12-06T00:00:00Z",
                "ending_at": "2026-12-07T00:00:00Z",
                "results": [{"amount": "123.45", "currency": "USD", "model": None, "cost_type": "web_search"}],
            }
        ],
        "has_more": False,
        "next_page": None,
    }
    assert bill_rows("anthropic", page) == [("2026-12-06", "_all", Decimal("1.2345"))]


def test_a_day_the_provider_revises_later_replaces_what_it_said_before(tmp_path: Path, keys: None) -> None:
    clock = FakeClock()
    today = NOW.date()
    with FakeBillServer("anthropic", month("anthropic", today), ANTHROPIC_KEY) as server:
        exporter = exporter_for(billing_config(tmp_path, server, days=3), clock)
        exporter.biller.poll_once()
        before = billed(scrape(exporter))
        day = "2026-12-06"
        # the provider closes the day late: more of it billed, and the haiku calls moved off the day
        server.items = [i for i in server.items if not (i.day == day and "haiku" in (i.model or ""))]
        server.items.append(Item(day, "wrkspc_a", "claude-sonnet-4-5-20250929", "output_tokens", "10.005"))
        assert exporter.biller.poll_once() == 0  # not due before interval_seconds
        clock.advance(3600)
        assert exporter.biller.poll_once() == 1
        after = billed(scrape(exporter))
    sonnet = ("anthropic", "claude-sonnet-4-5-20250929", day)
    assert after[sonnet] == pytest.approx(before[sonnet] + 10.005, abs=1e-9)
    assert after[sonnet] == float(server.billed(day, "claude-sonnet-4-5-20250929"))
    assert ("anthropic", "claude-3-5-haiku-20241022", day) in before
    assert ("anthropic", "claude-3-5-haiku-20241022", day) not in after
    assert after == expected(server, days=3)


def test_a_refused_admin_key_counts_warns_once_and_keeps_the_last_bill(
    tmp_path: Path, keys: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    with FakeBillServer("openai", month("openai", NOW.date()), OPENAI_KEY) as server:
        exporter = exporter_for(billing_config(tmp_path, server, days=2), clock)
        exporter.biller.poll_once()
        good = billed(scrape(exporter))
        monkeypatch.setenv("TEST_OPENAI_ADMIN_KEY", "sk-admin-revoked-0003")
        for _ in range(2):
            clock.advance(3600)
            exporter.biller.poll_once()
        s = scrape(exporter)
    assert billed(s) == good and good
    assert value(s, "llm_exporter_billing_fetches_total", gen_ai_provider_name="openai", result="unauthorized") == 2
    assert value(s, "llm_exporter_billing_fetches_total", result="success") == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    address = server.url.split("/")[2]  # host:port, not the URL
    assert warnings == [
        f"billing openai ({address}): HTTP 401: the admin key was refused; keeping the last bill fetched",
    ]


def test_a_429_is_retried_when_retry_after_says_not_sooner_not_an_interval_later(tmp_path: Path, keys: None) -> None:
    clock = FakeClock()
    with FakeBillServer("anthropic", month("anthropic", NOW.date()), ANTHROPIC_KEY) as server:
        server.script = [None, (429, {"retry-after": "120"})]  # the second page is refused
        exporter = exporter_for(billing_config(tmp_path, server, days=5), clock)
        exporter.biller.poll_once()
        s = scrape(exporter)
        assert billed(s) == {}  # half a bill is no bill
        assert value(s, "llm_exporter_billing_fetches_total", result="rate_limited") == 1
        clock.advance(119)
        assert exporter.biller.poll_once() == 0
        clock.advance(1)
        assert exporter.biller.poll_once() == 1
        s = scrape(exporter)
    assert billed(s) == expected(server, days=5)
    assert value(s, "llm_exporter_billing_fetches_total", result="success") == 1


def test_a_hung_admin_api_times_out_and_keeps_the_last_bill(tmp_path: Path, keys: None) -> None:
    """The hung server never answers while the fetch runs: only the request's own timeout can end
    poll_once (the join is a guard against a hang, not a time bound)."""
    clock = FakeClock()
    with FakeBillServer("openai", month("openai", NOW.date()), OPENAI_KEY) as server:
        exporter = exporter_for(billing_config(tmp_path, server, days=2, timeout_seconds=0.3), clock)
        exporter.biller.poll_once()
        good = billed(scrape(exporter))
        server.hold = threading.Event()
        clock.advance(3600)
        fetching = threading.Thread(target=exporter.biller.poll_once)
        fetching.start()
        fetching.join(60)
        ended = not fetching.is_alive()  # while the server still held its answer
        server.hold.set()
        s = scrape(exporter)
    assert ended
    assert value(s, "llm_exporter_billing_fetches_total", result="timeout") == 1
    assert billed(s) == good and good


def test_the_admin_keys_never_appear_in_logs_labels_or_errors(
    tmp_path: Path, keys: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    errors = []
    with (
        FakeBillServer("openai", month("openai", NOW.date()), OPENAI_KEY) as openai,
        FakeBillServer("anthropic", month("anthropic", NOW.date()), "another-key") as anthropic,  # 401
    ):
        raw = billing_config(tmp_path, openai, anthropic, days=2, timeout_seconds=0.3)
        exporter = exporter_for(raw, clock)
        openai.script = [(429, {"retry-after": "5"}), (500, {}), (302, {"Location": "http://127.0.0.1:1/"})]
        for _ in range(4):
            exporter.biller.poll_once()
            clock.advance(3600)
        openai.hold = threading.Event()
        exporter.biller.poll_once()
        openai.hold.set()
        from prometheus_client.exposition import generate_latest

        text = generate_latest(exporter.registry(process=False)).decode()
        for account in exporter.config.billing.accounts:
            try:
                fetch_bill(account, *closed_days(NOW, 2))
            except BillingError as exc:
                errors.append(f"{exc!s} {exc!r} {exc.args}")
    results = {dict(ls)["result"] for (n, ls), _ in scrape(exporter).items() if n.startswith("llm_exporter_billing_f")}
    assert results == {"success", "unauthorized", "rate_limited", "error", "timeout"}
    assert errors and caplog.records
    for key in (OPENAI_KEY, ANTHROPIC_KEY):
        assert key not in text
        assert all(key not in e for e in errors)
        assert all(key not in r.getMessage() and key not in str(r.args) for r in caplog.records)


def test_billing_config_errors_name_the_key_path() -> None:
    base = {"sources": [{"name": "a", "path": "/x"}]}
    cases = {
        "billing.accounts[0]: Value error, set one of admin_key_env and admin_key_file": {
            "provider": "openai",
            "url": "https://api.openai.com/v1",
        },
        "billing.accounts[0].provider: Input should be 'openai' or 'anthropic'": {
            "provider": "azure",
            "url": "https://x",
            "admin_key_env": "K",
        },
        "billing.accounts[0].url: Value error, credentials in the URL would show in logs; use admin_key_env": {
            "provider": "openai",
            "url": "http://u:p@h/",
            "admin_key_env": "K",
        },
    }
    for message, account in cases.items():
        with pytest.raises(ConfigError) as exc:
            parse_config({**base, "billing": {"accounts": [account]}}, "c.yml")
        assert message in str(exc.value), str(exc.value)
    with pytest.raises(ConfigError, match=r"billing.days: Input should be greater than or equal to 1"):
        parse_config({**base, "billing": {"days": 0}}, "c.yml")


def test_the_daemon_fetches_the_bill_on_its_own_thread_again_after_a_restart_and_logs_no_key(
    tmp_path: Path, keys: None
) -> None:
    import yaml

    today = datetime.now(timezone.utc).date()
    with (
        FakeBillServer("openai", month("openai", today), OPENAI_KEY) as openai,
        FakeBillServer("anthropic", month("anthropic", today), "another-key") as refusing,
    ):
        (tmp_path / "app.log").write_text("")
        raw = billing_config(tmp_path, openai, refusing, days=3)
        raw["sources"][0]["path"] = str(tmp_path / "app.log")
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump(raw))
        want = expected(openai, days=3, today=today)
        runs = []
        for _ in range(2):  # a restart fetches the bill again
            running = Running(tmp_path, "--config", str(config))
            try:
                wait_for(lambda r=running: value(r.scrape(), "llm_exporter_billing_fetches_total") == 2)
                runs.append(billed(running.scrape()))
            finally:
                code, err = running.stop()
            assert code == 0
            assert "billing anthropic" in err and "HTTP 401" in err
            assert OPENAI_KEY not in err and ANTHROPIC_KEY not in err
    assert runs == [want, want]
