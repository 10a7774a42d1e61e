"""The calls of the recorded provider corpus (tests/testdata/providers_recorded/): each made with a
real client library (openai, including AzureOpenAI on deployment URLs with `api-version`, plain,
streamed with usage in the last chunk and `with_raw_response`; anthropic, `messages` plain,
streamed and `stream()`, and `beta.messages`; ollama, including `embeddings`; a 429 from each
provider with rate limits) against a server at `base_url`, its whole answer read. The recorder
makes them against the fake server, the tests against the recording replayed.

`CALLS` maps a call's name to (the function making it, what it is: client, operation, request
model, streamed), in the order they are recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MESSAGES = [{"role": "user", "content": "hi"}]
AZURE_API_VERSION = "2024-10-21"
ANTHROPIC_BETA = "context-management-2025-06-27"
CLAUDE = "claude-sonnet-4-5"


@dataclass(frozen=True)
class Spec:
    client: str  # openai, azure, anthropic, ollama
    operation: str  # as gen_ai.operation.name says it
    model: str  # as requested
    stream: bool = False


def _openai(url: str) -> Any:
    import openai

    return openai.OpenAI(base_url=url + "/v1", api_key="sk-fake", max_retries=0)


def _azure(url: str, deployment: str | None = None, asynchronous: bool = False) -> Any:
    import openai

    cls = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
    return cls(
        azure_endpoint=url,
        azure_deployment=deployment,
        api_version=AZURE_API_VERSION,
        api_key="fake-azure-key",
        max_retries=0,
    )


def _anthropic(url: str, asynchronous: bool = False) -> Any:
    import anthropic

    cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    return cls(base_url=url, api_key="sk-ant-fake", max_retries=0)


def _ollama(url: str, asynchronous: bool = False) -> Any:
    import ollama

    return (ollama.AsyncClient if asynchronous else ollama.Client)(host=url)


def openai_chat(url: str) -> Any:
    return _openai(url).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def openai_chat_stream(url: str) -> Any:
    stream = _openai(url).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    return [chunk for chunk in stream]


def openai_chat_raw(url: str) -> Any:
    return _openai(url).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES).parse()


def openai_embeddings(url: str) -> Any:
    return _openai(url).embeddings.create(model="text-embedding-3-small", input="hi")


def azure_chat(url: str) -> Any:
    return _azure(url).chat.completions.create(model="prod-chat", messages=MESSAGES)


def azure_chat_stream(url: str) -> Any:
    stream = _azure(url).chat.completions.create(
        model="legacy-chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    return [chunk for chunk in stream]


def azure_chat_async(url: str) -> Any:
    async def call() -> Any:
        return await _azure(url, asynchronous=True).chat.completions.create(model="prod-chat", messages=MESSAGES)

    return asyncio.run(call())


def azure_chat_raw(url: str) -> Any:
    return _azure(url).chat.completions.with_raw_response.create(model="prod-chat", messages=MESSAGES).parse()


def azure_deployment_client(url: str) -> Any:
    # A client made for one deployment (its base URL ends in /openai/deployments/<name>/).
    return _azure(url, deployment="prod-chat").chat.completions.create(model="prod-chat", messages=MESSAGES)


def azure_embeddings(url: str) -> Any:
    return _azure(url).embeddings.create(model="search-embed", input="hi")


def _rate_limited(make_call: Callable[[], Any], error: type[Exception]) -> Any:
    """A call the server answers 429 (`retry-after` set): the client's RateLimitError, returned."""
    try:
        make_call()
    except error as exc:
        return exc
    raise AssertionError("no 429")


def openai_rate_limited(url: str) -> Any:
    import openai

    client = _openai(url)
    return _rate_limited(
        lambda: client.chat.completions.create(model="fail-429", messages=MESSAGES), openai.RateLimitError
    )


def azure_rate_limited(url: str) -> Any:
    import openai

    client = _azure(url)
    return _rate_limited(
        lambda: client.chat.completions.create(model="fail-429", messages=MESSAGES), openai.RateLimitError
    )


def anthropic_messages(url: str) -> Any:
    return _anthropic(url).messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)


def anthropic_messages_stream(url: str) -> Any:
    stream = _anthropic(url).messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, stream=True)
    return [event for event in stream]


def anthropic_stream(url: str) -> Any:
    with _anthropic(url).messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES) as stream:
        return "".join(stream.text_stream)


def anthropic_rate_limited(url: str) -> Any:
    import anthropic

    client = _anthropic(url)
    return _rate_limited(
        lambda: client.messages.create(model="fail-429", max_tokens=64, messages=MESSAGES), anthropic.RateLimitError
    )


def anthropic_beta_create(url: str) -> Any:
    return _anthropic(url).beta.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, betas=[ANTHROPIC_BETA])


def anthropic_beta_create_stream(url: str) -> Any:
    stream = _anthropic(url).beta.messages.create(
        model=CLAUDE, max_tokens=64, messages=MESSAGES, betas=[ANTHROPIC_BETA], stream=True
    )
    return [event for event in stream]


def anthropic_beta_stream(url: str) -> Any:
    with _anthropic(url).beta.messages.stream(
        model=CLAUDE, max_tokens=64, messages=MESSAGES, betas=[ANTHROPIC_BETA]
    ) as stream:
        return "".join(stream.text_stream)


def anthropic_beta_async_create(url: str) -> Any:
    async def call() -> Any:
        client = _anthropic(url, asynchronous=True)
        return await client.beta.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, betas=[ANTHROPIC_BETA])

    return asyncio.run(call())


def anthropic_beta_async_stream(url: str) -> Any:
    async def call() -> Any:
        client = _anthropic(url, asynchronous=True)
        async with client.beta.messages.stream(
            model=CLAUDE, max_tokens=64, messages=MESSAGES, betas=[ANTHROPIC_BETA]
        ) as stream:
            return "".join([text async for text in stream.text_stream])

    return asyncio.run(call())


def ollama_chat(url: str) -> Any:
    return _ollama(url).chat(model="llama3.2", messages=MESSAGES, stream=False)


def ollama_embed(url: str) -> Any:
    return _ollama(url).embed(model="all-minilm", input="hi")


def ollama_embeddings(url: str) -> Any:
    return _ollama(url).embeddings(model="all-minilm", prompt="hi")


def ollama_embeddings_async(url: str) -> Any:
    async def call() -> Any:
        return await _ollama(url, asynchronous=True).embeddings(model="all-minilm", prompt="hi")

    return asyncio.run(call())


CALLS: dict[str, tuple[Callable[[str], Any], Spec]] = {
    "openai_chat": (openai_chat, Spec("openai", "chat", "gpt-4o-mini")),
    "openai_chat_stream": (openai_chat_stream, Spec("openai", "chat", "gpt-4o-mini", stream=True)),
    "openai_chat_raw": (openai_chat_raw, Spec("openai", "chat", "gpt-4o-mini")),
    "openai_embeddings": (openai_embeddings, Spec("openai", "embeddings", "text-embedding-3-small")),
    "azure_chat": (azure_chat, Spec("azure", "chat", "prod-chat")),
    "azure_chat_stream": (azure_chat_stream, Spec("azure", "chat", "legacy-chat", stream=True)),
    "azure_chat_async": (azure_chat_async, Spec("azure", "chat", "prod-chat")),
    "azure_chat_raw": (azure_chat_raw, Spec("azure", "chat", "prod-chat")),
    "azure_deployment_client": (azure_deployment_client, Spec("azure", "chat", "prod-chat")),
    "azure_embeddings": (azure_embeddings, Spec("azure", "embeddings", "search-embed")),
    "openai_rate_limited": (openai_rate_limited, Spec("openai", "chat", "fail-429")),
    "azure_rate_limited": (azure_rate_limited, Spec("azure", "chat", "fail-429")),
    "anthropic_messages": (anthropic_messages, Spec("anthropic", "chat", CLAUDE)),
    "anthropic_messages_stream": (anthropic_messages_stream, Spec("anthropic", "chat", CLAUDE, stream=True)),
    "anthropic_stream": (anthropic_stream, Spec("anthropic", "chat", CLAUDE, stream=True)),
    "anthropic_rate_limited": (anthropic_rate_limited, Spec("anthropic", "chat", "fail-429")),
    "anthropic_beta_create": (anthropic_beta_create, Spec("anthropic", "chat", CLAUDE)),
    "anthropic_beta_create_stream": (anthropic_beta_create_stream, Spec("anthropic", "chat", CLAUDE, stream=True)),
    "anthropic_beta_stream": (anthropic_beta_stream, Spec("anthropic", "chat", CLAUDE, stream=True)),
    "anthropic_beta_async_create": (anthropic_beta_async_create, Spec("anthropic", "chat", CLAUDE)),
    "anthropic_beta_async_stream": (anthropic_beta_async_stream, Spec("anthropic", "chat", CLAUDE, stream=True)),
    "ollama_chat": (ollama_chat, Spec("ollama", "chat", "llama3.2")),
    "ollama_embed": (ollama_embed, Spec("ollama", "embeddings", "all-minilm")),
    "ollama_embeddings": (ollama_embeddings, Spec("ollama", "embeddings", "all-minilm")),
    "ollama_embeddings_async": (ollama_embeddings_async, Spec("ollama", "embeddings", "all-minilm")),
}
