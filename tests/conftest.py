"""Fixtures every test gets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test its own XDG cache directory (and the processes it starts): prices one test's
    replay kept (pipeline/price_cache.py) would spare another its genai-prices lookups, and the
    user's own cache stays untouched."""
    path = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))
    yield path
