"""The billed cost of the last closed UTC days, per provider and model, from the providers' own
cost reports (issue 24): the other side of the comparison with llm_cost_usd_total.

Each account is fetched at start-up and every `interval_seconds`, on a thread of its own (never
on the tailing path): every page of the last `billing.days` closed days, then the account's days
are replaced as a whole, so a bucket the provider revised replaces what it said before. A failed
fetch (a bad key, a 429, a hung server, an answer of the wrong shape) is counted by result and
logged once per change, and keeps the last good values. Nothing is persisted: the bill is the
source of truth and is revised for days, so a restart fetches it again rather than trusting a copy.
`poll_once()` runs the fetches that are due, for deterministic tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from llm_exporter.config import BillingAccount, BillingConfig
from llm_exporter.formats.billing import ALL_MODELS, BillFormatError, bill_rows, next_page
from llm_exporter.semconv import LABEL_MODEL
from llm_exporter.sources.billing import BillingError, admin_key, get_page, report_request
from llm_exporter.sources.probes import server_address

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


def closed_days(now: datetime, days: int) -> tuple[datetime, datetime]:
    """[start, end): the last `days` UTC days that have ended at `now`."""
    end = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - days * DAY, end


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


Costs = dict[tuple[str, str], Decimal]  # (day, model) -> US dollars


def fetch_bill(account: BillingAccount, start: datetime, end: datetime) -> Costs:
    """Every page of the account's daily costs from `start` to `end`, summed per day and model
    (over projects, workspaces, token kinds and line items); raises BillingError."""
    key = admin_key(account)
    costs: Costs = {}
    cursor: str | None = None
    seen: set[str] = set()
    # Every page holds a day at least (a bucket a day, `limit` of them a page): a report that
    # pages on past its days is a broken server, however new its cursors.
    pages = round((end - start) / DAY) + 1
    for _ in range(pages):
        url, headers = report_request(account, key, start, end, cursor)
        doc = get_page(url, headers, account.timeout_seconds)
        try:
            rows = bill_rows(account.provider, doc)
            cursor = next_page(doc)
        except BillFormatError as exc:
            raise BillingError("error", f"unexpected answer: {exc}") from None
        first, last = start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d")
        for day, model, usd in rows:
            if first <= day < last:  # a server that answers more than was asked adds nothing
                costs[day, model] = costs.get((day, model), Decimal(0)) + usd
        if cursor is None:
            return costs
        if cursor in seen:
            raise BillingError("error", "the report's pages loop")
        seen.add(cursor)
    raise BillingError("error", f"the report's pages go on past its {pages - 1} days")


@dataclass(slots=True)
class AccountState:
    """The last good bill of one account and how its fetches went."""

    provider: str
    costs: Costs = field(default_factory=dict)
    failing: str | None = None  # the last fetch's failure, None after a success
    last_success: float | None = None  # Unix time


class Biller:
    """The bill of every configured account, updated by `poll_once`; read by the collector."""

    def __init__(
        self,
        billing: BillingConfig,
        limiter: Callable[[str, str], str],
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        fetch: Callable[[BillingAccount, datetime, datetime], Costs] = fetch_bill,
    ) -> None:
        self.lock = threading.Lock()
        self.limiter = limiter
        self.clock = clock
        self.now = now
        self._fetch = fetch
        self.fetches: dict[tuple[str, str], int] = {}  # (provider, result) -> fetches
        self.accounts: list[BillingAccount] = []
        self.states: list[AccountState] = []
        self._due: list[float] = []
        self.days = billing.days
        self._version = 0  # changes with every bill fetched or config applied
        self._bill: tuple[tuple[int, str], dict[tuple[str, str, str], float]] | None = None  # bill() of a version, day
        self.configure(billing)

    def configure(self, billing: BillingConfig) -> None:
        """Apply a (re)loaded `billing:` section: unchanged accounts keep their bill and schedule."""
        with self.lock:
            old = {_identity(a): (s, due) for a, s, due in zip(self.accounts, self.states, self._due, strict=True)}
            self.days = billing.days
            self.accounts = list(billing.accounts)
            kept = [old.get(_identity(a), (AccountState(a.provider), 0.0)) for a in self.accounts]
            self.states = [state for state, _ in kept]
            self._due = [due for _, due in kept]
            self._version += 1

    def next_due(self) -> float | None:
        with self.lock:
            return min(self._due, default=None)

    def poll_once(self) -> int:
        """Fetch every account that is due, one after the other; returns how many were fetched."""
        now = self.clock()
        with self.lock:
            due = [(i, self.accounts[i]) for i, at in enumerate(self._due) if at <= now]
            for i, account in due:
                self._due[i] = now + account.interval_seconds
            days = self.days
        for i, account in due:
            self._run(i, account, days)
        return len(due)

    def _run(self, index: int, account: BillingAccount, days: int) -> None:
        start, end = closed_days(self.now(), days)
        try:
            costs: Costs | None = self._fetch(account, start, end)
            result, error, retry_after = "success", None, None
        except BillingError as exc:
            costs, result, error, retry_after = None, exc.result, str(exc), exc.retry_after
        except Exception as exc:  # a bill must never take the exporter down
            costs, result, error, retry_after = None, "error", type(exc).__name__, None
        provider = account.provider
        with self.lock:
            self.fetches[provider, result] = self.fetches.get((provider, result), 0) + 1
            if index >= len(self.accounts) or self.accounts[index] is not account:
                return  # reloaded meanwhile
            state = self.states[index]
            was = state.failing
            if costs is not None:
                state.costs = {}
                for (day, model), usd in costs.items():
                    # the same cardinality limit as the completions' models; `_all` is no model
                    label = model if model == ALL_MODELS else self.limiter(LABEL_MODEL, model)
                    state.costs[day, label] = state.costs.get((day, label), Decimal(0)) + usd
                state.failing = None
                state.last_success = time.time()
                self._version += 1
            else:
                state.failing = error
                if retry_after is not None:  # asked to wait: not sooner, and never past the next interval
                    self._due[index] = self.clock() + min(retry_after, account.interval_seconds)
        where = server_address(account.url)  # host:port: never a path or query a key could hide in
        if error is not None and error != was:
            log.warning("billing %s (%s): %s; keeping the last bill fetched", provider, where, error)
        elif error is None and was is not None:
            log.info("billing %s (%s): fetched again", provider, where)

    def bill(self) -> dict[tuple[str, str, str], float]:
        """(provider, model, day) -> US dollars over every account, for the last `days` closed
        days (a day that ended since the last fetch waits for the next one)."""
        start, end = closed_days(self.now(), self.days)
        first, last = start.strftime("%Y-%m-%d"), end.strftime("%Y-%m-%d")
        out: dict[tuple[str, str, str], Decimal] = {}
        with self.lock:
            # Summed once per fetch and day, not at every scrape (a big bill is thousands of sums).
            if self._bill is not None and self._bill[0] == (self._version, last):
                return self._bill[1]
            for state in self.states:
                for (day, model), usd in state.costs.items():
                    if first <= day < last:
                        key = (state.provider, model, day)
                        out[key] = out.get(key, Decimal(0)) + usd
            bill = {key: float(usd) for key, usd in out.items()}
            self._bill = ((self._version, last), bill)
        return bill

    def day_starts(self) -> list[tuple[str, float]]:
        """(day, its start in Unix seconds) of the closed UTC days the bill is exported for,
        whatever each provider has billed: the rules join our own cost to the bill's `day` by it."""
        if not self.accounts:
            return []
        start, _ = closed_days(self.now(), self.days)
        return [((start + i * DAY).strftime("%Y-%m-%d"), (start + i * DAY).timestamp()) for i in range(self.days)]


def _identity(account: BillingAccount) -> tuple[object, ...]:
    return (account.provider, account.url, account.admin_key_env, account.admin_key_file)
