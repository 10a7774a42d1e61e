"""The Prometheus text format (0.0.4) and OpenMetrics 1.0 of the collectors' families, for replay.

The bytes are the ones prometheus_client's generate_latest() writes for the same families
(tests/test_render.py compares both); replay uses these so as not to import
prometheus_client at all (see llm_exporter.metrics.families). Names and label names are the
exporter's own or validated by the config, so they never need quoting or escaping.
"""

from __future__ import annotations

from collections.abc import Iterable

from llm_exporter.metrics.families import Family, Sample

_INF = float("inf")


def number(value: float) -> str:
    """A sample value as Go formats it: Python's repr, except that positive numbers with 7 digits
    or more before the point get an exponent (1234567.0 -> 1.234567e+06)."""
    v = float(value)
    if v != v:
        return "NaN"
    if v == _INF:
        return "+Inf"
    if v == -_INF:
        return "-Inf"
    text = repr(v)
    point = text.find(".")
    if v <= 0 or point <= 6:
        return text
    digits = text[:point] + text[point + 1 :]
    mantissa = f"{digits[0]}.{digits[1:]}".rstrip("0").rstrip(".")
    return f"{mantissa}e+{point - 1:02d}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def _sample(s: Sample) -> str:
    return f"{s.name}{_labels(s.labels)} {number(s.value)}"


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
            if s.name == created_name:
                created.append(_sample(s) + "\n")
            else:
                out.append(_sample(s) + "\n")
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
            line = _sample(s)
            exemplar = s.exemplar
            if exemplar is not None:
                line += f" # {_labels(exemplar.labels) or '{}'} {number(exemplar.value)}"
                if exemplar.timestamp is not None:
                    line += f" {exemplar.timestamp}"
            out.append(line + "\n")
    out.append("# EOF\n")
    return "".join(out).encode("utf-8")
