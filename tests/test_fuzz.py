"""Mangled lines, thousands of them: every one is counted as read, none stops the pipeline, and
the well-formed lines among them still count exactly."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from testkit import TESTDATA, make_exporter, scrape, value, write_lines

SAMPLES = [
    line
    for fmt in ("completion", "event", "litellm")
    for line in (TESTDATA / "golden" / f"{fmt}.log").read_bytes().splitlines()
]
ODD_VALUES = [None, True, -1, 1e308, "", "x" * 300, [], {}, [1, "a"], {"a": {"b": None}}, 2**63, -0.0, "\u0000"]


def mangle(rng: random.Random, line: bytes) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:  # flip bytes
        data = bytearray(line)
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data).replace(b"\n", b" ")
    if kind == 1:  # cut short
        return line[: rng.randrange(len(line))]
    obj = orjson.loads(line)
    if kind == 2:  # a field of the wrong type, at any depth
        target = obj
        while True:
            key = rng.choice(list(target))
            if isinstance(target[key], dict) and target[key] and rng.random() < 0.5:
                target = target[key]
                continue
            target[key] = rng.choice(ODD_VALUES)
            break
    elif kind == 3:  # a field dropped
        del obj[rng.choice(list(obj))]
    else:  # wrapped in something else
        obj = rng.choice([[obj], {"standard_logging_object": obj}, {"event_type": obj}])
    return orjson.dumps(obj)


def test_mangled_lines_never_stop_the_pipeline(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    lines, good = [], 0
    for _ in range(4000):
        if rng.random() < 0.25:
            lines.append(b'{"model":"fuzz-ok","latency_ms":10,"cost_usd":0.5}\n')
            good += 1
        else:
            lines.append(mangle(rng, rng.choice(SAMPLES)) + b"\n")
    exporter, log = make_exporter(tmp_path, "auto")
    write_lines(log, lines)
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_lines_read_total") == 4000
    assert value(s, "llm_cost_usd_total", gen_ai_request_model="fuzz-ok") == good * 0.5
    assert value(s, "llm_exporter_lines_rejected_total", reason="unexpected") == 0
