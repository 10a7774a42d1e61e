#!/usr/bin/env python3
"""Generate the Grafana dashboards in grafana/dashboards/*.json.

The JSON files are committed (and written again into deploy/kubernetes/base/dashboards/); their
source is the package grafana/dashboards_src/ (one module per dashboard, panels.py for the
building blocks, common.py for selectors, variables and the dashboard frame). After editing it, run

    python3 grafana/generate_dashboards.py

and commit the regenerated JSON (tests/bundle checks that they are in sync with --check).
Standard library only.

Queries use the metric contract's names and the recording rules in
prometheus/rules/llm_recording.yml. Grafana variables used in expressions:
$job, $instance, $provider, $model, $symbol, $source (template variables),
$__rate_interval, $__interval and $__range (Grafana built-ins).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboards_src import DASHBOARDS  # grafana/, this script's directory, is on sys.path

HERE = Path(__file__).resolve().parent
# grafana/dashboards/ for provisioning; the same files inside the Kubernetes base, which kustomize
# (and so `kubectl apply -k`, GitOps tools and remote bases) only reads from within its own tree.
OUT_DIRS = (HERE / "dashboards", HERE.parent / "deploy" / "kubernetes" / "base" / "dashboards")


def render(build: Callable[[], dict[str, Any]]) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, build in DASHBOARDS.items():
        text = render(build)
        for out_dir in OUT_DIRS:
            path = out_dir / name
            if check:
                if not path.exists() or path.read_text(encoding="utf-8") != text:
                    stale.append(str(path.relative_to(HERE.parent)))
            else:
                out_dir.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date: " + ", ".join(stale) + " (run python3 grafana/generate_dashboards.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
