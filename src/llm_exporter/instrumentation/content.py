"""Opt-in content capture in the GenAI convention's message schema: `gen_ai.input.messages` and
`gen_ai.output.messages` as `[{"role", "parts": [{"type": "text", "content": ...}, ...]}]`, with
`finish_reason` on output messages; `gen_ai.system_instructions` as a list of parts.

Only called when content capture is on, so nothing here costs a call that does not capture.
Parts kept: text, tool calls (`tool_call`: id, name, arguments), tool results
(`tool_call_response`: id, response) and reasoning text; other parts (images, audio, files) are
named by their type only, so a capture never copies a blob.
"""

from __future__ import annotations

import json
from typing import Any

from llm_exporter.instrumentation.responses import get, responses_finish_reason

Message = dict[str, Any]
Part = dict[str, Any]

_TEXT_TYPES = frozenset(("text", "input_text", "output_text"))


def _arguments(value: Any) -> Any:
    """Tool call arguments as the object they encode where they are JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _part(item: Any) -> Part:
    kind = get(item, "type")
    if kind in _TEXT_TYPES:
        return {"type": "text", "content": get(item, "text")}
    if kind in ("function_call", "tool_use"):  # Responses API output item, Anthropic block
        return {
            "type": "tool_call",
            "id": get(item, "call_id") or get(item, "id"),
            "name": get(item, "name"),
            "arguments": _arguments(get(item, "arguments") if kind == "function_call" else get(item, "input")),
        }
    if kind in ("function_call_output", "tool_result"):
        return {
            "type": "tool_call_response",
            "id": get(item, "call_id") or get(item, "tool_use_id"),
            "response": get(item, "output") if kind == "function_call_output" else get(item, "content"),
        }
    if kind in ("thinking", "reasoning_text"):
        return {"type": "reasoning", "content": get(item, "thinking") or get(item, "text")}
    return {"type": kind if isinstance(kind, str) else "unknown"}


def parts_of(content: Any) -> list[Part]:
    """A message's content (text, or a list of content parts) as convention parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        return [_part(p) for p in content]
    return [{"type": "text", "content": str(content)}]


def message(msg: Any) -> Message:
    """One chat message (OpenAI-, Anthropic-, Ollama- or LangChain-style) in the convention's
    schema; a message already in it is kept."""
    if isinstance(msg, dict) and "parts" in msg:
        return msg
    role = get(msg, "role") or "user"
    parts = parts_of(get(msg, "content"))
    for call in get(msg, "tool_calls") or ():  # OpenAI assistant message
        function = get(call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": get(call, "id"),
                "name": get(function, "name"),
                "arguments": _arguments(get(function, "arguments")),
            }
        )
    if role == "tool":
        return {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": get(msg, "tool_call_id"), "response": get(msg, "content")}],
        }
    out: Message = {"role": role, "parts": parts}
    reason = get(msg, "finish_reason")
    if isinstance(reason, str):
        out["finish_reason"] = reason
    return out


def to_parts(messages: Any) -> list[Message]:
    """A list of messages in the convention's schema (see message())."""
    if not isinstance(messages, list):
        messages = [messages]
    return [message(m) for m in messages]


def input_messages(kwargs: dict[str, Any]) -> list[Message] | None:
    """The request's messages: `messages` (chat APIs), `input` (Responses API: text or items),
    `prompt` (completions, Ollama generate)."""
    messages = kwargs.get("messages")
    if messages is not None:
        return to_parts(list(messages))
    value = kwargs.get("input")
    if value is None:
        value = kwargs.get("prompt")
    if value is None:
        return None
    if isinstance(value, list) and value and not isinstance(value[0], str):  # Responses API input items
        out = []
        for item in value:
            if get(item, "role") is not None:
                out.append(message(item))
            else:  # a function_call or function_call_output item
                part = _part(item)
                out.append({"role": "tool" if part["type"] == "tool_call_response" else "assistant", "parts": [part]})
        return out
    return [{"role": "user", "parts": parts_of(value if isinstance(value, str) else json.dumps(value, default=str))}]


def system_instructions(kwargs: dict[str, Any]) -> list[Part] | None:
    """Instructions given apart from the messages: Anthropic's `system`, the Responses API's
    `instructions`."""
    value = kwargs.get("system")
    if value is None:
        value = kwargs.get("instructions")
    if value is None:
        return None
    return parts_of(value)


def output_messages(response: Any) -> list[Message] | None:
    """The answer in the convention's schema, one message per choice."""
    choices = get(response, "choices")
    if isinstance(choices, list):
        out = []
        for choice in choices:
            msg = get(choice, "message")
            if msg is None:  # completions: text on the choice
                converted: Message = {"role": "assistant", "parts": parts_of(get(choice, "text"))}
            else:
                converted = message(msg)
                converted["role"] = get(msg, "role") or "assistant"
            converted["finish_reason"] = get(choice, "finish_reason") or "stop"
            out.append(converted)
        return out
    if get(response, "object") == "response":  # OpenAI Responses API: output items
        parts: list[Part] = []
        for item in get(response, "output") or ():
            if get(item, "type") == "message":
                parts.extend(parts_of(get(item, "content")))
            elif get(item, "type") != "reasoning":
                parts.append(_part(item))
        return [{"role": "assistant", "parts": parts, "finish_reason": responses_finish_reason(response) or "stop"}]
    content = get(response, "content")
    if isinstance(content, list):  # Anthropic content blocks
        return [
            {"role": "assistant", "parts": parts_of(content), "finish_reason": get(response, "stop_reason") or "stop"}
        ]
    msg = get(response, "message")  # Ollama chat
    if msg is not None:
        return [
            {
                "role": "assistant",
                "parts": parts_of(get(msg, "content")),
                "finish_reason": get(response, "done_reason") or "stop",
            }
        ]
    text = get(response, "response")  # Ollama generate
    if isinstance(text, str):
        return [{"role": "assistant", "parts": parts_of(text), "finish_reason": get(response, "done_reason") or "stop"}]
    return None
