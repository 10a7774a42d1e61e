"""deploy/remote-write/: the agent and central Prometheus configs pass promtool, and the central
one loads the shipped rules and alerts every Alertmanager of the pair."""

from __future__ import annotations

from bundle_helpers import ROOT, load_yaml, need, run

AGENT = "deploy/remote-write/agent.yml"
CENTRAL = "deploy/remote-write/central.yml"


def test_agent_config_is_valid_in_agent_mode() -> None:
    promtool = need("promtool", "prometheus")
    res = run(promtool, "check", "config", "--agent", AGENT)
    assert res.returncode == 0, res.stdout + res.stderr
    cfg = load_yaml(AGENT)
    assert "rule_files" not in cfg and "alerting" not in cfg  # agent mode runs neither
    assert [job["job_name"] for job in cfg["scrape_configs"]] == ["llm-exporter"]  # LLMExporterDown's job
    assert [r["url"] for r in cfg["remote_write"]] == ["http://central-prometheus:9090/api/v1/write"]


def test_central_config_loads_the_shipped_rules() -> None:
    promtool = need("promtool", "prometheus")
    res = run(promtool, "check", "config", CENTRAL)
    assert res.returncode == 0, res.stdout + res.stderr
    rule_files = sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
    assert f"SUCCESS: {len(rule_files)} rule files found" in res.stdout, res.stdout
    for path in rule_files:  # resolved from deploy/remote-write/ to the repository's rules
        assert f"Checking prometheus/rules/{path.name}" in res.stdout, res.stdout
    cfg = load_yaml(CENTRAL)
    assert "scrape_configs" not in cfg  # fed by remote write only
    (managers,) = cfg["alerting"]["alertmanagers"]
    assert managers["static_configs"][0]["targets"] == ["alertmanager:9093", "alertmanager-2:9093"]
