"""In-app instrumentation: the contract's metrics (and spans) through OpenTelemetry.

import llm_exporter
llm_exporter.instrument()                      # patch whichever clients are installed
with llm_exporter.track(model="my-model", provider="vllm") as call:
    call.record_usage(input_tokens=120, output_tokens=30)
    llm_exporter.record_decision(action="LONG", symbol="BTC-USD", validation_result="PASSED")
with llm_exporter.session("chat-42"):          # the calls inside are one session's
    ...
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from llm_exporter.instrumentation.configure import configure, get_telemetry, sdk_available
from llm_exporter.instrumentation.track import Call, current_call, record_decision, session, track

CLIENTS = ("openai", "anthropic", "litellm", "ollama")

__all__ = [
    "CLIENTS",
    "Call",
    "configure",
    "current_call",
    "get_telemetry",
    "instrument",
    "record_decision",
    "session",
    "track",
    "uninstrument",
]


def _module(client: str):  # type: ignore[no-untyped-def]
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; one of {', '.join(CLIENTS)}")
    return importlib.import_module(f"llm_exporter.instrumentation.{client}")


def instrument(*clients: str) -> list[str]:
    """Patch the named clients (all of CLIENTS when none is named) that are installed; returns the
    ones patched. Patching twice is harmless. Without the OpenTelemetry SDK it patches nothing
    (one warning says what to install)."""
    if not sdk_available():
        return []
    done = []
    for client in clients or CLIENTS:
        if _module(client).instrument():
            done.append(client)
    return done


def uninstrument(*clients: str | Iterable[str]) -> None:
    """Undo instrument() for the named clients (all when none is named)."""
    for client in clients or CLIENTS:
        assert isinstance(client, str)
        _module(client).uninstrument()
