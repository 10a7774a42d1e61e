"""Fixtures for the monitoring-bundle tests (helpers live in bundle_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# bundle_helpers beside this file, and tests/testkit.py above it.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bundle_helpers import need


@pytest.fixture(scope="session")
def promtool() -> str:
    return need("promtool", "prometheus")


@pytest.fixture(scope="session")
def amtool() -> str:
    return need("amtool", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def docker_compose() -> str:
    return need("docker-compose", "docker-compose")
