"""The README's label_fields recipes for LiteLLM owners (end user, key alias, team alias, issue 25
point 4) on payloads recorded from the real LiteLLM as its proxy writes them for virtual keys
(tests/testdata/litellm_owners), bare and callback-wrapped, and under the cardinality limit."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from llm_exporter.config import parse_config
from llm_exporter.exporter import Exporter
from testkit import TESTDATA, FakeClock, scrape, write_lines

DATA = TESTDATA / "litellm_owners"
MANIFEST = json.loads((DATA / "calls.json").read_text())["calls"]
PAYLOADS = [json.loads(line) for line in (DATA / "owners.jsonl").read_text().splitlines()]

# The recipes, as the README gives them.
BARE = {"user": "end_user", "key": "metadata.user_api_key_alias", "team": "metadata.user_api_key_team_alias"}
WRAPPED = {name: f"standard_logging_object.{path}" for name, path in BARE.items()}


def test_the_recording_is_what_the_client_sent() -> None:
    """One payload per call, in order, each naming the key's alias and team and the request's user
    where LiteLLM puts them."""
    assert len(PAYLOADS) == len(MANIFEST)
    for call, payload in zip(MANIFEST, PAYLOADS, strict=True):
        assert payload["status"] == call["outcome"], call["scenario"]
        assert payload["metadata"]["user_api_key_alias"] == call["key"]["user_api_key_alias"], call["scenario"]
        assert payload["metadata"]["user_api_key_team_alias"] == call["key"].get("user_api_key_team_alias")
        assert (payload["end_user"] or None) == call["end_user"], call["scenario"]


def _requests(tmp_path: Path, lines: list[bytes], label_fields: dict[str, str], **limits: int) -> dict:
    log = tmp_path / "proxy.jsonl"
    write_lines(log, lines)
    raw = {
        "sources": [{"name": "proxy", "path": str(log), "format": "litellm", "label_fields": label_fields}],
        "limits": limits,
    }
    exporter = Exporter(parse_config(raw, "test", {}), clock=FakeClock())
    exporter.poll_once()
    exporter.settle()
    return scrape(exporter)


def _owners(samples: dict, name: str) -> dict[tuple[str, str, str, str], float]:
    """(team, key, user, outcome) -> the sum of `name` (labels absent: "")."""
    out: dict[tuple[str, str, str, str], float] = {}
    for (n, labels), v in samples.items():
        if n == name:
            d = dict(labels)
            key = (d.get("team", ""), d.get("key", ""), d.get("user", ""), d.get("outcome", ""))
            out[key] = out.get(key, 0.0) + v
    return out


def _lines(wrapped: bool) -> list[bytes]:
    return [orjson.dumps({"standard_logging_object": p} if wrapped else p) + b"\n" for p in PAYLOADS]


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "callback-wrapped"])
def test_recipes_label_each_call_with_its_owners(tmp_path: Path, wrapped: bool) -> None:
    samples = _requests(tmp_path, _lines(wrapped), WRAPPED if wrapped else BARE)
    expected: dict[tuple[str, str, str, str], float] = {}
    for call in MANIFEST:
        owner = call["key"]
        key = (
            owner.get("user_api_key_team_alias", ""),
            owner["user_api_key_alias"],
            call["end_user"] or "",
            call["outcome"],
        )
        expected[key] = expected.get(key, 0) + 1
    requests = {k: v for k, v in _owners(samples, "llm_requests_total").items() if v}
    assert requests == expected
    # What each owner spent: the proxy's own response_cost of its calls (the failure cost nothing).
    costs = {k[:3]: round(v, 9) for k, v in _owners(samples, "llm_cost_usd_total").items() if v}
    assert costs == COSTS


# Per (team alias, key alias, end user): the response_cost of the recorded payloads (gpt-4o
# $0.00575 a call, claude-sonnet-4-5 $0.007215; dave's call failed and cost nothing).
COSTS: dict[tuple[str, str, str], float] = {
    ("research", "research-notebook", "alice"): 0.0115,
    ("research", "research-notebook", "bob"): 0.00575,
    ("support", "support-bot", ""): 0.007215,
    ("", "carol-laptop", "carol"): 0.00575,
}


def test_the_cardinality_limit_folds_end_users(tmp_path: Path) -> None:
    """max_label_values bounds owner labels as any label: past two values, the third key alias
    and the third and fourth end users fold into _overflow, counted (as the third model does)."""
    samples = _requests(tmp_path, _lines(False), BARE, max_label_values=2)
    owners = {k[:3] for k, v in _owners(samples, "llm_requests_total").items() if v}
    assert {k[1] for k in owners} == {"research-notebook", "support-bot", "_overflow"}
    assert {k[2] for k in owners} == {"alice", "bob", "", "_overflow"}
    folded = {
        dict(labels)["label"]: v for (n, labels), v in samples.items() if n == "llm_exporter_label_values_folded_total"
    }
    assert folded == {"key": 1, "user": 2, "gen_ai_request_model": 1}
