"""Grafana provisioning and dashboards."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bundle_helpers import (
    PROMETHEUS_DS,
    ROOT,
    dashboard_exprs,
    dashboards,
    known_metric,
    load_yaml,
    metric_names,
    panels,
    promql_for_prometheus,
    recording_names,
    run,
)

LLM_VARS = ["datasource", "job", "instance", "provider", "model"]


def test_dashboards_match_their_generator():
    res = run(sys.executable, "grafana/generate_dashboards.py", "--check")
    assert res.returncode == 0, res.stdout + res.stderr


def test_dashboard_set_and_variables():
    ds = dashboards()
    assert set(ds) == {
        "llm-overview.json",
        "llm-models.json",
        "llm-cost.json",
        "llm-decisions.json",
        "llm-exporter.json",
    }
    assert len({d["uid"] for d in ds.values()}) == 5
    names = {f: [v["name"] for v in d["templating"]["list"]] for f, d in ds.items()}
    for f in ("llm-overview.json", "llm-models.json", "llm-cost.json"):
        assert names[f] == LLM_VARS
    assert names["llm-decisions.json"] == [*LLM_VARS, "symbol"]
    assert names["llm-exporter.json"] == ["datasource", "job", "instance", "source"]
    for d in ds.values():
        for v in d["templating"]["list"][1:]:
            assert v["definition"].startswith("label_values(")
            assert v["includeAll"] and v["allValue"] == ".*"


def test_panels_have_datasource_unit_thresholds_and_queries():
    count = 0
    for name, d in dashboards().items():
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        for p in panels(d):
            count += 1
            defaults = p["fieldConfig"]["defaults"]
            assert defaults["unit"], (name, p["title"])
            assert defaults["thresholds"]["steps"], (name, p["title"])
            gp = p["gridPos"]
            assert gp["x"] + gp["w"] <= 24
            if p["datasource"]["type"] == "tempo":  # checked in test_recent_calls_come_from_tempo
                continue
            assert p["datasource"] == PROMETHEUS_DS, (name, p["title"])
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), (name, p["title"])
    assert count == 107


def test_recent_calls_come_from_tempo():
    """The one panel of another data source: a TraceQL search of the call spans in the Tempo data
    source the provisioning defines (it cannot be queried here: no Tempo binary)."""
    tempo = [(name, p) for name, d in dashboards().items() for p in panels(d) if p["datasource"] != PROMETHEUS_DS]
    ((name, panel),) = tempo
    assert (name, panel["title"], panel["type"]) == ("llm-overview.json", "Recent calls", "table")
    ds = {d["uid"]: d for d in load_yaml("grafana/provisioning/datasources/datasources.yml")["datasources"]}
    assert ds[panel["datasource"]["uid"]]["type"] == "tempo"
    ((target,),) = [panel["targets"]]
    assert target["datasource"] == panel["datasource"]
    assert target["queryType"] == "traceql" and target["tableType"] == "spans"
    assert target["query"].startswith('{ span.gen_ai.operation.name != "" } | select(')
    assert (target["limit"], target["spss"]) == (20, 5)


def test_decision_markers():
    """Overview and Decisions mark each step with decisions: one annotation query per action
    colour, together covering every action, tooltips with the symbol and validation result."""
    for name, variable_filters in (("llm-overview.json", set()), ("llm-decisions.json", {"symbol"})):
        builtin, *markers = dashboards()[name]["annotations"]["list"]
        assert builtin["builtIn"] == 1
        assert [a["name"] for a in markers] == [
            "Decisions: LONG",
            "Decisions: SHORT",
            "Decisions: CLOSE",
            "Decisions: HOLD and other actions",
        ]
        assert len({a["iconColor"] for a in markers}) == 4
        for a in markers:
            assert a["datasource"] == PROMETHEUS_DS and a["enable"] and not a["hide"]
            assert a["step"] == "1m"
            assert (a["titleFormat"], a["tagKeys"]) == ("{{action}} {{symbol}}", "action,symbol,validation_result")
            assert "{{validation_result}}" in a["textFormat"]
            assert a["expr"].startswith("sum by (action, symbol, validation_result, ")
            assert a["expr"].count("offset $__interval") == 2
            assert all(f'{v}=~"${v}"' in a["expr"] for v in variable_filters)
        # LONG, SHORT, CLOSE and their complement: each action has exactly one colour
        actions = [re.search(r'action(=~|!~)"\(\?i\)([^"]+)"', a["expr"]).groups() for a in markers]
        assert actions == [("=~", "long"), ("=~", "short"), ("=~", "close"), ("!~", "(long|short|close)")]


def test_panel_thresholds_match_alert_defaults():
    d = dashboards()["llm-overview.json"]
    by_title = {p["title"]: p for p in panels(d)}
    steps = by_title["p95 latency (5m, slowest model)"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1] == {"color": "red", "value": 30}
    steps = by_title["Success ratio (5m)"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1] == {"color": "green", "value": 0.9}
    steps = by_title["Cost last hour"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1] == {"color": "red", "value": 10}
    assert by_title["Cost last hour"]["fieldConfig"]["defaults"]["unit"] == "currencyUSD"


def test_dashboards_only_use_known_metrics():
    recorded = recording_names()
    used = set()
    for name, title, expr in dashboard_exprs():
        for metric in metric_names(expr):
            used.add(metric)
            assert known_metric(metric, recorded), f"{metric} in {name} / {title}"
    for d in dashboards().values():
        for v in d["templating"]["list"][1:]:
            metric = re.match(r"label_values\(([A-Za-z_:][A-Za-z0-9_:]*)", v["definition"]).group(1)
            assert known_metric(metric, recorded)
    # the dashboards reuse the recording rules rather than recomputing them
    assert len(used & recorded) >= 25


def test_dashboard_queries_are_valid_promql(promtool, tmp_path):
    exprs = sorted({promql_for_prometheus(e) for _, _, e in dashboard_exprs()})
    assert not [e for e in exprs if "$" in e]
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [{"record": f"dashboard:query:{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    res = run(promtool, "check", "rules", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in res.stdout


def test_provisioning():
    ds = {d["uid"]: d for d in load_yaml("grafana/provisioning/datasources/datasources.yml")["datasources"]}
    assert ds["prometheus"]["type"] == "prometheus" and ds["prometheus"]["url"] == "http://prometheus:9090"
    assert ds["prometheus"]["isDefault"] is True
    assert ds["alertmanager"]["type"] == "alertmanager"
    assert ds["alertmanager"]["url"] == "http://alertmanager:9093"
    assert ds["alertmanager"]["jsonData"]["implementation"] == "prometheus"
    assert ds["tempo"]["type"] == "tempo" and ds["tempo"]["url"] == "http://tempo:3200"
    exemplars = ds["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert exemplars == [{"name": "trace_id", "datasourceUid": "tempo"}]
    (provider,) = load_yaml("grafana/provisioning/dashboards/dashboards.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = load_yaml("docker-compose.yml")
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in compose["services"]["grafana"]["volumes"]
    assert (ROOT / "grafana" / "dashboards" / "llm-overview.json").exists()


def test_runbook_panels_exist():
    """Every panel the runbook names (*Dashboard* → "Panel", "Panel" and "Panel") is a panel of
    that dashboard, spelled as its title."""
    titles = {
        d["title"]: {p["title"] for p in d["panels"]} | {p["title"] for p in panels(d)} for d in dashboards().values()
    }
    named = 0
    for line in (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8").splitlines():
        for dashboard, rest in re.findall(r"\*(LLM / [^*]+)\* → ([^;]*)", line):
            assert dashboard in titles, f"no dashboard {dashboard!r}: {line}"
            for panel in re.findall(r'"([^"]+)"', rest):
                assert panel in titles[dashboard], f"no panel {panel!r} in {dashboard}: {line}"
                named += 1
    assert named == 30
