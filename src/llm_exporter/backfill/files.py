"""A source's history: the files live tailing follows and their rotated siblings (FILE.N,
FILE-DATE, compressed or not), and the compressed ones read through their decompressor."""

from __future__ import annotations

import bz2
import contextlib
import fnmatch
import gzip
import lzma
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from llm_exporter.config import SourceConfig
from llm_exporter.sources.tailer import glob_paths

OPENERS: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    ".gz": lambda raw: gzip.GzipFile(fileobj=raw),
    ".bz2": lambda raw: bz2.BZ2File(raw),
    ".xz": lambda raw: lzma.LZMAFile(raw),  # noqa: SIM115 (the reader opens it in a with)
}


@dataclass(frozen=True)
class HistoryFile:
    path: str
    dev: int
    ino: int
    size: int
    followed: bool  # live tailing follows it: the hand-over positions name it


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def history_files(source: SourceConfig) -> tuple[list[HistoryFile], list[str]]:
    """The files live tailing follows, and their rotated siblings (FILE.N, FILE-DATE, compressed or
    not); each file once. Also the paths left out: excluded by the config, or compressed in a way
    this cannot read."""
    live_excluded = source.exclude
    # The config's exclusions, less those that only keep live tailing off compressed files.
    excluded = [x for x in source.exclude if not any(_excluded(f"x{ext}", [x]) for ext in OPENERS)]
    followed = {p for p in glob_paths(source.path) if not _excluded(os.path.basename(p), live_excluded)}
    found: dict[tuple[int, int], HistoryFile] = {}
    skipped: list[str] = []
    for pattern in (source.path, source.path + ".*", source.path + "-*"):
        for path in sorted(glob_paths(pattern)):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in found:
                continue
            if _excluded(os.path.basename(path), excluded):
                skipped.append(path)
                continue
            found[(st.st_dev, st.st_ino)] = HistoryFile(
                path, st.st_dev, st.st_ino, st.st_size, path in followed and not is_compressed(path)
            )
    return list(found.values()), skipped


def is_compressed(path: str) -> bool:
    return os.path.splitext(path)[1] in OPENERS


def uncompressed(path: str, raw: IO[bytes]) -> contextlib.AbstractContextManager[IO[bytes]]:
    """`raw`, the open file at `path`, read through its decompressor where its name says it has one."""
    opener = OPENERS.get(os.path.splitext(path)[1])
    return opener(raw) if opener is not None else contextlib.nullcontext(raw)
