"""The bill's fetch against an admin API that misbehaves (issue 24): absurd amounts, cursors that
never end, a redirect elsewhere, answers that never end or trickle, keys that are no key, a
Retry-After past reason, a fetch that hangs while the exporter tails and is scraped. Each fails
that fetch only: counted, warned of, the last good bill kept, the key nowhere."""

from __future__ import annotations

import base64
import json
import logging
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fakes.billing_server import ENDLESS, FakeBillServer
from llm_exporter.sources.http import GetError, get_json, read_key
from test_billing import (
    ANTHROPIC_KEY,
    NOW,
    OPENAI_KEY,
    billed,
    billing_config,
    expected,
    exporter_for,
    month,
)
from testkit import FakeClock, scrape, value, write_lines

KEYS = {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_OPENAI_ADMIN_KEY", OPENAI_KEY)
    monkeypatch.setenv("TEST_ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)


def first_amount(provider: str, amount: Any) -> Any:
    """A tamper() that puts `amount` in the first result of every page, where the provider puts one."""

    def tamper(page: dict, _query: dict) -> dict:
        result = page["data"][0]["results"][0]
        if provider == "openai":
            result["amount"]["value"] = amount
        else:
            result["amount"] = amount
        return page

    return tamper


def fetched_then(
    tmp_path: Path, provider: str, change: Any, caplog: pytest.LogCaptureFixture, **account: object
) -> tuple[dict, dict, list[str], FakeBillServer]:
    """A good fetch, then `change(server)` and the next fetch: (good bill, samples after, the
    warnings, the server)."""
    clock = FakeClock()
    with FakeBillServer(provider, month(provider, NOW.date()), KEYS[provider]) as server:
        exporter = exporter_for(billing_config(tmp_path, server, days=3, **account), clock)
        exporter.biller.poll_once()
        good = billed(scrape(exporter))
        change(server)
        server.requests.clear()
        clock.advance(3600)
        assert exporter.biller.poll_once() == 1
        after = scrape(exporter)
    assert good == expected(server, days=3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    return good, after, warnings, server


NOT_A_NUMBER = "an amount that is not a number"
OUT_OF_RANGE = "an amount below zero or past a billion dollars"
ABSURD = [
    ("openai", -1.5, OUT_OF_RANGE),
    ("openai", 1e308, OUT_OF_RANGE),
    ("openai", float("nan"), NOT_A_NUMBER),  # json writes NaN, json reads it
    ("openai", "NaN", NOT_A_NUMBER),
    ("openai", "9" * 5000, NOT_A_NUMBER),  # longer than any amount: never parsed
    ("openai", "Infinity", NOT_A_NUMBER),
    ("openai", "0x10", NOT_A_NUMBER),
    ("openai", True, NOT_A_NUMBER),
    ("openai", None, NOT_A_NUMBER),
    ("openai", {"v": 1}, NOT_A_NUMBER),
    ("anthropic", "-150", NOT_A_NUMBER),  # a decimal string has no sign
    ("anthropic", -150, OUT_OF_RANGE),
    ("anthropic", "1e308", OUT_OF_RANGE),
    ("anthropic", "1e12", OUT_OF_RANGE),  # cents: ten billion dollars
    ("anthropic", "NaN", NOT_A_NUMBER),
    ("anthropic", "9" * 5000, NOT_A_NUMBER),
    ("anthropic", "Infinity", NOT_A_NUMBER),
    ("anthropic", "12,50", NOT_A_NUMBER),
    ("anthropic", 12.5e300, OUT_OF_RANGE),
    ("anthropic", True, NOT_A_NUMBER),
    ("anthropic", "", NOT_A_NUMBER),
]


@pytest.mark.parametrize(("provider", "amount", "why"), ABSURD, ids=lambda x: repr(x)[:16])
def test_an_absurd_amount_fails_the_fetch_and_keeps_the_last_bill(
    tmp_path: Path, keys: None, caplog: pytest.LogCaptureFixture, provider: str, amount: Any, why: str
) -> None:
    def change(server: FakeBillServer) -> None:
        server.tamper = first_amount(provider, amount)

    good, after, warnings, server = fetched_then(tmp_path, provider, change, caplog)
    assert billed(after) == good
    assert value(after, "llm_exporter_billing_fetches_total", result="error") == 1
    address = server.url.split("/")[2]
    assert warnings == [f"billing {provider} ({address}): unexpected answer: {why}; keeping the last bill fetched"]


def test_amounts_at_the_bounds_are_billed_exactly(tmp_path: Path, keys: None, caplog: pytest.LogCaptureFixture) -> None:
    """A line item of exactly a billion dollars (1e11 cents) and one of a thousandth of a cent are
    the bill's, to the last digit."""
    replaced: list[tuple[str, str, Decimal, Decimal]] = []

    def change(server: FakeBillServer) -> None:
        amounts = iter(["1e11", "0.001"])  # the first result of each of the two pages

        def tamper(page: dict, _query: dict) -> dict:
            bucket, new = page["data"][0], next(amounts)
            result = bucket["results"][0]
            replaced.append((bucket["starting_at"][:10], result["model"], Decimal(result["amount"]), Decimal(new)))
            result["amount"] = new
            return page

        server.tamper = tamper

    _, after, warnings, server = fetched_then(tmp_path, "anthropic", change, caplog)
    want = expected(server, days=3)
    for day, model, old, new in replaced:
        want["anthropic", model or "_all", day] = float(server.billed(day, model) + (new - old) / 100)
    assert len(replaced) == 2 and warnings == []
    assert billed(after) == want
    assert max(want.values()) > 1e9


def test_a_5000_digit_json_number_fails_the_fetch_on_every_python(
    tmp_path: Path, keys: None, caplog: pytest.LogCaptureFixture
) -> None:
    """3.11 refuses to read it (int's digit limit: not JSON), 3.10 reads it (past a billion dollars)."""
    body = (
        '{"object": "page", "has_more": false, "next_page": null, "data": [{"object": "bucket", '
        '"start_time": 1796601600, "end_time": 1796688000, "results": [{"object": "organization.costs.result", '
        '"amount": {"value": ' + "9" * 5000 + ', "currency": "usd"}, "line_item": "gpt-4o, input"}]}]}'
    )

    def change(server: FakeBillServer) -> None:
        server.script = [(200, {}, body.encode())]

    good, after, warnings, _ = fetched_then(tmp_path, "openai", change, caplog)
    assert billed(after) == good
    assert value(after, "llm_exporter_billing_fetches_total", result="error") == 1
    assert len(warnings) == 1


def test_the_same_next_page_forever_is_a_loop_not_a_bill(
    tmp_path: Path, keys: None, caplog: pytest.LogCaptureFixture
) -> None:
    def change(server: FakeBillServer) -> None:
        server.tamper = lambda page, _q: {**page, "has_more": True, "next_page": base64.b64encode(b"0").decode()}

    good, after, warnings, server = fetched_then(tmp_path, "anthropic", change, caplog)
    assert billed(after) == good
    assert len(server.requests) == 2  # the first page, then its cursor once: seen before
    assert warnings == [
        f"billing anthropic ({server.url.split('/')[2]}): the report's pages loop; keeping the last bill fetched"
    ]


def test_new_cursors_to_the_same_page_forever_stop_past_the_days_asked(
    tmp_path: Path, keys: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Each cursor differs ("0", "00", "000" ...) and each page repeats the first days: summed,
    they would bill those days again and again."""

    def change(server: FakeBillServer) -> None:
        def tamper(page: dict, _q: dict) -> dict:
            cursor = base64.b64encode(b"0" * len(server.requests)).decode()
            return {**page, "has_more": True, "next_page": cursor}

        server.tamper = tamper

    good, after, warnings, server = fetched_then(tmp_path, "openai", change, caplog)
    assert billed(after) == good
    assert len(server.requests) == 4  # three days asked: a page a day at least, and one more
    assert warnings == [
        f"billing openai ({server.url.split('/')[2]}): the report's pages go on past its 3 days; "
        "keeping the last bill fetched"
    ]


def test_a_cursor_longer_than_any_cursor_is_not_sent(
    tmp_path: Path, keys: None, caplog: pytest.LogCaptureFixture
) -> None:
    def change(server: FakeBillServer) -> None:
        server.tamper = lambda page, _q: {**page, "has_more": True, "next_page": "p" * 100_000}

    good, after, warnings, server = fetched_then(tmp_path, "openai", change, caplog)
    assert billed(after) == good and len(server.requests) == 1
    assert warnings[0].endswith(
        "unexpected answer: a `next_page` cursor longer than any cursor; keeping the last bill fetched"
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("code", "to"),
    [(302, "another host"), (307, "another host"), (301, "https://127.0.0.1:1/"), (308, "ftp://127.0.0.1:1/")],
)
def test_a_redirect_is_not_followed_and_the_admin_key_goes_nowhere_else(
    tmp_path: Path, keys: None, caplog: pytest.LogCaptureFixture, provider: str, code: int, to: str
) -> None:
    with FakeBillServer(provider, month(provider, NOW.date()), KEYS[provider]) as other:
        location = f"http://{other.url.split('/')[2]}{other.path}" if to == "another host" else to

        def change(server: FakeBillServer) -> None:
            server.script = [(code, {"Location": location})]

        good, after, warnings, server = fetched_then(tmp_path, provider, change, caplog)
    assert billed(after) == good
    assert other.requests == []
    assert len(server.requests) == 1
    assert value(after, "llm_exporter_billing_fetches_total", result="error") == 1
    assert warnings == [
        f"billing {provider} ({server.url.split('/')[2]}): HTTP {code}, a redirect (not followed); "
        "keeping the last bill fetched"
    ]


def test_an_answer_that_never_ends_is_read_up_to_its_bound(
    tmp_path: Path, keys: None, caplog: pytest.LogCaptureFixture
) -> None:
    def change(server: FakeBillServer) -> None:
        server.script = [(200, {}, ENDLESS)]

    good, after, warnings, server = fetched_then(tmp_path, "anthropic", change, caplog)
    assert billed(after) == good
    assert warnings == [
        f"billing anthropic ({server.url.split('/')[2]}): answer too large; keeping the last bill fetched"
    ]


def test_an_answer_that_trickles_ends_at_the_timeout_whatever_each_read_takes() -> None:
    """A server sending a little at a time never trips a socket's timeout: the whole answer has
    `timeout` seconds. The clock steps a second a read; the server never stops."""
    clock = FakeClock()

    def tick() -> float:
        clock.advance(1)
        return clock()

    with FakeBillServer("openai", [], OPENAI_KEY) as server:
        server.script = [(200, {}, ENDLESS)]
        with pytest.raises(GetError) as exc:
            get_json(server.url + "/organization/costs", {}, 5, 1 << 40, clock=tick)
    assert str(exc.value) == "no whole answer within 5 s" and exc.value.timed_out
    assert clock() == 1000 + 7  # the deadline set at 1001 + 5, then a read a second: the sixth past it


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "the key file cannot be read: FileNotFoundError"),
        ("directory", "the key file cannot be read: IsADirectoryError"),
        (b"x" * 5000, "the key file is larger than a key"),
        (b"sk-admin one\nsk-admin two\n", "the key is not one line of visible ASCII"),
        ("sk-admin-\u00e9t\u00e9\n".encode(), "the key is not one line of visible ASCII"),
        (b"\n", "no admin key: admin_key_file is empty or not set"),
    ],
    ids=["missing", "directory", "too large", "two lines", "not ASCII", "empty"],
)
def test_a_bad_key_file_is_a_refused_fetch_that_names_neither_path_nor_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | str | None, why: str
) -> None:
    secret = tmp_path / "secret-dir" / "key"
    secret.parent.mkdir()
    if content == "directory":
        secret.mkdir()
    elif content is not None:
        secret.write_bytes(content)
    with FakeBillServer("openai", month("openai", NOW.date()), OPENAI_KEY) as server:
        raw = billing_config(tmp_path, server, days=2, admin_key_file=str(secret))
        del raw["billing"]["accounts"][0]["admin_key_env"]
        exporter = exporter_for(raw)
        exporter.biller.poll_once()
        s = scrape(exporter)
    assert server.requests == []  # nothing sent without a key
    assert value(s, "llm_exporter_billing_fetches_total", result="unauthorized") == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"billing openai ({server.url.split('/')[2]}): {why}; keeping the last bill fetched"]
    assert "secret-dir" not in warnings[0] and "sk-admin" not in warnings[0]


def test_a_key_device_is_read_no_further_than_a_key() -> None:
    with pytest.raises(GetError, match="the key file is larger than a key"):
        read_key(None, "/dev/zero")


@pytest.mark.parametrize(
    ("retry_after", "due_in"),
    [
        ("120", 120),
        ("86400", 3600),
        ("1e308", 3600),
        ("nan", 3600),
        ("-5", 3600),
        ("99999999999", 3600),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 3600),
        ("", 3600),
    ],
)
def test_retry_after_is_followed_within_reason(tmp_path: Path, keys: None, retry_after: str, due_in: int) -> None:
    """Seconds as RFC 9110 says; never past the next interval (a day's wait, 1e308, NaN would
    stop the bill); a date or nonsense waits the interval."""
    clock = FakeClock()
    with FakeBillServer("anthropic", month("anthropic", NOW.date()), ANTHROPIC_KEY) as server:
        server.script = [(429, {"retry-after": retry_after})]
        exporter = exporter_for(billing_config(tmp_path, server, days=2), clock)
        exporter.biller.poll_once()
        clock.advance(due_in - 1)
        assert exporter.biller.poll_once() == 0
        clock.advance(1)
        assert exporter.biller.poll_once() == 1
        s = scrape(exporter)
    assert billed(s) == expected(server, days=2)


def test_a_hung_admin_api_holds_neither_the_tailing_nor_metrics(tmp_path: Path, keys: None) -> None:
    """The fetch waits on a server that never answers (a timeout of an hour); meanwhile the log is
    read and scraped, and the bill's own families are there (empty until a fetch ends)."""
    with FakeBillServer("openai", month("openai", NOW.date()), OPENAI_KEY) as server:
        raw = billing_config(tmp_path, server, days=2, timeout_seconds=3600)
        log = tmp_path / "app.log"
        log.write_text("")
        raw["sources"] = [{"name": "app", "path": str(log), "format": "event"}]
        exporter = exporter_for(raw)
        exporter.poll_once()
        server.hold = threading.Event()
        fetching = threading.Thread(target=exporter.biller.poll_once, daemon=True)
        fetching.start()
        assert server.received.wait(60)  # the request is in; its answer is held
        call = {"model": "gpt-4o", "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.25, "latency_ms": 800}
        write_lines(log, [json.dumps(call) + "\n"])
        exporter.poll_once()
        s = scrape(exporter)
        assert fetching.is_alive()  # still waiting, while the log was read and /metrics answered
        server.hold.set()
        fetching.join(60)
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="gpt-4o") == 0.25
    assert billed(s) == {}
    assert billed(scrape(exporter)) == expected(server, days=2)
