"""The probes' gauges: is each model server up, which models it lists, which are loaded."""

from __future__ import annotations

from collections.abc import Iterator

from llm_exporter.config import ProbeConfig, problems, validate
from llm_exporter.metrics.families import Family
from llm_exporter.pipeline.labels import LabelLimiter
from llm_exporter.semconv import LABEL_MODEL, LABEL_PROVIDER
from llm_exporter.sources.probes import Prober

MAX_PROBE_MODELS = 1000  # model names one /probe answer may carry


class ProbeCollector:
    def __init__(self, prober: Prober) -> None:
        self.prober = prober

    def collect(self) -> Iterator[Family]:
        up = Family("llm_probe_up", "Whether a probed model server answered its model list.", "gauge")
        duration = Family(
            "llm_probe_duration_seconds", "How long the last probe of a model server took.", "gauge", "seconds"
        )
        available = Family(
            "llm_model_available", "A probed server lists the model (1) or listed it and no longer does (0).", "gauge"
        )
        loaded = Family("llm_model_loaded", "The model is loaded in memory (Ollama /api/ps).", "gauge")
        size = Family("llm_model_size_bytes", "The model's size on disk, where the server says (Ollama).", "gauge")
        with self.prober.lock:
            for (address, provider), state in sorted(self.prober.states.items()):
                server = {"server_address": address, LABEL_PROVIDER: provider}
                up.add_sample(up.name, server, 1 if state.up else 0)
                duration.add_sample(duration.name, server, state.duration)
                if not state.up:
                    continue  # a server that does not answer says nothing of its models
                for model, m in sorted(state.models.items()):
                    labels = {**server, LABEL_MODEL: model}
                    available.add_sample(available.name, labels, 1 if m.available else 0)
                    if m.loaded is not None:
                        loaded.add_sample(loaded.name, labels, 1 if m.loaded else 0)
                    if m.size_bytes is not None and m.available:
                        size.add_sample(size.name, labels, m.size_bytes)
        yield from (family for family in (up, duration, available, loaded, size) if family.samples)


def probe_target(target: str, module: str, timeout: float) -> list[Family]:
    """`/probe?target=URL&module=TYPE`, blackbox-exporter style: probe one server now and return
    its gauges. Raises ValueError (a message for the caller) for a target or module it refuses."""
    from pydantic import ValidationError  # the daemon's: imported with its config

    try:
        probe = validate(ProbeConfig, {"url": target, "type": module, "timeout_seconds": timeout})
    except ValidationError as exc:
        names = {"url": "target", "type": "module"}  # the query's names, not the config's
        raise ValueError("; ".join(f"{names.get(str(loc[0]), loc[0])}: {msg}" for loc, msg in problems(exc))) from None
    prober = Prober([probe], LabelLimiter(MAX_PROBE_MODELS))
    try:
        prober.poll_once()
    finally:
        prober.close()
    return list(ProbeCollector(prober).collect())
