#!/usr/bin/env python3
"""Write a realistic LLM completion log for trying out llm-exporter.

Produces JSON lines in the "completion" log format of a trading bot
(completion_request / completion_response / trading_decision, joined by
request_id, plus the occasional performance_metrics summary), with several
models, overlapping requests, failures, slow calls and now and then a
malformed line. The file is rotated like Python's RotatingFileHandler
(FILE -> FILE.1 -> FILE.2 ...) when it grows past --max-bytes.

Standard library only.

    python3 examples/demo_writer.py --output /tmp/llm/llm_completions.log
    python3 examples/demo_writer.py --output demo.log --count 500 --fast --seed 1
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import random
import signal
import sys
import time
from datetime import datetime, timezone

# model -> (weight, typical seconds, spread, USD per 1M input, USD per 1M output, log carries cost)
MODELS = {
    "gpt-4o-mini": (5, 1.6, 0.5, 0.15, 0.60, True),
    "o3-mini": (2, 9.0, 0.6, 1.10, 4.40, True),
    "claude-3-5-sonnet-20241022": (2, 3.5, 0.4, 3.00, 15.00, True),
    # a local model: the log has no cost, the exporter has to price it (or count it unpriced)
    "llama3:8b": (1, 6.0, 0.5, 0.0, 0.0, False),
}

# error type, response time (ms) the client reports for it, relative weight
ERRORS = [
    ("RateLimitError", lambda r: r.randint(150, 900), 4),
    ("APITimeoutError", lambda r: 30000, 2),
    ("APIConnectionError", lambda r: r.randint(20, 3000), 2),
    ("InternalServerError", lambda r: r.randint(300, 5000), 1),
]

SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD"]
ACTIONS = [("HOLD", 5), ("LONG", 2), ("SHORT", 2), ("CLOSE", 1)]
PRICES = {"BTC-USD": 45230.5, "ETH-USD": 2480.2, "SOL-USD": 98.4}


SESSION_CALLS = 25


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


class RotatingWriter:
    """Append lines to a file, rotating it at max_bytes like RotatingFileHandler."""

    def __init__(self, path: str, max_bytes: int, backups: int):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.rotations = 0
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open across writes)

    def write(self, line: str) -> None:
        data = line + "\n"
        if self.max_bytes and self.fh.tell() + len(data.encode()) > self.max_bytes and self.fh.tell() > 0:
            self.rotate()
        self.fh.write(data)
        self.fh.flush()

    def rotate(self) -> None:
        self.fh.close()
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                src, dst = f"{self.path}.{i}", f"{self.path}.{i + 1}"
                if os.path.exists(src):
                    os.replace(src, dst)
            os.replace(self.path, f"{self.path}.1")
        else:
            os.remove(self.path)
        self.rotations += 1
        self.fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        self.fh.close()


class Demo:
    def __init__(self, args, rng: random.Random, start: float):
        self.args = args
        self.rng = rng
        self.run = rng.getrandbits(32)
        self.session = f"{self.run:08x}"
        self.counter = itertools.count(1)
        self.completions = 0
        self.stats = {"n": 0, "time_ms": [], "tokens": 0, "cost": 0.0}
        self.start = start

    def pick_model(self) -> str:
        names = list(MODELS)
        return self.rng.choices(names, weights=[MODELS[m][0] for m in names])[0]

    def request(self, now: float):
        """Returns (request line, (due time, response lines)) or None for an orphan."""
        r = self.rng
        model = self.pick_model()
        _, typical, spread, p_in, p_out, has_cost = MODELS[model]
        rid = f"req_{next(self.counter):06d}{r.getrandbits(16):04x}"
        # a trading cycle (a session) every SESSION_CALLS completions: the run's id, then the next ones
        self.session = f"{(self.run + self.completions // SESSION_CALLS) % 2**32:08x}"
        symbol = r.choice(SYMBOLS)
        price = round(PRICES[symbol] * (1 + r.uniform(-0.01, 0.01)), 2)
        prompt_tokens = r.randint(600, 2400)
        req = {
            "event_type": "completion_request",
            "timestamp": iso(now),
            "session_id": self.session,
            "request_id": rid,
            "completion_number": self.completions + 1,
            "model": model,
            "temperature": 0.1,
            "max_tokens": 30000 if model == "o3-mini" else 1000,
            "prompt_length": prompt_tokens * 4,
            "prompt_preview": "You are an expert cryptocurrency futures trader...",
            "market_context": {
                "symbol": symbol,
                "current_price": price,
                "rsi": round(r.uniform(20, 80), 1),
                "market_sentiment": r.choice(["BULLISH", "BEARISH", "NEUTRAL"]),
            },
        }
        self.completions += 1
        if r.random() < self.args.orphan_ratio:
            return req, None

        failed = r.random() < self.args.failure_ratio
        if failed:
            idx = r.choices(range(len(ERRORS)), weights=[e[2] for e in ERRORS])[0]
            error_type, ms_fn, _ = ERRORS[idx]
            ms = ms_fn(r)
            resp = {
                "event_type": "completion_response",
                "timestamp": None,
                "session_id": self.session,
                "request_id": rid,
                "success": False,
                "response_time_ms": ms,
                "error_type": error_type,
                "error_message": f"{error_type} from provider",
            }
            lines = [resp]
        else:
            seconds = r.lognormvariate(0, spread) * typical
            if r.random() < self.args.slow_ratio:
                seconds = r.uniform(31, 70)  # over the 30 s threshold
            ms = max(120, int(seconds * 1000))
            completion_tokens = r.randint(40, 400)
            if model == "o3-mini":
                completion_tokens += r.randint(200, 3000)  # reasoning
            cost = (prompt_tokens * p_in + completion_tokens * p_out) / 1e6
            action = r.choices([a for a, _ in ACTIONS], weights=[w for _, w in ACTIONS])[0]
            resp = {
                "event_type": "completion_response",
                "timestamp": None,
                "session_id": self.session,
                "request_id": rid,
                "success": True,
                "response_time_ms": ms,
                "token_usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                "response_preview": json.dumps({"action": action, "size_pct": 15.0}),
            }
            if has_cost:
                resp["cost_estimate_usd"] = round(cost, 6)
            lines = [resp]
            self.stats["tokens"] += prompt_tokens + completion_tokens
            self.stats["cost"] += cost if has_cost else 0.0
            if r.random() < self.args.decision_ratio:
                validation = "PASSED" if r.random() < 0.9 else r.choice(["FAILED", "MODIFIED"])
                lines.append(
                    {
                        "event_type": "trading_decision",
                        "timestamp": None,
                        "session_id": self.session,
                        "request_id": rid,
                        "action": action,
                        "size_pct": 15.0 if action in ("LONG", "SHORT") else 0.0,
                        "rationale": "Momentum and RSI agree" if action != "HOLD" else "No clear signal",
                        "symbol": symbol,
                        "current_price": price,
                        "validation_result": validation,
                        "risk_assessment": "APPROVED - Within risk parameters"
                        if validation == "PASSED"
                        else "REJECTED - Position size over limit",
                    }
                )
        self.stats["n"] += 1
        self.stats["time_ms"].append(ms)
        return req, (now + ms / 1000.0, lines)

    def performance(self, now: float) -> dict:
        times = self.stats["time_ms"] or [0]
        n = self.stats["n"]
        out = {
            "event_type": "performance_metrics",
            "timestamp": iso(now),
            "session_id": self.session,
            "total_completions": n,
            "avg_response_time_ms": int(sum(times) / len(times)),
            "min_response_time_ms": min(times),
            "max_response_time_ms": max(times),
            "total_tokens": self.stats["tokens"],
            "total_cost_estimate_usd": round(self.stats["cost"], 6),
            "tokens_per_second": round(self.stats["tokens"] / max(1.0, now - self.start), 2),
        }
        self.stats["time_ms"] = []
        return out


def bad_line(r: random.Random, now: float) -> str:
    return r.choice(
        [
            '{"event_type": "completion_response", "timestamp": "' + iso(now) + '", "request_id": "req_trunc',
            "Traceback (most recent call last): openai.APIConnectionError",
            '["not", "an", "object"]',
        ]
    )


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument(
        "--output",
        default=os.environ.get("DEMO_LOG_FILE", "logs/llm_completions.log"),
        help="log file to append to (env DEMO_LOG_FILE)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=float(os.environ.get("DEMO_RATE", "0.5")),
        help="completions started per second, on average (env DEMO_RATE)",
    )
    p.add_argument(
        "--max-bytes",
        type=int,
        default=int(os.environ.get("DEMO_MAX_BYTES", str(5 * 1024 * 1024))),
        help="rotate the file when it would grow past this size; 0 = never",
    )
    p.add_argument(
        "--backups",
        type=int,
        default=int(os.environ.get("DEMO_BACKUPS", "5")),
        help="rotated files to keep (FILE.1 ... FILE.N)",
    )
    p.add_argument("--count", type=int, default=0, help="stop after this many requests; 0 = run forever")
    p.add_argument(
        "--fast", action="store_true", help="do not sleep: simulated time runs as fast as possible (for tests)"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible output")
    p.add_argument("--failure-ratio", type=float, default=0.08)
    p.add_argument("--slow-ratio", type=float, default=0.02)
    p.add_argument("--decision-ratio", type=float, default=0.8)
    p.add_argument("--orphan-ratio", type=float, default=0.005)
    p.add_argument("--bad-line-ratio", type=float, default=0.005)
    p.add_argument(
        "--performance-every",
        type=int,
        default=50,
        help="write a performance_metrics summary every N requests; 0 = never",
    )
    return p.parse_args(argv)


def run(args) -> int:
    rng = random.Random(args.seed)
    start = time.time()
    if args.fast and args.count:
        # simulated time ends about now instead of in the future
        start -= args.count / args.rate
    demo = Demo(args, rng, start)
    out = RotatingWriter(args.output, args.max_bytes, args.backups)
    pending: list = []  # heap of (due, seq, lines)
    seq = itertools.count()
    sim_now = start
    next_request = start
    started = 0
    stop = False

    def on_signal(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        while not stop:
            done_starting = args.count and started >= args.count
            if done_starting and not pending:
                break
            due = pending[0][0] if pending else float("inf")
            nxt = min(due, float("inf") if done_starting else next_request)
            if args.fast:
                sim_now = nxt
            else:
                delay = nxt - time.time()
                if delay > 0:
                    time.sleep(min(delay, 1.0))
                    continue
                sim_now = time.time()

            if not done_starting and next_request <= sim_now:
                req, response = demo.request(sim_now)
                out.write(json.dumps(req))
                started += 1
                if response is not None:
                    at, lines = response
                    heapq.heappush(pending, (at, next(seq), lines))
                if rng.random() < args.bad_line_ratio:
                    out.write(bad_line(rng, sim_now))
                if args.performance_every and started % args.performance_every == 0:
                    out.write(json.dumps(demo.performance(sim_now)))
                next_request = sim_now + rng.expovariate(args.rate)

            while pending and pending[0][0] <= sim_now:
                at, _, lines = heapq.heappop(pending)
                for i, line in enumerate(lines):
                    # a decision follows its response a moment later
                    line["timestamp"] = iso(at + 0.05 * i)
                    out.write(json.dumps(line))
    finally:
        out.close()
    return 0


def main(argv=None) -> int:
    return run(parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
