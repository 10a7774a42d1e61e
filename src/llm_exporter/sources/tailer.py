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
  A new file is a copy only while it is byte for byte a prefix of the followed file: one that
  merely starts with the same line is read as a file of its own once its content tells them apart;
- at most `OpenFiles.limit` descriptors stay open across all sources: the least recently active
  file is closed, and reopened by path when its size or mtime changes, provided the path still
  names the same (device, inode); one renamed out of the glob meanwhile is found by its inode;
- a glob whose directory cannot be listed (EMFILE, EACCES) leaves the followed files as they
  are: only a listing that succeeds can say a file is gone.
Lines are handed to the pipeline whole; a partial last line waits for its newline, and a line
longer than `max_line` is skipped to its end and counted, so memory stays bounded.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import logging
import os
import resource
import stat
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from llm_exporter.config import SourceConfig
from llm_exporter.sources.lines import split
from llm_exporter.sources.positions import Position
from llm_exporter.store.health import SourceHealth

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes per read
FINGERPRINT = 1024  # bytes of a file's head that identify it besides its inode
MIN_COPY_MATCH = 256  # head bytes (or the whole first line, if shorter) a file and its copy share
COPY_COMPARE = 64 * 1024  # head bytes compared to tell a copy from a file that starts alike
# Closed files whose offsets are kept, should they match the glob again: this many on top of the
# most files the glob ever matched, so a whole directory that comes back is resumed, not re-read.
MAX_REMEMBERED = 1000


class _File:
    __slots__ = (
        "copy_of",
        "dev",
        "fd",
        "fingerprint",
        "fresh",
        "ino",
        "mtime",
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
        self.fd = fd  # -1 while closed for being idle
        self.dev = dev
        self.ino = ino
        self.offset = offset  # bytes read so far (including `partial`)
        self.partial = bytearray()  # the unfinished last line
        self.skip_from: int | None = None  # offset where a too-long line began, while skipping it
        self.fingerprint = fingerprint
        self.size = 0
        self.mtime: int | None = None  # st_mtime_ns at the last read: a closed file changed if it differs
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

    def close_fd(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def default_max_open_files() -> int:
    """Half the descriptors the process may have: the rest serve HTTP clients, positions saves and
    the like."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 16 if soft == resource.RLIM_INFINITY else max(16, soft // 2)


class OpenFiles:
    """The descriptors of followed files, shared by every source: past `limit` the least recently
    active file is closed, to be reopened when it changes. Never closed: the file being read
    (`current`: reading it may open others) and dormant copies (few, and short-lived; their hand-over
    needs them where they are). Rotated files are not counted: their path no longer leads to
    them, so they keep their descriptor until rotate_wait closes them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.current: _File | None = None
        self._lru: OrderedDict[int, _File] = OrderedDict()

    def add(self, f: _File) -> None:
        self._lru[id(f)] = f
        self._lru.move_to_end(id(f))
        excess = len(self._lru) - self.limit
        idle: list[_File] = []
        for g in self._lru.values():  # oldest first; usually the first one will do
            if len(idle) >= excess:
                break
            if g is not self.current and g.copy_of is None:
                idle.append(g)
        for g in idle:
            del self._lru[id(g)]
            g.close_fd()

    def touch(self, f: _File) -> None:
        if id(f) in self._lru:
            self._lru.move_to_end(id(f))

    def discard(self, f: _File) -> None:
        self._lru.pop(id(f), None)


class Tailer:
    def __init__(
        self,
        source: SourceConfig,
        on_lines: Callable[[Iterable[bytes]], None],
        reject: Callable[[str, str], None],
        health: SourceHealth,
        max_line: int,
        rotate_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        positions: Iterable[Position] = (),
        initial: bool = True,
        open_files: OpenFiles | None = None,
    ) -> None:
        self.source = source
        self.on_lines = on_lines
        self.reject = reject
        self.health = health
        self.max_line = max_line
        self.rotate_wait = rotate_wait
        self.clock = clock
        self.open_files = open_files if open_files is not None else OpenFiles(default_max_open_files())
        self.files: dict[tuple[int, int], _File] = {}  # by (dev, ino)
        self.by_path: dict[str, tuple[int, int]] = {}
        self._failing: dict[str, str] = {}  # path -> reason, counted once until it recovers
        self._unlisted: set[str] = set()  # directories the last scan could not list
        self._saved = {(p.dev, p.ino): p for p in positions if p.source == source.name}
        self._peak = 0  # the most files the glob ever matched
        # start_at: end applies to the files found by the exporter's first scan only.
        self._first_scan = initial

    # -- public -----------------------------------------------------------------------------

    def poll_once(self, rescan: bool = True, budget: int | None = None) -> int:
        """Scan the glob (when `rescan`), then read every file to its end, or until `budget`
        bytes are read (the next call goes on from there); returns bytes read."""
        if rescan:
            self._scan()
        read = 0
        for key, f in list(self.files.items()):
            if budget is not None and read >= budget:
                break
            try:
                if f.copy_of is not None:
                    self._check_copy(f)
                if f.copy_of is not None:
                    continue  # dormant until its original is truncated or closed
                read += self._read(f, None if budget is None else budget - read)
            except OSError as exc:  # an I/O error on one file: counted, retried next poll
                self._fail(f.path, _reason(exc))
            if f.rotated:
                self._maybe_close(key, f)
        self.health.files_open = len(self.files)
        self.health.lag_bytes = sum(max(f.size - f.offset, 0) for f in self.files.values() if f.copy_of is None)
        return read

    def positions(self) -> list[Position]:
        """Offsets of every followed file, rotated ones included: a restart finishes those first."""
        return [
            Position(self.source.name, f.path, f.dev, f.ino, f.committed, f.fingerprint, f.copy_of)
            for f in self.files.values()
        ]

    def close(self) -> None:
        for f in self.files.values():
            self.open_files.discard(f)
            f.close_fd()
        self.files.clear()
        self.by_path.clear()
        self.health.files_open = 0

    # -- scanning -----------------------------------------------------------------------------

    def _matches(self, unlisted: dict[str, OSError]) -> list[str]:
        excluded = self.source.exclude
        paths = glob_paths(self.source.path, unlisted)
        return sorted(p for p in paths if not any(fnmatch.fnmatch(os.path.basename(p), x) for x in excluded))

    def _scan(self) -> None:
        root = _root(self.source.path)
        # Directories that could not be listed (EMFILE, EACCES, a symlink loop): no file below
        # them can be said to be gone, and the glob's other directories are scanned as usual.
        unlisted: dict[str, OSError] = {}
        paths = self._matches(unlisted)
        for directory in self._unlisted - unlisted.keys():
            self._failing.pop(directory, None)
        for directory, exc in unlisted.items():
            self._fail(directory, _reason(exc), "cannot list")
        self._unlisted = set(unlisted)
        if root not in unlisted:
            self._check_root(root)
        seen: set[tuple[int, int]] = set()
        if unlisted:  # most scans list every directory: nothing to keep unseen
            seen = {key for key, f in self.files.items() if not f.rotated and _below(f.path, unlisted)}
        new: list[tuple[int, str, tuple[int, int]]] = []
        for path in paths:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._fail(path, _reason(exc))
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            key = (st.st_dev, st.st_ino)
            seen.add(key)
            known = self.files.get(key)
            if known is not None and known.fd < 0 and known.path != path and not self._has_head(known, path):
                self._drop(key, known)  # deleted while closed: its inode was given to this new file
                known = None
            if known is not None:
                if known.path != path:  # renamed, and the new name matches too: keep following
                    if self.by_path.get(known.path) == key:
                        del self.by_path[known.path]
                    known.path = path
                    if known.rotated and known.fd >= 0:  # renamed back into the glob
                        self.open_files.add(known)
                    known.rotated = False
                self.by_path[path] = key
                continue
            previous = self.by_path.get(path)
            if previous is not None and previous in self.files:
                self._mark_rotated(self.files[previous])
            new.append((st.st_mtime_ns, path, key))
        self.health.source_files = len(seen)
        self._peak = max(self._peak, len(seen))
        # Files are read in the order they were opened: oldest first, so that when a log rotated
        # several times between two scans, a request is read before the response that follows it.
        for _, path, key in sorted(new):
            self._open(path, key)
        for key, f in self.files.items():
            if key not in seen and not f.rotated:  # deleted, or renamed out of the glob
                self._mark_rotated(f)
        self._find_closed_rotated()
        if self._first_scan:
            self._recover_rotated()
            self._wake_orphaned_copies()
        self._first_scan = False

    def _has_head(self, f: _File, path: str) -> bool:
        """Whether the file at `path` starts with the bytes `f` started with (True if unreadable:
        never take a followed file for a new one on a guess)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return True
        try:
            return os.pread(fd, len(f.fingerprint), 0) == f.fingerprint
        finally:
            os.close(fd)

    def _drop(self, key: tuple[int, int], f: _File) -> None:
        self._hand_over(f)
        self.open_files.discard(f)
        f.close_fd()
        del self.files[key]
        if self.by_path.get(f.path) == key:
            del self.by_path[f.path]

    def _check_root(self, root: str) -> None:
        """A source whose directory does not exist is counted (once, until it appears)."""
        try:
            missing = not stat.S_ISDIR(os.stat(root).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            missing = True
        except OSError as exc:
            self._fail(root, _reason(exc), "cannot list")
            return
        if missing:
            # The daemon warns of a source without files, naming the directory: no second warning.
            self._fail(root, "missing_directory", "no such directory", logging.DEBUG)
        else:
            self._failing.pop(root, None)

    def _find_closed_rotated(self) -> None:
        """Files closed for being idle whose path now names another file (or none): found by inode
        beside their old path, and reopened to be finished like any rotated file. One that is
        nowhere was deleted: there is nothing left to read."""
        listings: dict[str, dict[tuple[int, int], str]] = {}
        for key, f in list(self.files.items()):
            if f.rotated and f.fd < 0:
                directory = os.path.dirname(f.path) or "."
                if directory not in listings:
                    listings[directory] = _by_inode(directory)
                path = listings[directory].get(key)
                if path is None or not self._reopen(f, path):
                    self._close(key, f)

    def _wake_orphaned_copies(self) -> None:
        """Copies saved dormant whose original is gone by now: they go on from where the
        original was saved, or from their end when that is unknown."""
        for f in self.files.values():
            if f.copy_of is not None and f.copy_of not in self.files:
                original = self._saved.pop(f.copy_of, None)
                size = self._size(f)
                if size is None:
                    continue
                f.copy_of = None
                if original is not None:
                    self._continue(f, original.offset, bytearray(), None, size)
                else:
                    self._continue(f, size, bytearray(), None, size)

    def _recover_rotated(self) -> None:
        """Files rotated out of the glob while the exporter was down: found by inode beside the
        path they had, finished from their saved offset, then closed like any rotated file."""
        listings: dict[str, dict[tuple[int, int], str]] = {}
        for key, saved in list(self._saved.items()):
            if key in self.files:
                continue
            directory = os.path.dirname(saved.path) or "."
            if directory not in listings:
                listings[directory] = _by_inode(directory)
            path = listings[directory].get(key)
            if path is not None:
                f = self._open(path, key)
                if f is not None:
                    self.by_path.pop(path, None)
                    f.rotated = True
                    self.open_files.discard(f)
                    self.health.rotations += 1

    def _mark_rotated(self, f: _File) -> None:
        f.rotated = True
        f.quiet_since = None
        self.open_files.discard(f)
        if self.by_path.get(f.path) == (f.dev, f.ino):
            del self.by_path[f.path]
        self.health.rotations += 1

    def _open(self, path: str, key: tuple[int, int]) -> _File | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            self._fail(path, _reason(exc))
            return None
        self._failing.pop(path, None)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != key:  # replaced between stat and open: next scan sees it
            os.close(fd)
            return None
        head = os.pread(fd, FINGERPRINT, 0)
        f = _File(path, fd, key[0], key[1], 0, b"")
        saved = self._saved.get(key)
        if saved is not None and not head.startswith(saved.fingerprint):
            saved = None  # new content on a recycled inode, or truncated while down: kept for its copy
        elif saved is not None:
            del self._saved[key]
        shrank = False
        if saved is not None and not 0 <= saved.offset <= st.st_size:
            self._impossible(saved.offset, st.st_size)
            shrank, saved = saved.offset > 0, None
        if saved is not None:
            f.offset = saved.offset
            f.copy_of = saved.copy_of
            f.size = st.st_size  # a dormant copy is checked again only when it grows
        elif shrank:
            pass  # read from 0, as after a truncation
        elif self._first_scan and self.source.start_at == "end":
            f.offset = self._line_start_before(fd, st.st_size)
        else:
            f.fresh = True
        f.fingerprint = head[: f.offset]  # the head bytes already read; _read extends it
        self.files[key] = f
        self.by_path[path] = key
        self.open_files.current = f
        self.open_files.add(f)
        if f.fresh:  # classify now, while the originals still have the heads they had
            self._classify(f, st.st_size)
        return f

    def _impossible(self, offset: int, size: int) -> None:
        """A saved offset no file could have: counted with the positions file's load errors."""
        self.health.positions_rejected += 1
        log.error(
            "source %s: saved offset %d is impossible for a file of %d bytes; reading it %s",
            self.source.name,
            offset,
            size,
            "from 0" if offset > 0 else f"from where start_at ({self.source.start_at}) says",
        )

    def _reopen(self, f: _File, path: str) -> bool:
        """Open `f` again at `path`, if that still is the same (device, inode)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            if not isinstance(exc, FileNotFoundError):
                self._fail(path, _reason(exc))
            return False
        self._failing.pop(path, None)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (f.dev, f.ino):
            os.close(fd)
            return False
        f.fd, f.path = fd, path
        if not f.rotated:
            self.open_files.add(f)
        return True

    def _reopen_if_changed(self, f: _File) -> bool:
        """A file closed for being idle is reopened when its size or mtime changed (a stat, no
        descriptor, tells); whether it was truncated meanwhile, _read sees from its head."""
        try:
            st = os.stat(f.path)
        except OSError:
            return False  # gone from its path: the next scan tells where
        if (st.st_dev, st.st_ino) != (f.dev, f.ino):
            return False
        if st.st_size == f.offset and st.st_mtime_ns == f.mtime:
            return False
        return self._reopen(f, f.path)

    def _size(self, f: _File) -> int | None:
        """The file's size, reopening it if it was closed; None when it cannot be reopened."""
        if f.fd < 0 and not self._reopen(f, f.path):
            return None
        return os.fstat(f.fd).st_size

    def _classify(self, f: _File, size: int) -> bool:
        """Decide, once its first line is there, whether a new file is a copy: of a followed
        file (then dormant) or of a file in the positions file since truncated (then resumed at
        its saved offset). False while there is too little to tell, or while it is dormant."""
        head = os.pread(f.fd, FINGERPRINT, 0)
        newline = head.find(b"\n")
        if newline < 0 and len(head) < MIN_COPY_MATCH:
            return False  # not even a whole first line: nothing to read yet either
        need = MIN_COPY_MATCH if newline < 0 else min(MIN_COPY_MATCH, newline + 1)
        key = (f.dev, f.ino)
        for other_key, other in self.files.items():
            if other_key == key or other.copy_of is not None:
                continue
            if _same_head(head, other.fingerprint, need):
                if len(head) < len(other.fingerprint):
                    return False  # so far a prefix of it: a copy under way, or a file starting alike
                if self._copies(f, size, other):
                    f.fresh = False
                    f.copy_of = other_key
                    f.size = size
                    return False
                continue  # starts like it, yet is a file of its own
            if other.previous is not None and _same_head(head, other.previous[0], need):
                _, offset, partial, skip_from = other.previous  # its original was truncated already
                f.fresh = False
                self._continue(f, offset, partial, skip_from, size)
                return True
        f.fresh = False
        for saved_key, saved in self._saved.items():
            if _same_head(head, saved.fingerprint, need):  # copytruncate while the exporter was down
                del self._saved[saved_key]
                self._continue(f, saved.offset, bytearray(), None, size)
                break
        return True

    def _copies(self, f: _File, size: int, original: _File) -> bool:
        """Whether `f`, whose head agrees with what was read of `original`, is a copy of it: its
        bytes are the original's and it holds no more of them. A difference says "not a copy"
        only while the original is intact: copytruncate empties the original on purpose."""
        original_size = self._size(original)
        if original_size is None:
            return True  # the original is out of reach: counting nothing twice comes first
        n = min(size, COPY_COMPARE)
        if size <= original_size and os.pread(f.fd, n, 0) == os.pread(original.fd, n, 0):
            return True
        intact = os.pread(original.fd, len(original.fingerprint), 0) == original.fingerprint
        return not (intact and os.fstat(original.fd).st_size >= original.offset)

    def _check_copy(self, f: _File) -> None:
        """A dormant copy that grows past its original, or away from it, never was one: it is
        read from 0 as a file of its own."""
        assert f.copy_of is not None
        original = self.files.get(f.copy_of)
        size = self._size(f)
        if original is None or size is None or size == f.size:
            return
        f.size = size
        if not self._copies(f, size, original):
            f.copy_of = None
            f.offset, f.partial, f.skip_from, f.fingerprint = 0, bytearray(), None, b""

    def _continue(self, copy: _File, offset: int, partial: bytearray, skip_from: int | None, size: int) -> None:
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
                size = self._size(copy)
                if size is not None:
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

    def _fail(
        self, path: str, reason: str, what: str = "cannot open a matching file", level: int = logging.WARNING
    ) -> None:
        if self._failing.get(path) != reason:
            self._failing[path] = reason
            self.health.file_errors[reason] = self.health.file_errors.get(reason, 0) + 1
            log.log(level, "source %s: %s (%s); will retry", self.source.name, what, reason)

    # -- reading ------------------------------------------------------------------------------

    def _reset(self, f: _File) -> None:
        self._hand_over(f)
        f.previous = (f.fingerprint, f.offset, f.partial, f.skip_from)
        f.offset = 0
        f.partial = bytearray()
        f.skip_from = None
        f.fingerprint = b""
        self.health.truncations += 1

    def _read(self, f: _File, limit: int | None = None) -> int:
        self.open_files.current = f
        reopened = f.fd < 0
        if reopened and not self._reopen_if_changed(f):
            return 0
        try:
            st = os.fstat(f.fd)
        except OSError:
            return 0
        size = st.st_size
        if not f.fresh and (
            size < f.offset  # truncated
            or (f.fingerprint and os.pread(f.fd, len(f.fingerprint), 0) != f.fingerprint)  # and regrown
        ):
            self._reset(f)
            # Closed meanwhile, it may as well be a new file on a recycled inode: maybe a copy.
            f.fresh = reopened
        if f.fresh and not self._classify(f, size):
            return 0
        f.size = size
        f.mtime = st.st_mtime_ns
        end = size if limit is None else min(size, f.offset + limit)
        total = 0
        while f.offset < end:
            chunk = os.pread(f.fd, min(CHUNK, end - f.offset), f.offset)
            if not chunk:
                break
            if len(f.fingerprint) < FINGERPRINT and f.offset < FINGERPRINT:
                f.fingerprint = (f.fingerprint + chunk)[:FINGERPRINT]
            split(f, chunk, f.offset, self.max_line, self._hand_on, self._too_long)
            f.offset += len(chunk)
            total += len(chunk)
        if total:
            self.health.bytes += total
            f.quiet_since = None
            self.open_files.touch(f)
        elif f.quiet_since is None:
            f.quiet_since = self.clock()
        return total

    def _hand_on(self, lines: Iterable[bytes], _start: int) -> None:
        self.on_lines(lines)

    def _too_long(self) -> None:
        self.health.lines += 1
        self.reject("too_long", f"a line over {self.max_line} bytes")

    def _maybe_close(self, key: tuple[int, int], f: _File) -> None:
        if f.quiet_since is not None and self.clock() - f.quiet_since >= self.rotate_wait:
            self._close(key, f)

    def _close(self, key: tuple[int, int], f: _File) -> None:
        """Stop following a file. Should it match the glob again (renamed back, its directory
        back), it resumes here rather than at 0."""
        self._drop(key, f)
        self._saved[key] = Position(self.source.name, f.path, f.dev, f.ino, f.committed, f.fingerprint)
        while len(self._saved) > MAX_REMEMBERED + self._peak:
            del self._saved[next(iter(self._saved))]


def _same_head(head: bytes, fingerprint: bytes, need: int) -> bool:
    """Two files whose heads agree over `need` bytes or more are one file and its copy."""
    common = min(len(head), len(fingerprint))
    return common >= need and head[:common] == fingerprint[:common]


def _reason(exc: OSError) -> str:
    return {errno.EACCES: "permission_denied", errno.EPERM: "permission_denied", errno.ELOOP: "symlink_loop"}.get(
        exc.errno or 0, "io_error"
    )


def _root(pattern: str) -> str:
    """The deepest directory of a glob with no wildcard in it."""
    directory = os.path.dirname(pattern)
    while glob.has_magic(directory):
        directory = os.path.dirname(directory)
    return directory or "."


def glob_paths(pattern: str, unlisted: dict[str, OSError] | None = None) -> list[str]:
    """What glob.glob(pattern) matches, except that a directory which exists but cannot be listed
    (glob hides EMFILE, EACCES and symlink loops) raises OSError instead of matching nothing; or,
    given `unlisted`, is noted there with its error and matches nothing while the others are
    listed as usual. A directory that does not exist matches nothing."""
    directory, name = os.path.split(pattern)
    if not glob.has_magic(pattern):
        return [pattern] if os.path.lexists(pattern) else []
    parents = glob_paths(directory, unlisted) if glob.has_magic(directory) else [directory]
    out: list[str] = []
    for parent in parents:
        if not glob.has_magic(name):
            path = os.path.join(parent, name)
            if os.path.lexists(path):
                out.append(path)
            continue
        try:
            with os.scandir(parent or os.curdir) as entries:
                names = [entry.name for entry in entries]
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            if unlisted is None:
                raise
            unlisted[parent or os.curdir] = exc
            continue
        hidden = name.startswith(".")  # like glob: `*` matches no dot file
        out.extend(os.path.join(parent, n) for n in fnmatch.filter(names, name) if hidden or not n.startswith("."))
    return out


def _below(path: str, directories: Iterable[str]) -> bool:
    """Whether `path` lies in or below one of `directories`."""
    path = os.path.abspath(path)
    return any(os.path.commonpath([path, d]) == d for d in map(os.path.abspath, directories))


def _by_inode(directory: str) -> dict[tuple[int, int], str]:
    """The regular files in `directory` by (device, inode); none when it cannot be listed."""
    found: dict[tuple[int, int], str] = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    found[(st.st_dev, st.st_ino)] = entry.path
    except OSError:
        pass
    return found
