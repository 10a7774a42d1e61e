"""`track()`: one LLM call, as a context manager (sync or async) or a decorator (sync or async).

    with llm_exporter.track(model="gpt-4o", provider="openai") as call:
        resp = client.chat(...)
        call.record_response(resp)          # or call.record_usage(input_tokens=..., output_tokens=...)

An exception inside marks the call failed with its class name as `error.type` (and the provider's
HTTP status as `http.response.status_code` where the client's error has one) and propagates.
Without the OpenTelemetry SDK installed a call records nothing (one warning says what to install).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from time import perf_counter, time
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from llm_exporter import semconv
from llm_exporter.formats import ratelimit
from llm_exporter.formats.fields import session as bounded_session
from llm_exporter.formats.usage import reported_output
from llm_exporter.instrumentation.configure import telemetry_or_none
from llm_exporter.instrumentation.content import to_parts
from llm_exporter.instrumentation.responses import Usage, extract
from llm_exporter.store.aggregates import add_tokens

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from llm_exporter.instrumentation.completion_logger import CompletionLogger
    from llm_exporter.instrumentation.telemetry import Telemetry, _Series

F = TypeVar("F", bound=Callable[..., Any])
_NONE: Mapping[str, Any] = MappingProxyType({})

# The call a `with track()` block or a decorated function runs in: current_call(), and what
# record_decision() answers by default.
_current: ContextVar[Call | None] = ContextVar("llm_exporter_current_call", default=None)
# The session of the calls made in a `with session(...)` block (instrumented clients' too).
_session: ContextVar[str | None] = ContextVar("llm_exporter_session", default=None)


# Client errors raised when no HTTP response came (openai's and anthropic's, and LiteLLM's, which
# derive from openai's): they have no provider status even where a wrapper sets one (LiteLLM says
# 408 for a timeout, 500 for a lost connection).
_NO_RESPONSE = frozenset(("APIConnectionError", "APITimeoutError"))


def error_type_of(exc: BaseException) -> str:
    return type(exc).__name__ or semconv.OTHER_ERROR


def http_status_of(exc: BaseException) -> int | None:
    """The provider's HTTP status on a client's error (`status_code` on openai's, anthropic's,
    ollama's and LiteLLM's), None when no response came or the error does not say."""
    if isinstance(exc, (TimeoutError, ConnectionError)) or any(c.__name__ in _NO_RESPONSE for c in type(exc).__mro__):
        return None
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return status
    return None


class Call:
    """One call: started by `with`/`start()`, finished once by `__exit__`/`finish()`."""

    __slots__ = (
        "_chunk_gaps",
        "_current_token",
        "_done",
        "_first_chunk",
        "_last_chunk",
        "_logger",
        "_operation",
        "_provider",
        "_request_id",
        "_series",
        "_session",
        "_session_start",
        "_span",
        "_start",
        "_telemetry",
        "_token",
        "cache_hit",
        "cost",
        "error_type",
        "finish_reasons",
        "http_status",
        "model",
        "ratelimit",
        "response_id",
        "response_model",
        "server_address",
        "server_port",
        "service_tier",
        "system_fingerprint",
        "usage",
    )

    def __init__(
        self,
        model: str | None,
        provider: str | None = None,
        operation: str | None = semconv.DEFAULT_OPERATION,
        telemetry: Telemetry | None = None,
        completion_logger: CompletionLogger | None = None,
        session_id: str | None = None,
    ) -> None:
        self.model = model
        self._session = session_id  # as given; start() takes an enclosing session()'s where None
        self._session_start = 0.0
        self._logger = completion_logger  # else the telemetry's
        self._provider = provider
        self._operation = operation
        self._telemetry = telemetry
        self._current_token: Token[Call | None] | None = None  # of _current, set by `with`
        self._series: _Series | None = None
        self._span: Span | None = None
        self._start = 0.0
        self._first_chunk: float | None = None
        self._last_chunk: float | None = None
        self._chunk_gaps: list[float] | None = None
        self._done = False
        self._token: object | None = None
        self._request_id: str | None = None
        self.usage: Usage | None = None
        self.cost: float | None = None
        self.cache_hit: bool | None = None
        self.error_type: str | None = None
        self.http_status: int | None = None
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] | None = None
        # Where the call went (server.address / server.port), set before start() where known.
        self.server_address: str | None = None
        self.server_port: int | None = None
        # OpenAI's answer facts, for the span.
        self.service_tier: str | None = None
        self.system_fingerprint: str | None = None
        # The provider's rate-limit figures by resource, from the response's headers.
        self.ratelimit: ratelimit.Readings | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(
        self, request: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None, kwargs: Mapping[str, Any] = _NONE
    ) -> Call:
        """Start the call; `request(kwargs)` gives the span's request attributes (only called when
        spans are on)."""
        t = self._telemetry
        if t is None:
            t = self._telemetry = telemetry_or_none()
            if t is None:  # no OpenTelemetry SDK: record nothing
                return self
        series = self._series = t.get_series(self.model, self._provider, self._operation)
        # Bounded as the daemon bounds a log's (a long id stands for itself by a digest).
        self._session = bounded_session(self._session if self._session is not None else _session.get())
        with t.lock:
            series.in_flight += 1
        if t.tracer is not None:
            from opentelemetry.trace import SpanKind

            attrs: dict[str, Any] = dict(series.attrs)
            if self.server_address is not None:
                attrs[semconv.ATTR_SERVER_ADDRESS] = self.server_address
                if self.server_port is not None:
                    attrs[semconv.ATTR_SERVER_PORT] = self.server_port
            if request is not None:
                attrs.update(request(kwargs))
            if self._session is not None:
                attrs[semconv.ATTR_SESSION] = self._session
            self._span = t.tracer.start_span(
                f"{series.operation} {series.model}", kind=SpanKind.CLIENT, attributes=attrs
            )
        if self._logger is None:
            self._logger = t.completion_logger
        if self._logger is not None:
            self._request_id = self._logger.log_completion_request(
                model=series.model, provider=series.provider, operation=series.operation, **self._session_field()
            )
        if self._session is not None:
            self._session_start = t.clock()
        self._start = perf_counter()
        return self

    def activate(self) -> object | None:
        """Make the call's span the current one (so client spans nest under it and trace context
        goes out with the request); returns the token for deactivate(), None without a span."""
        if self._span is None:
            return None
        from opentelemetry import context, trace

        return context.attach(trace.set_span_in_context(self._span))

    @staticmethod
    def deactivate(token: object | None) -> None:
        if token is not None:
            from opentelemetry import context

            context.detach(token)  # type: ignore[arg-type]

    def __enter__(self) -> Call:
        self._current_token = _current.set(self)
        self.start()
        self._token = self.activate()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.deactivate(self._token)
        if self._current_token is not None:
            _current.reset(self._current_token)
        self.finish(exc)

    async def __aenter__(self) -> Call:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        """Use as a decorator: every call of `fn` is tracked as a call of its own; a return value of
        a known response shape is recorded unless the function recorded usage itself."""
        model, provider, operation, telemetry = self.model, self._provider, self._operation, self._telemetry
        logger, session_id = self._logger, self._session

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                call = Call(model, provider, operation, telemetry, logger, session_id).start()
                token = _current.set(call)
                span_token = call.activate()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    call.finish(exc)
                    raise
                finally:
                    call.deactivate(span_token)
                    _current.reset(token)
                if call.usage is None:
                    call.record_response(result)
                call.finish()
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            call = Call(model, provider, operation, telemetry, logger, session_id).start()
            token = _current.set(call)
            span_token = call.activate()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                call.finish(exc)
                raise
            finally:
                call.deactivate(span_token)
                _current.reset(token)
            if call.usage is None:
                call.record_response(result)
            call.finish()
            return result

        return wrapper  # type: ignore[return-value]

    # -- what the call says ---------------------------------------------------------------------------

    def record_usage(
        self,
        input_tokens: int | None = 0,
        output_tokens: int | None = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        cost: float | None = None,
        cache_hit: bool | None = None,
    ) -> None:
        """Token counts of the call (cache and reasoning tokens are subsets of input and output; None
        for a count the response does not report, which then makes no token observation);
        `cost` in US dollars overrides the price book; `cache_hit` for response caches."""
        self.usage = Usage(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens)
        if cost is not None:
            self.cost = cost
        if cache_hit is not None:
            self.cache_hit = cache_hit

    def record_response(self, response: Any) -> None:
        """Usage, response model, id and finish reasons from a response of a known shape (OpenAI,
        Anthropic, Ollama, LiteLLM, as objects or dicts); unknown shapes are ignored."""
        info = extract(response)
        if info.usage is not None:
            self.usage = info.usage
        if info.model:
            self.response_model = info.model
        if info.id:
            self.response_id = info.id
        if info.finish_reasons:
            self.finish_reasons = info.finish_reasons
        if info.service_tier:
            self.service_tier = info.service_tier
        if info.system_fingerprint:
            self.system_fingerprint = info.system_fingerprint

    def record_headers(self, headers: Any) -> None:
        """A response's HTTP headers (a mapping, such as `response.headers` of a raw response or an
        httpx response): its rate-limit headers set the `llm.ratelimit.*` gauges of the call's
        model (formats.ratelimit says which); a response without them changes nothing."""
        readings = ratelimit.read(headers, time())
        if readings is not None:
            self.ratelimit = readings

    def record_first_chunk(self) -> None:
        """The first chunk of a streamed response arrived (only the first call counts)."""
        if self._first_chunk is None:
            self._first_chunk = self._last_chunk = perf_counter()

    def record_chunk(self) -> None:
        """A chunk of a streamed response arrived: the first sets the time to first chunk, each
        later one adds its gap since the previous one (time per output chunk)."""
        now = perf_counter()
        last = self._last_chunk
        if last is None:
            self._first_chunk = now
        elif self._chunk_gaps is None:
            self._chunk_gaps = [now - last]
        else:
            self._chunk_gaps.append(now - last)
        self._last_chunk = now

    def fail(self, error_type: str, http_status: int | None = None) -> None:
        """Mark the call failed without an exception (for example an error status in a response),
        with the provider's HTTP status where one came."""
        self.error_type = error_type
        self.http_status = http_status

    def record_content(
        self, input_messages: Any = None, output_messages: Any = None, system_instructions: Any = None
    ) -> None:
        """Prompt and response text on the span, only when content capture is on: messages as
        `{"role", "content"}` (text or OpenAI-style content parts) or already in the convention's
        `{"role", "parts"}` schema; system instructions as a list of parts."""
        span = self._span
        t = self._telemetry
        if span is None or t is None or not t.capture_content:
            return
        if input_messages is not None:
            span.set_attribute(semconv.ATTR_INPUT_MESSAGES, json.dumps(to_parts(input_messages), default=str))
        if output_messages is not None:
            span.set_attribute(semconv.ATTR_OUTPUT_MESSAGES, json.dumps(to_parts(output_messages), default=str))
        if system_instructions is not None:
            span.set_attribute(semconv.ATTR_SYSTEM_INSTRUCTIONS, json.dumps(system_instructions, default=str))

    @property
    def capture_content(self) -> bool:
        """Whether prompt and response text go on this call's span."""
        return self._span is not None and self._telemetry is not None and self._telemetry.capture_content

    @property
    def series(self) -> _Series | None:
        return self._series

    def _session_field(self) -> dict[str, str]:
        """The call's session on its log lines, in place of the logger's own."""
        return {} if self._session is None else {"session_id": self._session}

    # -- the end ------------------------------------------------------------------------------------------

    def finish(self, exc: BaseException | None = None) -> None:
        if self._done or self._series is None:
            return
        self._done = True
        end = perf_counter()
        t = self._telemetry
        assert t is not None
        s = self._series
        if exc is not None:  # a client's error for an HTTP answer (a 429 among them) has its headers
            self.record_headers(getattr(getattr(exc, "response", None), "headers", None))
        if self.ratelimit is not None and not self.cache_hit:
            t.ratelimit(s, self.ratelimit)
        error_type = self.error_type if exc is None else error_type_of(exc)
        duration = end - self._start
        where = (self.response_model, self.server_address, self.server_port)
        h = s.where.get(where) or t.histogram_attrs(s, where)
        failure_attrs = None if error_type is None else t.failure_attrs(h, error_type)
        t.duration.record(duration, h.attrs if failure_attrs is None else failure_attrs)
        status = self.http_status if exc is None else http_status_of(exc)  # read on failures only
        usage = self.usage
        cost = self.cost
        # 0/0 is what a client reports when it got no usage (a stream without include_usage):
        # no 0-token observations, and a success without tokens is counted as usage missing. A
        # count the response does not report (an embeddings call's output) is not observed.
        input_tokens = output_tokens = None
        if usage is not None:
            input_tokens, output_tokens = usage.input_tokens, reported_output(s.operation, usage.output_tokens)
        has_tokens = bool(input_tokens or output_tokens)
        if usage is not None and has_tokens:
            if input_tokens is not None:
                t.token_usage.record(input_tokens, h.input)
            if output_tokens is not None:
                t.token_usage.record(output_tokens, h.output)
            if cost is None:
                price = t.billed_price(s, self.model, self._provider, self.response_model)
                if price is not None:
                    cost = price.cost(
                        input_tokens or 0, output_tokens or 0, usage.cache_read_tokens, usage.cache_write_tokens
                    )
        ttfc = None if self._first_chunk is None else self._first_chunk - self._start
        if ttfc is not None:
            t.time_to_first_chunk.record(ttfc, h.attrs)
            if self._chunk_gaps is not None:
                record_gap = t.time_per_output_chunk.record
                for gap in self._chunk_gaps:
                    record_gap(gap, h.attrs)
        with t.lock:
            s.in_flight -= 1
            if failure_attrs is None:
                s.failures = 0
                s.requests_ok += 1
                if not has_tokens:
                    s.usage_missing += 1
            else:
                s.failures += 1
                s.requests_failed += 1
                key = (failure_attrs[semconv.ATTR_ERROR_TYPE], status)
                s.errors[key] = s.errors.get(key, 0) + 1
            if usage is not None:
                add_tokens(
                    s.tokens,
                    input_tokens or 0,
                    output_tokens or 0,
                    usage.cache_read_tokens,
                    usage.cache_write_tokens,
                    usage.reasoning_tokens,
                )
            if cost is not None:
                s.cost = (s.cost or 0.0) + cost
            elif has_tokens:
                s.unpriced = (s.unpriced or 0) + 1
            if self.cache_hit is not None:
                if self.cache_hit:
                    s.cache_hits += 1
                else:
                    s.cache_misses += 1
        if self._session is not None:
            # on the telemetry's clock, which tests step (calls themselves are timed by perf_counter)
            t.session_call(self._session, self._session_start, t.clock(), cost)
        if self._span is not None:
            self._end_span(error_type, exc, status, ttfc, cost)
        if self._logger is not None:
            self._logger.log_completion_response(
                request_id=self._request_id,
                success=error_type is None,
                response_time=duration,
                token_usage=usage,
                cost_estimate_usd=cost,
                error_type=error_type,
                time_to_first_chunk=ttfc,
                **self._session_field(),
            )

    def _end_span(
        self,
        error_type: str | None,
        exc: BaseException | None,
        status: int | None,
        ttfc: float | None,
        cost: float | None,
    ) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = self._span
        assert span is not None
        attrs: dict[str, Any] = {}
        usage = self.usage
        if usage is not None:
            if usage.input_tokens is not None:
                attrs[semconv.ATTR_USAGE_INPUT] = usage.input_tokens
            output = reported_output(self._series.operation if self._series else None, usage.output_tokens)
            if output is not None:
                attrs[semconv.ATTR_USAGE_OUTPUT] = output
            if usage.cache_read_tokens:
                attrs[semconv.ATTR_USAGE_CACHE_READ] = usage.cache_read_tokens
            if usage.cache_write_tokens:
                attrs[semconv.ATTR_USAGE_CACHE_CREATION] = usage.cache_write_tokens
            if usage.reasoning_tokens:
                attrs[semconv.ATTR_USAGE_REASONING] = usage.reasoning_tokens
        if cost is not None:
            attrs[semconv.ATTR_COST] = cost
        if self.cache_hit is not None:
            attrs[semconv.ATTR_CACHE_HIT] = self.cache_hit
        if self.response_model:
            attrs[semconv.ATTR_RESPONSE_MODEL] = self.response_model
        if self.response_id:
            attrs[semconv.ATTR_RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            attrs[semconv.ATTR_FINISH_REASONS] = self.finish_reasons
        if ttfc is not None:
            attrs[semconv.ATTR_RESPONSE_TTFC] = ttfc
        if self._series is not None and self._series.provider == "openai":  # openai.* only on OpenAI's spans
            if self.service_tier:
                attrs[semconv.ATTR_OPENAI_RESPONSE_SERVICE_TIER] = self.service_tier
            if self.system_fingerprint:
                attrs[semconv.ATTR_OPENAI_SYSTEM_FINGERPRINT] = self.system_fingerprint
        if error_type is not None:
            attrs[semconv.ATTR_ERROR_TYPE] = error_type
            if status is not None:
                attrs[semconv.ATTR_HTTP_STATUS] = status
            span.set_status(Status(StatusCode.ERROR, error_type))
            if exc is not None and isinstance(exc, Exception):
                span.record_exception(exc)
        span.set_attributes(attrs)
        span.end()


def track(
    model: str | None = None,
    provider: str | None = None,
    operation: str = semconv.DEFAULT_OPERATION,
    session_id: str | None = None,
) -> Call:
    """A call to any LLM client: `with track(...) as call:`, `async with`, or `@track(...)`.
    `provider` is normalized to the semconv value (inferred from the model when not given);
    `session_id` makes it a call of that session (else the one of an enclosing `session()`)."""
    return Call(model, provider, operation, session_id=session_id)


@contextmanager
def session(session_id: str) -> Iterator[None]:
    """The calls made inside (tracked or by an instrumented client, sync or async) belong to the
    session `session_id`: llm.sessions, llm.session.cost.usd, .duration and .calls, and
    `session.id` on their spans."""
    token = _session.set(session_id)
    try:
        yield
    finally:
        _session.reset(token)


def current_call() -> Call | None:
    """The call a `with track(...)` block (or `async with`) or a `@track(...)`-decorated function
    runs in, or None."""
    return _current.get()


def record_decision(
    action: str,
    symbol: str = "",
    validation_result: str = "",
    model: str | None = None,
    provider: str | None = None,
    operation: str | None = None,
    call: Call | None = None,
) -> None:
    """A decision an answer led to (`llm.decisions`, upper-cased action and validation result).

    Its shared attributes come from `model`/`provider` when given, else from `call`, else from the
    call in progress in this context (inside `with track(...)` or a `@track` function), else
    `unknown`: a call that has finished, or an instrumented client's call, is never guessed at;
    pass it as `call=` (a `with` block's call stays usable after the block)."""
    t = telemetry_or_none()
    if t is None:
        return
    if model is None and call is None:
        call = _current.get()
    series = None
    if model is None and call is not None and call._telemetry is t:
        series = call.series
    else:
        call = None
    if series is None:
        series = t.get_series(model, provider, operation)
    t.decision(series, action, symbol, validation_result)
    if call is not None and call._span is not None:
        _decision_span(call._span, t, action.upper(), symbol, validation_result.upper())
    logger = call._logger if call is not None and call._logger is not None else t.completion_logger
    if logger is not None:
        logger.log_trading_decision(
            action=action,
            symbol=symbol,
            validation_result=validation_result,
            model=series.model,
            request_id=call._request_id if call is not None else None,
        )


def _decision_span(span: Span, t: Telemetry, action: str, symbol: str, validation_result: str) -> None:
    """The decision on its call's span while that is open, else as a child span of it (as the
    daemon records decisions)."""
    attributes = {
        semconv.ATTR_DECISION_ACTION: action,
        semconv.ATTR_DECISION_SYMBOL: symbol,
        semconv.ATTR_DECISION_VALIDATION: validation_result,
    }
    if span.is_recording():
        span.add_event(semconv.DECISION_EVENT, attributes)
    elif t.tracer is not None and span.get_span_context().is_valid:
        from opentelemetry.trace import set_span_in_context

        t.tracer.start_span(semconv.DECISION_EVENT, set_span_in_context(span), attributes=attributes).end()
