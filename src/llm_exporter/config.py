"""The exporter's YAML config: schema, loading, environment overrides, readable errors."""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit

# The schema is plain dataclasses; pydantic, imported by _validator(), validates them from a
# YAML mapping. A replay without a config file constructs them and never imports pydantic (about
# 40 ms of its start-up, issue 11). The annotations stay strings until pydantic resolves them.
if TYPE_CHECKING:
    import argparse

    from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

from llm_exporter.semconv import DURATION_BUCKETS, EXTENDED_DURATION_BUCKETS, SHARED_LABELS

log = logging.getLogger(__name__)
ENV_PREFIX = "LLM_EXPORTER__"
DEFAULT_MAX_SAMPLES = 25_000
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
        "budget",
        "le",
        "quantile",
        "job",
        "instance",
    }
)


class ConfigError(Exception):
    """A config that cannot be used; the message names the file, the key path and the problem."""


class _Strict:
    # Read by pydantic when it validates the dataclass (a TypedDict: a plain dict needs no import).
    __pydantic_config__ = {"extra": "forbid"}


_SOURCE_NAME = r"^[A-Za-z0-9_.-]+$"
_SOURCE_NAME_MAX = 64
SourceFormat = Literal["auto", "completion", "event", "litellm"]
StartAt = Literal["beginning", "end"]


def _label_names(labels: dict[str, str]) -> dict[str, str]:
    for name, value in labels.items():
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"{name!r} is not a valid Prometheus label name")
        if name in _RESERVED_LABELS:
            raise ValueError(f"{name!r} is a label the exporter sets itself")
        if not value:
            raise ValueError(f"{name!r} needs a value")
    return labels


def _field_paths(fields: dict[str, str]) -> dict[str, str]:
    for name, path in fields.items():
        if "" in path.split("."):  # `metadata..team` or `.team` names no field: it would never match
            raise ValueError(f"{name!r}: {path!r} is not a dotted path of field names (an empty name)")
    return fields


@dataclass
class SourceConfig(_Strict):
    name: Annotated[str, Field(pattern=_SOURCE_NAME, max_length=_SOURCE_NAME_MAX)]
    path: Annotated[str, Field(min_length=1, description="a file path or glob")]
    format: SourceFormat = "auto"
    start_at: StartAt = "beginning"
    labels: Annotated[dict[str, str], AfterValidator(_label_names)] = field(default_factory=dict)
    # Opt-in labels taken from each line: label name -> dotted path of a JSON field (for example
    # `team: metadata.user_api_key_team_id`). Their values count against limits.max_label_values.
    label_fields: Annotated[dict[str, str], AfterValidator(_label_names), AfterValidator(_field_paths)] = field(
        default_factory=dict
    )
    # Rotated siblings that are compressed are never parsed; more patterns can be excluded.
    exclude: list[str] = field(default_factory=lambda: ["*.gz", "*.bz2", "*.xz", "*.zst", "*.zip"])

    def __post_init__(self) -> None:
        both = sorted(set(self.labels) & set(self.label_fields))
        if both:
            raise ValueError(f"{', '.join(both)} set both in labels and in label_fields")


@dataclass
class PriceOverride(_Strict):
    """US dollars per million tokens."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    cache_read: Annotated[float | None, Field(ge=0)] = None
    cache_write: Annotated[float | None, Field(ge=0)] = None


@dataclass
class PricingConfig(_Strict):
    overrides: dict[str, PriceOverride] = field(default_factory=dict)


@dataclass
class LimitsConfig(_Strict):
    max_label_values: Annotated[int, Field(ge=1, description="distinct values per label")] = 500
    # What a scrape of one source may carry, as Prometheus' sample_limit counts (docs/performance.md:
    # at most about 0.3 s of CPU a scrape at the default).
    max_samples: Annotated[int, Field(ge=1, description="samples per source")] = DEFAULT_MAX_SAMPLES
    # Deprecated: the budget once counted label sets. An old config's value still works, read as
    # that many of the costliest label sets (SourcePipeline.set_budget), with a warning.
    max_series: Annotated[int | None, Field(ge=1, description="deprecated: use max_samples")] = None
    # 16 MiB: LiteLLM logs a call's whole `messages`, so a long-context call is a line of several MB.
    max_line_bytes: Annotated[int, Field(ge=256, description="longer lines are skipped and counted as too_long")] = (
        16 * 1024 * 1024
    )
    pending_requests: Annotated[int, Field(ge=1)] = 10_000
    # Descriptors of followed files kept open (idle ones are closed and reopened); unset: half
    # the process's file descriptor limit.
    max_open_files: Annotated[int | None, Field(ge=2)] = None
    pending_ttl_seconds: Annotated[float, Field(gt=0)] = 600.0
    # How long a request whose last attempt failed waits for a retry or fallback (same
    # trace_id) before it counts as a failed request.
    request_settle_seconds: Annotated[float, Field(gt=0)] = 120.0
    # How long a provider's rate-limit figures (llm_ratelimit_*) stay after the last response that
    # told them: a model no longer called has no headroom to show, and its per-minute limits are
    # whole again long before this.
    ratelimit_stale_seconds: Annotated[float, Field(gt=0)] = 600.0
    # A session (calls sharing a session_id) ends after this long without a call; at most this
    # many are open per source, the least recently active ending early past it (counted).
    session_idle_seconds: Annotated[float, Field(gt=0)] = 1800.0
    max_open_sessions: Annotated[int, Field(ge=1)] = 10_000

    def __post_init__(self) -> None:
        if self.max_series is None:
            return
        if self.max_samples != DEFAULT_MAX_SAMPLES:
            raise ValueError("max_series is the deprecated form of max_samples: set max_samples only")
        log.warning(
            "limits.max_series is deprecated: the budget counts samples now (limits.max_samples, what "
            "Prometheus' sample_limit counts); max_series: %d is read as that many label sets at their "
            "costliest and the overflow one. Write max_samples instead (default %d).",
            self.max_series,
            DEFAULT_MAX_SAMPLES,
        )


def _windows(windows: dict[str, float]) -> dict[str, float]:
    for source, seconds in windows.items():
        if seconds < 0:
            raise ValueError(f"{source}: {seconds} is negative (0 turns the alert off)")
    return windows


@dataclass
class ThresholdsConfig(_Strict):
    max_response_time_seconds: Annotated[float, Field(gt=0)] = 30.0
    max_cost_per_hour_usd: Annotated[float, Field(ge=0)] = 10.0
    min_success_ratio: Annotated[float, Field(ge=0, le=1)] = 0.9
    max_consecutive_failures: Annotated[int, Field(ge=1)] = 3
    monthly_budget_usd: Annotated[float, Field(ge=0)] = 500.0
    # Fewest events in a ratio alert's window (requests in an hour for LLMSuccessRatioLow, lines
    # in 15 minutes for LLMExporterLinesRejected): one failed call of a quiet model is no page.
    min_ratio_volume: Annotated[int, Field(ge=1)] = 20
    # LLMLogsStalled: how long a source may read nothing (its expected activity window); 0 never.
    logs_stalled_after_seconds: Annotated[float, Field(ge=0)] = 1800.0
    logs_stalled_after_seconds_by_source: Annotated[dict[str, float], AfterValidator(_windows)] = field(
        default_factory=dict
    )
    # LLMRateLimitNearlyExhausted: a provider's rate limit with less than this share left
    # (llm_ratelimit_remaining / llm_ratelimit_limit); critical under half of it.
    min_ratelimit_remaining_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1
    # LLMBillingCaptureOutOfBand (issue 24): our cost of a closed UTC day over the provider's bill
    # outside [min, max], for a provider or model billed at least min_capture_billed_usd that day,
    # once the day has been over for capture_settle_hours (providers close a day hours late).
    min_capture_ratio: Annotated[float, Field(ge=0)] = 0.95
    max_capture_ratio: Annotated[float, Field(gt=0)] = 1.05
    min_capture_billed_usd: Annotated[float, Field(ge=0)] = 1.0
    capture_settle_hours: Annotated[float, Field(ge=0, le=48)] = 12.0
    # LLMOwnerBudgetNearlySpent: the share of an owner's monthly budget (budgets:) spent that warns.
    owner_budget_warn_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8

    def __post_init__(self) -> None:
        if self.min_capture_ratio >= self.max_capture_ratio:
            raise ValueError("min_capture_ratio must be below max_capture_ratio")

    def gauge_samples(self) -> list[tuple[dict[str, str], float]]:
        """llm_alert_threshold's samples: one per threshold, plus one per source with its own window."""
        samples: list[tuple[dict[str, str], float]] = []
        for f in fields(self):
            if f.name != "logs_stalled_after_seconds_by_source":
                samples.append(({"threshold": f.name}, float(getattr(self, f.name))))
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


@dataclass
class HistogramsConfig(_Strict):
    # The semconv duration boundaries end at 81.92 s; this adds 163.84, 327.68 and 655.36 for
    # reasoning models. Other instrumentations' series of the same family then differ in `le`.
    extended_duration_buckets: bool = False

    @property
    def duration_buckets(self) -> tuple[float, ...]:
        return EXTENDED_DURATION_BUCKETS if self.extended_duration_buckets else DURATION_BUCKETS


def _endpoint_url(endpoint: str | None) -> str | None:
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


@dataclass
class OTLPConfig(_Strict):
    """The daemon's OTLP push; unset keys fall back to the standard OTEL_EXPORTER_OTLP_* variables."""

    endpoint: Annotated[str | None, AfterValidator(_endpoint_url)] = None
    protocol: Literal["grpc", "http/protobuf"] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    interval_seconds: Annotated[float, Field(gt=0)] = 60.0
    # One push, retries included; also bounds the last push when the daemon stops.
    timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    insecure: bool | None = None
    resource_attributes: dict[str, str] = field(default_factory=dict)
    # Push the metrics; off where Prometheus scrapes /metrics already and only spans should go.
    metrics: bool = True
    # Each completion read as a span (exposition/traces.py): the share of sessions (or calls,
    # where the log has no session) sent, and the spans that may wait for the exporter.
    traces: bool = False
    traces_sample_ratio: Annotated[float, Field(ge=0, le=1)] = 1.0
    traces_max_queue_size: Annotated[int, Field(ge=1)] = 2048


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL would show in logs; use api_key_env or api_key_file")
    return url


@dataclass
class ProbeConfig(_Strict):
    """A model server asked for its models (never a completion) every `interval_seconds`."""

    url: Annotated[
        str,
        Field(description="base URL: OpenAI-compatible as clients use it (…/v1), Ollama's, Anthropic's"),
        AfterValidator(_http_url),
    ]
    type: Literal["openai", "ollama", "anthropic"] = "openai"
    provider: Annotated[str | None, Field(description="gen_ai_provider_name; default: the type")] = None
    interval_seconds: Annotated[float, Field(gt=0)] = 30.0
    timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    api_key_env: str | None = None  # the key is read from this variable, or from api_key_file
    api_key_file: str | None = None


def _admin_url(url: str) -> str:
    if urlsplit(url).username or urlsplit(url).password:
        raise ValueError("credentials in the URL would show in logs; use admin_key_env or admin_key_file")
    return _http_url(url)


@dataclass
class BillingAccount(_Strict):
    """A provider's own cost report, fetched with an admin key every `interval_seconds`."""

    provider: Literal["openai", "anthropic"]
    url: Annotated[
        str,
        Field(description="base URL: https://api.openai.com/v1, https://api.anthropic.com"),
        AfterValidator(_admin_url),
    ]
    admin_key_env: str | None = None  # the key is read from this variable, or from admin_key_file
    admin_key_file: str | None = None
    interval_seconds: Annotated[float, Field(ge=60)] = 3600.0
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0

    def __post_init__(self) -> None:
        if (self.admin_key_env is None) == (self.admin_key_file is None):
            raise ValueError("set one of admin_key_env and admin_key_file: the cost reports need an admin key")


@dataclass
class BillingConfig(_Strict):
    # Closed UTC days fetched and exported (the bill of today is never final).
    days: Annotated[int, Field(ge=1, le=180)] = 35
    accounts: list[BillingAccount] = field(default_factory=list)


@dataclass
class BudgetConfig(_Strict):
    """A monthly budget for the owner whose series carry these label values (`{team: research}`)."""

    match: Annotated[dict[str, str], Field(min_length=1), AfterValidator(_label_names)]
    monthly_usd: Annotated[float, Field(gt=0, allow_inf_nan=False, description="US dollars a calendar month")]

    @property
    def key(self) -> str:
        """The `budget` label: the match as `name=value` pairs by name, which names it uniquely."""
        return ",".join(f"{name}={value}" for name, value in sorted(self.match.items()))


def _budget_problem(budgets: list[BudgetConfig], sources: list[SourceConfig]) -> str | None:
    """Why the budgets cannot be used with these sources: a match on labels that no source puts
    on its series together (it would never match a call), or the same match twice."""
    exposed = [set(s.labels) | set(s.label_fields) for s in sources]
    known = sorted(set().union(*exposed))
    seen: dict[str, int] = {}
    for i, budget in enumerate(budgets):
        where = f"budgets[{i}].match"
        unknown = sorted(set(budget.match) - set(known))
        if unknown:
            return (
                f"{where}: no source has the label {', '.join(map(repr, unknown))} in its labels or label_fields "
                f"(they have: {', '.join(known) or 'none'})"
            )
        if not any(set(budget.match) <= labels for labels in exposed):
            return f"{where}: no single source has all of {', '.join(sorted(budget.match))}, so no call can match"
        if budget.key in seen:
            return f"{where}: {budget.key} is the match of budgets[{seen[budget.key]}] already"
        seen[budget.key] = i
    return None


@dataclass
class Config(_Strict):
    sources: Annotated[list[SourceConfig], Field(min_length=1)]
    positions_file: str | None = None
    poll_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 0.5
    glob_interval_seconds: Annotated[float, Field(gt=0)] = 5.0
    rotate_wait_seconds: Annotated[float, Field(ge=0)] = 5.0
    force_polling: bool = False
    positions_save_interval_seconds: Annotated[float, Field(gt=0)] = 5.0
    # ... or after this many bytes read, whichever comes first (a long start-up read included).
    positions_save_bytes: Annotated[int, Field(ge=1)] = 32 * 1024 * 1024
    pricing: PricingConfig = field(default_factory=PricingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    thresholds: ThresholdsConfig = field(default_factory=ThresholdsConfig)
    histograms: HistogramsConfig = field(default_factory=HistogramsConfig)
    otlp: OTLPConfig | None = None
    probes: list[ProbeConfig] = field(default_factory=list)
    billing: BillingConfig = field(default_factory=BillingConfig)
    budgets: list[BudgetConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Run by pydantic once the fields are valid: a ValueError is a problem at the top level.
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"source name {source.name!r} is used twice")
            seen.add(source.name)
        unknown = sorted(set(self.thresholds.logs_stalled_after_seconds_by_source) - {s.name for s in self.sources})
        if unknown:
            raise ValueError(f"thresholds.logs_stalled_after_seconds_by_source: no source named {', '.join(unknown)}")
        if problem := _budget_problem(self.budgets, self.sources):
            raise ValueError(problem)


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


# pydantic words two problems otherwise for a dataclass than for a model (the schema was models;
# exposition/webconfig.py's still are): users read the models' words, as they always did.
_DATACLASS_WORDING = {
    "unexpected_keyword_argument": "Extra inputs are not permitted",
    "dataclass_type": "Input should be a valid dictionary or instance of {class_name}",
}


def problems(exc: ValidationError) -> list[tuple[Loc, str]]:
    """Each problem's key path and message."""
    out: list[tuple[Loc, str]] = []
    for err in exc.errors():
        wording = _DATACLASS_WORDING.get(err["type"])
        out.append((err["loc"], wording.format(**err.get("ctx", {})) if wording else err["msg"]))
    return out


def format_errors(exc: ValidationError, overrides: Mapping[Loc, str] | None = None) -> str:
    """One line per problem: the key path, what is wrong, and the variable that set it, if one did."""
    lines = []
    for loc, msg in problems(exc):
        var = _set_by(loc, overrides or {})
        lines.append(f"  {_key_path(loc)}: {msg}" + (f" (set by {var})" if var else ""))
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


_T = TypeVar("_T")
_validators: dict[type, TypeAdapter[Any]] = {}
_validators_lock = threading.Lock()


def _validator(schema: type[_T]) -> TypeAdapter[_T]:
    """The validator of Config, ProbeConfig or PriceOverride. The first call builds all three,
    under a lock: threads may validate at once (the daemon's HTTP threads, a ProbeConfig for each
    /probe), and pydantic does not make building a validator thread-safe."""
    with _validators_lock:
        if not _validators:
            import pydantic

            # The names the schema's string annotations use that are imported above only for type
            # checkers: pydantic resolves annotations in the module's globals.
            globals().update(Field=pydantic.Field, AfterValidator=pydantic.AfterValidator)
            _validators.update({s: pydantic.TypeAdapter(s) for s in (Config, ProbeConfig, PriceOverride)})
    return _validators[schema]


def validate(schema: type[_T], raw: Any) -> _T:
    """`raw` (a mapping) validated as a Config, ProbeConfig or PriceOverride; raises pydantic's
    ValidationError, which format_errors() or problems() make readable."""
    return _validator(schema).validate_python(raw)


def parse_config(raw: Any, origin: str, environ: Mapping[str, str] | None = None) -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping, not {type(raw).__name__}")
    overrides = apply_env_overrides(raw, os.environ if environ is None else environ)
    from pydantic import ValidationError

    try:
        return validate(Config, raw)
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


DEFAULT_PORT = 8464  # /metrics' port: outside 9100-9999, where the exporters Prometheus lists crowd
FORMATS: tuple[str, ...] = get_args(SourceFormat)
_FORMATS = frozenset(FORMATS)
_START_AT = frozenset(get_args(StartAt))


def add_source_arguments(p: argparse.ArgumentParser, log_path_help: str) -> None:
    """Where the logs come from, on a command line (serving and backfill): a config file, or a
    glob with its --format, which config_for_glob makes a config of."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", "--config.file", dest="config", metavar="FILE", help="YAML config file")
    source.add_argument("--log-path", metavar="GLOB", help=log_path_help)
    p.add_argument("--format", choices=FORMATS, default="auto", help="log format, with --log-path")


def sources_config(sources: list[dict[str, Any]], origin: str, environ: Mapping[str, str] | None = None) -> Config:
    """`parse_config({"sources": sources, "positions_file": None}, origin)` for sources with a
    name, path, format, start_at and no labels, as replay builds them without a config file.

    When every value is plainly valid and no LLM_EXPORTER__ variable could override one, the
    Config is constructed without validation, which would first import pydantic; it is the same
    Config (tests/test_config.py compares them)."""
    raw: dict[str, Any] = {"sources": sources, "positions_file": None}
    environ = os.environ if environ is None else environ
    if any(var.startswith(ENV_PREFIX) for var in environ) or not all(_plain_source(s) for s in sources):
        return parse_config(raw, origin, environ)
    names = [s["name"] for s in sources]
    if len(set(names)) != len(names):
        return parse_config(raw, origin, environ)  # for the error message
    return Config(sources=[SourceConfig(**s) for s in sources], positions_file=None)


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
