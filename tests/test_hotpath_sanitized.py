"""The C hot path built with AddressSanitizer and UndefinedBehaviorSanitizer, and the hot path's
tests run on that build: a read past a line, a buffer overflow or undefined behaviour on any line
they feed (written every way JSON allows, damaged byte by byte, mutated traffic) fails here.
Python's own allocator is off (PYTHONMALLOC=malloc) so that a read past a line's bytes object is
seen too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "src" / "llm_exporter" / "pipeline"


def _runtime(compiler: str, name: str) -> str | None:
    found = subprocess.run([compiler, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return found if os.path.isabs(found) and os.path.exists(found) else None


def test_hot_path_tests_pass_on_a_sanitized_build(tmp_path: Path) -> None:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): apt-get install gcc")
    runtimes = [_runtime(compiler, "libasan.so"), _runtime(compiler, "libubsan.so")]
    if None in runtimes:
        pytest.skip("the sanitizer runtimes are missing: apt-get install gcc (libasan, libubsan)")
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("*.so", "__pycache__", "*.egg-info"))
    built = src / "llm_exporter" / "pipeline" / f"_hotpath{sysconfig.get_config_var('EXT_SUFFIX')}"
    sources = [str(PIPELINE / "_hotpath.c"), str(PIPELINE / "_json.c")]
    flags = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    flags += ["-fno-omit-frame-pointer", "-ffp-contract=off", "-fPIC", "-shared"]
    compiled = subprocess.run(
        [compiler, *flags, f"-I{sysconfig.get_paths()['include']}", *sources, "-o", str(built)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert compiled.returncode == 0, compiled.stderr
    env = {
        **os.environ,
        "LD_PRELOAD": " ".join(runtimes),  # type: ignore[arg-type]
        # reports to files: pytest in the child holds its stderr when a sanitizer stops it
        "ASAN_OPTIONS": f"detect_leaks=0:halt_on_error=1:log_path={tmp_path / 'asan'}",
        "UBSAN_OPTIONS": f"halt_on_error=1:print_stacktrace=1:log_path={tmp_path / 'ubsan'}",
        "PYTHONMALLOC": "malloc",
        "PYTHONPATH": os.pathsep.join([str(src), str(ROOT / "tests")]),
    }
    env.pop("LLM_EXPORTER_PURE_PYTHON", None)
    probe = "import llm_exporter.pipeline._hotpath as h; print(h.__file__)"
    loaded = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip() == str(built), loaded.stdout + loaded.stderr
    tests = [str(ROOT / "tests" / name) for name in ("test_hotpath_reader.py", "test_hotpath.py", "test_reload.py")]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    reports = "".join(path.read_text()[:3000] for path in sorted(tmp_path.glob("*san.*")))
    assert run.returncode == 0 and not reports, reports + run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-1000:]
