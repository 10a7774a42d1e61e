"""Read offsets saved across restarts: written to a temporary file, fsynced, renamed into place.

Beside them, each source's open sessions (pipeline.sessions), in the same write: the offsets and
the sessions the lines before them opened are always of one moment, so a restart neither begins
a session twice nor loses the cost its calls before the restart had.

An offset only ever covers whole lines. A file is known by device, inode and a fingerprint of
its first bytes, so a recycled inode or a replaced file is never resumed at a stale offset.
A missing or unreadable positions file means "no positions": each source starts where its
`start_at` says, and an unreadable one is counted in llm_exporter_positions_load_errors_total.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

VERSION = 1


@dataclass(frozen=True, slots=True)
class Position:
    source: str
    path: str
    dev: int
    ino: int
    offset: int
    fingerprint: bytes
    # A copytruncate copy still dormant: the (dev, ino) of the file it copies.
    copy_of: tuple[int, int] | None = None


# A source's open sessions as the positions file keeps them: source name -> entries (SavedSession).
SavedSessions = dict[str, list[Any]]


def load_state(path: str) -> tuple[list[Position], SavedSessions]:
    """The offsets and the open sessions saved. Raises ValueError (with a readable message) when
    the file exists but cannot be used."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return [], {}
    except OSError as exc:
        raise ValueError(f"cannot read positions file {path}: {exc.strerror}") from None
    try:
        doc = orjson.loads(raw)
        if doc.get("version") != VERSION:
            raise ValueError(f"unknown version {doc.get('version')!r}")
        # The offsets stand without the sessions: a section not of the expected shape is left out
        # (an entry that is not is counted where it is restored).
        found = doc.get("sessions")
        sessions = {k: v for k, v in found.items() if type(v) is list} if type(found) is dict else {}
        return [
            Position(
                source=str(e["source"]),
                path=str(e["path"]),
                dev=int(e["dev"]),
                ino=int(e["ino"]),
                offset=int(e["offset"]),
                fingerprint=bytes.fromhex(e["fingerprint"]),
                copy_of=(int(e["copy_of"][0]), int(e["copy_of"][1])) if e.get("copy_of") else None,
            )
            for e in doc["files"]
        ], sessions
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"positions file {path} is corrupt ({exc}); ignoring it") from None


def save_positions(path: str, positions: list[Position], sessions: SavedSessions | None = None) -> None:
    """Atomically replace the positions file (and the open sessions, where given); raises OSError
    on failure."""
    doc = {
        "version": VERSION,
        "files": [
            {
                "source": p.source,
                "path": p.path,
                "dev": p.dev,
                "ino": p.ino,
                "offset": p.offset,
                "fingerprint": p.fingerprint.hex(),
                **({"copy_of": list(p.copy_of)} if p.copy_of else {}),
            }
            for p in positions
        ],
    }
    if sessions:
        doc["sessions"] = sessions
    import tempfile  # (shutil, random: imported by the daemon that saves, not by replay)

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".positions-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
