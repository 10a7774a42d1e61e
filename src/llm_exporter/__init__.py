"""llm-exporter: Prometheus and OpenTelemetry metrics for LLM applications."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# The in-app API, imported on first use so `import llm_exporter` stays light and the daemon
# never needs the OpenTelemetry SDK.
_LAZY = {
    "instrument": "llm_exporter.instrumentation",
    "uninstrument": "llm_exporter.instrumentation",
    "track": "llm_exporter.instrumentation.track",
    "record_decision": "llm_exporter.instrumentation.track",
    "current_call": "llm_exporter.instrumentation.track",
    "session": "llm_exporter.instrumentation.track",
    "configure": "llm_exporter.instrumentation.configure",
    "CompletionLogger": "llm_exporter.instrumentation.completion_logger",
    "LLMExporterCallbackHandler": "llm_exporter.instrumentation.langchain",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_exporter' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
