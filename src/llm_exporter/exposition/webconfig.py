"""`--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit's web-config.yml
format, so the exporter drops into a fleet that already uses it.

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      min_version: TLS12
    basic_auth_users:
      alice: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 alice)

Relative paths are read relative to the web config file. Like exporter-toolkit, the file (and the
certificate, key and CA files it names) is re-read when it changes, checked on every new
connection and request; SIGHUP re-reads it too.

Client certificates differ from exporter-toolkit where Python's TLS cannot follow Go's: it cannot
accept a certificate without verifying it. `RequestClientCert` (Go: ask for one, never check it)
therefore asks for none: the same clients get in. `RequireAnyClientCert` (Go: any certificate,
unverified) needs `client_ca_file` here and verifies against it, as `RequireAndVerifyClientCert`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import ssl
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_exporter.config import ConfigError, format_errors

log = logging.getLogger(__name__)

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,  # Go asks and ignores the answer; asking nothing admits the same clients
    "RequireAnyClientCert": ssl.CERT_REQUIRED,  # verified: Python cannot require a certificate it does not check
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# bcrypt reads at most 72 bytes of a password; htpasswd and Go hash and compare those, bcrypt>=5 raises.
_BCRYPT_MAX = 72

Stamp = tuple[tuple[str, tuple[int, int, int, int] | None], ...]


def _stamp(paths: list[Path]) -> Stamp:
    """What tells a changed file: its size, inode and modification and change times."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((str(path), (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)))
        except OSError:
            out.append((str(path), None))
    return tuple(out)


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
    """One reading of a web config: an SSL context (or None), headers and a basic-auth check."""

    def __init__(self, parsed: WebConfigFile, path: Path, stamp: Stamp) -> None:
        self.path = path
        self.users = {user: digest.encode() for user, digest in parsed.basic_auth_users.items()}
        self.headers = parsed.http_server_config.headers
        self.files = [path]
        self.ssl_context = self._context(parsed.tls_server_config)
        self.stamp = stamp + _stamp(self.files[1:])
        # An unknown user is checked against the costliest real hash, so it takes as long as a wrong password.
        self._decoy = max(self.users.values(), key=lambda digest: digest[4:6], default=b"")
        # bcrypt is slow by design: the last accepted password of each user, as a hash, is remembered.
        # Only successes are, so wrong attempts can neither evict it nor grow the memory.
        self._accepted: dict[str, bytes] = {}

    def _context(self, tls: TLSServerConfig | None) -> ssl.SSLContext | None:
        if tls is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = _TLS_VERSIONS[tls.min_version]
        context.maximum_version = _TLS_VERSIONS[tls.max_version]
        cert, key = self._file("cert_file", tls.cert_file), self._file("key_file", tls.key_file)
        try:  # the certificate alone first, so an error names the file at fault
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cert)
        except ssl.SSLError as exc:
            raise self._error(f"tls_server_config.cert_file: {cert}: not a PEM certificate: {exc}") from None
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise self._error(
                f"tls_server_config.key_file: {key}: not a PEM private key for the certificate {cert}: {exc}"
            ) from None
        context.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
        if context.verify_mode != ssl.CERT_NONE:
            if not tls.client_ca_file:
                raise self._error(
                    f"tls_server_config.client_ca_file is needed for {tls.client_auth_type}"
                    + (
                        " (Python's TLS cannot require a client certificate without verifying it)"
                        if tls.client_auth_type == "RequireAnyClientCert"
                        else ""
                    )
                )
            ca = self._file("client_ca_file", tls.client_ca_file)
            try:
                context.load_verify_locations(ca)
            except ssl.SSLError as exc:
                raise self._error(f"tls_server_config.client_ca_file: {ca}: not PEM certificates: {exc}") from None
        return context

    def _file(self, key: str, name: str) -> Path:
        """A file the config names, resolved, readable, and watched for changes from now on."""
        path = self.path.parent / name
        try:
            path.open("rb").close()
        except OSError as exc:
            raise self._error(f"tls_server_config.{key}: {path}: {exc.strerror or exc}") from None
        self.files.append(path)
        return path

    def _error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {message}")

    @property
    def auth_required(self) -> bool:
        return bool(self.users)

    def _fingerprint(self, user: str, password: bytes, digest: bytes) -> bytes:
        return hashlib.sha256(user.encode() + b"\0" + digest + b"\0" + password).digest()

    def remembered(self, user: str, password: str) -> bool:
        """True when these are the credentials last accepted for `user`: no bcrypt needed."""
        digest, accepted = self.users.get(user), self._accepted.get(user)
        if digest is None or accepted is None:
            return False
        return hmac.compare_digest(accepted, self._fingerprint(user, password.encode(), digest))

    def check(self, user: str, password: str) -> bool:
        """The bcrypt check, as long for an unknown user as for a wrong password (slow: run it off the
        event loop)."""
        if not self._decoy:
            return False
        digest = self.users.get(user)
        secret = password.encode()
        try:
            ok = bcrypt.checkpw(secret[:_BCRYPT_MAX], digest or self._decoy)
        except ValueError:  # not a bcrypt hash after all
            ok = False
        if not (ok and digest is not None):
            return False
        self._accepted[user] = self._fingerprint(user, secret, digest)
        return True


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    where = Path(path).absolute()
    stamp = _stamp([where])  # before reading: a change made while reading is seen next time
    try:
        raw = yaml.safe_load(where.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read web config: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML: {exc}") from None
    try:
        parsed = WebConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: invalid web config\n{format_errors(exc)}") from None
    for user, digest in parsed.basic_auth_users.items():
        if not digest.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"{where}: basic_auth_users.{user}: not a bcrypt hash")
    return WebConfig(parsed, where, stamp)


class LiveWebConfig:
    """The web config as exporter-toolkit serves it: re-read when its file, or a file it names,
    changes (checked on each use) or when asked (SIGHUP). One that no longer loads is None, and the
    server refuses every request until it loads again: a user removed in a file with a typo in it
    must not stay in."""

    def __init__(self, loaded: WebConfig) -> None:
        self.path = loaded.path
        self._loaded: WebConfig | None = loaded
        self._stamp = loaded.stamp
        self.tls = loaded.ssl_context is not None  # as last loaded: what a broken config would have had

    def current(self) -> WebConfig | None:
        if _stamp([Path(p) for p, _ in self._stamp]) != self._stamp:
            self.reload()
        return self._loaded

    def reload(self) -> None:
        before = _stamp([Path(p) for p, _ in self._stamp])
        try:
            loaded = load_web_config(self.path)
        except ConfigError as exc:
            # Remember what failed, so the error is logged once per change, not per connection.
            self._stamp, self._loaded = before, None
            log.error("web config does not load, refusing every request until it does: %s", exc)
            return
        self._loaded, self._stamp, self.tls = loaded, loaded.stamp, loaded.ssl_context is not None
        log.info("web config reloaded from %s", self.path)
