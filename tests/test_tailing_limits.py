"""Issue 9's file-following faults, driven by poll_once() and a steppable clock: many files,
globs that fail, copies that are not copies, impossible positions, long reads in slices."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from llm_exporter.exporter import Exporter
from test_tailing import count, follow, health, lines
from testkit import FakeClock, scrape, value, write_lines


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def tokens(exporter: Exporter) -> float:
    return value(scrape(exporter), "llm_tokens_total", gen_ai_token_type="input")


# -- point 4: copytruncate copies told apart from new files -------------------------------------


def test_new_file_whose_first_line_equals_a_followed_files_is_counted(tmp_path: Path, clock: FakeClock) -> None:
    """Its first line arrives alone, equal to the followed file's: not yet a copy; the lines that
    follow show it is a file of its own, read from 0."""
    exporter, log = follow(tmp_path, clock, glob="*.log")
    header = lines(0, 1)
    write_lines(log, [*header, *lines(1, 9)])
    exporter.poll_once()
    other = tmp_path / "other.log"
    write_lines(other, header)
    exporter.poll_once()
    write_lines(other, lines(100, 29))
    exporter.poll_once()
    exporter.poll_once()
    assert count(exporter) == 10 + 30
    assert tokens(exporter) == sum(range(10)) + 0 + sum(range(100, 129))


def test_new_file_longer_than_a_one_line_file_it_starts_like_is_counted(tmp_path: Path, clock: FakeClock) -> None:
    exporter, log = follow(tmp_path, clock, glob="*.log")
    header = lines(0, 1)
    write_lines(log, header)
    exporter.poll_once()
    write_lines(tmp_path / "other.log", [*header, *lines(100, 29)])
    exporter.poll_once()
    exporter.poll_once()
    assert count(exporter) == 1 + 30


def test_identical_new_file_that_grows_on_its_own_is_counted(tmp_path: Path, clock: FakeClock) -> None:
    """Byte for byte a copy at first (so it stays dormant); then it grows past its original: it
    never was a copy, and all its lines count."""
    exporter, log = follow(tmp_path, clock, glob="*.log")
    write_lines(log, lines(0, 3))
    exporter.poll_once()
    other = tmp_path / "other.log"
    write_lines(other, lines(0, 3))
    exporter.poll_once()
    assert count(exporter) == 3
    write_lines(other, lines(3, 4))
    exporter.poll_once()
    assert count(exporter) == 3 + 7


# -- point 4: impossible positions ---------------------------------------------------------------


def _tamper(pos: Path, **changes: int) -> None:
    doc = json.loads(pos.read_text())
    doc["files"][0].update(changes)
    pos.write_text(json.dumps(doc))


def test_negative_saved_offset_is_a_load_error_and_the_file_is_read_per_start_at(
    tmp_path: Path, clock: FakeClock
) -> None:
    pos = tmp_path / "pos.json"
    exporter, log = follow(tmp_path, clock, positions_file=str(pos))
    write_lines(log, lines(0, 5))
    exporter.poll_once()
    exporter.save_positions()
    exporter.close()
    _tamper(pos, offset=-100)
    again, _ = follow(tmp_path, clock, positions_file=str(pos))
    again.poll_once()
    s = scrape(again)
    assert value(s, "gen_ai_client_operation_duration_seconds_count") == 5  # start_at: beginning
    assert value(s, "llm_exporter_positions_load_errors_total") == 1
    assert value(s, "llm_exporter_file_errors_total") == 0


def test_saved_offset_past_the_end_is_a_load_error_and_the_file_is_read_from_zero(
    tmp_path: Path, clock: FakeClock
) -> None:
    pos = tmp_path / "pos.json"
    exporter, log = follow(tmp_path, clock, positions_file=str(pos))
    write_lines(log, lines(0, 5))
    exporter.poll_once()
    exporter.save_positions()
    exporter.close()
    _tamper(pos, offset=10**12)
    again, _ = follow(tmp_path, clock, positions_file=str(pos))
    again.poll_once()
    assert count(again) == 5
    assert value(scrape(again), "llm_exporter_positions_load_errors_total") == 1


# -- point 3: many files, failing globs, vanishing directories ----------------------------------


def test_more_files_than_max_open_files_count_every_line_once(tmp_path: Path, clock: FakeClock) -> None:
    """40 files, 8 descriptors: idle files are closed and reopened by (dev, inode) when they
    change, through appends, a rename within the glob, a rename out of it, a truncation."""
    exporter, _ = follow(tmp_path, clock, glob="f*.log", limits={"max_open_files": 8})
    files = [tmp_path / f"f{i:02}.log" for i in range(40)]
    for i, path in enumerate(files):
        write_lines(path, lines(i * 10, 2))
    exporter.poll_once()
    assert count(exporter) == 80
    assert _open_under(tmp_path) <= 8
    for i, path in enumerate(files):
        write_lines(path, lines(i * 10 + 2, 1))
    exporter.poll_once()
    assert count(exporter) == 120
    os.rename(files[0], tmp_path / "f00.log.renamed")  # out of the glob, with a line still unread
    write_lines(tmp_path / "f00.log.renamed", lines(3, 1))
    os.rename(files[1], tmp_path / "f01b.log")  # within the glob
    write_lines(tmp_path / "f01b.log", lines(13, 1))
    write_lines(files[2], lines(20, 1), "wb")  # truncated and rewritten (same size, new content)
    exporter.poll_once()
    clock.advance(10)
    exporter.poll_once()
    exporter.poll_once()
    assert count(exporter) == 123
    assert tokens(exporter) == sum(i * 10 + k for i in range(40) for k in range(3)) + 3 + 13 + 20
    assert health(exporter, "truncations_total") == 1
    clock.advance(10)
    exporter.poll_once()  # the file renamed out of the glob is let go after rotate_wait
    assert health(exporter, "files_open") == 39
    assert _open_under(tmp_path) <= 8


def _open_under(directory: Path) -> int:
    """Descriptors this process holds on files under `directory`."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:  # the descriptor that listed the directory
            continue
    return sum(1 for target in targets if target.startswith(str(directory)))


def test_followed_files_survive_a_glob_that_cannot_list_the_directory(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of descriptors, glob finds nothing: that is a failure to list, not "every file gone"."""
    exporter, log = follow(tmp_path, clock, glob="*.log")
    write_lines(log, lines(0, 3))
    exporter.poll_once()
    real = os.scandir

    def out_of_descriptors(path: object = ".") -> object:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(os, "scandir", out_of_descriptors)
    exporter.poll_once()
    clock.advance(10)
    write_lines(log, lines(3, 2))
    exporter.poll_once()
    exporter.poll_once()
    monkeypatch.setattr(os, "scandir", real)
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "gen_ai_client_operation_duration_seconds_count") == 5
    assert value(s, "llm_exporter_rotations_total") == 0
    assert value(s, "llm_exporter_file_errors_total", reason="io_error") == 1
    assert value(s, "llm_exporter_files_open") == 1


def test_a_directory_that_cannot_be_listed_hides_no_other_directory(tmp_path: Path, clock: FakeClock) -> None:
    """A symlink loop beside the applications' directories: its files cannot be listed, the
    others' are followed as usual, and the loop is counted once as a file error."""
    logs = tmp_path / "logs"
    for app in ("a", "b"):
        (logs / app).mkdir(parents=True)
        write_lines(logs / app / "app.log", lines(0 if app == "a" else 10, 3))
    (logs / "loop").symlink_to("loop")
    exporter, _ = follow(tmp_path, clock, glob="logs/*/*.log")
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "gen_ai_client_operation_duration_seconds_count") == 6
    assert value(s, "llm_exporter_source_files") == 2
    assert value(s, "llm_exporter_file_errors_total", reason="symlink_loop") == 1
    assert value(s, "llm_exporter_file_errors_total") == 1
    (logs / "loop").unlink()
    (logs / "loop").mkdir()  # listable again: the same error may be counted anew should it come back
    write_lines(logs / "loop" / "app.log", lines(20, 1))
    exporter.poll_once()
    assert value(scrape(exporter), "gen_ai_client_operation_duration_seconds_count") == 7


def test_directory_of_1200_files_gone_and_back_counts_nothing_twice(tmp_path: Path, clock: FakeClock) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    exporter, _ = follow(tmp_path, clock, glob="logs/*.log")
    for i in range(1200):
        write_lines(logs / f"{i:04}.log", lines(i, 1))
    exporter.poll_once()
    assert count(exporter) == 1200
    os.rename(logs, tmp_path / "away")
    exporter.poll_once()
    clock.advance(10)
    exporter.poll_once()
    assert health(exporter, "files_open") == 0
    os.rename(tmp_path / "away", logs)
    exporter.poll_once()
    exporter.poll_once()
    assert count(exporter) == 1200
    assert health(exporter, "source_files") == 1200


def test_missing_directory_is_a_file_error_and_source_files_is_zero(tmp_path: Path, clock: FakeClock) -> None:
    exporter, _ = follow(tmp_path, clock, glob="logs/*.log")
    exporter.poll_once()
    exporter.poll_once()  # counted once until it recovers
    s = scrape(exporter)
    assert value(s, "llm_exporter_file_errors_total", source="app", reason="missing_directory") == 1
    assert value(s, "llm_exporter_source_files", source="app") == 0
    (tmp_path / "logs").mkdir()
    write_lines(tmp_path / "logs" / "a.log", lines(0, 1))
    write_lines(tmp_path / "logs" / "b.log", lines(1, 1))
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "llm_exporter_source_files", source="app") == 2
    assert value(s, "llm_exporter_file_errors_total", source="app") == 1
    assert count(exporter) == 2


# -- point 1: long reads in slices ---------------------------------------------------------------


def test_a_budgeted_poll_reads_a_slice_and_saved_offsets_cover_whole_lines(tmp_path: Path, clock: FakeClock) -> None:
    pos = tmp_path / "pos.json"
    exporter, log = follow(tmp_path, clock, positions_file=str(pos))
    data = lines(0, 1000)
    write_lines(log, data)
    ends = {sum(map(len, data[:n])) for n in range(1001)}
    slices = 0
    while exporter.poll_once(budget=10_000):
        slices += 1
        assert exporter.save_positions()
        assert json.loads(pos.read_text())["files"][0]["offset"] in ends
    assert slices == -(-sum(map(len, data)) // 10_000)
    assert count(exporter) == 1000
    assert tokens(exporter) == sum(range(1000))


def test_rotation_storm_with_two_descriptors_counts_every_line_once(tmp_path: Path, clock: FakeClock) -> None:
    """Rename and copytruncate rotations in turn, three rotated files kept, two descriptors: a
    closed file that was deleted may have its inode given to the next copy, which must then be
    told apart by its head, not resumed as the deleted file."""
    exporter, log = follow(tmp_path, clock, glob="app.log*", rotate_wait_seconds=2, limits={"max_open_files": 2})
    log.write_bytes(b"")
    writer = open(log, "ab", buffering=0)  # noqa: SIM115 - reopened on rename rotations
    written = 0
    for rotation in range(40):
        writer.write(b"".join(lines(written, 50)))
        written += 50
        exporter.poll_once(rescan=rotation % 2 == 0)
        clock.advance(0.5)
        (tmp_path / "app.log.3").unlink(missing_ok=True)
        for k in (2, 1):
            if (tmp_path / f"app.log.{k}").exists():
                os.rename(tmp_path / f"app.log.{k}", tmp_path / f"app.log.{k + 1}")
        if rotation % 2 == 0:
            os.rename(log, tmp_path / "app.log.1")
            writer.close()
            writer = open(log, "ab", buffering=0)  # noqa: SIM115
        else:
            shutil.copyfile(log, tmp_path / "app.log.1")
            os.truncate(log, 0)
        writer.write(b"".join(lines(written, 50)))
        written += 50
        exporter.poll_once()
        clock.advance(0.5)
        exporter.poll_once()
        clock.advance(0.5)
        assert count(exporter) == written
    writer.close()
    assert tokens(exporter) == sum(range(written))
