"""promtool's recording-rule blocks (one a rule and two hours) rewritten as one block per window."""

from __future__ import annotations

import os
import re
from typing import IO

import orjson

from llm_exporter.backfill.blocks import BLOCK
from llm_exporter.backfill.promtool import dump, finish, openmetrics_to_blocks
from llm_exporter.exposition import render

_DUMPED = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def merge_blocks(promtool: str, blocks: str, output: str, workdir: str) -> None:
    """The samples of the blocks in `blocks`, rewritten into `output` as one block per window."""
    os.makedirs(os.path.join(blocks, "wal"), exist_ok=True)  # promtool's dump reads a WAL too
    windows: dict[int, IO[str]] = {}
    for line in dump(promtool, blocks):  # {__name__="x", k="v"} VALUE TIMESTAMP_MS
        labels, _, rest = line.rpartition("} ")
        value, _, ms = rest.partition(" ")
        pairs = {k: orjson.loads(f'"{v}"') for k, v in _DUMPED.findall(labels)}
        name = pairs.pop("__name__")
        window = int(ms) // int(BLOCK * 1000)
        out = windows.get(window)
        if out is None:
            out = windows[window] = open(  # noqa: SIM115 (closed below, with the others)
                os.path.join(workdir, f"merge-{window}.om"), "w", encoding="utf-8"
            )
        out.write(render.at(int(ms) / 1000, [render.sample(render.series(name, pairs), float(value))]))
    for _, out in sorted(windows.items()):
        out.write(render.EOF)
        out.close()
        try:
            finish(openmetrics_to_blocks(promtool, out.name, output), "promtool failed on the recording rules' samples")
        finally:
            os.unlink(out.name)
