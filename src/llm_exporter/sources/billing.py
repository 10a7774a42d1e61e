"""The providers' admin APIs, asked for one page of their daily cost report.

An admin key reads the whole organisation's bill: it goes through sources/http.py, as a probe's
key does (its header to the configured URL only, no redirect followed, the answer bounded in size
and time), and no message, label or exception carries it or the URL's query. Failures are
classified for llm_exporter_billing_fetches_total.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from llm_exporter.config import BillingAccount
from llm_exporter.sources.http import GetError, get_json, read_key

# A page is a week of one organisation's line items (a few hundred a day: under 1 MB); past this
# it is no cost report, and decoding it would cost the exporter ten times as much memory.
MAX_BODY = 16 * 1024 * 1024
ANTHROPIC_VERSION = "2023-06-01"
PAGE_BUCKETS = 7  # days a page: both APIs' default (OpenAI allows 1-180, Anthropic 1-31)


class BillingError(Exception):
    """A failed request: `result` is the fetches counter's label (unauthorized, rate_limited,
    timeout, error), `retry_after` the seconds a 429 asked to wait. The message is safe to log."""

    def __init__(self, result: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.retry_after = retry_after


def admin_key(account: BillingAccount) -> str:
    """The account's admin key, read at each fetch (a rotated key file is picked up)."""
    try:
        key = read_key(account.admin_key_env, account.admin_key_file)
    except GetError as exc:
        raise BillingError("unauthorized", str(exc)) from None
    if key is None:
        where = account.admin_key_env or "admin_key_file"
        raise BillingError("unauthorized", f"no admin key: {where} is empty or not set")
    return key


def _rfc3339(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_request(
    account: BillingAccount, key: str, start: datetime, end: datetime, page: str | None
) -> tuple[str, dict[str, str]]:
    """(URL, headers) of one page of the daily costs from `start` to `end` (UTC midnights)."""
    base = account.url.rstrip("/")
    if account.provider == "openai":
        params: list[tuple[str, str]] = [
            ("start_time", str(int(start.timestamp()))),
            ("end_time", str(int(end.timestamp()))),
            ("bucket_width", "1d"),
            ("group_by[]", "line_item"),
            ("group_by[]", "project_id"),
            ("limit", str(PAGE_BUCKETS)),
        ]
        headers = {"Authorization": f"Bearer {key}"}
        path = "/organization/costs"
    else:
        params = [
            ("starting_at", _rfc3339(start)),
            ("ending_at", _rfc3339(end)),
            ("bucket_width", "1d"),
            ("group_by[]", "description"),
            ("limit", str(PAGE_BUCKETS)),
        ]
        headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        path = "/v1/organizations/cost_report"
    if page is not None:
        params.append(("page", page))
    return f"{base}{path}?{urlencode(params)}", headers


def get_page(url: str, headers: dict[str, str], timeout: float) -> object:
    """One page, decoded; raises BillingError."""
    try:
        return get_json(url, headers, timeout, MAX_BODY)
    except GetError as exc:
        if exc.timed_out:
            raise BillingError("timeout", str(exc)) from None
        if exc.status in (401, 403):
            raise BillingError("unauthorized", f"HTTP {exc.status}: the admin key was refused") from None
        if exc.status == 429:
            wait = "" if exc.retry_after is None else f", retry after {exc.retry_after} s"
            raise BillingError("rate_limited", f"HTTP 429{wait}", exc.retry_after) from None
        raise BillingError("error", str(exc)) from None
