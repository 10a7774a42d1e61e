"""The one exposition writer: Prometheus text (0.0.4) and OpenMetrics 1.0 of metric families (the
collectors', and prometheus_client's process metrics, of the same shape), for /metrics, /probe and
replay, and the timestamped OpenMetrics samples backfill gives promtool.

The bytes are the ones prometheus_client's generate_latest() writes for the same families
(tests/test_render.py compares both). They are written here, not by prometheus_client, because
its writers cost 2 to 4 times as much a sample, have no way to format a series once for the
thousands of timestamped samples a backfill writes of it, and replay would import
prometheus_client (see llm_exporter.metrics.families). Names and label names are the exporter's
own or validated by the config, so they never need quoting or escaping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from llm_exporter.metrics.families import Family

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
EOF = "# EOF\n"  # OpenMetrics' last line

_NOT_FINITE = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


def number(value: float) -> str:
    """A sample value as Go formats it: Python's repr, except that positive numbers with 7 digits
    or more before the point get an exponent (1234567.0 -> 1.234567e+06)."""
    if type(value) is int and 0 <= value < 1_000_000:
        return f"{value}.0"  # what repr(float(value)) gives, without building it: most values are counts
    v = float(value)
    text = repr(v)
    point = text.find(".")
    if point < 0:  # not finite, or an exponent already (1e+16)
        return _NOT_FINITE.get(text, text)
    if v <= 0 or point <= 6:
        return text
    digits = text[:point] + text[point + 1 :]
    mantissa = f"{digits[0]}.{digits[1:]}".rstrip("0").rstrip(".")
    return f"{mantissa}e+{point - 1:02d}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def series(name: str, labels: Mapping[str, str]) -> str:
    """A series as a sample line begins: `name{a="1",b="2"}`, labels sorted, values escaped."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def sample(name: str, value: float) -> str:
    """A sample line without its timestamp or newline: `series(...)` and its value."""
    return f"{name} {number(value)}"


def text(families: Iterable[Family]) -> bytes:
    """Prometheus text format 0.0.4: a counter's family is named with `_total`, and `_created`
    samples (OpenMetrics' own) follow their family as a gauge of that name."""
    out: list[str] = []
    for family in families:
        name = f"{family.name}_total" if family.type == "counter" else family.name
        doc = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {family.type}\n")
        created_name = f"{family.name}_created"
        created = []
        for s in family.samples:
            line = sample(series(s.name, s.labels), s.value) + "\n"
            (created if s.name == created_name else out).append(line)
        if created:
            out.append(f"# HELP {created_name} {doc}\n# TYPE {created_name} gauge\n")
            out.extend(created)
    return "".join(out).encode("utf-8")


def openmetrics(families: Iterable[Family]) -> bytes:
    """OpenMetrics 1.0 text, exemplars included, ending with `# EOF`."""
    out: list[str] = []
    for family in families:
        name = family.name
        out.append(f"# HELP {name} {_escape(family.documentation)}\n# TYPE {name} {family.type}\n")
        if family.unit:
            out.append(f"# UNIT {name} {family.unit}\n")
        for s in family.samples:
            line = sample(series(s.name, s.labels), s.value)
            exemplar = s.exemplar
            if exemplar is not None:
                line += f" # {series('', exemplar.labels) or '{}'} {number(exemplar.value)}"
                if exemplar.timestamp is not None:
                    line += f" {exemplar.timestamp}"
            out.append(line + "\n")
    out.append(EOF)
    return "".join(out).encode("utf-8")


def timestamp(t: float) -> str:
    """An OpenMetrics sample timestamp: seconds, to the millisecond."""
    ms = round(t * 1000)
    return f"{ms // 1000}.{ms % 1000:03d}"


def at(t: float, samples: list[str]) -> str:
    """Sample lines of one moment (from `sample`), each with the moment's timestamp: the
    OpenMetrics promtool's backfill reads, which needs no metadata (end the file with EOF)."""
    if not samples:
        return ""
    stamp = f" {timestamp(t)}\n"
    return stamp.join(samples) + stamp
