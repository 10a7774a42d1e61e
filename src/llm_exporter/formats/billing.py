"""The providers' daily cost reports, one page at a time -> (UTC day, model label, US dollars).

- OpenAI organization Costs API (`GET /organization/costs`, `bucket_width=1d`, grouped by
  `line_item` and `project_id`): buckets with `start_time` (Unix seconds) and `results` of
  `{amount: {value, currency}, line_item, project_id}`; `value` in dollars; a line item such as
  `gpt-4o-mini-2024-07-18, input` names the model before its last comma.
- Anthropic Admin API cost report (`GET /v1/organizations/cost_report`, `bucket_width=1d`, grouped
  by `description`): buckets with `starting_at` (RFC 3339) and `results` of `{amount, currency,
  model, ...}`; `amount` is a decimal string in cents; `model` is null for costs of no model
  (web search, code execution).

Amounts stay Decimal so that a day's sum is exact to the cent; model names go through
providers.resolve, as every completion's do, so that they meet llm_cost_usd_total's series.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal

from llm_exporter.formats.values import exact, timestamp
from llm_exporter.providers import resolve

ALL_MODELS = "_all"  # a cost the report names no model for
BillRow = tuple[str, str, Decimal]  # (UTC day YYYY-MM-DD, model label, US dollars)
# A cost is never below zero, and one line item of a billion dollars a day is no bill: either is
# a page of the wrong shape, not a figure to export (nor a float that sums to infinity).
MAX_USD = Decimal(10**9)
MAX_AMOUNT_TEXT = 64  # characters of an amount given as a string: a cent's figure needs 20
MAX_CURSOR = 4096  # characters of a next_page cursor (it goes into the next request's URL)


class BillFormatError(ValueError):
    """A page that is not the documented shape; the message quotes no value of it."""


def _day(start: object) -> str:
    """The UTC date a bucket starts on: OpenAI's Unix seconds, Anthropic's RFC 3339 time."""
    at = timestamp(start)
    if at is None:
        raise BillFormatError("a bucket without a start time")
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d")


def _dollars(value: object, per_dollar: int = 1) -> Decimal:
    """An amount in dollars (OpenAI's) or cents (Anthropic's, `per_dollar` 100), exactly."""
    amount = None if type(value) is str and len(value) > MAX_AMOUNT_TEXT else exact(value)
    if amount is None:
        raise BillFormatError("an amount that is not a number")
    usd = amount / per_dollar
    if not 0 <= usd <= MAX_USD:
        raise BillFormatError("an amount below zero or past a billion dollars")
    return usd


def openai_model(line_item: object) -> str:
    """The model of an OpenAI line item (`gpt-4o-2024-08-06, cached input`), else ALL_MODELS."""
    if not isinstance(line_item, str):
        return ALL_MODELS
    head, comma, _ = line_item.rpartition(",")
    provider, model = resolve(head.strip(), None) if comma else ("", "")
    return model if provider == "openai" else ALL_MODELS


def anthropic_model(model: object) -> str:
    if not isinstance(model, str) or not model.strip():
        return ALL_MODELS
    return resolve(model.strip(), "anthropic")[1]


def _buckets(doc: object) -> list[dict]:
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list) or not all(isinstance(b, dict) for b in data):
        raise BillFormatError("a page without a `data` list of buckets")
    return data


def _results(bucket: dict, key: str) -> list[dict]:
    results = bucket.get(key)
    if results is None and key == "results":  # some OpenAI references name it `result`
        results = bucket.get("result")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise BillFormatError("a bucket without a list of results")
    return results


def _openai_rows(doc: object) -> Iterator[BillRow]:
    for bucket in _buckets(doc):
        day = _day(bucket.get("start_time"))
        for result in _results(bucket, "results"):
            amount = result.get("amount")
            if not isinstance(amount, dict):
                raise BillFormatError("a result without an amount")
            if str(amount.get("currency", "usd")).lower() != "usd":
                raise BillFormatError("an amount in another currency than US dollars")
            yield day, openai_model(result.get("line_item")), _dollars(amount.get("value", 0))


def _anthropic_rows(doc: object) -> Iterator[BillRow]:
    for bucket in _buckets(doc):
        day = _day(bucket.get("starting_at"))
        for result in _results(bucket, "results"):
            if str(result.get("currency") or "USD").upper() != "USD":
                raise BillFormatError("an amount in another currency than US dollars")
            yield day, anthropic_model(result.get("model")), _dollars(result.get("amount", "0"), 100)


def bill_rows(provider: str, doc: object) -> list[BillRow]:
    """The rows of one page of `provider`'s cost report; raises BillFormatError."""
    return list(_openai_rows(doc) if provider == "openai" else _anthropic_rows(doc))


def next_page(doc: object) -> str | None:
    """The cursor of the page after this one (both reports: `has_more` and `next_page`), or None."""
    if not isinstance(doc, dict) or doc.get("has_more") is not True:
        return None
    cursor = doc.get("next_page")
    if not isinstance(cursor, str) or not cursor:
        raise BillFormatError("`has_more` without a `next_page` cursor")
    if len(cursor) > MAX_CURSOR:
        raise BillFormatError("a `next_page` cursor longer than any cursor")
    return cursor
