"""Alertmanager config, routing and notification templates."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bundle_helpers import ROOT, load_yaml, need, run

CONFIG = "alertmanager/alertmanager.yml"


def test_amtool_check_config(amtool):
    res = run(amtool, "check-config", CONFIG)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "SUCCESS" in out and "4 receivers" in out and "2 inhibit rules" in out and "1 templates" in out


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=LLMSlowResponses", "severity=critical", "gen_ai_request_model=o3-mini"], "critical"),
        (["alertname=LLMSlowResponses", "severity=warning", "gen_ai_request_model=o3-mini"], "warning"),
        (["alertname=LLMExporterDown", "severity=critical"], "critical"),
        (["alertname=LLMUnpricedCompletions", "severity=warning"], "warning"),
        (["alertname=Watchdog", "severity=none"], "heartbeat"),
        (["alertname=Something"], "default"),
    ],
)
def test_routes(amtool, labels, receiver):
    res = run(amtool, "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receiver}", *labels)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == receiver


def test_routes_detect_a_wrong_receiver(amtool):
    res = run(
        amtool, "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=warning", "severity=critical"
    )
    assert res.returncode != 0


def test_grouping_inhibition_and_receivers():
    cfg = load_yaml(CONFIG)
    assert cfg["route"]["group_by"] == ["alertname", "gen_ai_request_model"]
    assert cfg["inhibit_rules"] == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": [
                "alertname",
                "job",
                "instance",
                "source",
                "gen_ai_operation_name",
                "gen_ai_provider_name",
                "gen_ai_request_model",
                "resource",
            ],
        },
        {
            "source_matchers": ['alertname="LLMExporterDown"'],
            "target_matchers": ['alertname!="LLMExporterDown"', 'component=~"exporter|llm"'],
            "equal": ["job", "instance"],
        },
    ]
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert set(receivers) == {"heartbeat", "default", "warning", "critical"}
    assert "discord_configs" in receivers["critical"]
    assert receivers["heartbeat"]["webhook_configs"] == [
        {"url": "http://heartbeat.invalid/ping", "send_resolved": False}
    ]
    for name in ("default", "warning", "critical"):
        r = receivers[name]
        assert r["webhook_configs"][0]["url"] == "http://alert-webhook.invalid/alerts"
        for slack in r.get("slack_configs", []):
            assert "api_url" not in slack and slack["api_url_file"].startswith("/etc/alertmanager/secrets/")


def test_templates_render(amtool):
    res = run(
        amtool,
        "template",
        "render",
        "--template.glob=alertmanager/templates/*.tmpl",
        '--template.text={{ template "llm.slack.title" . }}|{{ template "llm.discord.message" . }}'
        '|{{ template "llm.slack.color" . }}',
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("[") and res.stdout.rstrip().endswith("|good")


def test_entrypoint_substitutes_urls(amtool, tmp_path):
    sh = need("sh", "dash")
    env = dict(
        os.environ,
        ALERTMANAGER_CONFIG_TEMPLATE=str(ROOT / CONFIG),
        ALERTMANAGER_CONFIG_DIR=str(tmp_path / "am"),
        ALERTMANAGER_BIN=shutil.which("echo") or "/bin/echo",
        ALERT_WEBHOOK_URL="http://hook:9095/alerts?a=1&b=2",
        DISCORD_WEBHOOK_URL_FILE=str(tmp_path / "discord"),
        HEARTBEAT_URL="http://deadman:9096/ping",
    )
    (tmp_path / "discord").write_text("https://discord.example/api/webhooks/1/x|y\n")
    res = run(sh, str(ROOT / "alertmanager" / "entrypoint.sh"), "--storage.path=/x", env=env)
    assert res.returncode == 0, res.stderr
    rendered = tmp_path / "am" / "alertmanager.yml"
    assert res.stdout.strip() == f"--config.file={rendered} --storage.path=/x"
    text = rendered.read_text()
    assert text.count("url: http://hook:9095/alerts?a=1&b=2") == 3
    assert "webhook_url: https://discord.example/api/webhooks/1/x|y" in text
    assert "url: http://deadman:9096/ping" in text
    assert ".invalid" not in text.split("receivers:")[1]
    check = run(amtool, "check-config", str(rendered))
    assert check.returncode == 0, check.stdout + check.stderr
