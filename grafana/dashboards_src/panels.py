"""Panel building blocks: targets, thresholds, the panel types the dashboards use, rows and layout."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Json = dict[str, Any]

DS = {"type": "prometheus", "uid": "${datasource}"}
# The trace backend, by the uid grafana/provisioning/datasources/datasources.yml gives it.
TEMPO_DS = {"type": "tempo", "uid": "tempo"}


def target(
    expr: str,
    legend: str = "",
    ref: str = "A",
    instant: bool = False,
    fmt: str = "time_series",
    interval: str = "",
    exemplar: bool = False,
) -> Json:
    """`exemplar`: Grafana also asks for the series' exemplars and marks them, each a link to its trace."""
    t = {
        "refId": ref,
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "format": fmt,
    }
    if interval:
        t["interval"] = interval
    if exemplar:
        t["exemplar"] = True
    return t


def targets(*specs: tuple[str, str], **kw: Any) -> list[Json]:
    """specs: (expr, legend) tuples -> targets with refIds A, B, C, ..."""
    return [target(e, legend, ref=chr(ord("A") + i), **kw) for i, (e, legend) in enumerate(specs)]


def thresholds(*steps: tuple[float | None, str]) -> Json:
    """steps: (value, color); the first value is the base (None)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


GREEN = thresholds((None, "green"))


def _field_defaults(
    unit: str,
    thr: Json | None,
    decimals: int | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    custom: Json | None = None,
) -> Json:
    d = {"unit": unit, "thresholds": thr or GREEN, "color": {"mode": "palette-classic"}, "mappings": []}
    if decimals is not None:
        d["decimals"] = decimals
    if vmin is not None:
        d["min"] = vmin
    if vmax is not None:
        d["max"] = vmax
    if custom is not None:
        d["custom"] = custom
    return d


def timeseries(
    title: str,
    tgts: list[Json],
    unit: str = "short",
    thr: Json | None = None,
    desc: str = "",
    stack: bool = False,
    bars: bool = False,
    decimals: int | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    threshold_line: bool = False,
    calcs: Iterable[str] = ("mean", "max", "lastNotNull"),
    interval: str = "",
    time_from: str = "",
) -> Json:
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 80 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "axisSoftMin": 0,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "line+area" if threshold_line else "off"},
    }
    p = {
        "type": "timeseries",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": _field_defaults(unit, thr, decimals, vmin, vmax, custom), "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "showLegend": True, "calcs": list(calcs)},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }
    if interval:
        p["interval"] = interval
    if time_from:
        p["timeFrom"] = time_from
    return p


def stat(
    title: str,
    tgts: list[Json],
    unit: str = "short",
    thr: Json | None = None,
    desc: str = "",
    decimals: int | None = None,
    color_mode: str = "value",
    graph: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
    no_value: str | None = None,
    mappings: list[Json] | None = None,
) -> Json:
    defaults = _field_defaults(unit, thr, decimals, vmin, vmax)
    if no_value is not None:
        defaults["noValue"] = no_value
    if mappings is not None:
        defaults["mappings"] = mappings
    return {
        "type": "stat",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": color_mode,
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
            "wideLayout": True,
            "showPercentChange": False,
        },
    }


def bargauge(
    title: str,
    tgts: list[Json],
    unit: str = "short",
    thr: Json | None = None,
    desc: str = "",
    decimals: int | None = None,
) -> Json:
    return {
        "type": "bargauge",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": _field_defaults(unit, thr, decimals, vmin=0), "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "auto",
            "sizing": "auto",
        },
    }


def piechart(title: str, tgts: list[Json], unit: str = "short", desc: str = "") -> Json:
    return {
        "type": "piechart",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {"defaults": _field_defaults(unit, None), "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "pieType": "donut",
            "legend": {
                "displayMode": "table",
                "placement": "right",
                "showLegend": True,
                "values": ["value", "percent"],
            },
            "tooltip": {"mode": "single", "sort": "none"},
        },
    }


def table(
    title: str,
    tgts: list[Json],
    desc: str = "",
    overrides: Iterable[Json] = (),
    rename: dict[str, str] | None = None,
    hide: Iterable[str] = ("Time", "job", "instance"),
    unit: str = "short",
    thr: Json | None = None,
) -> Json:
    """Instant queries merged on their labels into one row per label set."""
    for t in tgts:
        t["instant"] = True
        t["range"] = False
        t["format"] = "table"
    return {
        "type": "table",
        "title": title,
        "description": desc,
        "datasource": DS,
        "targets": tgts,
        "fieldConfig": {
            "defaults": _field_defaults(unit, thr, custom={"align": "auto", "cellOptions": {"type": "auto"}}),
            "overrides": list(overrides),
        },
        "options": {
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""},
        },
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {h: True for h in hide},
                    "renameByName": rename or {},
                    "indexByName": {},
                },
            },
        ],
    }


def col(
    name: str,
    unit: str,
    thr: Json | None = None,
    decimals: int | None = None,
    color_cells: bool = False,
    mappings: list[Json] | None = None,
) -> Json:
    """Table column override by field name."""
    props = [{"id": "unit", "value": unit}]
    if decimals is not None:
        props.append({"id": "decimals", "value": decimals})
    if thr is not None:
        props.append({"id": "thresholds", "value": thr})
    if color_cells:
        props.append({"id": "custom.cellOptions", "value": {"type": "color-background", "mode": "basic"}})
    if mappings is not None:
        props.append({"id": "mappings", "value": mappings})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def value_map(*entries: tuple[int, str, str | None]) -> list[Json]:
    """Value mappings: (value, text shown, colour or None)."""
    options = {
        str(value): {"text": text, "index": i, **({"color": color} if color else {})}
        for i, (value, text, color) in enumerate(entries)
    }
    return [{"type": "value", "options": options}]


def trace_table(
    title: str, query: str, limit: int, spans_per_trace: int, desc: str = "", overrides: Iterable[Json] = ()
) -> Json:
    """The spans a TraceQL search finds in the trace backend (Tempo, not Prometheus), newest first:
    up to spans_per_trace matching spans from each of the limit most recent traces."""
    return {
        "type": "table",
        "title": title,
        "description": desc,
        "datasource": TEMPO_DS,
        "targets": [
            {
                "refId": "A",
                "datasource": TEMPO_DS,
                "queryType": "traceql",
                "query": query,
                "limit": limit,
                "spss": spans_per_trace,
                "tableType": "spans",
                "filters": [],
            }
        ],
        "fieldConfig": {
            "defaults": _field_defaults("short", None, custom={"align": "auto", "cellOptions": {"type": "auto"}}),
            "overrides": list(overrides),
        },
        "options": {
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""},
            "sortBy": [{"displayName": "Start time", "desc": True}],
        },
    }


def annotation(name: str, expr: str, color: str, title: str, text: str, tags: Iterable[str], step: str) -> Json:
    """A Prometheus annotation query: a marker at each step where expr is non-zero (consecutive
    steps merge into one region), per series, its tooltip from the series' labels."""
    return {
        "name": name,
        "datasource": DS,
        "enable": True,
        "hide": False,
        "iconColor": color,
        "expr": expr,
        "step": step,
        "titleFormat": title,
        "textFormat": text,
        "tagKeys": ",".join(tags),
        "useValueForTime": False,
    }


def row(title: str) -> Json:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(items: Iterable[Json]) -> list[Json]:
    """items: panels (with "w"/"h" keys popped) and rows, laid out left to right."""
    x = y = 0
    row_h = 0
    out = []
    for pid, item in enumerate(items, start=1):
        item = dict(item)
        if item["type"] == "row":
            if x:
                y += row_h
            item["gridPos"] = {"x": 0, "y": y, "w": 24, "h": 1}
            y += 1
            x = row_h = 0
        else:
            w, h = item.pop("w"), item.pop("h")
            if x + w > 24:
                y += row_h
                x = row_h = 0
            item["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
            x += w
            row_h = max(row_h, h)
        item["id"] = pid
        out.append(item)
    return out


def sized(panel: Json, w: int, h: int) -> Json:
    panel["w"], panel["h"] = w, h
    return panel
