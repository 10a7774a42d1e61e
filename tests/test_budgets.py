"""Budgets per owner (issue 25, point 2): the `budgets:` config, llm_budget_usd and
llm_budget_owner_info as the rules read them, and their reload."""

from __future__ import annotations

import signal
from pathlib import Path

import orjson
import pytest
import yaml

from llm_exporter.config import ConfigError, parse_config
from llm_exporter.exporter import Exporter
from testkit import FakeClock, Running, Samples, scrape, wait_for, write_lines

# LiteLLM proxy payloads carrying their owners where the proxy writes them (see the recipes in
# the README: end_user, metadata.user_api_key_team_alias).
OWNERS = {"team": "metadata.user_api_key_team_alias", "user": "end_user"}


def line(team: str | None, user: str | None, cost: float) -> bytes:
    payload: dict = {"model": "gpt-4o", "startTime": 1, "endTime": 2, "status": "success", "response_cost": cost}
    payload["metadata"] = {"user_api_key_team_alias": team}
    payload["end_user"] = user or ""
    return orjson.dumps(payload) + b"\n"


def source(path: Path) -> dict:
    return {"name": "proxy", "path": str(path), "format": "litellm", "labels": {"app": "proxy"}, "label_fields": OWNERS}


def budget_samples(samples: Samples) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {k: v for k, v in samples.items() if k[0].startswith("llm_budget")}


def series(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


BUDGETS = [
    {"match": {"team": "research"}, "monthly_usd": 100},
    {"match": {"team": "support"}, "monthly_usd": 50.5},
    {"match": {"team": "research", "user": "bob"}, "monthly_usd": 20},
]


@pytest.fixture
def proxy_log(tmp_path: Path) -> Path:
    log = tmp_path / "proxy.jsonl"
    write_lines(
        log,
        [line("research", "alice", 1.0), line("research", "bob", 2.0), line("support", None, 0.5), line(None, None, 9)],
    )
    return log


def test_budgets_and_the_owners_they_cover(proxy_log: Path) -> None:
    exporter = Exporter(parse_config({"sources": [source(proxy_log)], "budgets": BUDGETS}, "test"), clock=FakeClock())
    exporter.poll_once()
    assert budget_samples(scrape(exporter)) == {
        series("llm_budget_usd", budget="team=research", team="research"): 100,
        series("llm_budget_usd", budget="team=support", team="support"): 50.5,
        series("llm_budget_usd", budget="team=research,user=bob", team="research", user="bob"): 20,
        # every owner label set of the series (static labels and label_fields), once per budget covering it
        series("llm_budget_owner_info", budget="team=research", app="proxy", team="research", user="alice"): 1,
        series("llm_budget_owner_info", budget="team=research", app="proxy", team="research", user="bob"): 1,
        series("llm_budget_owner_info", budget="team=support", app="proxy", team="support"): 1,
        series("llm_budget_owner_info", budget="team=research,user=bob", app="proxy", team="research", user="bob"): 1,
    }


def test_no_budgets_no_budget_families(proxy_log: Path) -> None:
    """Without budgets the exposition is what it was: not even the families' HELP and TYPE."""
    from prometheus_client.exposition import generate_latest

    exporter = Exporter(parse_config({"sources": [source(proxy_log)]}, "test"), clock=FakeClock())
    exporter.poll_once()
    assert "llm_budget" not in generate_latest(exporter.registry(process=False)).decode()


def test_reload_changes_budgets(proxy_log: Path) -> None:
    exporter = Exporter(parse_config({"sources": [source(proxy_log)], "budgets": BUDGETS}, "test"), clock=FakeClock())
    exporter.poll_once()
    changed = [{"match": {"team": "research"}, "monthly_usd": 250}, {"match": {"app": "proxy"}, "monthly_usd": 1000}]
    exporter.reload(parse_config({"sources": [source(proxy_log)], "budgets": changed}, "test"))
    assert budget_samples(scrape(exporter)) == {
        series("llm_budget_usd", budget="team=research", team="research"): 250,
        series("llm_budget_usd", budget="app=proxy", app="proxy"): 1000,
        series("llm_budget_owner_info", budget="team=research", app="proxy", team="research", user="alice"): 1,
        series("llm_budget_owner_info", budget="team=research", app="proxy", team="research", user="bob"): 1,
        series("llm_budget_owner_info", budget="app=proxy", app="proxy", team="research", user="alice"): 1,
        series("llm_budget_owner_info", budget="app=proxy", app="proxy", team="research", user="bob"): 1,
        series("llm_budget_owner_info", budget="app=proxy", app="proxy", team="support"): 1,
        series("llm_budget_owner_info", budget="app=proxy", app="proxy"): 1,
    }


def test_sighup_reloads_budgets(tmp_path: Path, proxy_log: Path) -> None:
    """The real process: a budget changed in the file and SIGHUP change llm_budget_usd, no restart."""
    config = tmp_path / "exporter.yml"
    config.write_text(yaml.safe_dump({"sources": [source(proxy_log)], "budgets": BUDGETS[:1]}))
    running = Running(tmp_path, "--config", str(config))
    try:
        research = series("llm_budget_usd", budget="team=research", team="research")
        wait_for(lambda: budget_samples(running.scrape()).get(research) == 100)
        config.write_text(yaml.safe_dump({"sources": [source(proxy_log)], "budgets": [BUDGETS[1]]}))
        running.proc.send_signal(signal.SIGHUP)
        support = series("llm_budget_usd", budget="team=support", team="support")
        wait_for(lambda: support in budget_samples(running.scrape()))
        got = {k: v for k, v in budget_samples(running.scrape()).items() if k[0] == "llm_budget_usd"}
        assert got == {support: 50.5}
    finally:
        code, err = running.stop()
    assert code == 0, err


def _error(budgets: object, sources: list[dict] | None = None) -> str:
    raw = {"sources": sources or [source(Path("/nonexistent/proxy.jsonl"))], "budgets": budgets}
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, "cfg.yml", {})
    return str(exc.value)


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"match": {"team": "a"}, "monthly_usd": -5}, "budgets[0].monthly_usd: Input should be greater than 0"),
        ({"match": {"team": "a"}, "monthly_usd": 0}, "budgets[0].monthly_usd: Input should be greater than 0"),
        (
            {"match": {"team": "a"}, "monthly_usd": float("nan")},
            "budgets[0].monthly_usd: Input should be a finite number",
        ),
        (
            {"match": {"team": "a"}, "monthly_usd": float("inf")},
            "budgets[0].monthly_usd: Input should be a finite number",
        ),
        ({"match": {}, "monthly_usd": 5}, "budgets[0].match: Dictionary should have at least 1 item after validation"),
        ({"match": {"team": ""}, "monthly_usd": 5}, "budgets[0].match: Value error, 'team' needs a value"),
        (
            {"match": {"gen_ai_request_model": "gpt-4o"}, "monthly_usd": 5},
            "budgets[0].match: Value error, 'gen_ai_request_model' is a label the exporter sets itself",
        ),
        ({"match": {"team": "a"}}, "budgets[0].monthly_usd: Field required"),
        (
            {"match": {"team": "a"}, "monthly_usd": 5, "daily_usd": 1},
            "budgets[0].daily_usd: Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_budget_values(budget: dict, message: str) -> None:
    assert message in _error([budget]).splitlines()[1]


def test_budget_on_a_label_no_source_has() -> None:
    err = _error([{"match": {"tenant": "a"}, "monthly_usd": 5}])
    assert err.splitlines()[1] == (
        "  (top level): Value error, budgets[0].match: no source has the label 'tenant' in its labels or "
        "label_fields (they have: app, team, user)"
    )


def test_budget_on_labels_of_two_sources() -> None:
    sources = [
        {"name": "a", "path": "/nonexistent/a.log", "label_fields": {"team": "team"}},
        {"name": "b", "path": "/nonexistent/b.log", "labels": {"app": "b"}},
    ]
    err = _error(
        [{"match": {"team": "x"}, "monthly_usd": 5}, {"match": {"team": "x", "app": "b"}, "monthly_usd": 5}], sources
    )
    assert err.splitlines()[1] == (
        "  (top level): Value error, budgets[1].match: no single source has all of app, team, so no call can match"
    )


def test_the_same_match_twice() -> None:
    budgets = [
        {"match": {"team": "x", "user": "y"}, "monthly_usd": 5},
        {"match": {"user": "y", "team": "x"}, "monthly_usd": 7},
    ]
    assert _error(budgets).splitlines()[1] == (
        "  (top level): Value error, budgets[1].match: team=x,user=y is the match of budgets[0] already"
    )


def test_budget_is_a_reserved_label() -> None:
    """`budget` names a budget on llm_budget_usd and llm_budget_owner_info: no source may set it."""
    sources = [{"name": "a", "path": "/nonexistent/a.log", "labels": {"budget": "x"}}]
    with pytest.raises(ConfigError) as exc:
        parse_config({"sources": sources}, "cfg.yml", {})
    assert "sources[0].labels: Value error, 'budget' is a label the exporter sets itself" in str(exc.value)


def test_budgets_pushed_over_otlp_translate_to_their_names(proxy_log: Path) -> None:
    """llm.budget.usd, unit {USD}: the default OpenTelemetry -> Prometheus translation gives llm_budget_usd."""
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from fakes.otlp_receiver import OTLPReceiver, prometheus_name
    from llm_exporter.exposition.otlp import OTLPPusher, OTLPSettings

    exporter = Exporter(
        parse_config({"sources": [source(proxy_log)], "budgets": BUDGETS[:1]}, "test"), clock=FakeClock()
    )
    exporter.poll_once()
    with OTLPReceiver() as receiver:
        settings = OTLPSettings(protocol="http/protobuf", endpoint=receiver.http_endpoint + "/v1/metrics")
        pusher = OTLPPusher(exporter, settings)
        assert pusher.push()
        points = receiver.latest_points()
        pusher.close()
    pushed = sorted(
        (p.name, p.unit, prometheus_name(p), sorted(p.attributes.items()), p.value)
        for p in points
        if p.name.startswith(("llm.budget", "llm_budget"))
    )
    assert pushed == [
        ("llm.budget.usd", "{USD}", "llm_budget_usd", [("budget", "team=research"), ("team", "research")], 100),
        (
            "llm_budget_owner_info",
            "",
            "llm_budget_owner_info",
            [("app", "proxy"), ("budget", "team=research"), ("team", "research"), ("user", "alice")],
            1,
        ),
        (
            "llm_budget_owner_info",
            "",
            "llm_budget_owner_info",
            [("app", "proxy"), ("budget", "team=research"), ("team", "research"), ("user", "bob")],
            1,
        ),
    ]
