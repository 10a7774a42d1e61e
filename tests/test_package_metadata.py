"""The license the package declares is in the repository, and the metadata says what it is."""

from __future__ import annotations

import re
import sys

import pytest

from testkit import ROOT


def test_license_file_and_metadata() -> None:
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")  # tomli: the test extra
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    classifiers = project["classifiers"]
    assert "License :: OSI Approved :: Apache Software License" in classifiers
    assert "Topic :: System :: Monitoring" in classifiers
    assert "Typing :: Typed" in classifiers
    minimum = project["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {minimum}" in classifiers


def test_readme_install_lines_need_no_package_index_and_make_a_virtualenv() -> None:
    """The package is on no index and Debian's python3 refuses pip outside a virtualenv: the README's
    two commands make one, and every line installing llm-exporter does so from a checkout or from the
    wheel `pip wheel --no-deps -w dist .` builds, under the version pyproject.toml declares."""
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    commands = [line for line in lines if ".venv/bin/pip install" in line]
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/llm-exporter --config examples/config.yml",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest",
    ]
    installs_ours = re.compile(r"(?<!\.venv/bin/)pip install .*llm[-_]exporter")
    ours = [line.split("#")[0].split() for line in lines if installs_ours.search(line)]
    assert ours == [
        ["pip", "install", "-e", "'/path/to/llm-exporter[openai]'"],
        ["pip", "install", f"'dist/llm_exporter-{version}-py3-none-any.whl[openai]'"],
    ]
