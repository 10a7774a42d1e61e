"""Model ids and provider names as real producers write them -> one provider label, one model
label, and a price where the price list has one."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_exporter.pipeline.pricing import PriceBook
from llm_exporter.providers import normalize_provider, provider_of_client, resolve
from testkit import make_exporter, scrape, value, write_lines

BEDROCK_SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.mark.parametrize(
    ("model", "given", "provider", "label", "priced"),
    [
        # OpenAI, plain and through LiteLLM
        ("gpt-4o", None, "openai", "gpt-4o", True),
        ("openai/gpt-4o", None, "openai", "gpt-4o", True),
        ("openai/gpt-4o", "openai", "openai", "gpt-4o", True),
        ("gpt-4o-mini-2024-07-18", "text-completion-openai", "openai", "gpt-4o-mini-2024-07-18", True),
        ("o1", None, "openai", "o1", True),
        ("o3-mini", None, "openai", "o3-mini", True),
        ("o4-mini", "openai", "openai", "o4-mini", True),
        ("text-embedding-3-small", None, "openai", "text-embedding-3-small", True),
        ("text-embedding-ada-002", "openai", "openai", "text-embedding-ada-002", True),
        # Fine-tunes: the price list has fine-tuned rates for these bases, not for davinci-002
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", None, "openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123", True),
        ("ft:gpt-3.5-turbo-0125:org::id", None, "openai", "ft:gpt-3.5-turbo-0125:org::id", True),
        ("ft:davinci-002:acme::x1", None, "openai", "ft:davinci-002:acme::x1", False),
        (
            "ft:open-mistral-7b:587a6b29:20240514:7e773925",
            None,
            "mistral_ai",
            "ft:open-mistral-7b:587a6b29:20240514:7e773925",
            False,
        ),
        # Anthropic
        ("claude-3-5-sonnet-20241022", None, "anthropic", "claude-3-5-sonnet-20241022", True),
        ("anthropic/claude-3-5-sonnet-20241022", None, "anthropic", "claude-3-5-sonnet-20241022", True),
        ("claude-sonnet-4-20250514", "anthropic", "anthropic", "claude-sonnet-4-20250514", True),
        # Bedrock, with cross-region prefixes, LiteLLM routes and ARNs
        (BEDROCK_SONNET, None, "aws.bedrock", BEDROCK_SONNET, True),
        (f"bedrock/{BEDROCK_SONNET}", None, "aws.bedrock", BEDROCK_SONNET, True),
        (f"us.{BEDROCK_SONNET}", None, "aws.bedrock", f"us.{BEDROCK_SONNET}", True),
        (f"eu.{BEDROCK_SONNET}", "bedrock", "aws.bedrock", f"eu.{BEDROCK_SONNET}", True),
        (f"apac.{BEDROCK_SONNET}", None, "aws.bedrock", f"apac.{BEDROCK_SONNET}", True),
        (f"bedrock/converse/us.{BEDROCK_SONNET}", None, "aws.bedrock", f"us.{BEDROCK_SONNET}", True),
        (f"arn:aws:bedrock:us-east-1::foundation-model/{BEDROCK_SONNET}", None, "aws.bedrock", BEDROCK_SONNET, True),
        ("meta.llama3-1-70b-instruct-v1:0", None, "aws.bedrock", "meta.llama3-1-70b-instruct-v1:0", True),
        ("amazon.nova-pro-v1:0", None, "aws.bedrock", "amazon.nova-pro-v1:0", True),
        ("us.amazon.nova-lite-v1:0", "aws", "aws.bedrock", "us.amazon.nova-lite-v1:0", True),
        ("mistral.mistral-large-2402-v1:0", None, "aws.bedrock", "mistral.mistral-large-2402-v1:0", True),
        ("cohere.command-r-v1:0", None, "aws.bedrock", "cohere.command-r-v1:0", False),
        # Azure: a deployment is priced only when its name is a model's
        ("azure/my-deployment", None, "azure.ai.openai", "my-deployment", False),
        ("azure/gpt-4o", None, "azure.ai.openai", "gpt-4o", True),
        ("gpt-4o-mini", "Azure OpenAI", "azure.ai.openai", "gpt-4o-mini", True),
        ("prod-chat", "azure_openai", "azure.ai.openai", "prod-chat", False),
        # Vertex AI and Gemini
        ("vertex_ai/gemini-1.5-pro", None, "gcp.vertex_ai", "gemini-1.5-pro", True),
        ("gemini-1.5-pro", "vertex_ai-language-models", "gcp.vertex_ai", "gemini-1.5-pro", True),
        ("vertex_ai/claude-3-5-sonnet@20240620", None, "gcp.vertex_ai", "claude-3-5-sonnet@20240620", True),
        (
            "projects/p1/locations/us-central1/publishers/google/models/gemini-1.5-pro-002",
            None,
            "gcp.vertex_ai",
            "gemini-1.5-pro-002",
            True,
        ),
        ("gemini/gemini-2.0-flash", None, "gcp.gemini", "gemini-2.0-flash", True),
        ("gemini-2.0-flash", None, "gcp.gemini", "gemini-2.0-flash", True),
        ("models/gemini-1.5-flash", None, "gcp.gemini", "gemini-1.5-flash", True),
        # Self-hosted: Ollama tags and vLLM, never priced from a price list
        ("ollama/llama3.1:8b", None, "ollama", "llama3.1:8b", False),
        ("ollama_chat/qwen2.5:7b-instruct", None, "ollama", "qwen2.5:7b-instruct", False),
        ("llama3:8b", None, "ollama", "llama3:8b", False),
        ("qwen2.5:7b-instruct", None, "ollama", "qwen2.5:7b-instruct", False),
        ("mistral:7b", None, "ollama", "mistral:7b", False),
        (f"hosted_vllm/{LLAMA_8B}", None, "vllm", LLAMA_8B, False),
        (LLAMA_8B, "vllm", "vllm", LLAMA_8B, False),
        # Namespaced Hugging Face ids say who made a model, not who serves it
        (LLAMA_8B, None, "unknown", LLAMA_8B, False),
        ("mistralai/Mistral-7B-Instruct-v0.3", None, "unknown", "mistralai/Mistral-7B-Instruct-v0.3", False),
        # Mistral, Groq, DeepSeek, xAI, Cohere, Perplexity
        ("mistral-large-latest", None, "mistral_ai", "mistral-large-latest", True),
        ("mistral/mistral-small-latest", None, "mistral_ai", "mistral-small-latest", True),
        ("codestral-latest", "mistral", "mistral_ai", "codestral-latest", True),
        ("groq/llama-3.3-70b-versatile", None, "groq", "llama-3.3-70b-versatile", True),
        ("llama-3.1-8b-instant", "groq", "groq", "llama-3.1-8b-instant", True),
        ("deepseek-chat", None, "deepseek", "deepseek-chat", True),
        ("deepseek/deepseek-reasoner", None, "deepseek", "deepseek-reasoner", True),
        ("grok-3", None, "x_ai", "grok-3", True),
        ("xai/grok-2-1212", None, "x_ai", "grok-2-1212", True),
        ("command-r-plus", None, "cohere", "command-r-plus", True),
        ("sonar", "perplexity", "perplexity", "sonar", True),
        # Gateways keep their own namespaces
        ("openrouter/anthropic/claude-3.5-sonnet", None, "openrouter", "anthropic/claude-3.5-sonnet", True),
        ("anthropic/claude-3.5-sonnet", "openrouter", "openrouter", "anthropic/claude-3.5-sonnet", True),
        (
            "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
            None,
            "together_ai",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            True,
        ),
        (
            "fireworks_ai/accounts/fireworks/models/llama-v3p1-70b-instruct",
            None,
            "fireworks_ai",
            "llama-v3p1-70b-instruct",
            False,
        ),
    ],
)
def test_model_ids_resolve_to_one_label_and_price(
    model: str, given: str | None, provider: str, label: str, priced: bool
) -> None:
    assert resolve(model, given) == (provider, label)
    assert (PriceBook().lookup(provider, label) is not None) is priced


@pytest.mark.parametrize(
    ("given", "semconv"),
    [
        ("Azure OpenAI", "azure.ai.openai"),
        ("azure_openai", "azure.ai.openai"),
        ("AzureOpenAI", "azure.ai.openai"),
        ("azure-openai", "azure.ai.openai"),
        ("azure", "azure.ai.openai"),
        ("azure_ai", "azure.ai.inference"),
        ("Azure AI Inference", "azure.ai.inference"),
        ("AWS Bedrock", "aws.bedrock"),
        ("bedrock_converse", "aws.bedrock"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("vertex_ai_beta", "gcp.vertex_ai"),
        ("vertex_ai-language-models", "gcp.vertex_ai"),
        ("Google Vertex AI", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("google", "gcp.gen_ai"),
        ("Mistral AI", "mistral_ai"),
        ("codestral", "mistral_ai"),
        ("xAI", "x_ai"),
        ("watsonx", "ibm.watsonx.ai"),
        ("cohere_chat", "cohere"),
        ("hosted_vllm", "vllm"),
        ("ollama_chat", "ollama"),
        ("Together AI", "together_ai"),
        ("gcp.vertex_ai", "gcp.vertex_ai"),
        ("Some Cloud", "some_cloud"),
        ("", "unknown"),
    ],
)
def test_provider_spellings(given: str, semconv: str) -> None:
    assert normalize_provider(given) == semconv


def test_a_named_provider_keeps_a_prefix_that_names_another() -> None:
    # An OpenAI-compatible endpoint serving an open model: the log's provider wins, the id stays whole.
    assert resolve("openai/gpt-oss-120b", "vllm") == ("vllm", "openai/gpt-oss-120b")
    assert resolve("gpt-4o", "unknown") == ("openai", "gpt-4o")


def test_either_spelling_finds_the_same_price() -> None:
    prices = PriceBook()
    assert prices.lookup("openai", "openai/gpt-4o") == prices.lookup("openai", "gpt-4o") is not None
    assert prices.lookup("aws.bedrock", f"bedrock/us.{BEDROCK_SONNET}") == prices.lookup("aws.bedrock", BEDROCK_SONNET)


def test_litellm_and_sdk_spellings_share_one_series(tmp_path: Path) -> None:
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(
        log,
        [
            f'{{"event_type":"completion_request","request_id":"{rid}","model":"{model}"}}\n'
            f'{{"event_type":"completion_response","request_id":"{rid}","success":true,"response_time_ms":500,'
            '"token_usage":{"prompt_tokens":1000,"completion_tokens":100}}\n'
            for rid, model in (("a", "openai/gpt-4o"), ("b", "gpt-4o"))
        ],
    )
    exporter.poll_once()
    s = scrape(exporter)
    counts = [dict(ls) for name, ls in s if name == "gen_ai_client_operation_duration_seconds_count"]
    assert [(c["gen_ai_provider_name"], c["gen_ai_request_model"]) for c in counts] == [("openai", "gpt-4o")]
    labels = {"gen_ai_request_model": "gpt-4o", "gen_ai_provider_name": "openai"}
    assert value(s, "gen_ai_client_operation_duration_seconds_count", **labels) == 2
    # gpt-4o at $2.50 / $10 per million tokens: 2 x (1000 x 2.5 + 100 x 10) / 1e6
    assert value(s, "llm_cost_usd_total", **labels) == pytest.approx(0.007)


@pytest.mark.parametrize(
    ("client", "host", "port", "provider"),
    [
        ("AzureOpenAI", "127.0.0.1", 8080, "azure.ai.openai"),  # the class says it, wherever it points
        ("AsyncAzureOpenAI", None, None, "azure.ai.openai"),
        ("OpenAI", "myres.openai.azure.com", 443, "azure.ai.openai"),
        ("AsyncOpenAI", "myres.cognitiveservices.azure.com", 443, "azure.ai.openai"),
        ("OpenAI", "api.openai.com", 443, "openai"),
        ("OpenAI", "api.groq.com", 443, "groq"),
        ("OpenAI", "api.deepseek.com", 443, "deepseek"),
        ("OpenAI", "api.x.ai", 443, "x_ai"),
        ("OpenAI", "api.perplexity.ai", 443, "perplexity"),
        ("OpenAI", "api.mistral.ai", 443, "mistral_ai"),
        ("OpenAI", "generativelanguage.googleapis.com", 443, "gcp.gemini"),
        ("OpenAI", "bedrock-runtime.us-east-1.amazonaws.com", 443, "aws.bedrock"),
        ("OpenAI", "s3.amazonaws.com", 443, "openai"),  # not a Bedrock host
        ("OpenAI", "localhost", 11434, "ollama"),  # Ollama's OpenAI-compatible API on its own port
        ("OpenAI", "127.0.0.1", 8000, "openai"),  # a local server that does not say which it is
        ("OpenAI", "notopenai.azure.com", 443, "openai"),
        ("AnthropicBedrock", None, None, "aws.bedrock"),
        ("AsyncAnthropicVertex", "us-east5-aiplatform.googleapis.com", 443, "gcp.vertex_ai"),
        ("Anthropic", "api.anthropic.com", 443, "anthropic"),
    ],
)
def test_a_client_names_its_provider_by_its_class_or_its_host(
    client: str, host: str | None, port: int | None, provider: str
) -> None:
    default = "anthropic" if client.removeprefix("Async").startswith("Anthropic") else "openai"
    assert provider_of_client(client, host, port, default) == provider
