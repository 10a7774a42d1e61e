"""Provider and model names as producers spell them -> one semconv `gen_ai.provider.name` and one
model label, so the same model called through LiteLLM (`openai/gpt-4o`) and through the plain SDK
(`gpt-4o`) is one series, priced once."""

from __future__ import annotations

import re
from functools import lru_cache

from llm_exporter.semconv import UNKNOWN

# LiteLLM's custom_llm_provider values, which are also the `route/` prefixes of its model names,
# -> the semconv value (OpenTelemetry GenAI registry), or a lower-case snake name where it has none.
_ROUTES = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "chatgpt": "openai",
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "text-completion-codestral": "mistral_ai",
    "perplexity": "perplexity",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "watsonx_text": "ibm.watsonx.ai",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "vllm": "vllm",
    "hosted_vllm": "vllm",
    "sagemaker_chat": "sagemaker",
    "ai21_chat": "ai21",
} | {
    name: name
    for name in (
        "together_ai",
        "fireworks_ai",
        "openrouter",
        "huggingface",
        "deepinfra",
        "cerebras",
        "sambanova",
        "nvidia_nim",
        "replicate",
        "cloudflare",
        "databricks",
        "sagemaker",
        "ai21",
        "lm_studio",
        "llamafile",
        "xinference",
        "triton",
        "friendliai",
        "featherless_ai",
        "nebius",
        "novita",
        "hyperbolic",
        "lambda_ai",
        "moonshot",
        "dashscope",
        "volcengine",
        "github_copilot",
        "snowflake",
        "baseten",
        "nscale",
        "ovhcloud",
        "voyage",
        "jina_ai",
        "openai_like",
        "custom_openai",
        "litellm_proxy",
        "vercel_ai_gateway",
        "meta_llama",
        "amazon_nova",
    )
}

# Servers that run models on one's own hardware: no bill to match, so never priced from a price list.
SELF_HOSTED = frozenset({"ollama", "vllm", "lm_studio", "llamafile", "xinference", "triton"})

# Free-text spellings ("Azure OpenAI", "AzureOpenAI", "azure-openai"), compared compacted: lower
# case without spaces, hyphens or underscores.
_SPELLINGS = {
    "azureopenai": "azure.ai.openai",
    "azureaiinference": "azure.ai.inference",
    "aws": "aws.bedrock",
    "awsbedrock": "aws.bedrock",
    "amazonbedrock": "aws.bedrock",
    "google": "gcp.gen_ai",
    "googlegenai": "gcp.gen_ai",
    "googleaistudio": "gcp.gemini",
    "googlegemini": "gcp.gemini",
    "googlevertexai": "gcp.vertex_ai",
    "mistralai": "mistral_ai",
    "ibmwatsonx": "ibm.watsonx.ai",
    "watsonxai": "ibm.watsonx.ai",
    "together": "together_ai",
    "fireworks": "fireworks_ai",
}
# LiteLLM's cost map names some providers by family: `vertex_ai-language-models`, `bedrock_converse`.
_SPELLING_PREFIXES = (("vertex", "gcp.vertex_ai"), ("bedrock", "aws.bedrock"))

_SEMCONV = frozenset(
    {
        "openai",
        "anthropic",
        "aws.bedrock",
        "azure.ai.openai",
        "azure.ai.inference",
        "gcp.gemini",
        "gcp.vertex_ai",
        "gcp.gen_ai",
        "cohere",
        "deepseek",
        "groq",
        "ibm.watsonx.ai",
        "mistral_ai",
        "perplexity",
        "x_ai",
    }
)
_COMPACT = {re.sub(r"[\s_-]+", "", name): value for name, value in _ROUTES.items()} | _SPELLINGS

# Bedrock model ids: `vendor.model-vN:M`, optionally behind a cross-region inference prefix.
_BEDROCK_ID = re.compile(
    r"(?:(?:us|us-gov|eu|apac|jp|au|ca|global)\.)?"
    r"(?:anthropic|amazon|meta|cohere|mistral|ai21|deepseek|qwen|openai|writer|stability|twelvelabs|luma)\.\w"
)

# Model-name prefixes -> provider, for names that say nothing else (first match wins).
_FAMILIES = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-embedding-3", "openai"),
    ("text-embedding-ada", "openai"),
    ("omni-moderation", "openai"),
    ("whisper", "openai"),
    ("tts-1", "openai"),
    ("dall-e", "openai"),
    ("davinci", "openai"),
    ("babbage", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gcp.gemini"),
    ("text-embedding-00", "gcp.gemini"),
    ("mistral", "mistral_ai"),
    ("open-mistral", "mistral_ai"),
    ("open-mixtral", "mistral_ai"),
    ("mixtral", "mistral_ai"),
    ("ministral", "mistral_ai"),
    ("pixtral", "mistral_ai"),
    ("codestral", "mistral_ai"),
    ("devstral", "mistral_ai"),
    ("magistral", "mistral_ai"),
    ("deepseek", "deepseek"),
    ("grok", "x_ai"),
    ("command", "cohere"),
    ("embed-", "cohere"),
    ("sonar", "perplexity"),
)


@lru_cache(maxsize=4096)
def normalize_provider(name: str) -> str:
    """The semconv value for a provider as a log spells it; other names pass as lower-case snake."""
    key = name.strip().lower()
    if not key:
        return UNKNOWN
    if key in _SEMCONV:
        return key
    compact = re.sub(r"[\s_-]+", "", key)
    known = _COMPACT.get(compact)
    if known is not None:
        return known
    for prefix, provider in _SPELLING_PREFIXES:
        if compact.startswith(prefix):
            return provider
    return re.sub(r"[^a-z0-9._]+", "_", key)


def _family(model: str) -> str | None:
    lowered = model.lower()
    for prefix, provider in _FAMILIES:
        if lowered.startswith(prefix):
            return provider
    return None


def _infer(model: str) -> str:
    """The provider a bare model name implies."""
    lowered = model.lower()
    if lowered.startswith("ft:"):  # a fine-tune (OpenAI, Mistral) names its base model next
        return _family(lowered[3:]) or UNKNOWN
    if _BEDROCK_ID.match(lowered):
        return "aws.bedrock"
    # Only Ollama tags carry a colon otherwise (`llama3:8b`, and `mistral:7b` runs locally too).
    if ":" in lowered:
        return "ollama"
    return _family(lowered) or UNKNOWN


def _model_id(provider: str, model: str) -> str:
    """The model id inside a provider's own paths."""
    if provider == "aws.bedrock":  # `converse/<id>`, `us-east-1/<id>`, ARNs: the id is the last part
        return model.rsplit("/", 1)[-1]
    if provider.startswith("gcp.") and "models/" in model:  # `projects/p/.../models/<id>`, `models/<id>`
        return model.rsplit("models/", 1)[1]
    if provider == "fireworks_ai" and model.startswith("accounts/fireworks/models/"):
        return model.removeprefix("accounts/fireworks/models/")
    return model


@lru_cache(maxsize=4096)
def resolve(model: str, provider: str | None) -> tuple[str, str]:
    """(semconv provider name, model label) for a call; `provider` as the log or app says it, or
    None to infer it from the model."""
    named = normalize_provider(provider) if provider else UNKNOWN
    head, slash, rest = model.partition("/")
    route = _ROUTES.get(head.lower()) if slash and rest else None
    if named == UNKNOWN:
        if route is not None:
            return route, _model_id(route, rest)
        lowered = model.lower()
        if lowered.startswith("arn:aws:bedrock:"):
            return "aws.bedrock", _model_id("aws.bedrock", model)
        if lowered.startswith(("projects/", "publishers/")):
            return "gcp.vertex_ai", _model_id("gcp.vertex_ai", model)
        if lowered.startswith("models/"):  # the Gemini API's resource name
            return _infer(rest), rest
        if lowered.startswith("accounts/fireworks/"):
            return "fireworks_ai", _model_id("fireworks_ai", model)
        if slash:  # `meta-llama/...`: a namespace names who made the model, not who serves it
            return UNKNOWN, model
        return _infer(model), model
    if route == named:  # `openai/gpt-4o` from openai; `openrouter/anthropic/x` keeps `anthropic/x`
        model = rest
    return named, _model_id(named, model)


# A client library's class (without its `Async` prefix) that names the provider it talks to.
_CLIENTS = {
    "AzureOpenAI": "azure.ai.openai",
    "BedrockOpenAI": "aws.bedrock",
    "AnthropicBedrock": "aws.bedrock",
    "AnthropicBedrockMantle": "aws.bedrock",
    "AnthropicAWS": "aws.bedrock",
    "AnthropicVertex": "gcp.vertex_ai",
    "AnthropicGoogleCloud": "gcp.vertex_ai",
    "AnthropicFoundry": "azure.ai.inference",
}
# API hosts -> provider: an exact host, or a parent domain (`.openai.azure.com` matches any resource).
# Other hosts (a proxy, a gateway) say nothing: the client's own provider stays.
_HOSTS = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    ".openai.azure.com": "azure.ai.openai",
    ".cognitiveservices.azure.com": "azure.ai.openai",
    ".models.ai.azure.com": "azure.ai.inference",
    ".inference.ai.azure.com": "azure.ai.inference",
    ".amazonaws.com": "aws.bedrock",  # only `bedrock*` hosts: see provider_of_client
    "aiplatform.googleapis.com": "gcp.vertex_ai",
    ".aiplatform.googleapis.com": "gcp.vertex_ai",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "api.mistral.ai": "mistral_ai",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "api.cohere.com": "cohere",
    "api.cohere.ai": "cohere",
    "openrouter.ai": "openrouter",
    "api.together.xyz": "together_ai",
    "api.fireworks.ai": "fireworks_ai",
    "api.cerebras.ai": "cerebras",
}
# Local servers by their documented default port, where the host says nothing.
_LOCAL_PORTS = {11434: "ollama", 1234: "lm_studio"}
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "host.docker.internal"})


@lru_cache(maxsize=256)
def provider_of_client(client_class: str, host: str | None, port: int | None, default: str) -> str:
    """The provider a client library's call goes to: its class where the class names one
    (`AzureOpenAI`), else its API host (`*.openai.azure.com`, `api.groq.com`), else a local
    server's default port (Ollama's 11434), else `default`, the provider whose API the client speaks."""
    known = _CLIENTS.get(client_class.removeprefix("Async"))
    if known is not None:
        return known
    if host:
        host = host.lower().rstrip(".")
        found = _HOSTS.get(host)
        dot = host.find(".")
        while found is None and dot >= 0:
            found = _HOSTS.get(host[dot:])
            dot = host.find(".", dot + 1)
        if found == "aws.bedrock" and not host.startswith("bedrock"):
            found = None
        if found is not None:
            return found
        if host in _LOCAL_HOSTS and port in _LOCAL_PORTS:
            return _LOCAL_PORTS[port]
    return default


def infer_provider(model: str) -> str:
    """The provider a model name implies (`openai/gpt-4o`, `llama3:8b` as ollama); `unknown` when
    nothing matches."""
    return resolve(model, None)[0]
