"""`llm-exporter backfill` on hostile logs and arguments, and stopped midway (issue 22, points 6
and 13): absurd timestamps, a gzip bomb, damaged compressed siblings, label values promtool's dump
escapes the Go way, absurd steps, SIGTERM and Ctrl-C."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import tracemalloc
import zlib
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

import orjson
import pytest
import yaml

from llm_exporter.backfill.command import STEPS, _parser, main, parse_step, parse_time
from llm_exporter.backfill.compact import dumped_sample, go_unquote, merge_blocks
from llm_exporter.backfill.errors import BackfillError
from llm_exporter.backfill.promtool import dump
from llm_exporter.backfill.report import iso, summary
from llm_exporter.backfill.run import backfill
from llm_exporter.config import Config, config_for_glob
from llm_exporter.exposition import render
from llm_exporter.sources.lines import split
from test_backfill import START, generated, truth
from testkit import require_binary


def lines_of(n: int, start: float = START, seed: int = 1) -> list[bytes]:
    """n lines of completion calls a minute apart from `start`: request, response and decision lines."""
    return list(islice(generated(n, seed=seed, start=start, spacing=60.0), n))


def last_time(lines: list[bytes]) -> float:
    return max(parse_time(orjson.loads(line)["timestamp"]) for line in lines)


def dated(lines: list[bytes], timestamp: object, tag: str) -> list[bytes]:
    """The lines with this timestamp, as calls of their own (request ids prefixed by `tag`)."""
    out = []
    for line in lines:
        record = orjson.loads(line)
        record["timestamp"] = timestamp
        record["request_id"] = f"{tag}-{record['request_id']}"
        out.append(orjson.dumps(record))
    return out


def text(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def config(log: Path, max_line: int | None = None) -> Config:
    cfg = config_for_glob(str(log), "completion")
    if max_line is not None:
        cfg.limits.max_line_bytes = max_line
    return cfg


def final(output: Path, name: str) -> float:
    """The sum of `name`'s series at the blocks' last sample of it."""
    (output / "wal").mkdir(exist_ok=True)  # promtool's dump reads a WAL too
    samples = [dumped_sample(line) for line in dump(require_binary("promtool", "prometheus"), str(output))]
    ms = max(s[3] for s in samples if s[0] == name)
    return sum(s[2] for s in samples if s[0] == name and s[3] == ms)


def block_times(output: Path) -> list[tuple[int, int]]:
    return sorted(
        (meta["minTime"], meta["maxTime"]) for meta in (json.loads(p.read_text()) for p in output.glob("*/meta.json"))
    )


# -- 13a: absurd timestamps ------------------------------------------------------------------------


@pytest.mark.parametrize("absurd", [0, "0001-01-01T00:00:00Z", "1" * 5000], ids=["epoch-0", "year-1", "5000-digits"])
def test_a_a_line_at_epoch_0_year_1_or_a_5000_digit_year_does_not_start_the_blocks_there(
    tmp_path: Path, absurd: object
) -> None:
    """The first line's time started the samples: a line at epoch 0 wrote blocks from 1970 on, for hours."""
    require_binary("promtool", "prometheus")
    good = lines_of(60)
    log = tmp_path / "app.log"
    log.write_bytes(text(dated(lines_of(3, seed=2), absurd, "absurd") + good))
    output = tmp_path / "blocks"
    report = backfill(config(log), str(output))
    assert report.first == START
    # From the 0 a step before the first sample (in the window before START's) to the last line.
    assert block_times(output) == [
        (START * 1000 - 60_000, START * 1000 - 60_000 + 1),
        (START * 1000, int(last_time(good)) * 1000 + 1),
    ]
    _, requests = truth(tmp_path, good)
    assert final(output, "llm_requests_total") == requests
    if absurd == "1" * 5000:  # no time at all, on every Python
        assert report.counts["default"].untimed == 3
        return
    assert report.counts["default"].out_of_range == 3
    assert "3 lines dated before 2000-01-01T00:00:00Z or after" in summary(report, str(output), None, "j", "i")


@pytest.mark.parametrize("to", [False, True])
def test_a_line_dated_9999_does_not_end_the_file(tmp_path: Path, to: bool) -> None:
    """With --to it ended the file (the 150 later lines neither backfilled nor reported); without,
    the samples went on to the year 9999."""
    require_binary("promtool", "prometheus")
    good = lines_of(180)
    log = tmp_path / "app.log"
    log.write_bytes(text(good[:30] + dated(lines_of(3, seed=2), "9999-12-31T00:00:00Z", "far") + good[30:]))
    output = tmp_path / "blocks"
    report = backfill(config(log), str(output), until=last_time(good) if to else None)
    assert report.last == last_time(good)
    _, requests = truth(tmp_path, good)
    assert final(output, "llm_requests_total") == requests > 50
    assert report.counts["default"].out_of_range == 3


# -- 13b: a gzip bomb ------------------------------------------------------------------------------


def test_b_a_gzip_bomb_line_is_dropped_as_too_long_in_bounded_memory(tmp_path: Path) -> None:
    """408 KB of gzip expanding to 400 MB of one line took 864 MB and was not counted. Here 64 MB
    lines, one with its newline among calls, one without (a whole file of it): memory stays a
    fraction of one, each is counted as too_long, and the calls around them are backfilled."""
    require_binary("promtool", "prometheus")
    bomb = 64 << 20
    good = lines_of(90)
    (tmp_path / "app.log").write_bytes(text(good[60:]))
    with gzip.open(tmp_path / "app.log.1.gz", "wb", compresslevel=1) as f:
        f.write(text(good[:30]))
        for _ in range(bomb >> 20):
            f.write(b"x" * (1 << 20))
        f.write(b"\n" + text(good[30:60]))
    with gzip.open(tmp_path / "app.log.2.gz", "wb", compresslevel=1) as f:
        for _ in range(bomb >> 20):
            f.write(b"y" * (1 << 20))
    output = tmp_path / "blocks"
    tracemalloc.start()
    try:
        report = backfill(config(tmp_path / "app.log", max_line=1 << 20), str(output))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < bomb // 8, f"{peak:,} bytes held at the peak"
    assert report.rejected == {"default": {"too_long": 2}}
    _, requests = truth(tmp_path, good)
    assert final(output, "llm_requests_total") == requests > 25


# -- 13c: damaged compressed siblings --------------------------------------------------------------


def test_c_a_truncated_or_non_gzip_gz_sibling_is_reported_and_the_rest_backfilled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_binary("promtool", "prometheus")
    older, old, new = lines_of(60, START), lines_of(60, START + 3600, seed=2), lines_of(60, START + 7200, seed=3)
    whole = gzip.compress(text(old))
    (tmp_path / "app.log.1.gz").write_bytes(whole[: len(whole) // 2])  # being compressed right now
    read = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) // 2])
    kept = read[: read.rindex(b"\n") + 1].splitlines()
    assert 0 < len(kept) < len(old)
    (tmp_path / "app.log.2.gz").write_bytes(text(older))  # named .gz, never compressed
    (tmp_path / "app.log.3.bz2").write_bytes(b"BZh9" + bytes(range(256)))  # corrupt
    (tmp_path / "app.log").write_bytes(text(new))
    output = tmp_path / "blocks"
    args = ["--log-path", str(tmp_path / "app.log"), "--format", "completion", "--output", str(output)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        f"could not read all of {tmp_path}/app.log.1.gz: the compressed data ends early (truncated, or still "
        "being written); the lines before it were backfilled" in out
    )
    assert f"could not read all of {tmp_path}/app.log.2.gz: Not a gzipped file (b'{{\"')" in out
    assert f"could not read all of {tmp_path}/app.log.3.bz2: Invalid data stream" in out
    assert f"read {len(kept) + len(new):,} lines" in out
    _, requests = truth(tmp_path, kept + new)
    assert final(output, "llm_requests_total") == requests


# -- 13d: promtool dump's Go escapes ---------------------------------------------------------------

# Control characters (C0, DEL, C1), quotes, backslashes, non-ASCII, a byte-order mark, an emoji.
ODD = [
    "gpt\x01-4",
    'say "hi"',
    "back\\slash\\",
    "tab\tnew\nline\r",
    "\x00\x07\x08\x0b\x0c\x1b\x1f\x7f",
    "\x80\x85\x9f\xa0\xad",
    "é✓\u200b\ufeff😀",
    "\\x41 \\u0041 \\n",
    "} 1 2",
]


def test_d_go_escapes_of_promtool_dump_read_back_exactly(tmp_path: Path) -> None:
    """`promtool tsdb dump` quotes label values as Go does (\\x01, \\a, \\u0085), which is not
    JSON: the merge of recording-rule blocks crashed on a control character in a model name."""
    promtool = require_binary("promtool", "prometheus")
    values = ODD + [chr(c) for c in range(0x100)]
    om = tmp_path / "odd.om"
    om.write_text(
        render.at(START, [render.sample(render.series("odd", {"v": v, "i": str(i)}), i) for i, v in enumerate(values)])
        + render.EOF,
        encoding="utf-8",
    )
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(tmp_path / "in")], check=True)
    (tmp_path / "in" / "wal").mkdir()
    read = {
        int(labels["i"]): labels["v"] for name, labels, _, _ in map(dumped_sample, dump(promtool, str(tmp_path / "in")))
    }
    assert read == dict(enumerate(values))
    # Rewritten as blocks by merge_blocks, and read again.
    (tmp_path / "out").mkdir()
    merge_blocks(promtool, str(tmp_path / "in"), str(tmp_path / "out"), str(tmp_path))
    (tmp_path / "out" / "wal").mkdir()
    again = [dumped_sample(line) for line in dump(promtool, str(tmp_path / "out"))]
    assert sorted((labels["v"], value, ms) for _, labels, value, ms in again) == sorted(
        (v, float(i), START * 1000) for i, v in enumerate(values)
    )
    assert go_unquote(r"\a\b\f\n\r\t\v\\\"\x41\101\u00e9\U0001F600\xc3\xa9") == '\a\b\f\n\r\t\v\\"AAé😀é'
    with pytest.raises(ValueError):
        go_unquote(r"\q")


def test_d_recording_rules_over_model_names_with_control_characters(tmp_path: Path) -> None:
    require_binary("promtool", "prometheus")
    require_binary("prometheus", "prometheus")
    models = ["gpt\x01-4", 'say "hi"', "back\\slash", "é✓😀"]
    lines = []
    for i, line in enumerate(lines_of(60)):
        record = orjson.loads(line)
        if "model" in record:
            record["model"] = models[i % len(models)]
        lines.append(orjson.dumps(record))
    log = tmp_path / "app.log"
    log.write_bytes(text(lines))
    rules = tmp_path / "rules.yml"
    rule = {"record": "model:llm_requests:sum", "expr": "sum by (gen_ai_request_model) (llm_requests_total)"}
    rules.write_text(yaml.safe_dump({"groups": [{"name": "m", "interval": "1m", "rules": [rule]}]}))
    output = tmp_path / "blocks"
    backfill(config(log), str(output), rules=[str(rules)])
    (output / "wal").mkdir()
    recorded = {
        labels["gen_ai_request_model"]
        for name, labels, _, _ in map(dumped_sample, dump("promtool", str(output)))
        if name == "model:llm_requests:sum"
    }
    assert recorded == set(models)


def test_d_a_failure_in_the_rules_stage_leaves_no_partial_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blocks were written before the rules' merge failed: the output was left half done
    (and the next run refused it, not empty). promtool here fails to dump the rules' blocks."""
    promtool = require_binary("promtool", "prometheus")
    require_binary("prometheus", "prometheus")
    bin_dir, temp = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir()
    temp.mkdir()
    failing = bin_dir / "promtool"
    failing.write_text(f'#!/bin/sh\n[ "$2" = dump ] && {{ echo "cannot dump" >&2; exit 1; }}\nexec {promtool} "$@"\n')
    failing.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    log = tmp_path / "app.log"
    log.write_bytes(text(lines_of(60)))
    rules = tmp_path / "rules.yml"
    rule = {"record": "x:sum", "expr": "sum(llm_requests_total)"}
    rules.write_text(yaml.safe_dump({"groups": [{"name": "m", "interval": "1m", "rules": [rule]}]}))
    output = tmp_path / "blocks"
    with pytest.raises(BackfillError, match="promtool could not read the rule blocks: cannot dump"):
        backfill(config(log), str(output), rules=[str(rules)], positions=str(tmp_path / "positions.json"))
    assert not output.exists()  # made by the backfill, removed with it
    assert list(temp.iterdir()) == []
    assert not (tmp_path / "positions.json").exists()


# -- 13e: absurd steps -----------------------------------------------------------------------------


def test_e_a_step_below_float_resolution_is_refused_at_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert STEPS == (1.0, 86400.0)
    assert parse_step("1s") == 1.0
    assert parse_step("1000ms") == 1.0
    assert parse_step("1d") == 86400.0
    assert parse_step("23h59m60s") == 86400.0
    for absurd in ("999ms", "0.0000000000000000001ms", "1d1ms", "9" * 400 + "w"):
        with pytest.raises(SystemExit):
            _parser().parse_args(["--log-path", "x", "--output", "y", "--step", absurd])
        assert "is not a step between 1s and 1d" in capsys.readouterr().err


def test_e_times_outside_the_plausible_window_are_refused_at_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = "is not between 2000-01-01T00:00:00Z and"
    none = "is not a time such as"  # a 5000-digit "year", on every Python
    for absurd, said in (("0", out), ("0001-01-01", out), ("9999-12-31T00:00:00Z", out), ("1" * 5000, none)):
        for flag in ("--from", "--to"):
            with pytest.raises(SystemExit):
                _parser().parse_args(["--log-path", "x", "--output", "y", flag, absurd])
            assert said in capsys.readouterr().err


# -- 13f: SIGTERM and Ctrl-C -----------------------------------------------------------------------

FAKE_PROMTOOL = """#!{python}
# promtool, stopped halfway through writing a block: it says so on the FIFO, then waits for a signal.
import os, signal, sys
out = sys.argv[-1]
os.makedirs(os.path.join(out, "01HALFWRITTEN00000000000000", "chunks"))
with open(os.path.join(out, "01HALFWRITTEN00000000000000", "chunks", "000001"), "wb") as f:
    f.write(b"half")
with open(os.environ["FAKE_PROMTOOL_FIFO"], "w") as f:
    f.write(str(os.getpid()))
while True:
    signal.pause()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_f_sigterm_or_ctrl_c_leaves_no_temporary_files_and_no_partial_block(tmp_path: Path, signum: int) -> None:
    """Stopped while promtool writes a block (a fake one, on PATH, that waits at that point for
    the signal): promtool ended with it, the output left as it was, the temporary files gone."""
    bin_dir, temp = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir()
    temp.mkdir()
    fake = bin_dir / "promtool"
    fake.write_text(FAKE_PROMTOOL.format(python=sys.executable))
    fake.chmod(0o755)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    log = tmp_path / "app.log"
    log.write_bytes(text(lines_of(60)))
    output = tmp_path / "blocks"
    output.mkdir()  # given, empty: it stays, empty
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TMPDIR": str(temp),
        "FAKE_PROMTOOL_FIFO": str(fifo),
    }
    args = ["--log-path", str(log), "--format", "completion", "--output", str(output)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_exporter", "backfill", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    fake_pid = None
    try:
        with open(fifo) as f:  # opened once the fake opens it: it is halfway through its block
            fake_pid = int(f.read())
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        assert list(output.iterdir()) == []
        assert list(temp.iterdir()) == []
        with pytest.raises(ProcessLookupError):
            os.kill(fake_pid, 0)  # ended and reaped by the backfill
        assert proc.returncode == 128 + signum, err
        name = signal.Signals(signum).name
        assert (
            err == f"llm-exporter backfill: stopped by {name}: no block written to {output}, temporary files removed\n"
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if fake_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(fake_pid, signal.SIGKILL)


# -- 6: progress until the last block is written ---------------------------------------------------


def test_progress_is_shown_until_the_last_block_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Progress stopped with the last line read, while promtool went on writing blocks."""
    require_binary("promtool", "prometheus")
    log = tmp_path / "app.log"
    log.write_bytes(text(lines_of(450, START + 600)))  # from 00:10 for two and a half hours: two windows
    report = backfill(config(log), str(tmp_path / "blocks"), progress=True)
    assert len(report.blocks) == 2
    shown = [part.removesuffix("\x1b[K") for part in capsys.readouterr().err.split("\r") if part]
    # After the logs are read: the blocks as promtool finishes them, the last one last, then the line cleared.
    read = f"logs read; sampling up to {iso(last_time(log.read_bytes().splitlines()))}, 0 blocks written"
    assert shown[shown.index(read) :] == [
        read,
        "1 of 2 blocks written",
        "2 of 2 blocks written",
        "",
    ]


class Stream:
    """sources.lines.split's state of one stream."""

    def __init__(self) -> None:
        self.partial = bytearray()
        self.skip_from: int | None = None
        self.lines: list[tuple[bytes, int]] = []
        self.dropped = 0

    def on_lines(self, lines: Iterable[bytes], at: int) -> None:
        for line in lines:
            self.lines.append((line, at))
            at += len(line) + 1

    def too_long(self) -> None:
        self.dropped += 1


def test_b_lines_cut_by_the_tailers_rule_keep_their_offsets() -> None:
    """The backfill hands the live exporter the offset of the first line past --to: the lines cut
    chunk by chunk (over-long ones dropped among them) each know where they begin."""
    data = b"a\n" + b"x" * 40 + b"\nbb\n" + b"y" * 9 + b"\n\nccc\n" + b"z" * 30 + b"\ndd\n" + b"w" * 50
    for size in (1, 3, 7, 16, len(data)):
        stream = Stream()
        for offset in range(0, len(data), size):
            split(stream, data[offset : offset + size], offset, 10, stream.on_lines, stream.too_long)
        assert stream.lines == [(b"a", 0), (b"bb", 43), (b"y" * 9, 46), (b"", 56), (b"ccc", 57), (b"dd", 92)], size
        assert stream.dropped == 3  # the x, z and (unfinished) w lines
        assert (stream.partial, stream.skip_from) == (bytearray(), 95)
