"""Issue 8's promise on what the real LiteLLM writes: the payloads recorded from its SDK and its
proxy (tests/testdata/litellm_recorded), checked against what the client saw (scenarios.json)
and against prices computed independently with genai-prices' own calc_price."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from llm_exporter.cli import replay
from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from testkit import TESTDATA, Samples, make_exporter, parse_samples, scrape, value, write_lines

RECORDED = TESTDATA / "litellm_recorded"
MANIFEST = json.loads((RECORDED / "scenarios.json").read_text())["files"]
FILES = sorted(MANIFEST)


def payloads(name: str) -> list[dict]:
    return [json.loads(line) for line in (RECORDED / name).read_text().splitlines()]


def calls(name: str) -> list[tuple[dict, list[dict]]]:
    """Each client call of the manifest with the payload lines it wrote."""
    lines = payloads(name)
    out, i = [], 0
    for call in MANIFEST[name]:
        out.append((call, lines[i : i + call["lines"]]))
        i += call["lines"]
    assert i == len(lines)
    return out


def replayed(name: str) -> Samples:
    return parse_samples(replay(None, "litellm", [str(RECORDED / name)]).decode())


def labels_of(s: Samples, metric: str, label: str) -> set[str]:
    return {dict(ls)[label] for (n, ls) in s if n == metric}


@pytest.mark.parametrize("name", FILES)
def test_one_model_one_series(name: str) -> None:
    s = replayed(name)
    models = labels_of(s, "llm_requests_total", "gen_ai_request_model")
    prefixes = {f"{p['custom_llm_provider']}/" for p in payloads(name)}
    assert prefixes & {"openai/", "hosted_vllm/", "ollama_chat/"}
    assert not {m for m in models if any(m.startswith(p) for p in prefixes)}
    # The SDK's cache hits say `openai/gpt-4o` where its calls say `gpt-4o`: one series.
    assert "gpt-4o" in models
    providers = labels_of(s, "llm_requests_total", "gen_ai_provider_name")
    assert providers == {"openai", "anthropic", "vllm", "ollama"}


# Both write these; the SDK adds an OpenAI-compatible local model, and each its own flaky one.
_MODELS = {
    "gpt-4o",
    "claude-3-5-sonnet-20241022",
    "claude-sonnet-4-5-20250929",
    "fail-429",
    "fail-500",
    "slow",
    "ft:gpt-4o-mini-2024-07-18:acme::abc123",
    "meta-llama/Llama-3.1-8B-Instruct",
    "llama3.1:8b",
}
EXPECTED_MODELS = {
    "sdk.jsonl": _MODELS | {"my-local-model", "flaky-1-sdk"},
    "proxy.jsonl": _MODELS | {"flaky-1-proxy"},
}
EXPECTED_MODELS["proxy_generic_api.jsonl"] = EXPECTED_MODELS["proxy.jsonl"]


@pytest.mark.parametrize("name", FILES)
def test_model_labels_exactly(name: str) -> None:
    assert labels_of(replayed(name), "llm_requests_total", "gen_ai_request_model") == EXPECTED_MODELS[name]


def _genai_price(line: dict) -> float | None:
    """What genai-prices itself says a payload's call cost, or None when it does not know."""
    usage = (line.get("response") or {}).get("usage") or {}
    cache_read = usage.get("cache_read_input_tokens") or (usage.get("prompt_tokens_details") or {}).get(
        "cached_tokens", 0
    )
    cache_write = usage.get("cache_creation_input_tokens") or 0
    model = line["model"].split("/", 1)[1] if line["model"].startswith(f"{line['custom_llm_provider']}/") else None
    model = model or line["model"]
    provider = {"hosted_vllm": None, "ollama_chat": None}.get(line["custom_llm_provider"], line["custom_llm_provider"])
    if provider is None:
        return None  # self-hosted: no bill to match
    try:
        price = calc_price(
            Usage(
                input_tokens=line["prompt_tokens"],
                output_tokens=line["completion_tokens"],
                cache_read_tokens=cache_read or None,
                cache_write_tokens=cache_write or None,
            ),
            model,
            provider_id=provider,
        )
    except LookupError:
        return None
    return float(price.total_price)


@pytest.mark.parametrize("name", FILES)
def test_every_completion_with_tokens_is_priced_or_counted_unpriced(name: str) -> None:
    s = replayed(name)
    want_cost = 0.0
    want_unpriced: dict[str, int] = {}
    billed = 0
    for line in payloads(name):
        if line["cache_hit"] is True or not (line["prompt_tokens"] or line["completion_tokens"]):
            continue
        billed += 1
        if line["response_cost"]:
            want_cost += line["response_cost"]
            continue
        price = _genai_price(line)
        if price is None:
            model = (line["model"].split("/", 1)[1] if "/" in line["model"] else line["model"]).removeprefix(
                "meta-llama/"
            )
            want_unpriced[model] = want_unpriced.get(model, 0) + 1
        else:
            want_cost += price
    assert value(s, "llm_cost_usd_total") == pytest.approx(want_cost, rel=1e-9)
    unpriced = value(s, "llm_exporter_unpriced_completions_total")
    assert unpriced == sum(want_unpriced.values())
    assert 0 < unpriced < billed
    # LiteLLM wrote $0 for Claude 3.5 Sonnet (dropped from its price map); genai-prices knows it.
    sonnet = value(s, "llm_cost_usd_total", gen_ai_request_model="claude-3-5-sonnet-20241022")
    assert sonnet == pytest.approx(2 * (1000 * 3 + 300 * 0.3 + 100 * 3.75 + 250 * 15) / 1e6, rel=1e-9)
    # Self-hosted models LiteLLM could not price (0.0, with or without a reason) are flagged.
    for model in ("meta-llama/Llama-3.1-8B-Instruct", "llama3.1:8b"):
        assert value(s, "llm_exporter_unpriced_completions_total", gen_ai_request_model=model) == 1, model
        assert value(s, "llm_cost_usd_total", gen_ai_request_model=model) == 0, model


def test_an_override_prices_the_self_hosted_models(tmp_path: Path) -> None:
    overrides = {
        "llama3.1:8b": {"input": 0, "output": 0},
        "meta-llama/Llama-3.1-8B-Instruct": {"input": 1, "output": 1},
    }
    exporter, log = make_exporter(tmp_path, "litellm", pricing={"overrides": overrides})
    write_lines(log, (RECORDED / "proxy.jsonl").read_text().splitlines(keepends=True))
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_unpriced_completions_total", gen_ai_request_model="llama3.1:8b") == 0
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="llama3.1:8b") == 0  # a genuine $0
    vllm = value(s, "llm_cost_usd_total", gen_ai_request_model="meta-llama/Llama-3.1-8B-Instruct")
    assert vllm == pytest.approx(1500 / 1e6, rel=1e-12)


@pytest.mark.parametrize("name", FILES)
def test_cache_hits_equal_the_clients_hits_and_no_failure_is_a_miss(name: str) -> None:
    s = replayed(name)
    hits = sum(1 for call in MANIFEST[name] if call["cache_hit"])
    assert hits == 2
    assert value(s, "llm_cache_requests_total", result="hit") == hits
    assert value(s, "llm_cache_requests_total", result="miss") == 0
    saved = sum(line["saved_cache_cost"] for line in payloads(name) if line["cache_hit"] is True)
    assert value(s, "llm_cache_saved_cost_usd_total") == pytest.approx(saved, rel=1e-12) == pytest.approx(0.0115)
    assert value(s, "llm_cache_saved_tokens_total", gen_ai_token_type="input") == 2 * 1200
    # Hits (about 1 ms) stay out of the provider latency histogram: one observation per attempt.
    attempts = sum(len(lines) for call, lines in calls(name) if not call["cache_hit"])
    assert value(s, "gen_ai_client_operation_duration_seconds_count") == attempts


@pytest.mark.parametrize("name", FILES)
def test_requests_are_what_the_client_saw(name: str) -> None:
    s = replayed(name)
    for outcome in ("success", "failure"):
        want = sum(1 for call in MANIFEST[name] if call["outcome"] == outcome)
        assert value(s, "llm_requests_total", outcome=outcome) == want, outcome
    # Attempts past the first, as far as the log shows them (the proxy writes one line for a
    # Router call whose retries all failed).
    assert value(s, "llm_request_retries_total") == sum(len(lines) - 1 for _, lines in calls(name))
    # The fallback's request counts once, as a success of the model that answered.
    fallback = next(lines for call, lines in calls(name) if call["scenario"] == "router_fallback")
    assert [line["status"] for line in fallback] == ["failure", "success"]
    assert value(s, "llm_request_retries_total", gen_ai_request_model="gpt-4o") == 1


@pytest.mark.parametrize("name", FILES)
def test_failures_by_class_and_status(name: str) -> None:
    s = replayed(name)
    want: dict[tuple[str, str], int] = {}
    for line in payloads(name):
        if line["status"] == "failure":
            info = line["error_information"]
            key = (info["error_class"], info["error_code"])
            want[key] = want.get(key, 0) + 1
    assert ("RateLimitError", "429") in want
    assert ("InternalServerError", "500") in want
    got: dict[tuple[str, str], float] = {}
    for (n, ls), v in s.items():
        if n == "llm_errors_total":
            key = (dict(ls)["error_type"], dict(ls)["http_response_status_code"])
            got[key] = got.get(key, 0) + v
    assert got == want


def test_model_group_as_an_opt_in_label(tmp_path: Path) -> None:
    log = tmp_path / "proxy.jsonl"
    source = {"name": "proxy", "path": str(log), "format": "litellm", "label_fields": {"group": "model_group"}}
    exporter = Exporter(parse_config({"sources": [source]}, "test"))
    write_lines(log, (RECORDED / "proxy.jsonl").read_text().splitlines(keepends=True))
    exporter.poll_once()
    exporter.settle()
    s = scrape(exporter)
    # Plain, two streams, a cache miss and two hits asked for `gpt-4o`.
    assert value(s, "llm_requests_total", group="gpt-4o", gen_ai_request_model="gpt-4o") == 6
    assert value(s, "llm_requests_total", group="model-b", outcome="success") == 1
    assert labels_of(s, "llm_requests_total", "group") >= {"gpt-4o", "ft-model", "llama-vllm", "llama-ollama"}


def test_a_recorded_payload_of_1_5_mb_counts_with_the_default_config(tmp_path: Path) -> None:
    line = payloads("proxy.jsonl")[0]
    line["messages"] = [{"role": "user", "content": "x" * 1_500_000}]
    exporter, log = make_exporter(tmp_path, "litellm")
    write_lines(log, [json.dumps(line) + "\n"])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_lines_rejected_total") == 0
    assert value(s, "llm_requests_total", outcome="success") == 1
    assert value(s, "llm_cost_usd_total") == line["response_cost"] == 0.00575
