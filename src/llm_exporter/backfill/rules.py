"""Recording rules over the history: ordered in rounds (a rule reading another's series comes
after it), each round evaluated a day at a time over the blocks by promtool."""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import yaml

from llm_exporter.backfill.compact import merge_blocks
from llm_exporter.backfill.errors import BackfillError
from llm_exporter.backfill.progress import Progress
from llm_exporter.backfill.prometheus import temporary_prometheus
from llm_exporter.backfill.promtool import rules_to_blocks


def rule_rounds(documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recording rules in rounds: a rule whose expression reads another's series comes in a
    round after it (promtool evaluates rules against stored data only). Alerting rules are left out."""
    rules = [
        (group, rule)
        for doc in documents
        for group in (doc or {}).get("groups", [])
        for rule in group.get("rules", [])
        if "record" in rule
    ]
    names = {rule["record"] for _, rule in rules}
    reads = [
        {n for n in names if re.search(rf"(?<![\w:]){re.escape(n)}(?![\w:])", str(rule["expr"]))} - {rule["record"]}
        for _, rule in rules
    ]
    remaining = list(range(len(rules)))
    rounds: list[dict[str, Any]] = []
    while remaining:
        waiting = {rules[i][1]["record"] for i in remaining}  # a series is there once all its rules ran
        ready = [i for i in remaining if not reads[i] & waiting]
        if not ready:
            cycle = ", ".join(sorted({rules[i][1]["record"] for i in remaining}))
            raise BackfillError(f"recording rules read each other in a cycle: {cycle}")
        groups: dict[str, dict[str, Any]] = {}
        for i in ready:
            group, rule = rules[i]
            out = groups.setdefault(group["name"], {k: v for k, v in group.items() if k != "rules"} | {"rules": []})
            out["rules"].append(rule)
        rounds.append({"groups": list(groups.values())})
        remaining = [i for i in remaining if i not in ready]
    return rounds


def backfill_rules(
    promtool: str, prometheus: str, output: str, files: Sequence[str], start: float, end: float, bar: Progress
) -> int:
    """Recording-rule series over [start, end], into `output`; returns the rounds run. promtool
    writes a block per rule and two hours: a day of them at a time is merged into one block per
    two hours, so that Prometheus loads a few dozen blocks a month, not thousands."""
    documents = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                documents.append(yaml.safe_load(f))
        except (OSError, yaml.YAMLError) as exc:
            raise BackfillError(f"cannot read rule file {path}: {exc}") from None
    rounds = rule_rounds(documents)
    with tempfile.TemporaryDirectory(prefix="llm-exporter-rules-") as workdir:
        for i, doc in enumerate(rounds):
            rule_file = os.path.join(workdir, f"round-{i}.yml")
            with open(rule_file, "w", encoding="utf-8") as f:
                yaml.safe_dump(doc, f, sort_keys=False)
            with temporary_prometheus(prometheus, output, os.path.join(workdir, f"data-{i}")) as url:
                first_day = day = math.floor(start / 86400) * 86400
                days = math.ceil((end - first_day) / 86400)
                while day < end:
                    n = (day - first_day) // 86400 + 1
                    bar.say(f"recording rules: round {i + 1} of {len(rounds)}, day {n:,} of {days:,}")
                    scratch = os.path.join(workdir, "rules")
                    os.makedirs(scratch)
                    first, last = max(math.floor(start), day), min(math.ceil(end), day + 86400)
                    rules_to_blocks(promtool, url, first, last, scratch, rule_file)
                    merge_blocks(promtool, scratch, output, workdir)
                    shutil.rmtree(scratch)
                    day += 86400
    return len(rounds)
