"""The completion format's C hot path (pipeline/_hotpath.c) against the Python path: on the same
lines, the same exposition, health counters included, to the last digit. The lines are the golden
sample, generated traffic of every shape the hot path records, the same mutated at random, and
configurations that make it hand lines back (tiny tables, label and series limits)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import orjson
import pytest
import yaml

from llm_exporter import __version__, cli
from llm_exporter.pipeline import hotpath
from llm_exporter.sources.lines import Lines
from test_typed_decoding import mutate
from testkit import TESTDATA, make_exporter, scrape, value

pytestmark = pytest.mark.skipif(
    not hotpath.available(), reason="the C hot path is not built: `pip install -e .` needs a C compiler"
)

GOLDEN = (TESTDATA / "golden" / "completion.log").read_bytes().splitlines()
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "llama3:8b", "gemini-1.5-pro", "made-up-model"]


def test_the_hot_path_is_built_where_ci_runs() -> None:
    if os.environ.get("CI"):
        assert hotpath.HotPath is not None  # so CI never passes on the Python path alone


USAGES = [  # the usage objects producers write, as fields.typed_usage reads them
    lambda rng: {"prompt_tokens": rng.randrange(0, 5000), "completion_tokens": rng.randrange(0, 900)},
    lambda rng: {"prompt_tokens": 0, "completion_tokens": 0},
    lambda rng: {  # OpenAI, with its details
        "prompt_tokens": (p := rng.randrange(100, 5000)),
        "completion_tokens": rng.randrange(0, 900),
        "total_tokens": p + 1,
        "prompt_tokens_details": {"cached_tokens": rng.choice([0, p // 2, None])},
        "completion_tokens_details": {"reasoning_tokens": rng.choice([0, 64, None])},
    },
    lambda rng: {  # Anthropic: cache reads and writes apart from input_tokens
        "input_tokens": rng.randrange(0, 3000),
        "output_tokens": rng.randrange(0, 900),
        "cache_read_input_tokens": rng.choice([0, 1024, None]),
        "cache_creation_input_tokens": rng.choice([0, 512, None]),
    },
    lambda rng: {"total_tokens": rng.choice([0, 1200])},  # unsplit
    lambda rng: {"prompt_tokens": rng.randrange(0, 99), "completion_tokens": None},
    lambda rng: {"cache_read_input_tokens": 30, "prompt_tokens_details": {"cached_tokens": 5}},
]


def traffic(rng: random.Random, n: int) -> list[bytes]:
    """Requests, responses and decisions of every shape the hot path records, and some it leaves
    to Python: failures with and without status codes, logged and priced costs, first chunks,
    missing usage, responses naming their model, unknown events, blank and CRLF lines."""
    out: list[bytes] = []
    for i in range(n):
        rid = f"req_{rng.randrange(n if rng.random() < 0.05 else 10**9)}"  # some ids reused
        request = {"event_type": "completion_request", "request_id": rid, "model": rng.choice(MODELS)}
        if rng.random() < 0.5:
            request["provider"] = rng.choice(["openai", "anthropic", "ollama", "google"])
        if rng.random() < 0.3:
            request["operation"] = rng.choice(["chat", "text_completion"])
        response: dict[str, object] = {
            "event_type": "completion_response",
            "request_id": rid,
            "response_time_ms": rng.choice([rng.uniform(1, 90000), rng.randrange(1, 5000), 0]),
            "success": rng.random() < 0.85,
        }
        usage = rng.choice(USAGES)(rng)
        response[rng.choice(["token_usage", "token_usage", "usage"])] = usage if rng.random() < 0.9 else None
        if not response["success"]:
            response["error_type"] = rng.choice(["RateLimitError", "APITimeoutError", "bad class!", "x" * 70])
            if rng.random() < 0.4:
                response["status_code"] = rng.choice([429, 500, 503, 99, "429"])
        if rng.random() < 0.3:
            response["cost_estimate_usd"] = rng.choice([round(rng.uniform(0, 0.05), 6), 0, 0.0])
        if rng.random() < 0.3:
            response["time_to_first_chunk_ms"] = rng.uniform(5, 900)
        if rng.random() < 0.1:
            response["model"] = request["model"] if rng.random() < 0.7 else "gpt-4o"
        decision = {
            "event_type": "trading_decision",
            "request_id": rid if rng.random() < 0.9 else "req_nowhere",
            "action": rng.choice(["LONG", "short", "Hold", "CLOSE"]),
            "symbol": rng.choice(["BTC-USD", "ETH-USD", None]),
            "validation_result": rng.choice(["VALID", "invalid", None]),
        }
        lines = [request, response, decision]
        if rng.random() < 0.02:
            lines.append({"event_type": "performance_metrics", "total_completions": i})
        if rng.random() < 0.02:  # now and then, out of order
            rng.shuffle(lines)
        for obj in lines:
            line = orjson.dumps({k: v for k, v in obj.items() if v is not None})
            out.append(line + b"\r" if rng.random() < 0.01 else line)
        if rng.random() < 0.01:
            out.append(b"")
    return out


EVENT_USAGES = [  # the event format's flat counts, or a usage object, as formats.event reads them
    lambda rng: {"prompt_tokens": (p := rng.randrange(0, 5000)), "completion_tokens": (c := rng.randrange(900)),
                 "total_tokens": p + c},
    lambda rng: {"input_tokens": rng.randrange(0, 3000), "output_tokens": rng.randrange(0, 900),
                 "cache_read_input_tokens": rng.choice([0, 1024, None]),
                 "cache_creation_input_tokens": rng.choice([0, 512, None])},
    lambda rng: {"prompt_tokens": rng.randrange(100, 900), "completion_tokens": rng.randrange(90),
                 "cached_tokens": rng.choice([0, 64, None]), "reasoning_tokens": rng.choice([0, 32, None])},
    lambda rng: {"prompt_tokens": 40, "completion_tokens": 8, "prompt_tokens_details": {"cached_tokens": 16}},
    lambda rng: {"total_tokens": rng.choice([0, 1200])},  # unsplit
    lambda rng: {"prompt_tokens": rng.randrange(99), "completion_tokens": None},
    lambda rng: {"usage": rng.choice(USAGES)(rng)},
    lambda rng: {"usage": None},
    lambda rng: {"cached_tokens": 5},
    lambda rng: {},
]  # fmt: skip


def event_traffic(rng: random.Random, n: int) -> list[bytes]:
    """Event format lines of every shape the hot path records, and some it leaves to Python:
    statuses of every case (and one that lowercases to "ok" only outside ASCII), failures with and
    without classes and status codes, logged and priced costs, providers and operations."""
    out: list[bytes] = []
    for _ in range(n):
        line: dict[str, object] = {
            "timestamp": "2024-01-15T10:00:13.000Z",
            "model": rng.choice(MODELS),
            "latency_ms": rng.choice([rng.uniform(1, 90000), rng.randrange(1, 5000), 0]),
            **rng.choice(EVENT_USAGES)(rng),
        }
        if rng.random() < 0.5:
            line["provider"] = rng.choice(["openai", "anthropic", "ollama", "google"])
        if rng.random() < 0.3:
            line["operation"] = rng.choice(["chat", "text_completion"])
        if rng.random() < 0.7:
            line["status"] = rng.choice(["success", "OK", "Completed", "succeeded", "error", "failed", "o\u212a"])
        if rng.random() < 0.15:
            line["status"] = "error"
            line["error_type"] = rng.choice(["RateLimitError", "APITimeoutError", "bad class!", "", None])
            line["error_message"] = rng.choice(["rate limited", "Timeout", None])
            if rng.random() < 0.5:
                line["status_code"] = rng.choice([429, 500, 503, 99, "429", None])
        if rng.random() < 0.3:
            line["cost_usd"] = rng.choice([round(rng.uniform(0, 0.05), 6), 0, 0.0])
        if rng.random() < 0.2:
            line["tags"] = {"feature": rng.choice(["chat", "search"])}
        out.append(orjson.dumps(line))
    return out


def replay_both(
    tmp_path: Path, lines: list[bytes], monkeypatch: pytest.MonkeyPatch, fmt: str = "completion", **config: object
) -> str:
    """The exposition replay gives for `lines` in format `fmt`, asserted equal on both paths."""
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(line + b"\n" for line in lines))
    config_path = None
    if config:
        config_path = tmp_path / "config.yml"
        source = {"name": "replay", "path": str(log), "format": fmt}
        config_path.write_text(yaml.safe_dump({"sources": [source], **config}))
    hot = cli.replay(str(config_path) if config_path else None, fmt, [str(log)])
    monkeypatch.setenv("LLM_EXPORTER_PURE_PYTHON", "1")
    pure = cli.replay(str(config_path) if config_path else None, fmt, [str(log)])
    monkeypatch.delenv("LLM_EXPORTER_PURE_PYTHON")
    assert hot.decode() == pure.decode()
    return hot.decode()


def test_golden_sample_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = replay_both(tmp_path, GOLDEN, monkeypatch).replace(f'version="{__version__}"', 'version="@VERSION@"')
    assert text == (TESTDATA / "golden" / "completion.prom").read_text()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_traffic_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    text = replay_both(tmp_path, traffic(random.Random(seed), 3000), monkeypatch)
    assert 'llm_requests_total{gen_ai_operation_name="chat"' in text
    assert "llm_exporter_unpriced_completions_total{" in text
    assert 'error_type="RateLimitError"' in text


def mutated(rng: random.Random, lines: list[bytes], values: int, bytes_: int) -> list[bytes]:
    """`lines` with `values` of them given an odd value somewhere (test_typed_decoding.mutate) and
    `bytes_` of them a byte gone wrong, anywhere in the line."""
    lines = list(lines)
    for i in rng.sample(range(len(lines)), values):
        if lines[i].strip():
            lines[i] = orjson.dumps(mutate(rng, orjson.loads(lines[i])))
    for i in rng.sample(range(len(lines)), bytes_):
        damaged = bytearray(lines[i] or b" ")
        damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        lines[i] = bytes(damaged).replace(b"\n", b" ")
    return lines


def test_mutated_traffic_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    lines = mutated(rng, traffic(rng, 2000), 1500, 60)
    lines += [b"[1]", b"nul\x00", b'{"event_type":"completion_request"} {"b":2}', b"{", b'{"model":"gpt\xff"}']
    lines.append(lines[0][:-1] + b',"unread":"\x96"}')  # invalid UTF-8 where no shape reads: invalid_utf8
    text = replay_both(tmp_path, lines, monkeypatch)
    assert 'llm_exporter_lines_rejected_total{reason="invalid_utf8",source="replay"}' in text


def test_limits_that_fold_and_orphan_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limits = {"max_label_values": 3, "max_series": 4, "pending_requests": 25}
    text = replay_both(tmp_path, traffic(random.Random(5), 3000), monkeypatch, limits=limits)
    assert "llm_exporter_series_folded_total" in text
    assert 'llm_exporter_orphaned_requests_total{source="replay"}' in text


@pytest.mark.parametrize("seed", [1, 2])
def test_event_traffic_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    text = replay_both(tmp_path, event_traffic(random.Random(seed), 4000), monkeypatch, "event")
    assert 'error_type="RateLimitError"' in text and 'http_response_status_code="429"' in text
    assert "llm_exporter_unpriced_completions_total{" in text
    assert 'gen_ai_token_type="cache_read"' in text and 'gen_ai_token_type="reasoning"' in text


def test_mutated_event_traffic_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(8)
    replay_both(tmp_path, mutated(rng, event_traffic(rng, 3000), 2000, 60), monkeypatch, "event")


def test_event_limits_that_fold_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limits = {"max_label_values": 3, "max_series": 4}
    text = replay_both(tmp_path, event_traffic(random.Random(9), 2000), monkeypatch, "event", limits=limits)
    assert "llm_exporter_series_folded_total" in text


def test_event_lines_recorded_in_c(tmp_path: Path) -> None:
    """The usual event lines are the C side's: all but the first, a first sighting of its series
    and price; of the generated traffic, with its many odd shapes, still most."""
    exporter, _ = make_exporter(tmp_path, "event")
    pipeline = next(iter(exporter.sources.values())).pipeline
    usual = [
        orjson.dumps({"model": "gpt-4o", "latency_ms": 20 + i, "prompt_tokens": 10, "completion_tokens": 5})
        for i in range(300)
    ]
    assert pipeline._hot(b"".join(line + b"\n" for line in usual)) == len(usual) - 1
    lines = event_traffic(random.Random(10), 3000)
    assert pipeline._hot(b"".join(line + b"\n" for line in lines)) > 0.5 * len(lines)


def test_priced_models_recorded_in_c(tmp_path: Path) -> None:
    """The C side records most lines of the generated traffic: all but first sightings and the
    shapes it leaves to Python on purpose (a third of these lines: failures of odd classes,
    unsplit totals, first chunks of a series...)."""
    exporter, _ = make_exporter(tmp_path, "completion")
    pipeline = next(iter(exporter.sources.values())).pipeline
    lines = traffic(random.Random(9), 2000)
    body = b"".join(line + b"\n" for line in lines)
    recorded = pipeline._hot(body)
    assert recorded > 0.6 * len(lines)
    # the lines handed back count themselves; the caller (process) adds the recorded ones
    lines_read = scrape(exporter)[("llm_exporter_lines_read_total", frozenset({("source", "app")}))]
    assert lines_read == len(lines) - recorded


def test_lines_that_carry_their_cost_are_recorded_in_c(tmp_path: Path) -> None:
    """A logged cost needs no price: those responses are the C side's too, though no price of
    their model was ever looked up."""
    exporter, _ = make_exporter(tmp_path, "completion")
    pipeline = next(iter(exporter.sources.values())).pipeline
    lines = []
    for i in range(300):
        rid = f"r{i}"
        lines.append(orjson.dumps({"event_type": "completion_request", "request_id": rid, "model": "gpt-4o"}))
        usage = {"prompt_tokens": 10, "completion_tokens": 5}
        response = {"event_type": "completion_response", "request_id": rid, "response_time_ms": 20}
        lines.append(orjson.dumps({**response, "token_usage": usage, "cost_estimate_usd": 0.001}))
    recorded = pipeline._hot(b"".join(line + b"\n" for line in lines))
    assert recorded == len(lines) - 1  # all but the first request, its series a first sighting
    labels = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o"}
    assert value(scrape(exporter), "llm_cost_usd_total", **labels) == pytest.approx(0.3)


def test_usage_with_cache_and_reasoning_tokens_recorded_in_c(tmp_path: Path) -> None:
    """OpenAI's details and Anthropic's cache counts are the C side's too: the cache kinds, the
    reasoning tokens and the cost of cached input as Python gives them."""
    exporter, _ = make_exporter(tmp_path, "completion")
    pipeline = next(iter(exporter.sources.values())).pipeline
    openai = USAGES[2](random.Random(1))
    anthropic = {"input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 1000}
    lines = []
    for i, (model, usage) in enumerate([("gpt-4o", openai), ("claude-3-5-sonnet-20241022", anthropic)] * 50):
        rid = f"r{i}"
        lines.append(orjson.dumps({"event_type": "completion_request", "request_id": rid, "model": model}))
        lines.append(
            orjson.dumps(
                {"event_type": "completion_response", "request_id": rid, "response_time_ms": 9, "usage": usage}
            )
        )
    body = b"".join(line + b"\n" for line in lines)
    assert pipeline._hot(body) == len(lines) - 4  # each model's first request and first priced response
    exposition = cli.replay(None, "completion", [_write(tmp_path / "a.log", lines)]).decode()
    assert 'gen_ai_token_type="cache_read"' in exposition
    assert 'gen_ai_token_type="reasoning"' in exposition


def _write(path: Path, lines: list[bytes]) -> str:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return str(path)


def test_a_head_line_then_the_buffer(tmp_path: Path) -> None:
    """Lines(head, body), as the tailer hands on a line that began in an earlier read."""
    results = []
    lines = traffic(random.Random(4), 500)
    for hot in (True, False):
        exporter, _ = make_exporter(tmp_path / str(hot), "completion")
        pipeline = next(iter(exporter.sources.values())).pipeline
        if not hot:
            pipeline._hot = None
        pipeline.process(Lines(lines[0], b"".join(line + b"\n" for line in lines[1:])))
        results.append(scrape(exporter))
    assert results[0] == results[1]
    assert results[0][("llm_exporter_lines_read_total", frozenset({("source", "app")}))] == len(lines)
