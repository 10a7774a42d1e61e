"""A real OTLP receiver for tests: gRPC (MetricsService, TraceService) and HTTP/protobuf
(`POST /v1/metrics`, `/v1/traces`), decoding with opentelemetry-proto. Also the default
OpenTelemetry -> Prometheus name translation, to compare names with the daemon's /metrics."""

from __future__ import annotations

import gzip
import re
import threading
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2


def any_value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass
class Point:
    """One data point of one metric, flattened."""

    name: str
    unit: str
    kind: str  # histogram, sum, gauge
    monotonic: bool
    temporality: int
    attributes: dict[str, Any]
    value: float = 0.0  # sum / gauge value; histogram sum
    count: int = 0
    bounds: list[float] = field(default_factory=list)
    bucket_counts: list[int] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)


def points(request: metrics_service_pb2.ExportMetricsServiceRequest) -> list[Point]:
    out = []
    for rm in request.resource_metrics:
        resource = attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind)
                for p in data.data_points:
                    a = attrs(p.attributes)
                    if kind == "histogram":
                        out.append(
                            Point(
                                m.name,
                                m.unit,
                                "histogram",
                                False,
                                data.aggregation_temporality,
                                a,
                                p.sum,
                                p.count,
                                list(p.explicit_bounds),
                                list(p.bucket_counts),
                                resource,
                            )
                        )
                    else:
                        value = p.as_double if p.WhichOneof("value") == "as_double" else p.as_int
                        monotonic = kind == "sum" and data.is_monotonic
                        temporality = data.aggregation_temporality if kind == "sum" else 0
                        out.append(Point(m.name, m.unit, kind, monotonic, temporality, a, value, resource=resource))
    return out


_UNITS = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "1": "ratio"}


def prometheus_name(p: Point) -> str:
    """The default OpenTelemetry -> Prometheus translation (with unit and type suffixes):
    invalid characters become `_`, `{...}` units are dropped, `s` becomes `_seconds`, monotonic
    sums get `_total`."""
    name = re.sub(r"[^a-zA-Z0-9_:]", "_", p.name)
    name = re.sub(r"__+", "_", name).strip("_")
    unit = re.sub(r"\{[^}]*\}", "", p.unit).strip()
    if unit == "1" and p.kind != "gauge":
        unit = ""
    suffix = _UNITS.get(unit, re.sub(r"[^a-zA-Z0-9_:]", "_", unit))
    if suffix and not name.endswith(suffix):
        name = f"{name}_{suffix}"
    if p.monotonic and not name.endswith("_total"):
        name += "_total"
    return name


def prometheus_labels(p: Point) -> set[str]:
    return {re.sub(r"[^a-zA-Z0-9_]", "_", k) for k in p.attributes}


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: OTLPReceiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        self.receiver._add_metrics(request, "grpc", dict(context.invocation_metadata()))
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OTLPReceiver) -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:
        self.receiver._add_spans(request, "grpc")
        return trace_service_pb2.ExportTraceServiceResponse()


class OTLPReceiver:
    """Both transports on 127.0.0.1; `metric_requests` and `span_requests` hold what arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.metric_requests: list[tuple[str, metrics_service_pb2.ExportMetricsServiceRequest]] = []
        self.span_requests: list[tuple[str, trace_service_pb2.ExportTraceServiceRequest]] = []
        self.headers: list[dict[str, str]] = []
        self.arrived = threading.Condition(self.lock)
        self.grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsServicer(self), self.grpc_server)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceServicer(self), self.grpc_server)
        self.grpc_port = self.grpc_server.add_insecure_port("127.0.0.1:0")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/metrics":
                    req = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
                    receiver._add_metrics(req, "http", {k.lower(): v for k, v in self.headers.items()})
                    reply = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
                elif self.path == "/v1/traces":
                    receiver._add_spans(trace_service_pb2.ExportTraceServiceRequest.FromString(body), "http")
                    reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http_thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def _add_metrics(self, req: Any, transport: str, headers: dict[str, str]) -> None:
        with self.arrived:
            self.metric_requests.append((transport, req))
            self.headers.append(headers)
            self.arrived.notify_all()

    def _add_spans(self, req: Any, transport: str) -> None:
        with self.arrived:
            self.span_requests.append((transport, req))
            self.arrived.notify_all()

    def wait_metrics(self, n: int = 1, timeout: float = 10.0) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.metric_requests) >= n, timeout):
                raise AssertionError(f"{len(self.metric_requests)} metric exports arrived, wanted {n}")

    def latest_points(self, transport: str | None = None) -> list[Point]:
        """The points of the last metrics export (cumulative: it holds every total)."""
        with self.lock:
            reqs = [r for t, r in self.metric_requests if transport is None or t == transport]
        assert reqs, "no metrics export arrived"
        return points(reqs[-1])

    def spans(self, transport: str | None = None) -> list[Any]:
        with self.lock:
            reqs = [r for t, r in self.span_requests if transport is None or t == transport]
        return [s for r in reqs for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def __enter__(self) -> OTLPReceiver:
        self.grpc_server.start()
        self.http_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.grpc_server.stop(None)
        self.httpd.shutdown()
        self.httpd.server_close()


__all__ = ["OTLPReceiver", "Point", "metrics_pb2", "points", "prometheus_labels", "prometheus_name"]
