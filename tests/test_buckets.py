"""The duration and time-to-first-chunk histograms of /metrics have exactly the GenAI semconv
boundaries, so their series sum with any other semconv instrumentation's; longer ones on request."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from testkit import make_exporter, write_lines

# The convention's explicit bucket boundaries for gen_ai.client.operation.duration (and
# time_to_first_chunk), written out rather than computed.
SEMCONV = ["0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12", "10.24", "20.48", "40.96"]
SEMCONV += ["81.92", "+Inf"]
EXTENDED = [*SEMCONV[:-1], "163.84", "327.68", "655.36", "+Inf"]

LINES = [
    '{"event_type":"completion_request","request_id":"r1","model":"o3"}\n',
    '{"event_type":"completion_response","request_id":"r1","success":true,"response_time_ms":200000,'
    '"token_usage":{"prompt_tokens":10,"completion_tokens":5},"time_to_first_chunk_ms":150000}\n',
    '{"event_type":"completion_request","request_id":"r2","model":"o3"}\n',
    '{"event_type":"completion_response","request_id":"r2","success":false,"response_time_ms":30,'
    '"error_type":"RateLimitError"}\n',
]
FAMILIES = ("gen_ai_client_operation_duration_seconds", "gen_ai_client_operation_time_to_first_chunk_seconds")


def le_values(tmp_path: Path, **config: object) -> dict[tuple[str, str], list[str]]:
    """`le` values of every series of the two families, by (family, error_type), in exposition order;
    and the bucket counts of the successful call's duration under "counts"."""
    exporter, log = make_exporter(tmp_path, "completion", **config)
    write_lines(log, LINES)
    exporter.drain()
    text = generate_latest(exporter.registry(process=False)).decode()
    out: dict[tuple[str, str], list[str]] = {}
    for family in text_string_to_metric_families(text):
        if family.name in FAMILIES:
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    out.setdefault((family.name, s.labels.get("error_type", "")), []).append(s.labels["le"])
    exporter.close()
    return out


def test_semconv_boundaries_by_default(tmp_path: Path) -> None:
    assert le_values(tmp_path) == {
        (FAMILIES[0], ""): SEMCONV,
        (FAMILIES[0], "RateLimitError"): SEMCONV,
        (FAMILIES[1], ""): SEMCONV,
    }


def test_extended_boundaries_on_request(tmp_path: Path) -> None:
    assert le_values(tmp_path, histograms={"extended_duration_buckets": True}) == {
        (FAMILIES[0], ""): EXTENDED,
        (FAMILIES[0], "RateLimitError"): EXTENDED,
        (FAMILIES[1], ""): EXTENDED,
    }
