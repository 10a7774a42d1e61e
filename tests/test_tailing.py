"""One deterministic test per tailing fault, driven by poll_once() and a steppable clock.

Every test writes numbered completions and checks the exact total: no line lost, none twice.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from llm_exporter.exporter import Exporter
from testkit import FakeClock, make_exporter, scrape, value, write_lines


def lines(start: int, n: int) -> list[bytes]:
    """n flat events with distinct ids; each costs $1 so totals are easy to check."""
    return [
        b'{"model":"gpt-4o","latency_ms":100,"prompt_tokens":%d,"completion_tokens":1,"cost_usd":1.0,"id":"%08d"}\n'
        % (i, i)
        for i in range(start, start + n)
    ]


def count(exporter: Exporter) -> float:
    return value(scrape(exporter), "gen_ai_client_operation_duration_seconds_count")


def health(exporter: Exporter, name: str) -> float:
    return value(scrape(exporter), f"llm_exporter_{name}", source="app")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def follow(tmp_path: Path, clock: FakeClock, glob: str = "app.log", **config: object) -> tuple[Exporter, Path]:
    config.setdefault("rotate_wait_seconds", 5)
    exporter, _ = make_exporter(tmp_path, "event", clock=clock, **config)
    exporter.config.sources[0].path = str(tmp_path / glob)  # the tailer reads its source config live
    return exporter, tmp_path / "app.log"


def test_rename_rotation_reads_late_lines_then_the_new_file(tmp_path: Path, clock: FakeClock) -> None:
    exporter, log = follow(tmp_path, clock)
    writer = open(log, "ab", buffering=0)  # noqa: SIM115 - the app's long-lived handle
    writer.write(b"".join(lines(0, 10)))
    exporter.poll_once()
    os.rename(log, tmp_path / "app.log.1")  # logrotate `create`
    writer.write(b"".join(lines(10, 5)))  # the app has not reopened yet
    exporter.poll_once()
    writer.close()
    write_lines(log, lines(15, 7), "wb")  # the app reopens: a new file
    exporter.poll_once()
    assert count(exporter) == 22
    assert health(exporter, "rotations_total") == 1
    assert health(exporter, "files_open") == 2  # the old file stays open for its grace period
    clock.advance(6)
    exporter.poll_once()
    assert health(exporter, "files_open") == 1
    assert count(exporter) == 22


def test_rotated_siblings_matching_the_glob_are_not_read_twice(tmp_path: Path, clock: FakeClock) -> None:
    exporter, log = follow(tmp_path, clock, glob="app.log*")
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    os.rename(log, tmp_path / "app.log.1")
    write_lines(log, lines(10, 3), "wb")
    exporter.poll_once()
    os.rename(tmp_path / "app.log.1", tmp_path / "app.log.2")
    os.rename(log, tmp_path / "app.log.1")
    write_lines(log, lines(13, 4), "wb")
    (tmp_path / "app.log.3.gz").write_bytes(b"\x1f\x8b compressed rotations are never read")
    clock.advance(10)
    exporter.poll_once()
    exporter.poll_once()
    assert count(exporter) == 17
    assert health(exporter, "files_open") == 3
    assert health(exporter, "lines_rejected_total") == 0


def test_copytruncate(tmp_path: Path, clock: FakeClock) -> None:
    exporter, log = follow(tmp_path, clock)
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    shutil.copy(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    exporter.poll_once()
    write_lines(log, lines(10, 4))
    exporter.poll_once()
    assert count(exporter) == 14
    assert health(exporter, "truncations_total") == 1


def test_copytruncate_with_the_copy_in_the_glob_finishes_unread_lines_once(tmp_path: Path, clock: FakeClock) -> None:
    exporter, log = follow(tmp_path, clock, glob="app.log*")
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    write_lines(log, lines(10, 6))  # written, not yet read when logrotate copies and truncates
    shutil.copy(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    write_lines(log, lines(16, 2))
    exporter.poll_once()
    exporter.poll_once()
    assert count(exporter) == 18
    assert value(scrape(exporter), "llm_tokens_total", gen_ai_token_type="input") == sum(range(18))


def test_copy_made_but_not_yet_truncated(tmp_path: Path, clock: FakeClock) -> None:
    """A poll between logrotate's copy and its truncate must not read the copied lines twice."""
    exporter, log = follow(tmp_path, clock, glob="app.log*")
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    write_lines(log, lines(10, 5))
    shutil.copy(log, tmp_path / "app.log.1")
    exporter.poll_once()  # sees the copy; the original is still whole
    write_lines(log, lines(15, 1))
    exporter.poll_once()
    os.truncate(log, 0)
    write_lines(log, lines(16, 3))
    exporter.poll_once()
    exporter.poll_once()
    assert count(exporter) == 19
    assert value(scrape(exporter), "llm_tokens_total", gen_ai_token_type="input") == sum(range(19))


def test_truncated_and_regrown_past_the_offset_between_polls(tmp_path: Path, clock: FakeClock) -> None:
    exporter, log = follow(tmp_path, clock)
    write_lines(log, lines(0, 5))
    exporter.poll_once()
    write_lines(log, lines(100, 12), "wb")  # truncate and rewrite, longer than before
    exporter.poll_once()
    assert count(exporter) == 17
    assert health(exporter, "truncations_total") == 1


def test_delete_and_recreate(tmp_path: Path, clock: FakeClock) -> None:
    exporter, log = follow(tmp_path, clock)
    write_lines(log, lines(0, 8))
    exporter.poll_once()
    os.unlink(log)
    write_lines(log, lines(8, 3), "wb")
    exporter.poll_once()
    assert count(exporter) == 11


def test_same_inode_with_new_content_is_read_from_zero(tmp_path: Path, clock: FakeClock) -> None:
    """Positions name (dev, inode, fingerprint): a file recreated on the recycled inode while the
    exporter was down is new content, never resumed at the stale offset."""
    exporter, log = follow(tmp_path, clock, positions_file=str(tmp_path / "pos.json"))
    write_lines(log, lines(0, 20))
    exporter.poll_once()
    assert exporter.save_positions()
    exporter.close()
    inode = os.stat(log).st_ino
    write_lines(log, lines(500, 30), "wb")  # same inode, new content, longer than the old offset
    assert os.stat(log).st_ino == inode
    again, _ = follow(tmp_path, clock, positions_file=str(tmp_path / "pos.json"))
    again.poll_once()
    assert count(again) == 30


def test_symlink_switched_to_a_new_target(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "containers").mkdir()
    first, second = tmp_path / "containers" / "a-0.log", tmp_path / "containers" / "a-1.log"
    write_lines(first, lines(0, 6))
    link = tmp_path / "app.log"
    link.symlink_to(first)
    exporter, _ = follow(tmp_path, clock)
    exporter.poll_once()
    write_lines(first, lines(6, 2))  # written just before the switch
    write_lines(second, lines(8, 5))
    tmp_link = tmp_path / "app.log.tmp"
    tmp_link.symlink_to(second)
    os.replace(tmp_link, link)
    exporter.poll_once()
    assert count(exporter) == 13
    assert health(exporter, "rotations_total") == 1


def test_new_files_matching_the_glob_read_from_zero(tmp_path: Path, clock: FakeClock) -> None:
    exporter, _ = follow(tmp_path, clock, glob="*.jsonl")
    write_lines(tmp_path / "a.jsonl", lines(0, 4))
    exporter.poll_once()
    write_lines(tmp_path / "b.jsonl", lines(4, 6))
    exporter.poll_once()
    assert count(exporter) == 10
    assert health(exporter, "files_open") == 2


def test_start_at_end_skips_history_only(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "app.log"
    write_lines(log, [*lines(0, 5), lines(5, 1)[0][:20]])  # history, ending in a partial line
    from llm_exporter.config import parse_config

    exporter = Exporter(
        parse_config({"sources": [{"name": "app", "path": str(log), "format": "event", "start_at": "end"}]}, "t"),
        clock=clock,
    )
    exporter.poll_once()
    assert count(exporter) == 0
    write_lines(log, [lines(5, 1)[0][20:], *lines(6, 2)])  # the partial line completes
    exporter.poll_once()
    assert count(exporter) == 3
    write_lines(tmp_path / "other.log", lines(0, 1))


def test_restart_in_the_middle_of_a_line_resumes_at_its_start(tmp_path: Path, clock: FakeClock) -> None:
    pos = str(tmp_path / "pos.json")
    exporter, log = follow(tmp_path, clock, positions_file=pos)
    half = lines(3, 1)[0]
    write_lines(log, [*lines(0, 3), half[:25]])
    exporter.poll_once()
    exporter.save_positions()
    exporter.close()
    write_lines(log, [half[25:], *lines(4, 2)])
    again, _ = follow(tmp_path, clock, positions_file=pos)
    again.poll_once()
    assert count(exporter) + count(again) == 6
    assert count(again) == 3


def test_directory_missing_then_created_then_vanishing(tmp_path: Path, clock: FakeClock) -> None:
    exporter, _ = follow(tmp_path, clock, glob="logs/*.log")
    exporter.poll_once()
    assert health(exporter, "files_open") == 0
    (tmp_path / "logs").mkdir()
    write_lines(tmp_path / "logs" / "x.log", lines(0, 3))
    exporter.poll_once()
    shutil.rmtree(tmp_path / "logs")
    exporter.poll_once()
    clock.advance(10)
    exporter.poll_once()
    assert health(exporter, "files_open") == 0
    (tmp_path / "logs").mkdir()
    write_lines(tmp_path / "logs" / "x.log", lines(3, 2))
    exporter.poll_once()
    assert count(exporter) == 5


def _unprivileged(body: Callable[[], list[float]]) -> list[float]:
    """Run `body` in a forked child that, when the tests run as root (who reads any file),
    drops to user nobody first; returns what it returned."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            os.write(write_end, json.dumps(body()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and out, "the unprivileged run failed"
    return json.loads(out)


def test_file_without_read_permission_counted_and_retried(clock: FakeClock) -> None:
    work = Path(tempfile.mkdtemp(prefix="llm-exporter-perm-"))
    try:
        work.chmod(0o777)

        def body() -> list[float]:
            exporter, log = follow(work, clock)
            write_lines(log, lines(0, 3))
            log.chmod(0)
            exporter.poll_once()
            exporter.poll_once()  # retried, counted once
            errors = value(scrape(exporter), "llm_exporter_file_errors_total", reason="permission_denied")
            before = count(exporter)
            log.chmod(0o644)
            exporter.poll_once()
            return [errors, before, count(exporter)]

        assert _unprivileged(body) == [1, 0, 3]
    finally:
        shutil.rmtree(work)


def test_graceful_restart_counts_lines_written_while_down_once(tmp_path: Path, clock: FakeClock) -> None:
    pos = str(tmp_path / "pos.json")
    exporter, log = follow(tmp_path, clock, positions_file=pos)
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    exporter.save_positions()
    exporter.close()
    write_lines(log, lines(10, 7))
    again, _ = follow(tmp_path, clock, positions_file=pos)
    again.poll_once()
    assert count(again) == 7


def test_rotation_while_down_finishes_the_rotated_file_first(tmp_path: Path, clock: FakeClock) -> None:
    pos = str(tmp_path / "pos.json")
    exporter, log = follow(tmp_path, clock, positions_file=pos)
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    exporter.save_positions()
    exporter.close()
    write_lines(log, lines(10, 4))  # written before the rotation, while the exporter was down
    os.rename(log, tmp_path / "app.log.1")
    write_lines(log, lines(14, 5), "wb")
    again, _ = follow(tmp_path, clock, positions_file=pos)
    again.poll_once()
    assert count(again) == 9
    assert value(scrape(again), "llm_tokens_total", gen_ai_token_type="input") == sum(range(10, 19))
    again.poll_once()  # nothing new in the rotated file: its grace period starts
    clock.advance(6)
    again.poll_once()
    assert health(again, "files_open") == 1


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"version": 99, "files": []}', b'{"version":1}'])
def test_missing_or_corrupt_positions_fall_back_to_start_at(tmp_path: Path, clock: FakeClock, content: bytes) -> None:
    pos = tmp_path / "pos.json"
    pos.write_bytes(content)
    exporter, log = follow(tmp_path, clock, positions_file=str(pos))
    write_lines(log, lines(0, 4))
    exporter.poll_once()
    assert count(exporter) == 4
    assert value(scrape(exporter), "llm_exporter_positions_load_errors_total") == 1
    assert exporter.save_positions()
    assert value(scrape(exporter), "llm_exporter_positions_load_errors_total") == 1


def test_positions_save_failure_is_counted(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "ro").write_text("a file where a directory should be")
    exporter, log = follow(tmp_path, clock, positions_file=str(tmp_path / "ro" / "pos.json"))
    write_lines(log, lines(0, 1))
    exporter.poll_once()
    assert not exporter.save_positions()
    assert value(scrape(exporter), "llm_exporter_positions_save_errors_total") == 1


def test_lag_and_byte_counters(tmp_path: Path, clock: FakeClock) -> None:
    exporter, log = follow(tmp_path, clock)
    data = lines(0, 5)
    write_lines(log, data)
    exporter.poll_once()
    assert health(exporter, "bytes_read_total") == sum(map(len, data))
    assert health(exporter, "lines_read_total") == 5
    assert health(exporter, "lag_bytes") == 0


def test_copy_still_being_written_when_first_seen(tmp_path: Path, clock: FakeClock) -> None:
    exporter, log = follow(tmp_path, clock, glob="app.log*")
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    write_lines(log, lines(10, 5))
    copy = tmp_path / "app.log.1"
    copy.write_bytes(b"")  # logrotate has created the copy, not yet filled it
    exporter.poll_once()
    copy.write_bytes(log.read_bytes())
    os.truncate(log, 0)
    write_lines(log, lines(15, 2))
    exporter.poll_once()
    exporter.poll_once()
    assert count(exporter) == 17
    assert value(scrape(exporter), "llm_tokens_total", gen_ai_token_type="input") == sum(range(17))


def test_copytruncate_while_down(tmp_path: Path, clock: FakeClock) -> None:
    pos = str(tmp_path / "pos.json")
    exporter, log = follow(tmp_path, clock, glob="app.log*", positions_file=pos)
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    exporter.save_positions()
    exporter.close()
    write_lines(log, lines(10, 3))
    shutil.copy(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    write_lines(log, lines(13, 2))
    again, _ = follow(tmp_path, clock, glob="app.log*", positions_file=pos)
    again.poll_once()
    again.poll_once()
    assert count(again) == 5
    assert value(scrape(again), "llm_tokens_total", gen_ai_token_type="input") == sum(range(10, 15))


def test_several_rotations_between_polls_keep_requests_before_responses(tmp_path: Path, clock: FakeClock) -> None:
    """Files discovered in one scan are read oldest first, so a response never precedes the
    request it answers because a rotation split them over two new files."""
    exporter, _ = make_exporter(tmp_path, "completion", clock=clock)
    exporter.config.sources[0].path = str(tmp_path / "app.log*")
    log = tmp_path / "app.log"

    def req(i: int) -> bytes:
        return b'{"event_type":"completion_request","request_id":"r%d","model":"o3-mini"}\n' % i

    def resp(i: int) -> bytes:
        return (
            b'{"event_type":"completion_response","request_id":"r%d","response_time_ms":5,"cost_estimate_usd":1}\n' % i
        )

    write_lines(log, [req(1)])
    exporter.poll_once()
    write_lines(log, [req(2)])
    os.rename(log, tmp_path / "app.log.1")
    write_lines(log, [resp(2), req(3)], "wb")  # B
    os.utime(log, ns=(1_000_000_000, 1_000_000_000))
    os.rename(tmp_path / "app.log.1", tmp_path / "app.log.2")
    os.rename(log, tmp_path / "app.log.1")
    write_lines(log, [resp(3)], "wb")  # C, newer than B
    exporter.poll_once()
    s = scrape(exporter)
    assert value(s, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="o3-mini") == 2
    assert value(s, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="unknown") == 0
    assert value(s, "llm_requests_in_flight") == 1


def test_dormant_copy_stays_dormant_across_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    pos = str(tmp_path / "pos.json")
    exporter, log = follow(tmp_path, clock, glob="app.log*", positions_file=pos)
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    write_lines(log, lines(10, 5))
    shutil.copy(log, tmp_path / "app.log.1")
    exporter.poll_once()  # the copy is dormant; the original is read on
    assert count(exporter) == 15
    exporter.save_positions()
    exporter.close()
    os.truncate(log, 0)  # logrotate truncates while the exporter is down
    write_lines(log, lines(15, 2))
    again, _ = follow(tmp_path, clock, glob="app.log*", positions_file=pos)
    again.poll_once()
    again.poll_once()
    assert count(again) == 2
    assert value(scrape(again), "llm_tokens_total", gen_ai_token_type="input") == 15 + 16


def test_dormant_copy_whose_original_vanished_while_down(tmp_path: Path, clock: FakeClock) -> None:
    pos = str(tmp_path / "pos.json")
    exporter, log = follow(tmp_path, clock, glob="app.log*", positions_file=pos)
    write_lines(log, lines(0, 10))
    exporter.poll_once()
    shutil.copy(log, tmp_path / "app.log.1")
    exporter.poll_once()
    exporter.save_positions()
    exporter.close()
    os.unlink(log)
    again, _ = follow(tmp_path, clock, glob="app.log*", positions_file=pos)
    again.poll_once()
    again.poll_once()
    assert count(again) == 0
    write_lines(tmp_path / "app.log.1", lines(10, 1))  # it is followed again from its end
    again.poll_once()
    assert count(again) == 1
