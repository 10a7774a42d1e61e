"""The sources of grafana/dashboards/*.json: one module per dashboard, the panel building blocks
(panels.py) and what the dashboards share (common.py). grafana/generate_dashboards.py renders them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cost import cost
from .decisions import decisions
from .exporter import exporter
from .models import models
from .overview import overview

DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "llm-overview.json": overview,
    "llm-models.json": models,
    "llm-cost.json": cost,
    "llm-decisions.json": decisions,
    "llm-exporter.json": exporter,
}
