"""The exporter's YAML config: schema, loading, environment overrides, readable errors."""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llm_exporter.semconv import DURATION_BUCKETS, EXTENDED_DURATION_BUCKETS, SHARED_LABELS

ENV_PREFIX = "LLM_EXPORTER__"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESERVED_LABELS = frozenset(
    {
        *SHARED_LABELS,
        "error_type",
        "gen_ai_token_type",
        "action",
        "symbol",
        "validation_result",
        "result",
        "threshold",
        "source",
        "le",
        "quantile",
        "job",
        "instance",
    }
)


class ConfigError(Exception):
    """A config that cannot be used; the message names the file, the key path and the problem."""


class _Strict(BaseModel):
    # Validators are built by parse_config (_build_validators), not at import: a replay without
    # a config file never builds them (sources_config), and building them all cost about 20 ms
    # of every start-up.
    model_config = ConfigDict(extra="forbid", defer_build=True)


_SOURCE_NAME = r"^[A-Za-z0-9_.-]+$"
_SOURCE_NAME_MAX = 64


class SourceConfig(_Strict):
    name: str = Field(pattern=_SOURCE_NAME, max_length=_SOURCE_NAME_MAX)
    path: str = Field(min_length=1, description="a file path or glob")
    format: Literal["auto", "completion", "event", "litellm"] = "auto"
    start_at: Literal["beginning", "end"] = "beginning"
    labels: dict[str, str] = Field(default_factory=dict)
    # Opt-in labels taken from each line: label name -> dotted path of a JSON field (for example
    # `team: metadata.user_api_key_team_id`). Their values count against limits.max_label_values.
    label_fields: dict[str, str] = Field(default_factory=dict)
    # Rotated siblings that are compressed are never parsed; more patterns can be excluded.
    exclude: list[str] = Field(default_factory=lambda: ["*.gz", "*.bz2", "*.xz", "*.zst", "*.zip"])

    @field_validator("labels", "label_fields")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name, value in labels.items():
            if not _LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"{name!r} is not a valid Prometheus label name")
            if name in _RESERVED_LABELS:
                raise ValueError(f"{name!r} is a label the exporter sets itself")
            if not value:
                raise ValueError(f"{name!r} needs a value")
        return labels

    @field_validator("label_fields")
    @classmethod
    def _field_paths(cls, fields: dict[str, str]) -> dict[str, str]:
        for name, path in fields.items():
            if "" in path.split("."):  # `metadata..team` or `.team` names no field: it would never match
                raise ValueError(f"{name!r}: {path!r} is not a dotted path of field names (an empty name)")
        return fields

    @model_validator(mode="after")
    def _labels_apart(self) -> SourceConfig:
        both = sorted(set(self.labels) & set(self.label_fields))
        if both:
            raise ValueError(f"{', '.join(both)} set both in labels and in label_fields")
        return self


class PriceOverride(_Strict):
    """US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)


class PricingConfig(_Strict):
    overrides: dict[str, PriceOverride] = Field(default_factory=dict)


class LimitsConfig(_Strict):
    max_label_values: int = Field(default=500, ge=1, description="distinct values per label")
    max_series: int = Field(default=2000, ge=1, description="label sets per source")
    # 16 MiB: LiteLLM logs a call's whole `messages`, so a long-context call is a line of several MB.
    max_line_bytes: int = Field(
        default=16 * 1024 * 1024, ge=256, description="longer lines are skipped and counted as too_long"
    )
    pending_requests: int = Field(default=10_000, ge=1)
    # Descriptors of followed files kept open (idle ones are closed and reopened); unset: half
    # the process's file descriptor limit.
    max_open_files: int | None = Field(default=None, ge=2)
    pending_ttl_seconds: float = Field(default=600.0, gt=0)
    # How long a request whose last attempt failed waits for a retry or fallback (same
    # trace_id) before it counts as a failed request.
    request_settle_seconds: float = Field(default=120.0, gt=0)


class ThresholdsConfig(_Strict):
    max_response_time_seconds: float = Field(default=30.0, gt=0)
    max_cost_per_hour_usd: float = Field(default=10.0, ge=0)
    min_success_ratio: float = Field(default=0.9, ge=0, le=1)
    max_consecutive_failures: int = Field(default=3, ge=1)
    monthly_budget_usd: float = Field(default=500.0, ge=0)
    # Fewest events in a ratio alert's window (requests in an hour for LLMSuccessRatioLow, lines
    # in 15 minutes for LLMExporterLinesRejected): one failed call of a quiet model is no page.
    min_ratio_volume: int = Field(default=20, ge=1)
    # LLMLogsStalled: how long a source may read nothing (its expected activity window); 0 never.
    logs_stalled_after_seconds: float = Field(default=1800.0, ge=0)
    logs_stalled_after_seconds_by_source: dict[str, float] = Field(default_factory=dict)

    @field_validator("logs_stalled_after_seconds_by_source")
    @classmethod
    def _windows(cls, windows: dict[str, float]) -> dict[str, float]:
        for source, seconds in windows.items():
            if seconds < 0:
                raise ValueError(f"{source}: {seconds} is negative (0 turns the alert off)")
        return windows

    def gauge_samples(self) -> list[tuple[dict[str, str], float]]:
        """llm_alert_threshold's samples: one per threshold, plus one per source with its own window."""
        samples: list[tuple[dict[str, str], float]] = []
        # The fields themselves, not model_dump(): that would build the serializer (defer_build)
        # for a few numbers, about 15 ms of a replay.
        for name in type(self).model_fields:
            if name != "logs_stalled_after_seconds_by_source":
                samples.append(({"threshold": name}, float(getattr(self, name))))
        for source, seconds in sorted(self.logs_stalled_after_seconds_by_source.items()):
            samples.append(({"threshold": "logs_stalled_after_seconds", "source": source}, float(seconds)))
        return samples


def unreachable_latency_threshold(thresholds: ThresholdsConfig, buckets: Sequence[float]) -> str | None:
    """Why LLMSlowResponses could never fire with these duration buckets, or None.

    histogram_quantile() never returns more than the highest finite bucket bound, so a p95 above
    2 x max_response_time_seconds (the critical alert) needs that bound to be above it."""
    top = max(b for b in buckets if b != float("inf"))
    limit = thresholds.max_response_time_seconds
    if 2 * limit >= top:
        return (
            f"thresholds.max_response_time_seconds: {limit:g} s cannot alert: the duration histogram's highest "
            f"bucket is {top:g} s, so p95 never exceeds it and the critical alert (2 x {limit:g} s) can never "
            f"fire; set it below {top / 2:g} s"
        )
    return None


class HistogramsConfig(_Strict):
    # The semconv duration boundaries end at 81.92 s; this adds 163.84, 327.68 and 655.36 for
    # reasoning models. Other instrumentations' series of the same family then differ in `le`.
    extended_duration_buckets: bool = False

    @property
    def duration_buckets(self) -> tuple[float, ...]:
        return EXTENDED_DURATION_BUCKETS if self.extended_duration_buckets else DURATION_BUCKETS


class OTLPConfig(_Strict):
    """The daemon's OTLP push; unset keys fall back to the standard OTEL_EXPORTER_OTLP_* variables."""

    endpoint: str | None = None
    protocol: Literal["grpc", "http/protobuf"] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    interval_seconds: float = Field(default=60.0, gt=0)
    # One push, retries included; also bounds the last push when the daemon stops.
    timeout_seconds: float = Field(default=5.0, gt=0)
    insecure: bool | None = None
    resource_attributes: dict[str, str] = Field(default_factory=dict)
    # Push the metrics; off where Prometheus scrapes /metrics already and only spans should go.
    metrics: bool = True
    # Each completion read as a span (exposition/traces.py): the share of sessions (or calls,
    # where the log has no session) sent, and the spans that may wait for the exporter.
    traces: bool = False
    traces_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    traces_max_queue_size: int = Field(default=2048, ge=1)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, endpoint: str | None) -> str | None:
        # Anything else fails only at push time, retried every interval forever.
        if endpoint is None:
            return None
        url = urlsplit(endpoint)
        try:
            url.port  # noqa: B018 (raises on a port that is not a number in range)
        except ValueError:
            raise ValueError(f"{endpoint!r} has an invalid port") from None
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"{endpoint!r} is not an http:// or https:// URL (e.g. http://otel-collector:4317)")
        return endpoint


class ProbeConfig(_Strict):
    """A model server asked for its models (never a completion) every `interval_seconds`."""

    url: str = Field(description="base URL: OpenAI-compatible as clients use it (…/v1), Ollama's, Anthropic's")
    type: Literal["openai", "ollama", "anthropic"] = "openai"
    provider: str | None = Field(default=None, description="gen_ai_provider_name; default: the type")
    interval_seconds: float = Field(default=30.0, gt=0)
    timeout_seconds: float = Field(default=5.0, gt=0)
    api_key_env: str | None = None  # the key is read from this variable, or from api_key_file
    api_key_file: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        if parts.username or parts.password:
            raise ValueError("credentials in the URL would show in logs; use api_key_env or api_key_file")
        return url


class Config(_Strict):
    sources: list[SourceConfig] = Field(min_length=1)
    positions_file: str | None = None
    poll_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    glob_interval_seconds: float = Field(default=5.0, gt=0)
    rotate_wait_seconds: float = Field(default=5.0, ge=0)
    force_polling: bool = False
    positions_save_interval_seconds: float = Field(default=5.0, gt=0)
    # ... or after this many bytes read, whichever comes first (a long start-up read included).
    positions_save_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    histograms: HistogramsConfig = Field(default_factory=HistogramsConfig)
    otlp: OTLPConfig | None = None
    probes: list[ProbeConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"source name {source.name!r} is used twice")
            seen.add(source.name)
        return self

    @model_validator(mode="after")
    def _stall_windows_name_sources(self) -> Config:
        unknown = sorted(set(self.thresholds.logs_stalled_after_seconds_by_source) - {s.name for s in self.sources})
        if unknown:
            raise ValueError(f"thresholds.logs_stalled_after_seconds_by_source: no source named {', '.join(unknown)}")
        return self


Loc = tuple[str | int, ...]  # a key path, as pydantic reports it: ("sources", 0, "path")


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _set_by(loc: Loc, overrides: Mapping[Loc, str]) -> str | None:
    """The variable that set this key, a key above it (a whole mapping) or below it (an extra key)."""
    for key, var in overrides.items():
        n = min(len(key), len(loc))
        if n and key[:n] == tuple(loc[:n]):
            return var
    return None


def format_errors(exc: ValidationError, overrides: Mapping[Loc, str] | None = None) -> str:
    """One line per problem: the key path, what is wrong, and the variable that set it, if one did."""
    lines = []
    for err in exc.errors():
        var = _set_by(err["loc"], overrides or {})
        lines.append(f"  {_key_path(err['loc'])}: {err['msg']}" + (f" (set by {var})" if var else ""))
    return "\n".join(lines)


def _env_value(var: str, text: str) -> Any:
    import yaml  # imported where a YAML text is read: a replay without a config file reads none

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"{var}: not a YAML value: {text!r}") from None


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[Loc, str]:
    """`LLM_EXPORTER__THRESHOLDS__MONTHLY_BUDGET_USD=800` sets thresholds.monthly_budget_usd in
    `raw`; a number selects a list item (`LLM_EXPORTER__SOURCES__0__PATH`). Values are YAML
    scalars. Returns the key path each variable set, so that errors can name the variable."""
    overrides: dict[Loc, str] = {}
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in var[len(ENV_PREFIX) :].split("__")]
        loc: list[str | int] = []
        node: Any = raw
        for i, key in enumerate(keys):
            last = i == len(keys) - 1
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ConfigError(f"{var}: no list item {key!r} to override")
                loc.append(int(key))
                if last:
                    node[int(key)] = _env_value(var, environ[var])
                else:
                    node = node[int(key)]
            elif isinstance(node, dict):
                loc.append(key)
                if last:
                    node[key] = _env_value(var, environ[var])
                else:
                    node = node.setdefault(key, {})
            else:
                raise ConfigError(f"{var}: {'.'.join(keys[:i])} is not a mapping or list")
        overrides[tuple(loc)] = var
    return overrides


def _build_validators() -> None:
    """Build every config model's validator now, on this thread. Left to pydantic, a deferred
    model is built on first use, which pydantic does not make thread-safe (a first use racing it
    may even get the parent's validator, which forbids every field): the daemon's HTTP threads
    build a ProbeConfig for each /probe, but only after the config was parsed."""
    for model in _Strict.__subclasses__():
        model.model_rebuild()  # nothing to do once built


def parse_config(raw: Any, origin: str, environ: Mapping[str, str] | None = None) -> Config:
    _build_validators()
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping, not {type(raw).__name__}")
    overrides = apply_env_overrides(raw, os.environ if environ is None else environ)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: invalid config\n{format_errors(exc, overrides)}") from None


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file; every problem raises ConfigError with a readable message."""
    import yaml

    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{origin}: cannot read config: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{origin}{where}: invalid YAML: {problem}") from None
    return parse_config(raw, origin, environ)


def config_for_glob(glob: str, fmt: str = "auto", environ: Mapping[str, str] | None = None) -> Config:
    """The config `--log-path GLOB` stands for: one source named `default`."""
    return parse_config({"sources": [{"name": "default", "path": glob, "format": fmt}]}, "--log-path", environ)


_FORMATS = frozenset(get_args(SourceConfig.model_fields["format"].annotation))
_START_AT = frozenset(get_args(SourceConfig.model_fields["start_at"].annotation))


def sources_config(sources: list[dict[str, Any]], origin: str, environ: Mapping[str, str] | None = None) -> Config:
    """`parse_config({"sources": sources, "positions_file": None}, origin)` for sources with a
    name, path, format, start_at and no labels, as replay builds them without a config file.

    When every value is plainly valid and no LLM_EXPORTER__ variable could override one, the
    Config is constructed without validation, which would first build every model's validator;
    it is the same Config, fields set included (tests/test_config.py compares them)."""
    raw: dict[str, Any] = {"sources": sources, "positions_file": None}
    environ = os.environ if environ is None else environ
    if any(var.startswith(ENV_PREFIX) for var in environ) or not all(_plain_source(s) for s in sources):
        return parse_config(raw, origin, environ)
    names = [s["name"] for s in sources]
    if len(set(names)) != len(names):
        return parse_config(raw, origin, environ)  # for the error message
    return _construct(Config, {"sources": [_construct(SourceConfig, dict(s)) for s in sources], "positions_file": None})


def _plain_source(source: dict[str, Any]) -> bool:
    name = source.get("name")
    return (
        source.keys() == {"name", "path", "format", "start_at", "labels"}
        and isinstance(name, str)
        and len(name) <= _SOURCE_NAME_MAX
        and re.match(_SOURCE_NAME, name) is not None
        and isinstance(source["path"], str)
        and source["path"] != ""
        and source["format"] in _FORMATS
        and source["start_at"] in _START_AT
        and source["labels"] == {}
    )


_M = TypeVar("_M", bound=BaseModel)


def _construct(model: type[_M], values: dict[str, Any]) -> _M:
    """`model.model_validate(values)` for valid values, unvalidated: defaults that are models are
    constructed likewise, and the fields set are the keys given, as validation records them."""
    given = set(values)
    for name, field in model.model_fields.items():
        factory = field.default_factory
        if name in values or factory is None:
            continue
        # Called here, not by model_construct: it inspects each factory's signature (a few ms).
        is_model = isinstance(factory, type) and issubclass(factory, BaseModel)
        values[name] = _construct(factory, {}) if is_model else factory()  # type: ignore[call-arg]
    return model.model_construct(_fields_set=given, **values)


def no_files(source: SourceConfig) -> str | None:
    """Why the source would read nothing right now (no regular file matches its glob, or its
    directory is missing), or None when a file matches. Not an error: files may appear later."""
    for path in glob.glob(source.path):
        if os.path.isfile(path) and not any(fnmatch.fnmatch(os.path.basename(path), x) for x in source.exclude):
            return None
    directory = os.path.dirname(source.path)
    if directory and not glob.has_magic(directory) and not os.path.isdir(directory):
        return f"no file matches {source.path}: directory {directory} does not exist"
    return f"no file matches {source.path}"
