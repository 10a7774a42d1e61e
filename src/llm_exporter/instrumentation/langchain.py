"""A LangChain callback handler: every LLM call of a chain, recorded like an instrumented client.

    from llm_exporter.instrumentation.langchain import LLMExporterCallbackHandler

    handler = LLMExporterCallbackHandler()              # or (completion_logger=CompletionLogger(...))
    chain.invoke(inputs, config={"callbacks": [handler]})

Each chat model or LLM run becomes one call through the same machinery as `track()` (the
contract's metrics, a span, the CompletionLogger when one is set):

- model: the run's `ls_model_name` metadata (what LangChain reports to LangSmith), else the
  invocation params' `model` / `model_name` / `model_id`, else the serialized model's; provider:
  the `ls_provider` metadata (normalized to the semconv value), else inferred from the model name;
- tokens: the generations' `usage_metadata` (input includes cache reads; cache and reasoning
  token details included), else the `llm_output`'s `token_usage` / `usage` (OpenAI or
  Anthropic style); the response model, id and finish reasons from `llm_output` or the
  generations' metadata;
- time to first chunk: the first `on_llm_new_token` of a streamed run;
- errors: `on_llm_error` marks the call failed with the error's class as `error.type` (the
  provider client's class where LangChain wraps it: `RateLimitError`, as the clients report it).

While a run is open, the provider client LangChain calls underneath (the openai client of
ChatOpenAI, ...) is not recorded a second time even when `llm_exporter.instrument()` patched it.
`record_decision(..., call=handler.last_call)` ties a decision to the last call the handler
finished.
"""

from __future__ import annotations

import contextlib
import threading
from contextvars import Token
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from llm_exporter.instrumentation._patch import Outer, outer_call
from llm_exporter.instrumentation.responses import Usage, get, usage_from
from llm_exporter.instrumentation.track import Call, error_type_of, http_status_of

if TYPE_CHECKING:
    from langchain_core.outputs import LLMResult

    from llm_exporter.instrumentation.completion_logger import CompletionLogger
    from llm_exporter.instrumentation.telemetry import Telemetry

__all__ = ["LLMExporterCallbackHandler"]

# LangChain's `ls_provider` values that the provider aliases do not already know.
_PROVIDERS = {
    "google_genai": "gcp.gemini",
    "google_vertexai": "gcp.vertex_ai",
    "google_anthropic_vertex": "gcp.vertex_ai",
    "amazon_bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "fireworks": "fireworks_ai",
    "together": "together_ai",
    "mistralai": "mistral_ai",
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _model(serialized: dict[str, Any] | None, metadata: dict[str, Any] | None, params: dict[str, Any] | None) -> Any:
    model = _text(get(metadata, "ls_model_name"))
    for source in (params, get(serialized, "kwargs")):
        for key in ("model", "model_name", "model_id"):
            if model is None:
                model = _text(get(source, key))
    return model


def _provider(metadata: dict[str, Any] | None) -> str | None:
    provider = _text(get(metadata, "ls_provider"))
    return _PROVIDERS.get(provider, provider) if provider else None


def _error_type(error: BaseException) -> str:
    """The class of the error as the provider client names it: LangChain integrations wrap client
    errors in subclasses of their own (`OpenAIRateLimitError(openai.RateLimitError, ...)`)."""
    for cls in type(error).__mro__:
        if not cls.__module__.startswith("langchain"):
            if cls in (Exception, BaseException, object):
                break
            return cls.__name__
    return error_type_of(error)


def _usage_metadata(messages: list[Any]) -> Usage | None:
    """The sum of the messages' LangChain `usage_metadata` (a shape of formats/usage.py)."""
    total: Usage | None = None
    for message in messages:
        usage = usage_from(get(message, "usage_metadata"))
        if usage is None:
            continue
        total = total or Usage()
        total.input_tokens += usage.input_tokens
        total.output_tokens += usage.output_tokens
        total.cache_read_tokens += usage.cache_read_tokens
        total.cache_write_tokens += usage.cache_write_tokens
        total.reasoning_tokens += usage.reasoning_tokens
    return total


class LLMExporterCallbackHandler(BaseCallbackHandler):
    """Records each LLM call of the runs it is passed to (see the module docstring).

    `telemetry`: where the metrics go (default: what `llm_exporter.configure()` set up, else the
    `OTEL_*` environment). `completion_logger`: also write each call, in the seed-001 JSONL format,
    to this log (default: the telemetry's, if it has one). `capture_content`: prompt and answer
    text on the spans, when the telemetry's content capture is on too.
    """

    # Called in the run's own thread and context (not an executor), so the time to first chunk is
    # the caller's and the client underneath sees that the run is recorded here.
    run_inline = True
    raise_error = False

    def __init__(
        self,
        telemetry: Telemetry | None = None,
        completion_logger: CompletionLogger | None = None,
    ) -> None:
        super().__init__()
        self.telemetry = telemetry
        self.completion_logger = completion_logger
        self.last_call: Call | None = None
        self._lock = threading.Lock()
        self._runs: dict[UUID, tuple[Call, Outer, Token[Outer | None]]] = {}

    # -- starts ------------------------------------------------------------------------------------

    def _start(
        self,
        run_id: UUID,
        operation: str,
        serialized: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
        params: dict[str, Any] | None,
        input_messages: Any,
    ) -> None:
        call = Call(
            _model(serialized, metadata, params), _provider(metadata), operation, self.telemetry, self.completion_logger
        ).start()
        if call.capture_content:
            call.record_content(input_messages=input_messages)
        marker = Outer()
        token = outer_call.set(marker)
        with self._lock:
            self._runs[run_id] = (call, marker, token)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        content = None
        if messages:
            content = [{"role": get(m, "type"), "content": get(m, "content")} for m in messages[0]]
        self._start(run_id, "chat", serialized, metadata, invocation_params, content)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        content = [{"role": "user", "content": p} for p in prompts]
        self._start(run_id, "text_completion", serialized, metadata, invocation_params, content)

    # -- during and after ------------------------------------------------------------------------

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            run[0].record_chunk()

    def _end(self, run_id: UUID) -> Call | None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is None:
            return None
        call, marker, token = run
        marker.active = False
        with contextlib.suppress(ValueError):  # ended in another context than it started: the marker is off
            outer_call.reset(token)
        return call

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._end(run_id)
        if call is None:
            return
        generations = [g for gs in (response.generations or []) for g in gs]
        messages = [m for m in (get(g, "message") for g in generations) if m is not None]
        llm_output = response.llm_output or {}
        usage = _usage_metadata(messages)
        if usage is None:
            usage = usage_from(get(llm_output, "token_usage") or get(llm_output, "usage"))
        if usage is not None:
            call.usage = usage
        metadata = [get(m, "response_metadata") or {} for m in messages]
        infos = [get(g, "generation_info") or {} for g in generations]
        model = _text(get(llm_output, "model_name")) or _text(get(llm_output, "model"))
        for source in (*metadata, *infos):
            model = model or _text(get(source, "model_name")) or _text(get(source, "model"))
        if model:
            call.response_model = model
        response_id = _text(get(llm_output, "id"))
        for source in metadata:
            response_id = response_id or _text(get(source, "id"))
        if response_id:
            call.response_id = response_id
        reasons = []
        for source in (*infos, *metadata):
            reason = _text(get(source, "finish_reason")) or _text(get(source, "stop_reason"))
            if reason:
                reasons.append(reason)
                if len(reasons) == len(generations):
                    break
        if reasons:
            call.finish_reasons = reasons
        if call.capture_content:
            call.record_content(output_messages=[{"role": "assistant", "content": get(g, "text")} for g in generations])
        call.finish()
        self.last_call = call

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        call = self._end(run_id)
        if call is None:
            return
        call.fail(_error_type(error), http_status_of(error))
        call.finish()
        self.last_call = call
