"""Provider names: normalize what logs say to the semconv `gen_ai.provider.name` values."""

from __future__ import annotations

from functools import lru_cache

from llm_exporter.semconv import UNKNOWN

# Spellings seen in logs (LiteLLM's custom_llm_provider among them) -> semconv value.
_ALIASES = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "x-ai": "x_ai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "together_ai": "together_ai",
    "fireworks_ai": "fireworks_ai",
    "openrouter": "openrouter",
}
_SEMCONV = frozenset(_ALIASES.values())

# Model-name prefixes -> provider, for logs that do not say (first match wins).
_PREFIXES = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-embedding-", "openai"),
    ("davinci", "openai"),
    ("babbage", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gcp.gemini"),
    ("mistral", "mistral_ai"),
    ("mixtral", "mistral_ai"),
    ("codestral", "mistral_ai"),
    ("magistral", "mistral_ai"),
    ("deepseek", "deepseek"),
    ("grok", "x_ai"),
    ("command", "cohere"),
    ("sonar", "perplexity"),
)


@lru_cache(maxsize=4096)
def normalize_provider(name: str) -> str:
    """The semconv value for a provider as a log spells it; unknown spellings pass lower-cased."""
    key = name.strip().lower()
    if not key:
        return UNKNOWN
    if key in _SEMCONV:
        return key
    return _ALIASES.get(key, key)


@lru_cache(maxsize=4096)
def infer_provider(model: str) -> str:
    """The provider a model name implies: `openai/gpt-4o` by its prefix, `llama3:8b` (an Ollama tag)
    as ollama, else by well-known model families; `unknown` when nothing matches."""
    lowered = model.strip().lower()
    if "/" in lowered:
        head = lowered.split("/", 1)[0]
        if head in _ALIASES:
            return _ALIASES[head]
    for prefix, provider in _PREFIXES:
        if lowered.startswith(prefix):
            return provider
    if ":" in lowered:
        return "ollama"
    return UNKNOWN
