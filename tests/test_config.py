"""Config: validation with readable errors, environment overrides, check-config."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

import pytest

from llm_exporter import config as config_module
from llm_exporter.cli import main
from llm_exporter.config import ConfigError, load_config, parse_config, sources_config
from testkit import EXAMPLES, free_port


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources:\n  - {name: a, path: /x, format: xml}\n", "sources[0].format: Input should be 'auto'"),
        ("sources: []\n", "sources: List should have at least 1 item"),
        (
            "sources:\n  - {name: a, path: /x}\nthresholds: {min_success_ratio: 1.5}\n",
            "thresholds.min_success_ratio: Input should be less than or equal to 1",
        ),
        ("sources:\n  - {name: a, path: /x}\nlimits: {max_label_values: nope}\n", "limits.max_label_values"),
        ("sources:\n  - {name: a, path: /x, labels: {gen_ai_request_model: x}}\n", "sources[0].labels"),
        ("sources:\n  - {name: a, path: /x}\n  - {name: a, path: /y}\n", "source name 'a' is used twice"),
        ("sources:\n  - {name: a, path: /x, colour: red}\n", "sources[0].colour: Extra inputs are not permitted"),
        ("sources: [\n", "cfg.yml:2:1: invalid YAML"),
        ("- just a list\n", "the top level must be a mapping"),
    ],
)
def test_bad_config_names_file_key_and_problem(
    tmp_path: Path, text: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, text)
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert expected in err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "nope.yml")]) == 2
    assert "nope.yml: cannot read config" in capsys.readouterr().err


def test_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLES / "config.yml")]) == 0
    assert "ok (3 source(s): trading-bot, monitor-sdk, litellm-proxy)" in capsys.readouterr().out


def test_environment_overrides_single_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, path: /x}\nthresholds: {monthly_budget_usd: 100}\n")
    env = {
        "LLM_EXPORTER__THRESHOLDS__MONTHLY_BUDGET_USD": "800",
        "LLM_EXPORTER__SOURCES__0__PATH": "/logs/*.log",
        "LLM_EXPORTER__LIMITS__MAX_LABEL_VALUES": "42",
        "UNRELATED": "1",
    }
    config = load_config(path, env)
    assert config.thresholds.monthly_budget_usd == 800
    assert config.sources[0].path == "/logs/*.log"
    assert config.limits.max_label_values == 42
    with pytest.raises(ConfigError, match=r"thresholds\.min_success_ratio"):
        load_config(path, {"LLM_EXPORTER__THRESHOLDS__MIN_SUCCESS_RATIO": "2"})
    with pytest.raises(ConfigError, match="no list item '3'"):
        load_config(path, {"LLM_EXPORTER__SOURCES__3__PATH": "/y"})


def test_bad_config_stops_before_listening(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, path: /x, start_at: middle}\n")
    port = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "llm_exporter", "--config", str(path), "--web.listen-address", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "sources[0].start_at: Input should be 'beginning' or 'end'" in proc.stderr
    assert "listening" not in proc.stderr


def test_port_in_use_is_exit_code_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "llm_exporter",
                "--log-path",
                str(tmp_path / "*.log"),
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("notaurl", "'notaurl' is not an http:// or https:// URL"),
        ("otel-collector:4317", "'otel-collector:4317' is not an http:// or https:// URL"),
        ("grpc://otel-collector:4317", "'grpc://otel-collector:4317' is not an http:// or https:// URL"),
        ("http://", "'http://' is not an http:// or https:// URL"),
        ("http://otel-collector:99999", "'http://otel-collector:99999' has an invalid port"),
    ],
)
def test_check_config_rejects_otlp_endpoint_not_a_url(
    tmp_path: Path, endpoint: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f"sources:\n  - {{name: a, path: /x}}\notlp: {{endpoint: '{endpoint}'}}\n")
    assert main(["check-config", str(path)]) == 2
    assert f"  otlp.endpoint: Value error, {expected}" in capsys.readouterr().err


def test_otlp_endpoint_urls_accepted(tmp_path: Path) -> None:
    for endpoint in ("http://otel-collector:4317", "https://otlp.example.org/v1/metrics", "http://[::1]:4318"):
        path = write(tmp_path, f"sources:\n  - {{name: a, path: /x}}\notlp: {{endpoint: '{endpoint}'}}\n")
        assert load_config(path, {}).otlp.endpoint == endpoint


@pytest.mark.parametrize("field", ["metadata..team", ".team", "metadata.", ""])
def test_check_config_rejects_label_field_path_with_empty_name(
    tmp_path: Path, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f"sources:\n  - {{name: a, path: /x, label_fields: {{team: '{field}'}}}}\n")
    assert main(["check-config", str(path)]) == 2
    assert "sources[0].label_fields: Value error, 'team'" in capsys.readouterr().err


def test_env_var_error_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, path: /x}\n")
    env = {"LLM_EXPORTER__THRESHOLDS__MIN_SUCCESS_RATIO": "2", "LLM_EXPORTER__SOURCES__0__FORMAT": "xml"}
    with pytest.raises(ConfigError) as exc:
        load_config(path, env)
    assert str(exc.value).splitlines() == [
        f"{path}: invalid config",
        "  sources[0].format: Input should be 'auto', 'completion', 'event' or 'litellm'"
        " (set by LLM_EXPORTER__SOURCES__0__FORMAT)",
        "  thresholds.min_success_ratio: Input should be less than or equal to 1"
        " (set by LLM_EXPORTER__THRESHOLDS__MIN_SUCCESS_RATIO)",
    ]
    # A key the schema does not know, and a value that is not YAML.
    with pytest.raises(
        ConfigError, match=r"thresholds\.typo: Extra inputs .* \(set by LLM_EXPORTER__THRESHOLDS__TYPO\)"
    ):
        load_config(path, {"LLM_EXPORTER__THRESHOLDS__TYPO": "1"})
    with pytest.raises(ConfigError, match=r"^LLM_EXPORTER__LIMITS__MAX_LABEL_VALUES: not a YAML value: '\[1'$"):
        load_config(path, {"LLM_EXPORTER__LIMITS__MAX_LABEL_VALUES": "[1"})
    # An error in the file itself names no variable.
    bad = write(tmp_path, "sources:\n  - {name: a, path: /x, format: xml}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(bad, {"LLM_EXPORTER__THRESHOLDS__MIN_SUCCESS_RATIO": "0.5"})
    assert "set by" not in str(exc.value)


def _same(a: object, b: object) -> None:
    """The same value of the same types (1 == 1.0 is not enough), at every level."""
    assert type(a) is type(b)
    assert a == b
    if is_dataclass(a):
        for f in fields(a):
            _same(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, list):
        assert isinstance(b, list)
        for u, v in zip(a, b, strict=True):
            _same(u, v)
    elif isinstance(a, dict):
        assert isinstance(b, dict)
        for key in a:
            _same(a[key], b[key])


def _replay_source(name: str, path: str, fmt: str = "auto") -> dict[str, object]:
    return {"labels": {}, "name": name, "path": path, "start_at": "beginning", "format": fmt}


@pytest.mark.parametrize(
    "sources",
    [
        [_replay_source("replay", "/var/log/app.log", "completion")],
        [_replay_source("replay", "a [1].log"), _replay_source("replay-2", "b.log", "litellm")],
    ],
)
def test_sources_config_is_the_validated_config(
    sources: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replay's config without a config file skips validation; it must be the very Config that
    validation gives (replay's start-up, issue 11)."""
    with monkeypatch.context() as m:
        m.setattr(config_module, "parse_config", None)  # the fast way never validates
        fast = sources_config(copy.deepcopy(sources), "replay", environ={})
    validated = parse_config({"sources": copy.deepcopy(sources), "positions_file": None}, "replay", environ={})
    _same(fast, validated)
    assert asdict(fast) == asdict(validated)
    assert fast.thresholds.gauge_samples() == validated.thresholds.gauge_samples()


@pytest.mark.parametrize(
    ("sources", "environ", "expected"),
    [
        ([_replay_source("replay", "")], {}, "sources[0].path"),
        ([_replay_source("replay", "x", "xml")], {}, "sources[0].format"),
        ([_replay_source("a", "x"), _replay_source("a", "y")], {}, "source name 'a' is used twice"),
        ([_replay_source("replay", "x")], {"LLM_EXPORTER__LIMITS__MAX_SAMPLES": "0"}, "limits.max_samples"),
    ],
)
def test_sources_config_validates_what_it_cannot_vouch_for(
    sources: list[dict[str, object]], environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        sources_config(sources, "replay", environ=environ)


def test_sources_config_applies_environment_overrides() -> None:
    config = sources_config([_replay_source("replay", "x")], "replay", {"LLM_EXPORTER__LIMITS__MAX_SAMPLES": "7"})
    assert config.limits.max_samples == 7


def test_parsing_a_config_builds_every_validator_on_its_thread() -> None:
    """pydantic is imported, and the validators built, when a config is first validated (replay's
    start-up); parse_config builds them all, so that the daemon's /probe threads find them built."""
    code = (
        "import json, sys\n"
        "from llm_exporter import config\n"
        "before = [sorted(s.__name__ for s in config._validators), 'pydantic' in sys.modules]\n"
        "config.parse_config({'sources': [{'name': 'a', 'path': '/x'}]}, 'test', environ={})\n"
        "print(json.dumps([before, sorted(s.__name__ for s in config._validators)]))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    before, after = json.loads(run.stdout)
    assert before == [[], False]
    assert after == ["Config", "PriceOverride", "ProbeConfig"]


def test_threads_validating_first_together_all_get_valid_configs() -> None:
    """Threads that validate at once, none validated before: one builds, the others wait for it."""
    code = (
        "import threading\n"
        "from llm_exporter.config import ProbeConfig, validate\n"
        "start, got = threading.Barrier(8), []\n"
        "def probe(i):\n"
        "    start.wait()\n"
        "    got.append(validate(ProbeConfig, {'url': f'http://h{i}:1/v1', 'type': 'ollama'}))\n"
        "threads = [threading.Thread(target=probe, args=(i,)) for i in range(8)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "print(sorted(p.url for p in got if type(p) is ProbeConfig and p.type == 'ollama'))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == str(sorted(f"http://h{i}:1/v1" for i in range(8)))
