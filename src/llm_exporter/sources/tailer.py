"""Following the files of one source: steppable with `poll_once()`, no threads, no sleeps.

A file is known by (device, inode) and a fingerprint of its first bytes, not by its path:
- a path whose file changed identity was rotated (renamed, replaced or a symlink switched):
  the old file keeps being read through its open descriptor until `rotate_wait` has passed
  with nothing new in it, and the new one is read from offset 0;
- a file whose size fell below the read offset, or whose first bytes changed, was truncated
  (copytruncate) or recreated with a recycled inode: it is read again from offset 0;
- a file that matches the glob under a new name (`app.log.1`) is the same file: never read twice;
- a new file whose head equals a followed file's head is a copy (copytruncate's rotated file):
  it stays dormant while the original lives, and when the original is truncated or closed the
  copy takes over from where the original stopped, so the lines the original never got to are
  read once, from the copy. Copying that is still under way cannot cause double counting.
Lines are handed to the pipeline whole; a partial last line waits for its newline, and a line
longer than `max_line` is skipped to its end and counted, so memory stays bounded.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable

from llm_exporter.config import SourceConfig
from llm_exporter.metrics.health import SourceHealth
from llm_exporter.sources.positions import Position

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes per read
FINGERPRINT = 1024  # bytes of a file's head that identify it besides its inode
MIN_COPY_MATCH = 256  # head bytes (or the whole first line, if shorter) a file and its copy share
MAX_REMEMBERED = 1000  # closed files whose offsets are kept, should they match the glob again


class _File:
    __slots__ = (
        "copy_of",
        "dev",
        "fd",
        "fingerprint",
        "fresh",
        "ino",
        "offset",
        "partial",
        "path",
        "previous",
        "quiet_since",
        "rotated",
        "size",
        "skip_from",
    )

    def __init__(self, path: str, fd: int, dev: int, ino: int, offset: int, fingerprint: bytes) -> None:
        self.path = path
        self.fd = fd
        self.dev = dev
        self.ino = ino
        self.offset = offset  # bytes read so far (including `partial`)
        self.partial = bytearray()  # the unfinished last line
        self.skip_from: int | None = None  # offset where a too-long line began, while skipping it
        self.fingerprint = fingerprint
        self.size = 0
        self.rotated = False  # its path now names another file (or none)
        self.quiet_since: float | None = None  # when a rotated file last had nothing new
        self.copy_of: tuple[int, int] | None = None  # the followed file this one is a copy of
        self.fresh = False  # new, not yet told apart from a copy (needs its first line)
        # (fingerprint, offset, partial, skip_from) before the last truncation, for late copies
        self.previous: tuple[bytes, int, bytearray, int | None] | None = None

    @property
    def committed(self) -> int:
        """Offset of the first byte not yet handed on as part of a whole line."""
        return self.skip_from if self.skip_from is not None else self.offset - len(self.partial)


class Tailer:
    def __init__(
        self,
        source: SourceConfig,
        on_lines: Callable[[list[bytes]], None],
        reject: Callable[[str, str], None],
        health: SourceHealth,
        max_line: int,
        rotate_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        positions: Iterable[Position] = (),
        initial: bool = True,
    ) -> None:
        self.source = source
        self.on_lines = on_lines
        self.reject = reject
        self.health = health
        self.max_line = max_line
        self.rotate_wait = rotate_wait
        self.clock = clock
        self.files: dict[tuple[int, int], _File] = {}  # by (dev, ino)
        self.by_path: dict[str, tuple[int, int]] = {}
        self._failing: dict[str, str] = {}  # path -> reason, counted once until it recovers
        self._saved = {(p.dev, p.ino): p for p in positions if p.source == source.name}
        # start_at: end applies to the files found by the exporter's first scan only.
        self._first_scan = initial

    # -- public -----------------------------------------------------------------------------

    def poll_once(self, rescan: bool = True) -> int:
        """Scan the glob (when `rescan`), read every file to its end; returns bytes read."""
        if rescan:
            self._scan()
        read = 0
        for key, f in list(self.files.items()):
            if f.copy_of is not None:
                continue  # dormant until its original is truncated or closed
            try:
                read += self._read(f)
            except OSError as exc:  # an I/O error on one file: counted, retried next poll
                self._fail(f.path, exc)
            if f.rotated:
                self._maybe_close(key, f)
        self.health.files_open = len(self.files)
        self.health.lag_bytes = sum(max(f.size - f.offset, 0) for f in self.files.values())
        return read

    def positions(self) -> list[Position]:
        """Offsets of every open file, rotated ones included: a restart finishes those first."""
        return [
            Position(self.source.name, f.path, f.dev, f.ino, f.committed, f.fingerprint, f.copy_of)
            for f in self.files.values()
        ]

    def close(self) -> None:
        for f in self.files.values():
            os.close(f.fd)
        self.files.clear()
        self.by_path.clear()
        self.health.files_open = 0

    # -- scanning -----------------------------------------------------------------------------

    def _matches(self) -> list[str]:
        paths = glob.glob(self.source.path)
        excluded = self.source.exclude
        return sorted(p for p in paths if not any(fnmatch.fnmatch(os.path.basename(p), x) for x in excluded))

    def _scan(self) -> None:
        seen: set[tuple[int, int]] = set()
        new: list[tuple[int, str, tuple[int, int]]] = []
        for path in self._matches():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._fail(path, exc)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            key = (st.st_dev, st.st_ino)
            seen.add(key)
            known = self.files.get(key)
            if known is not None:
                if known.path != path:  # renamed, and the new name matches too: keep following
                    if self.by_path.get(known.path) == key:
                        del self.by_path[known.path]
                    known.path = path
                    known.rotated = False
                self.by_path[path] = key
                continue
            previous = self.by_path.get(path)
            if previous is not None and previous in self.files:
                self._mark_rotated(self.files[previous])
            new.append((st.st_mtime_ns, path, key))
        # Files are read in the order they were opened: oldest first, so that when a log rotated
        # several times between two scans, a request is read before the response that follows it.
        for _, path, key in sorted(new):
            self._open(path, key)
        for key, f in self.files.items():
            if key not in seen and not f.rotated:  # deleted, or renamed out of the glob
                self._mark_rotated(f)
        if self._first_scan:
            self._recover_rotated()
            self._wake_orphaned_copies()
        self._first_scan = False

    def _wake_orphaned_copies(self) -> None:
        """Copies saved dormant whose original is gone by now: they go on from where the
        original was saved, or from their end when that is unknown."""
        for f in self.files.values():
            if f.copy_of is not None and f.copy_of not in self.files:
                original = self._saved.pop(f.copy_of, None)
                size = os.fstat(f.fd).st_size
                f.copy_of = None
                if original is not None:
                    self._continue(f, original.offset, bytearray(), None, size)
                else:
                    self._continue(f, size, bytearray(), None, size)

    def _recover_rotated(self) -> None:
        """Files rotated out of the glob while the exporter was down: found by inode beside the
        path they had, finished from their saved offset, then closed like any rotated file."""
        for key, saved in list(self._saved.items()):
            if key in self.files:
                continue
            directory = os.path.dirname(saved.path) or "."
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) == key and stat.S_ISREG(st.st_mode):
                    f = self._open(entry.path, key)
                    if f is not None:
                        self.by_path.pop(entry.path, None)
                        f.rotated = True
                        self.health.rotations += 1
                    break

    def _mark_rotated(self, f: _File) -> None:
        f.rotated = True
        f.quiet_since = None
        if self.by_path.get(f.path) == (f.dev, f.ino):
            del self.by_path[f.path]
        self.health.rotations += 1

    def _open(self, path: str, key: tuple[int, int]) -> _File | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            self._fail(path, exc)
            return None
        self._failing.pop(path, None)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != key:  # replaced between stat and open: next scan sees it
            os.close(fd)
            return None
        head = os.pread(fd, FINGERPRINT, 0)
        f = _File(path, fd, key[0], key[1], 0, b"")
        saved = self._saved.get(key)
        if saved is not None and head.startswith(saved.fingerprint) and saved.offset <= st.st_size:
            del self._saved[key]
            f.offset = saved.offset
            f.copy_of = saved.copy_of
        elif self._first_scan and self.source.start_at == "end":
            f.offset = self._line_start_before(fd, st.st_size)
        else:
            f.fresh = True
        f.fingerprint = head[: f.offset]  # the head bytes already read; _read extends it
        self.files[key] = f
        self.by_path[path] = key
        if f.fresh:  # classify now, while the originals still have the heads they had
            self._classify(f, st.st_size)
        return f

    def _classify(self, f: _File, size: int) -> bool:
        """Decide, once its first line is there, whether a new file is a copy: of a followed
        file (then dormant) or of a file in the positions file since truncated (then resumed at
        its saved offset). False while there is too little to tell, or while it is dormant."""
        head = os.pread(f.fd, FINGERPRINT, 0)
        newline = head.find(b"\n")
        if newline < 0 and len(head) < MIN_COPY_MATCH:
            return False  # not even a whole first line: nothing to read yet either
        need = MIN_COPY_MATCH if newline < 0 else min(MIN_COPY_MATCH, newline + 1)
        f.fresh = False
        key = (f.dev, f.ino)
        for other_key, other in self.files.items():
            if other_key == key or other.copy_of is not None:
                continue
            if _same_head(head, other.fingerprint, need):
                f.copy_of = other_key
                return False
            if other.previous is not None and _same_head(head, other.previous[0], need):
                _, offset, partial, skip_from = other.previous  # its original was truncated already
                self._continue(f, offset, partial, skip_from, size)
                return True
        for saved_key, saved in self._saved.items():
            if _same_head(head, saved.fingerprint, need):  # copytruncate while the exporter was down
                del self._saved[saved_key]
                self._continue(f, saved.offset, bytearray(), None, size)
                break
        return True

    @staticmethod
    def _continue(copy: _File, offset: int, partial: bytearray, skip_from: int | None, size: int) -> None:
        """Go on reading a copy where its original stopped, or at its end if the original had
        read further than the copy holds. The copy gets its own unfinished line: it grows in place."""
        if offset <= size:
            copy.offset, copy.partial, copy.skip_from = offset, bytearray(partial), skip_from
        else:
            copy.offset, copy.partial, copy.skip_from = size, bytearray(), None
        copy.fingerprint = os.pread(copy.fd, min(copy.offset, FINGERPRINT), 0)

    def _hand_over(self, original: _File) -> None:
        """The original of dormant copies is truncated or closed: the copies go on from where it
        stopped, or from their end when it had read further than they hold."""
        key = (original.dev, original.ino)
        for copy in self.files.values():
            if copy.copy_of == key:
                copy.copy_of = None
                size = os.fstat(copy.fd).st_size
                self._continue(copy, original.offset, original.partial, original.skip_from, size)

    @staticmethod
    def _line_start_before(fd: int, size: int) -> int:
        """Where the last whole line ends, at or before `size` (start_at: end skips history but
        never starts in the middle of a line)."""
        pos = size
        while pos > 0:
            start = max(0, pos - CHUNK)
            block = os.pread(fd, pos - start, start)
            i = block.rfind(b"\n")
            if i >= 0:
                return start + i + 1
            pos = start
        return 0

    def _fail(self, path: str, exc: OSError) -> None:
        reason = {errno.EACCES: "permission_denied", errno.EPERM: "permission_denied", errno.ELOOP: "symlink_loop"}.get(
            exc.errno or 0, "io_error"
        )
        if self._failing.get(path) != reason:
            self._failing[path] = reason
            self.health.file_errors[reason] = self.health.file_errors.get(reason, 0) + 1
            log.warning("source %s: cannot open a matching file (%s); will retry", self.source.name, reason)

    # -- reading ------------------------------------------------------------------------------

    def _reset(self, f: _File) -> None:
        self._hand_over(f)
        f.previous = (f.fingerprint, f.offset, f.partial, f.skip_from)
        f.offset = 0
        f.partial = bytearray()
        f.skip_from = None
        f.fingerprint = b""
        self.health.truncations += 1

    def _read(self, f: _File) -> int:
        try:
            size = os.fstat(f.fd).st_size
        except OSError:
            return 0
        if f.fresh and not self._classify(f, size):
            return 0
        if size < f.offset:
            self._reset(f)
        elif f.fingerprint and os.pread(f.fd, len(f.fingerprint), 0) != f.fingerprint:
            self._reset(f)  # truncated and regrown past the old offset between two polls
        f.size = size
        total = 0
        while f.offset < size:
            chunk = os.pread(f.fd, min(CHUNK, size - f.offset), f.offset)
            if not chunk:
                break
            if len(f.fingerprint) < FINGERPRINT and f.offset < FINGERPRINT:
                f.fingerprint = (f.fingerprint + chunk)[:FINGERPRINT]
            self._split(f, chunk)
            f.offset += len(chunk)
            total += len(chunk)
        if total:
            self.health.bytes += total
            f.quiet_since = None
        elif f.quiet_since is None:
            f.quiet_since = self.clock()
        return total

    def _split(self, f: _File, chunk: bytes) -> None:
        """Hand on the lines `chunk` ends. Only the new bytes are searched for newlines and the
        unfinished line grows in place, so a line arriving in many small pieces costs time linear
        in its size; a line past `max_line` is dropped as it arrives, only its start is kept."""
        max_line = self.max_line
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if lines:
            if f.skip_from is not None:  # the end of the over-long line
                del lines[0]
                f.skip_from = None
            elif f.partial:
                f.partial += lines[0]
                lines[0] = bytes(f.partial)
            f.partial = bytearray()
            if any(len(line) > max_line for line in lines):
                kept = [line for line in lines if len(line) <= max_line]
                for _ in range(len(lines) - len(kept)):
                    self._too_long()
                lines = kept
            self.on_lines(lines)
        if f.skip_from is not None:
            return  # still inside the over-long line
        if len(f.partial) + len(rest) > max_line:  # dropped before it grows past the limit
            self._too_long()
            f.skip_from = f.offset + len(chunk) - len(rest) - len(f.partial)
            f.partial = bytearray()
        else:
            f.partial += rest

    def _too_long(self) -> None:
        self.health.lines += 1
        self.reject("too_long", f"a line over {self.max_line} bytes")

    def _maybe_close(self, key: tuple[int, int], f: _File) -> None:
        if f.quiet_since is not None and self.clock() - f.quiet_since >= self.rotate_wait:
            self._hand_over(f)
            os.close(f.fd)
            del self.files[key]
            # Should it match the glob again (renamed back), it resumes here rather than at 0.
            self._saved[key] = Position(self.source.name, f.path, f.dev, f.ino, f.committed, f.fingerprint)
            while len(self._saved) > MAX_REMEMBERED:
                del self._saved[next(iter(self._saved))]


def _same_head(head: bytes, fingerprint: bytes, need: int) -> bool:
    """Two files whose heads agree over `need` bytes or more are one file and its copy."""
    common = min(len(head), len(fingerprint))
    return common >= need and head[:common] == fingerprint[:common]
