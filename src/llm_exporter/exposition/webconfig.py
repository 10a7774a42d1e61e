"""`--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit's web-config.yml
format, so the exporter drops into a fleet that already uses it.

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      min_version: TLS12
    basic_auth_users:
      alice: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 alice)

Relative paths are read relative to the web config file.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_exporter.config import ConfigError, format_errors

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TLSServerConfig(_Strict):
    cert_file: str
    key_file: str
    client_auth_type: Literal[tuple(_CLIENT_AUTH)] = "NoClientCert"  # type: ignore[valid-type]
    client_ca_file: str | None = None
    min_version: Literal[tuple(_TLS_VERSIONS)] = "TLS12"  # type: ignore[valid-type]
    max_version: Literal[tuple(_TLS_VERSIONS)] = "TLS13"  # type: ignore[valid-type]


class HTTPServerConfig(_Strict):
    headers: dict[str, str] = Field(default_factory=dict)


class WebConfigFile(_Strict):
    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)


class WebConfig:
    """A loaded web config: an SSL context (or None) and a basic-auth check."""

    def __init__(self, parsed: WebConfigFile, base: Path, origin: str) -> None:
        self.users = {user: digest.encode() for user, digest in parsed.basic_auth_users.items()}
        self.headers = parsed.http_server_config.headers
        self.ssl_context = self._context(parsed.tls_server_config, base, origin)
        # bcrypt is slow by design; remember verdicts by a hash of the credentials, never them.
        self._verdicts: dict[bytes, bool] = {}

    @staticmethod
    def _context(tls: TLSServerConfig | None, base: Path, origin: str) -> ssl.SSLContext | None:
        if tls is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = _TLS_VERSIONS[tls.min_version]
        context.maximum_version = _TLS_VERSIONS[tls.max_version]
        try:
            context.load_cert_chain(base / tls.cert_file, base / tls.key_file)
            context.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
            if tls.client_ca_file:
                context.load_verify_locations(base / tls.client_ca_file)
            elif context.verify_mode != ssl.CERT_NONE and tls.client_auth_type.endswith("VerifyClientCert"):
                raise ConfigError(f"{origin}: tls_server_config.client_ca_file is needed for {tls.client_auth_type}")
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{origin}: tls_server_config: cannot load certificate or key: {exc}") from None
        return context

    @property
    def auth_required(self) -> bool:
        return bool(self.users)

    def check(self, user: str, password: str) -> bool:
        digest = self.users.get(user)
        if digest is None:
            return False
        key = hashlib.sha256(user.encode() + b"\0" + password.encode() + b"\0" + digest).digest()
        verdict = self._verdicts.get(key)
        if verdict is None:
            try:
                verdict = bcrypt.checkpw(password.encode(), digest)
            except ValueError:  # not a bcrypt hash
                verdict = False
            if len(self._verdicts) > 1024:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    origin = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{origin}: cannot read web config: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: invalid YAML: {exc}") from None
    try:
        parsed = WebConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: invalid web config\n{format_errors(exc)}") from None
    for user, digest in parsed.basic_auth_users.items():
        if not digest.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"{origin}: basic_auth_users.{user}: not a bcrypt hash")
    return WebConfig(parsed, Path(origin).resolve().parent, origin)
