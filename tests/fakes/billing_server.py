"""Local fake admin APIs that answer daily cost reports in each provider's documented wire format.

- OpenAI organization Costs API, `GET /v1/organization/costs` with `Authorization: Bearer <admin
  key>`: `start_time`/`end_time` (Unix seconds), `bucket_width=1d`, `group_by[]` of `line_item`
  and `project_id`, `limit` and `page`; a page `{object: "page", data: [{object: "bucket",
  start_time, end_time, results: [{object: "organization.costs.result", amount: {value,
  currency: "usd"}, line_item, project_id}]}], has_more, next_page}`, amounts in dollars.
- Anthropic Admin API, `GET /v1/organizations/cost_report` with `x-api-key` and
  `anthropic-version`: `starting_at`/`ending_at` (RFC 3339), `bucket_width=1d`, `group_by[]` of
  `description` and `workspace_id`, `limit`, `page`; `{data: [{starting_at, ending_at, results:
  [{amount, currency: "USD", cost_type, description, model, service_tier, token_type,
  context_window, workspace_id}]}], has_more, next_page}`, `amount` a decimal string in cents.

The bill is a list of Item (day, project or workspace, model or None, kind, dollars as a string).
Results not grouped by a field are summed over it, as the APIs do; every day asked for has a
bucket, empty when nothing was spent. `page_buckets` caps a page below the `limit` asked, so a
test sees several pages. `script` holds forced answers, one per request, before the bill:
(status, headers), (status, headers, body) with the body as bytes, a JSON value or ENDLESS (a
chunked body that never ends), or None (answer normally). `tamper(page, query)` changes a page
of the bill before it is sent. `hold` makes it answer only once set (a hung server).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

ENDLESS = object()  # a forced body that never ends


class Item(NamedTuple):
    day: str  # YYYY-MM-DD
    owner: str  # OpenAI project_id / Anthropic workspace_id
    model: str | None  # None: a cost of no model (web search)
    kind: str  # OpenAI: "input", "cached input", "output"; Anthropic: a token_type
    usd: str  # dollars, exact


def _day_start(day: str) -> datetime:
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc)


def _rfc3339(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if body is ENDLESS:
            self._endless(status, headers or {})
            return
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _endless(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        chunk = b"[1," * 8192
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        try:
            while True:
                self.wfile.write(frame)
        except OSError:  # the client stopped reading
            self.close_connection = True

    def do_GET(self) -> None:
        server: FakeBillServer = self.server.owner  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        server.requests.append((url.path, query, dict(self.headers)))
        server.received.set()
        if server.hold is not None:
            server.hold.wait()
        if server.script:
            forced = server.script.pop(0)
            if forced is not None:
                status, headers, *body = forced
                self._send(
                    status, body[0] if body else {"error": {"type": "forced", "message": f"HTTP {status}"}}, headers
                )
                return
        if url.path != server.path:
            self._send(404, {"error": {"message": "not found"}})
            return
        if not server.authorized(self.headers):
            self._send(401, {"error": {"type": "authentication_error", "message": "invalid x-api-key"}})
            return
        page = server.page(query)
        self._send(200, server.tamper(page, query) if server.tamper else page)


class FakeBillServer:
    def __init__(self, provider: str, items: list[Item], key: str, page_buckets: int = 2) -> None:
        self.provider = provider
        self.items = list(items)
        self.key = key
        self.page_buckets = page_buckets
        self.path = "/v1/organization/costs" if provider == "openai" else "/v1/organizations/cost_report"
        self.script: list[tuple[Any, ...] | None] = []
        self.tamper: Callable[[dict[str, Any], dict[str, list[str]]], Any] | None = None
        self.hold: threading.Event | None = None
        self.received = threading.Event()  # set at every request
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL as a client is configured with it."""
        port = self.httpd.server_address[1]
        return f"http://127.0.0.1:{port}/v1" if self.provider == "openai" else f"http://127.0.0.1:{port}"

    def authorized(self, headers: Any) -> bool:
        if self.provider == "openai":
            return headers.get("Authorization") == f"Bearer {self.key}"
        return headers.get("x-api-key") == self.key and headers.get("anthropic-version") == "2023-06-01"

    def billed(self, day: str, model: str | None = None) -> Decimal:
        """The bill of a day (and model), in dollars: what the exporter must say."""
        return sum(
            (Decimal(i.usd) for i in self.items if i.day == day and (model is None or i.model == model)), Decimal(0)
        )

    # -- the wire formats ---------------------------------------------------------------------------

    def _days(self, query: dict[str, list[str]]) -> list[datetime]:
        if self.provider == "openai":
            start = datetime.fromtimestamp(int(query["start_time"][0]), timezone.utc)
            end = datetime.fromtimestamp(int(query["end_time"][0]), timezone.utc)
        else:
            start = datetime.fromisoformat(query["starting_at"][0].replace("Z", "+00:00"))
            end = datetime.fromisoformat(query["ending_at"][0].replace("Z", "+00:00"))
        days, at = [], start
        while at < end:
            days.append(at)
            at += timedelta(days=1)
        return days

    def page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        days = self._days(query)
        first = int(base64.b64decode(query["page"][0]).decode()) if "page" in query else 0
        size = min(int(query.get("limit", ["7"])[0]), self.page_buckets)
        group_by = set(query.get("group_by[]", []))
        buckets = [self._bucket(day, group_by) for day in days[first : first + size]]
        more = first + size < len(days)
        cursor = base64.b64encode(str(first + size).encode()).decode() if more else None
        if self.provider == "openai":
            return {"object": "page", "data": buckets, "has_more": more, "next_page": cursor}
        return {"data": buckets, "has_more": more, "next_page": cursor}

    def _bucket(self, start: datetime, group_by: set[str]) -> dict[str, Any]:
        day = start.strftime("%Y-%m-%d")
        end = start + timedelta(days=1)
        sums: dict[tuple[Any, ...], Decimal] = {}
        for item in self.items:
            if item.day == day:
                key = self._result_key(item, group_by)
                sums[key] = sums.get(key, Decimal(0)) + Decimal(item.usd)
        if self.provider == "openai":
            results = [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": float(usd), "currency": "usd"},
                    "line_item": line_item,
                    "project_id": project,
                }
                for (line_item, project), usd in sums.items()
            ]
            return {
                "object": "bucket",
                "start_time": int(start.timestamp()),
                "end_time": int(end.timestamp()),
                "results": results,
            }
        results = [
            {
                "currency": "USD",
                "amount": str(usd * 100),  # cents, as a decimal string
                "workspace_id": workspace,
                "description": description,
                "cost_type": cost_type,
                "context_window": "0-200k" if model else None,
                "model": model,
                "service_tier": "standard" if model else None,
                "token_type": token_type,
            }
            for (workspace, description, cost_type, model, token_type), usd in sums.items()
        ]
        return {"starting_at": _rfc3339(start), "ending_at": _rfc3339(end), "results": results}

    def _result_key(self, item: Item, group_by: set[str]) -> tuple[Any, ...]:
        if self.provider == "openai":
            line_item = f"{item.model}, {item.kind}" if item.model else item.kind
            return (
                line_item if "line_item" in group_by else None,
                item.owner if "project_id" in group_by else None,
            )
        workspace = item.owner if "workspace_id" in group_by else None
        if "description" not in group_by:
            return (workspace, None, None, None, None)
        if item.model is None:
            return (workspace, item.kind, item.kind, None, None)
        return (workspace, f"{item.model} Usage - {item.kind}", "tokens", item.model, item.kind)

    # -- running ------------------------------------------------------------------------------------

    def __enter__(self) -> FakeBillServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        if self.thread.is_alive():
            self.stop()
