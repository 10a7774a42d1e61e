"""promtool's recording-rule blocks (one a rule and two hours) rewritten as one block per window."""

from __future__ import annotations

import os
import re
from typing import IO

from llm_exporter.backfill.blocks import BLOCK
from llm_exporter.backfill.errors import BackfillError
from llm_exporter.backfill.promtool import dump, finish, openmetrics_to_blocks
from llm_exporter.exposition import render

# A label of promtool's dump: NAME="VALUE", the value quoted as Go's strconv.Quote does (not JSON:
# \a, \v, \xHH, \UHHHHHHHH; octal \NNN in Go's grammar too).
_LABEL = re.compile(r'(?:, )?([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|[0-7]{3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[abfnrtv\\'\"])")
_SIMPLE = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, "'": 39, '"': 34}


def go_unquote(quoted: str) -> str:
    """The text inside a Go-quoted string. \\x and octal escapes are bytes (of UTF-8, or an invalid
    one, read as U+FFFD); the others, characters."""
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(quoted):
        if m.start() != pos and "\\" in quoted[pos : m.start()]:
            raise ValueError(f"not a Go escape at {quoted[pos:]!r}")
        out += quoted[pos : m.start()].encode()
        code = m.group()[1:]
        if code[0] in "xX":
            out.append(int(code[1:], 16))
        elif code[0] in "01234567":
            out.append(int(code, 8))
        elif code[0] in "uU":
            out += chr(int(code[1:], 16)).encode("utf-8", "surrogatepass")
        else:
            out.append(_SIMPLE[code])
        pos = m.end()
    if "\\" in quoted[pos:]:
        raise ValueError(f"not a Go escape at {quoted[pos:]!r}")
    out += quoted[pos:].encode()
    return out.decode("utf-8", "replace")


def dumped_sample(line: str) -> tuple[str, dict[str, str], float, int]:
    """A line of `promtool tsdb dump`: `{__name__="x", k="v"} VALUE TIMESTAMP_MS`, as (name,
    labels, value, milliseconds)."""
    if not line.startswith("{"):
        raise ValueError(f"not a dumped sample: {line[:200]!r}")
    labels: dict[str, str] = {}
    pos = 1
    while (m := _LABEL.match(line, pos)) is not None:
        labels[m.group(1)] = go_unquote(m.group(2))
        pos = m.end()
    value, ms = line[pos:].removeprefix("} ").split()
    return labels.pop("__name__"), labels, float(value), int(ms)


def merge_blocks(promtool: str, blocks: str, output: str, workdir: str) -> None:
    """The samples of the blocks in `blocks`, rewritten into `output` as one block per window."""
    os.makedirs(os.path.join(blocks, "wal"), exist_ok=True)  # promtool's dump reads a WAL too
    windows: dict[int, IO[str]] = {}
    try:
        for line in dump(promtool, blocks):
            try:
                name, labels, value, ms = dumped_sample(line)
            except ValueError as exc:
                raise BackfillError(f"promtool tsdb dump printed what this cannot read: {exc}") from None
            window = ms // int(BLOCK * 1000)
            out = windows.get(window)
            if out is None:
                out = windows[window] = open(  # noqa: SIM115 (closed below, with the others)
                    os.path.join(workdir, f"merge-{window}.om"), "w", encoding="utf-8"
                )
            out.write(render.at(ms / 1000, [render.sample(render.series(name, labels), value)]))
        for _, out in sorted(windows.items()):
            out.write(render.EOF)
            out.close()
            finish(openmetrics_to_blocks(promtool, out.name, output), "promtool failed on the recording rules' samples")
    finally:
        for out in windows.values():
            out.close()
            os.unlink(out.name)
