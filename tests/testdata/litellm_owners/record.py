"""Record the payloads LiteLLM writes about who called: their end user, key alias and team alias.

Run: python3 tests/testdata/litellm_owners/record.py   (needs litellm; no network). It calls the real
`litellm.completion` against the local fake provider with a CustomLogger in `litellm.callbacks`,
as ../litellm_recorded/record.py does for sdk.jsonl (same fake server, callback, checks and
scrubbing), and passes each call the `metadata` and `user` a LiteLLM proxy passes for a request
made with one of its virtual keys: `user_api_key_alias`, `user_api_key_team_alias`,
`user_api_key_team_id` from the key's row, `user_api_key_end_user_id` from the request's `user`.
So each payload is the proxy's StandardLoggingPayload for that key and user, without starting a
proxy and its key database. It writes, next to this file:

- owners.jsonl: one standard_logging_object per line, as the callback got it;
- calls.json: what each call was sent and what it gave, in file order: the ground truth for
  tests/test_litellm_owners.py.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "litellm_recorded"))

import record as base  # noqa: E402  (../litellm_recorded/record.py: the fake provider, callback and scrubbing)

# The proxy's virtual keys: what its key table says of each (dummy values).
KEYS: dict[str, dict[str, str]] = {
    "research": {
        "user_api_key_alias": "research-notebook",
        "user_api_key_team_alias": "research",
        "user_api_key_team_id": "team-0001",
    },
    "support": {
        "user_api_key_alias": "support-bot",
        "user_api_key_team_alias": "support",
        "user_api_key_team_id": "team-0002",
    },
    "personal": {"user_api_key_alias": "carol-laptop"},  # a key of no team
}

# (scenario, key, the request's `user`, requested model, provider, streamed): in file order.
CALLS: list[tuple[str, str, str | None, str, str, bool]] = [
    ("research_alice", "research", "alice", "openai/gpt-4o", "openai", False),
    ("research_bob", "research", "bob", "openai/gpt-4o", "openai", False),
    ("research_alice_stream", "research", "alice", "openai/gpt-4o", "openai", True),
    ("support_no_user", "support", None, "anthropic/claude-sonnet-4-5-20250929", "anthropic", False),
    ("support_fails", "support", "dave", "openai/fail-429", "openai", False),
    ("personal_key", "personal", "carol", "openai/gpt-4o", "openai", False),
]


def main() -> None:
    written: list[dict[str, Any]] = []
    with base.FakeLLMServer() as server:
        sdk = base.SDKRecorder(server)
        for scenario, key, user, model, provider, stream in CALLS:
            call = base.Call(scenario, "completion", model, stream=stream, include_usage=True if stream else None)
            metadata = dict(KEYS[key])
            extra: dict[str, Any] = {"metadata": metadata}
            if user:
                metadata["user_api_key_end_user_id"] = user
                extra["user"] = user
            if stream:
                extra.update(stream=True, stream_options={"include_usage": True})
            getattr(sdk, provider)(call, **extra)
            written.append({**asdict(call), "key": KEYS[key], "end_user": user})
        fake_port = int(server.httpd.server_address[1])
        base.write_jsonl(HERE / "owners.jsonl", sdk.lines, base.Scrubber({fake_port: base.FAKE_PORT}, []))
    manifest = {"litellm_version": version("litellm"), "calls": written}
    (HERE / "calls.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
