"""Replay's start-up (issue 11): a replay imports only what it uses, so that it cannot silently
grow again by the tens of milliseconds that prometheus_client, YAML, urllib or pydantic's
validators cost at every run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testkit import TESTDATA

# What a replay without a config file used to import and never uses: prometheus_client (its
# package brings HTTP servers and ssl), YAML (no config file), urllib.request and http.client
# (probes), tempfile (saving positions), genai_prices (a call whose cost the log gives), pydantic
# (it validates a config; replay's own config is built valid).
UNUSED = (
    "prometheus_client",
    "yaml",
    "urllib.request",
    "http.client",
    "tempfile",
    "genai_prices",
    "pydantic",
    "pydantic_core",
)

REPLAY = """
import io, json, sys
baseline = set(sys.modules)
from llm_exporter.cli import main
out, sys.stdout = sys.stdout, io.TextIOWrapper(io.BytesIO())
code = main(["replay", "--format", "completion", sys.argv[1]])
exposition = sys.stdout.buffer.getvalue().decode()
sys.stdout = out
print(json.dumps({"code": code, "exposition": exposition, "baseline": sorted(baseline),
                  "loaded": sorted(sys.modules)}))
"""


def test_replay_imports_only_what_it_uses(tmp_path: Path) -> None:
    request, response = (json.loads(line) for line in (TESTDATA / "golden" / "completion.log").open().readlines()[:2])
    response["cost_estimate_usd"] = 0.0123  # a logged cost: no price to look up
    log = tmp_path / "app.log"
    log.write_text(f"{json.dumps(request)}\n{json.dumps(response)}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_EXPORTER__")}  # they mean validation
    run = subprocess.run(
        [sys.executable, "-c", REPLAY, str(log)], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(run.stdout)
    assert result["code"] == 0
    assert 'llm_cost_usd_total{gen_ai_operation_name="chat"' in result["exposition"]
    assert "0.0123" in result["exposition"]
    # A module the interpreter had before the replay (a .pth file's import) is not replay's doing.
    imported = set(result["loaded"]) - set(result["baseline"])
    assert [m for m in UNUSED if m in imported] == []
