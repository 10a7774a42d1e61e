"""Write a seed-001 completion log of N lines (requests, responses, decisions, some failures),
deterministically, for the throughput and memory benchmarks.

    python benchmarks/generate.py 300000 /tmp/bench.log

`start` and `spacing` spread the calls over time (epoch seconds; the backfill's tests and
benchmark); without them every timestamp falls within one hour of 2024-01-15.
"""

from __future__ import annotations

import random
import sys
from datetime import datetime, timezone

import orjson

MODELS = ("o3-mini", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "gpt-4o", "llama3:8b")
# Previews as long as the seed's defaults allow (prompt 500, response up to 1000 characters).
PROMPT = (
    "You are an expert cryptocurrency futures trader. Given the market state below, decide LONG, SHORT, "
    "HOLD or CLOSE with a size and a rationale. " * 5
)[:500]
RESPONSE = '{"action": "LONG", "size_pct": 15.0, "rationale": "' + "Bullish momentum with healthy RSI. " * 18 + '"}'


def lines(n: int, seed: int = 1, start: float | None = None, spacing: float = 1.0):
    rng = random.Random(seed)
    written = i = 0
    while written < n:
        i += 1
        rid = f"req_{i:08d}"
        if start is None:
            ts = f"2024-01-15T10:{(i // 60) % 60:02d}:{i % 60:02d}.123Z"
        else:
            moment = datetime.fromtimestamp(start + (i - 1) * spacing, timezone.utc)
            ts = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        yield orjson.dumps(
            {
                "event_type": "completion_request",
                "timestamp": ts,
                "session_id": "abc12345",
                "request_id": rid,
                "completion_number": i,
                "model": MODELS[i % len(MODELS)],
                "temperature": 0.1,
                "max_tokens": 30000,
                "prompt_length": 1250,
                "prompt_preview": "You are an expert cryptocurrency futures trader...",
                "market_context": {"symbol": "BTC-USD", "current_price": 45230.5, "rsi": 62.5},
            }
        )
        ok = rng.random() > 0.05
        response = {
            "event_type": "completion_response",
            "timestamp": ts,
            "session_id": "abc12345",
            "request_id": rid,
            "success": ok,
            "response_time_ms": rng.randint(300, 9000),
        }
        if ok:
            pt, ct = rng.randint(100, 3000), rng.randint(20, 800)
            response["token_usage"] = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
            response["response_preview"] = RESPONSE
        else:
            response["error_type"] = "RateLimitError"
        yield orjson.dumps(response)
        yield orjson.dumps(
            {
                "event_type": "trading_decision",
                "timestamp": ts,
                "session_id": "abc12345",
                "request_id": rid,
                "action": rng.choice(("LONG", "SHORT", "HOLD", "CLOSE")),
                "size_pct": 15.0,
                "symbol": "BTC-USD",
                "current_price": 45230.5,
                "validation_result": "PASSED",
            }
        )
        written += 3


def main() -> None:
    n, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "wb") as out:
        for k, line in enumerate(lines(n)):
            if k >= n:
                break
            out.write(line + b"\n")


if __name__ == "__main__":
    main()
