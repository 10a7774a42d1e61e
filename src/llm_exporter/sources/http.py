"""One GET of a JSON answer from a server the config names, with a key for it (probes' model lists,
the providers' cost reports): the one place a key leaves the process.

- The key goes in its header to the URL configured and nowhere else: no redirect is followed
  (urllib would copy the header onto the redirected request, to any host and scheme, and the answer
  would be another server's). A 3xx is a failure.
- The answer is read up to `max_body` bytes and within `timeout` seconds in all (a server that
  trickles a byte at a time never trips a socket's own timeout).
- No message carries the URL (its query may hold a cursor), a header or the answer.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable
from typing import Any

MAX_KEY = 4096  # a key file is a line; more is not a key (and /dev/zero is not read to the end)
_KEY = re.compile(r"[\x21-\x7e]+")  # a key is one token of visible ASCII: a header value, nothing to split
_SECONDS = re.compile(r"\d{1,9}", re.ASCII)  # Retry-After's delay-seconds (RFC 9110)
_CHUNK = 64 * 1024


class GetError(Exception):
    """A GET that failed: `status` (None without an HTTP answer), `timed_out`, `retry_after` (the
    seconds a Retry-After header asked to wait, when it gave a number). The message is safe to log."""

    def __init__(
        self, message: str, status: int | None = None, timed_out: bool = False, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out
        self.retry_after = retry_after


def read_key(env: str | None, file: str | None) -> str | None:
    """The key an account names (the variable `env`, else the file `file`), read at each request
    so that a rotated key is picked up; None when it names none or its variable or file is empty.
    Raises GetError (naming neither the file's path nor its content) when the file cannot be read
    or holds no key."""
    if env:
        key = os.environ.get(env, "").strip()
    elif file:
        try:
            with open(file, "rb") as f:
                raw = f.read(MAX_KEY + 1)
        except OSError as exc:
            raise GetError(f"the key file cannot be read: {type(exc).__name__}") from None
        if len(raw) > MAX_KEY:
            raise GetError("the key file is larger than a key")
        key = raw.decode("ascii", "replace").strip()
    else:
        return None
    if key and not _KEY.fullmatch(key):
        raise GetError("the key is not one line of visible ASCII")
    return key or None


@functools.cache
def _opener() -> Any:
    """urllib's opener without redirects: a 3xx is then an HTTPError, a failure."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirect)


def _retry_after(value: str | None) -> int | None:
    """Retry-After in seconds; an HTTP date (neither provider sends one) or anything else: None."""
    return int(value.strip()) if value and _SECONDS.fullmatch(value.strip()) else None


def get_json(
    url: str, headers: dict[str, str], timeout: float, max_body: int, clock: Callable[[], float] = time.monotonic
) -> object:
    """GET `url` and decode its JSON answer; raises GetError."""
    # Imported here: urllib.request brings http.client, email and ssl (about 15 ms of every
    # start-up, replay's included, where nothing is fetched).
    import http.client
    import json
    import urllib.error
    import urllib.request

    deadline = clock() + timeout
    request = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    try:
        with _opener().open(request, timeout=timeout) as response:
            chunks, size = [], 0
            while chunk := response.read1(_CHUNK):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_body:
                    raise GetError("answer too large")
                if clock() > deadline:
                    raise GetError(f"no whole answer within {timeout:g} s", timed_out=True)
    except urllib.error.HTTPError as exc:
        retry_after = _retry_after(exc.headers.get("retry-after")) if exc.headers else None
        exc.close()
        redirect = ", a redirect (not followed)" if 300 <= exc.code < 400 else ""
        raise GetError(f"HTTP {exc.code}{redirect}", exc.code, retry_after=retry_after) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):  # socket.timeout is TimeoutError from 3.10
            raise GetError(f"no answer within {timeout:g} s", timed_out=True) from None
        raise GetError(type(reason).__name__ if not isinstance(reason, str) else reason) from None
    except (http.client.HTTPException, ValueError):  # a bad status line or chunk; a header it cannot send
        raise GetError("not an HTTP answer") from None
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):  # a 5,000-digit integer is a ValueError, [[[[... a RecursionError
        raise GetError("answer is not JSON") from None
