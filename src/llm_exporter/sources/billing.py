"""The providers' admin APIs, asked for one page of their daily cost report.

An admin key reads the whole organisation's bill: it is sent in its header and nowhere else (no
redirect is followed, sources/probes.py says why), and no message, label or exception carries
it or the URL's query. Failures are classified for llm_exporter_billing_fetches_total.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from urllib.parse import urlencode

from llm_exporter.config import BillingAccount
from llm_exporter.sources.probes import _opener

MAX_BODY = 64 * 1024 * 1024  # a month of line items of a large organisation is a few MB
ANTHROPIC_VERSION = "2023-06-01"
PAGE_BUCKETS = 31  # Anthropic's most days per page (OpenAI allows 180): fewest requests for both


class BillingError(Exception):
    """A failed request: `result` is the fetches counter's label (unauthorized, rate_limited,
    timeout, error), `retry_after` the seconds a 429 asked to wait. The message is safe to log."""

    def __init__(self, result: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.retry_after = retry_after


def admin_key(account: BillingAccount) -> str:
    """The account's admin key, read at each fetch (a rotated key file is picked up)."""
    if account.admin_key_env is not None:
        key = os.environ.get(account.admin_key_env, "").strip()
        if not key:
            raise BillingError("unauthorized", f"{account.admin_key_env} is not set")
        return key
    assert account.admin_key_file is not None
    try:
        with open(account.admin_key_file, encoding="utf-8") as f:
            key = f.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BillingError("unauthorized", f"cannot read admin_key_file: {type(exc).__name__}") from None
    if not key:
        raise BillingError("unauthorized", "admin_key_file is empty")
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


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return max((at - datetime.now(timezone.utc)).total_seconds(), 0.0)


def get_page(url: str, headers: dict[str, str], timeout: float) -> object:
    """One page, decoded; raises BillingError."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    try:
        with _opener().open(request, timeout=timeout) as response:
            body = response.read(MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        retry_after = _retry_after(exc.headers.get("retry-after")) if exc.headers else None
        exc.close()
        if exc.code in (401, 403):
            raise BillingError("unauthorized", f"HTTP {exc.code}: the admin key was refused") from None
        if exc.code == 429:
            wait = "" if retry_after is None else f", retry after {retry_after:g} s"
            raise BillingError("rate_limited", f"HTTP 429{wait}", retry_after) from None
        redirect = ", a redirect (not followed)" if 300 <= exc.code < 400 else ""
        raise BillingError("error", f"HTTP {exc.code}{redirect}") from None
    except TimeoutError:  # socket.timeout is TimeoutError from 3.10
        raise BillingError("timeout", f"no answer within {timeout:g} s") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise BillingError("timeout", f"no answer within {timeout:g} s") from None
        raise BillingError("error", type(reason).__name__) from None
    if len(body) > MAX_BODY:
        raise BillingError("error", "answer too large")
    try:
        return json.loads(body)
    except ValueError:
        raise BillingError("error", "answer is not JSON") from None
