"""The recorded LiteLLM payloads are well formed, match their ground-truth manifest and leak nothing local."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "testdata" / "litellm_recorded"
MANIFEST = json.loads((DATA / "scenarios.json").read_text())
FILES = sorted(MANIFEST["files"])
# The placeholders record.py writes for the fake provider, the proxy and the generic_api receiver.
PLACEHOLDER_PORTS = {"8999", "4000", "9000"}


def payloads(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()]


def test_the_manifest_names_every_recorded_file() -> None:
    assert FILES == ["proxy.jsonl", "proxy_generic_api.jsonl", "sdk.jsonl"]
    assert sorted(p.name for p in DATA.glob("*.jsonl")) == FILES
    assert MANIFEST["litellm_version"].startswith("1.")


@pytest.mark.parametrize("name", FILES)
def test_every_line_is_a_payload(name: str) -> None:
    for payload in payloads(name):
        assert isinstance(payload, dict)
        assert isinstance(payload["startTime"], float)
        assert isinstance(payload["endTime"], float)
        assert payload["startTime"] <= payload["endTime"]
        assert payload["status"] in ("success", "failure")
        assert isinstance(payload["model"], str) and payload["model"]


@pytest.mark.parametrize("name", FILES)
def test_lines_follow_the_calls_of_the_manifest(name: str) -> None:
    lines = payloads(name)
    calls = MANIFEST["files"][name]
    assert len(lines) == sum(c["lines"] for c in calls)
    at = 0
    for call in calls:
        mine, at = lines[at : at + call["lines"]], at + call["lines"]
        # A call's last line tells how it ended; the lines before it are failed attempts.
        assert [p["status"] for p in mine] == ["failure"] * (call["lines"] - 1) + [call["outcome"]], call
        assert (call["outcome"] == "failure") == (call["error"] is not None), call
        assert not call["cache_hit"] or call["attempts"] == 0, call


def test_the_generic_api_logger_posted_what_the_proxy_callback_wrote() -> None:
    assert payloads("proxy_generic_api.jsonl") == payloads("proxy.jsonl")


@pytest.mark.parametrize("name", FILES)
def test_nothing_local_leaked(name: str) -> None:
    text = (DATA / name).read_text()
    for local in ("/root", "/tmp/", "/home/", "site-packages", "/work/"):
        assert local not in text, local
    ports = set(re.findall(r"(?:127\.0\.0\.1|localhost|0\.0\.0\.0):(\d+)", text))
    assert ports <= PLACEHOLDER_PORTS
    # Only the dummy keys record.py uses may appear; no key-shaped string otherwise.
    assert not re.findall(r"sk-(?!fake\b|fake-master\b|ant-fake\b)[A-Za-z0-9_-]{6,}", text)
