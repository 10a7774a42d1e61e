"""What a log line counts as: requests and attempts, cache hits and misses, unpriced and
usage-less calls, failures by HTTP status (issue 8's semantics, on hand-made lines; the
recorded LiteLLM payloads are tested in test_litellm_recorded.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit import FakeClock, make_exporter, scrape, value, write_lines


def litellm(trace: str | None, ok: bool = True, **over: object) -> str:
    line: dict = {
        "model": "gpt-4o",
        "custom_llm_provider": "openai",
        "call_type": "acompletion",
        "status": "success" if ok else "failure",
        "startTime": 100.0,
        "endTime": 101.5,
        "prompt_tokens": 1000 if ok else 0,
        "completion_tokens": 100 if ok else 0,
        "response_cost": 0.0035 if ok else 0.0,
        "trace_id": trace,
    }
    if not ok:
        line["error_information"] = {"error_class": "RateLimitError", "error_code": "429"}
    line.update(over)
    return json.dumps(line) + "\n"


def test_retries_sharing_a_trace_count_as_one_request(tmp_path: Path) -> None:
    clock = FakeClock()
    exporter, log = make_exporter(tmp_path, "litellm", clock=clock, limits={"request_settle_seconds": 60})
    # t1: two failed attempts, then a success; t2: three failures and nothing more.
    write_lines(log, [litellm("t1", ok=False), litellm("t1", ok=False), litellm("t1")])
    write_lines(log, [litellm("t2", ok=False)] * 3)
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_requests_total", outcome="success") == 1
    assert value(s, "llm_requests_total", outcome="failure") == 0  # t2 may still be retried
    assert value(s, "llm_request_retries_total") == 2
    # Every attempt is an operation of its own.
    assert value(s, "gen_ai_client_operation_duration_seconds_count") == 6
    assert value(s, "llm_errors_total", error_type="RateLimitError", http_response_status_code="429") == 5
    clock.advance(61)
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_requests_total", outcome="failure") == 1
    assert value(s, "llm_request_retries_total") == 4


def test_fallback_counts_under_the_last_attempts_model(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "litellm")
    write_lines(
        log, [litellm("t", ok=False), litellm("t", model="claude-3-5-haiku-20241022", custom_llm_provider=None)]
    )
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_requests_total", gen_ai_request_model="claude-3-5-haiku-20241022", outcome="success") == 1
    assert value(s, "llm_requests_total", gen_ai_request_model="gpt-4o") == 0
    assert value(s, "llm_request_retries_total", gen_ai_request_model="claude-3-5-haiku-20241022") == 1


def test_a_success_ends_a_trace_so_a_session_of_calls_counts_each(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "litellm")
    write_lines(log, [litellm("session"), litellm("session"), litellm(None), litellm(None, ok=False)])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_requests_total", outcome="success") == 3
    assert value(s, "llm_requests_total", outcome="failure") == 1  # no trace: settled at once


def test_replay_settles_requests_still_waiting_for_a_retry(tmp_path: Path) -> None:
    from llm_exporter.cli import replay

    log = tmp_path / "l.jsonl"
    write_lines(log, [litellm("t", ok=False), litellm("t", ok=False)])
    out = replay(None, "litellm", [str(log)]).decode()
    assert 'llm_requests_total{gen_ai_operation_name="chat",gen_ai_provider_name="openai",' in out
    assert 'gen_ai_request_model="gpt-4o",outcome="failure"} 1.0' in out


def test_cache_hits_are_requests_not_provider_calls(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "litellm")
    hit = litellm(None, cache_hit=True, response_cost=0.0, saved_cache_cost=0.0035, endTime=100.002)
    miss = litellm(None, cache_hit=None)
    no_cache_stream = litellm(None, cache_hit=False, stream=True)
    failed = litellm(None, ok=False, cache_hit=False)
    write_lines(log, [miss, hit, hit, no_cache_stream, failed])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_cache_requests_total", result="hit") == 2
    assert value(s, "llm_cache_requests_total", result="miss") == 0  # LiteLLM cannot say
    assert value(s, "llm_requests_total", outcome="success") == 4
    # Hits stay out of the latency histogram and the token and cost totals.
    assert value(s, "gen_ai_client_operation_duration_seconds_count") == 3
    assert value(s, "gen_ai_client_operation_duration_seconds_bucket", le="0.01") == 0
    assert value(s, "llm_tokens_total", gen_ai_token_type="input") == 2000
    assert value(s, "llm_cost_usd_total") == 0.007
    assert value(s, "llm_cache_saved_cost_usd_total") == 0.007
    assert value(s, "llm_cache_saved_tokens_total", gen_ai_token_type="input") == 2000
    assert value(s, "llm_cache_saved_tokens_total", gen_ai_token_type="output") == 200


def test_litellm_could_not_price_means_priced_here_or_unpriced(tmp_path: Path) -> None:
    marker = {"response_cost": 0.0, "response_cost_failure_debug_info": {"error_str": "This model isn't mapped yet"}}
    exporter, log = make_exporter(
        tmp_path,
        "litellm",
        pricing={"overrides": {"my-llama": {"input": 1, "output": 2}, "free-model": {"input": 0, "output": 0}}},
    )
    write_lines(
        log,
        [
            litellm(None, model="claude-3-5-sonnet-20241022", custom_llm_provider="anthropic", **marker),
            litellm(None, model="my-llama", custom_llm_provider="hosted_vllm", **marker),
            litellm(None, model="mystery-model", custom_llm_provider="hosted_vllm", **marker),
            # The proxy's 0.0 without a reason is no price either; an override at 0 is a genuine $0.
            litellm(None, model="claude-3-5-haiku-20241022", custom_llm_provider="anthropic", response_cost=0.0),
            litellm(None, model="free-model", custom_llm_provider="hosted_vllm", response_cost=0.0),
        ],
    )
    exporter.poll_once()
    s = scrape(exporter)
    # claude-3-5-sonnet: $3 / $15 per million tokens.
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="claude-3-5-sonnet-20241022") == pytest.approx(
        0.0045, rel=1e-12
    )
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="my-llama") == pytest.approx(0.0012, rel=1e-12)
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="mystery-model") == 0
    # claude-3-5-haiku: $0.80 / $4 per million tokens.
    haiku = value(s, "llm_cost_usd_total", gen_ai_request_model="claude-3-5-haiku-20241022")
    assert haiku == pytest.approx(0.0012, rel=1e-12)
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="free-model") == 0
    assert value(s, "llm_exporter_unpriced_completions_total", gen_ai_request_model="mystery-model") == 1
    assert value(s, "llm_exporter_unpriced_completions_total") == 1


def test_usage_missing_counted_and_no_zero_token_observations(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "litellm")
    write_lines(log, [litellm(None, prompt_tokens=0, completion_tokens=0, response_cost=0.0), litellm(None)])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_usage_missing_total", gen_ai_request_model="gpt-4o", source="app") == 1
    assert value(s, "gen_ai_client_token_usage_count", gen_ai_token_type="input") == 1
    assert value(s, "gen_ai_client_token_usage_bucket", gen_ai_token_type="input", le="1.0") == 0


def test_total_tokens_alone_count_as_unsplit_and_unpriced(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "event")
    write_lines(log, ['{"model":"gpt-4o","latency_ms":"300","total_tokens":"1500"}\n'])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_tokens_total", gen_ai_token_type="unsplit") == 1500
    assert value(s, "llm_tokens_total", gen_ai_token_type="input") == 0
    assert value(s, "llm_exporter_unpriced_completions_total", gen_ai_request_model="gpt-4o") == 1
    assert value(s, "llm_exporter_usage_missing_total") == 0
    assert value(s, "llm_requests_total", outcome="success") == 1


def test_failures_by_status_code_without_one(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "event")
    write_lines(
        log,
        [
            '{"model":"gpt-4o","latency_ms":5,"status":"error","error_type":"InternalServerError","status_code":500}\n',
            '{"model":"gpt-4o","latency_ms":5,"status":"error","error_type":"Timeout"}\n',
        ],
    )
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_errors_total", error_type="InternalServerError", http_response_status_code="500") == 1
    timeouts = [labels for (name, labels) in s if name == "llm_errors_total" and ("error_type", "Timeout") in labels]
    assert len(timeouts) == 1 and not any(k == "http_response_status_code" for k, _ in timeouts[0])
    assert value(s, "llm_requests_total", outcome="failure") == 2


def test_a_logged_embeddings_call_makes_no_output_token_observation(tmp_path: Path) -> None:
    # LiteLLM writes `completion_tokens: 0` for an embedding; the completion format leaves the count out.
    exporter, log = make_exporter(tmp_path, "auto")
    embedding = litellm(None, model="text-embedding-3-small", call_type="aembedding", prompt_tokens=8)
    write_lines(
        log,
        [
            embedding.replace('"completion_tokens": 100', '"completion_tokens": 0'),
            '{"event_type":"completion_response","model":"text-embedding-3-large","operation":"embeddings",'
            '"success":true,"response_time_ms":40,"token_usage":{"prompt_tokens":5,"total_tokens":5}}\n',
        ],
    )
    exporter.poll_once()
    s = scrape(exporter)
    for model, input_tokens in (("text-embedding-3-small", 8), ("text-embedding-3-large", 5)):
        labels = {"gen_ai_operation_name": "embeddings", "gen_ai_request_model": model}
        assert value(s, "gen_ai_client_token_usage_count", **labels, gen_ai_token_type="output") == 0
        assert value(s, "gen_ai_client_token_usage_count", **labels, gen_ai_token_type="input") == 1
        assert value(s, "gen_ai_client_token_usage_sum", **labels, gen_ai_token_type="input") == input_tokens
        assert value(s, "llm_tokens_total", **labels, gen_ai_token_type="output") == 0


def test_a_cache_hit_that_carries_a_cost_is_counted_saved_not_spent(tmp_path: Path) -> None:
    # What the sample log's hits said before they were re-made as LiteLLM writes them: a cost, no saved cost.
    exporter, log = make_exporter(tmp_path, "litellm")
    write_lines(log, [litellm(None), litellm(None, cache_hit=True, response_cost=0.0035, saved_cache_cost=0.0)])
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_cost_usd_total") == 0.0035  # the provider call only
    assert value(s, "llm_cache_saved_cost_usd_total") == 0.0035


def test_the_sample_litellm_log_writes_its_cache_hits_as_litellm_does() -> None:
    """A hit as recorded from LiteLLM (tests/testdata/litellm_recorded/): response_cost 0.0, a
    saved_cache_cost, a cache_key, `stream` null, the model with its provider prefix."""
    root = Path(__file__).resolve().parent.parent
    recorded = next(
        json.loads(line)
        for line in (root / "tests" / "testdata" / "litellm_recorded" / "sdk.jsonl").read_text().splitlines()
        if json.loads(line).get("cache_hit") is True
    )
    assert (recorded["response_cost"], recorded["stream"], len(recorded["cache_key"])) == (0.0, None, 64)
    assert recorded["saved_cache_cost"] > 0
    hits = [
        json.loads(line)
        for line in (root / "examples" / "logs" / "litellm.jsonl").read_text().splitlines()
        if json.loads(line)["cache_hit"] is True
    ]
    assert len(hits) == 3
    for hit in hits:
        assert (hit["response_cost"], hit["stream"], len(hit["cache_key"])) == (0.0, None, 64)
        assert hit["model"].startswith(hit["custom_llm_provider"] + "/")
        assert hit["completionStartTime"] == hit["endTime"]
    # LiteLLM prices the saved answer with its own cost map; it writes 0.0 for a model the map
    # has no more (claude-3-5-sonnet-20241022, gemini-1.5-flash: recorded with LiteLLM 1.110.2).
    assert [hit["saved_cache_cost"] for hit in hits] == [0.0, 0.010305, 0.0]


def test_a_logged_azure_deployment_is_priced_by_the_model_its_response_names(tmp_path: Path) -> None:
    # LiteLLM could not price the deployment (0.0); its response names the model billed.
    exporter, log = make_exporter(tmp_path, "litellm")
    response = {"model": "gpt-4.1-mini-2025-04-14", "usage": {"prompt_tokens": 1000, "completion_tokens": 100}}
    write_lines(
        log, [litellm(None, model="prod-chat", custom_llm_provider="azure", response_cost=0.0, response=response)]
    )
    exporter.poll_once()
    s = scrape(exporter)
    labels = {"gen_ai_provider_name": "azure.ai.openai", "gen_ai_request_model": "prod-chat"}
    # gpt-4.1-mini on Azure at $0.40 / $1.60 per million tokens (genai-prices)
    assert value(s, "llm_cost_usd_total", **labels) == pytest.approx((1000 * 0.40 + 100 * 1.60) / 1e6, rel=1e-12)
    assert value(s, "llm_exporter_unpriced_completions_total", **labels) == 0
