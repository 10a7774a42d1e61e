"""Record the provider corpus: every call of tests/fakes/provider_calls.py, made with the real
client libraries (uninstrumented) against the fake server of tests/fakes/llm_server.py, with the
request each client sent and the answer it got, into corpus.jsonl (one exchange a line, in call
order). The server sends each provider's rate-limit headers, and dates every answer RECORDED_AT
(its `Date`, which Anthropic's reset times count from), so a re-recording writes the same bytes.
No network; run from anywhere:

    python3 tests/testdata/providers_recorded/record.py

The client versions go into versions.json. Nothing local is written: no host or port (the server's
is random), no client platform headers, keys replaced by `<redacted>` (they are dummies anyway); the
script fails if a local path shows up in what it would write."""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent.parent
sys.path.insert(0, str(TESTS))

from fakes.llm_server import FakeLLMServer  # noqa: E402
from fakes.provider_calls import CALLS  # noqa: E402

CLIENTS = ("openai", "anthropic", "ollama")
RECORDED_AT = 1765090000  # Sun, 07 Dec 2025 06:46:40 GMT


def record() -> list[dict]:
    lines = []
    with FakeLLMServer(ratelimit=True, clock=lambda: RECORDED_AT) as server:
        for name, (make_call, _spec) in CALLS.items():
            before = len(server.exchanges)
            make_call(server.url)
            exchanges = server.exchanges[before:]
            if len(exchanges) != 1:
                raise SystemExit(f"{name}: {len(exchanges)} requests, expected 1")
            lines.append({"call": name, **exchanges[0]})
    return lines


def main() -> None:
    lines = record()
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    for local in {str(TESTS.parent), os.path.expanduser("~"), tempfile.gettempdir(), sys.prefix}:
        if local and local != "/" and local in text:
            raise SystemExit(f"a local path ({local}) would be written")
    (HERE / "corpus.jsonl").write_text(text)
    versions = {name: importlib.metadata.version(name) for name in CLIENTS}
    (HERE / "versions.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    print(f"{len(lines)} exchanges recorded with {versions}")


if __name__ == "__main__":
    main()
