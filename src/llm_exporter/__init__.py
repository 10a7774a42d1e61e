"""llm-exporter: Prometheus and OpenTelemetry metrics for LLM applications."""

__version__ = "0.1.0"
