"""The team server's settings: from a TOML file, overridden by ``DAGSMITH_*`` environment variables.

A config file (``--config PATH`` or ``DAGSMITH_CONFIG``) holds a ``[server]`` table::

    [server]
    database_url = "postgresql+psycopg://dagsmith@db/dagsmith"
    host = "0.0.0.0"
    port = 8080
    secret_key_file = "/etc/dagsmith/secret"   # or secret_key = "..." (the environment is better)
    cookie_secure = true                       # behind HTTPS
    session_hours = 12
    oidc_issuer = "https://keycloak.example.com/realms/acme"   # OIDC sign-in (editor/team/oidc.py)
    oidc_client_id = "dagsmith"
    oidc_client_secret = "env:DAGSMITH_OIDC_SECRET"            # where the secret is, never the secret

Every key has an environment variable, ``DAGSMITH_`` plus its name in capitals (``DAGSMITH_DATABASE_URL``,
``DAGSMITH_SECRET_KEY``...), which wins over the file. The database must be PostgreSQL: SQLite holds one
writer at a time on one machine, so it is accepted only with ``trial = true`` (``--trial``), with a warning.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "DAGSMITH_"
CONFIG_ENV = "DAGSMITH_CONFIG"
MIN_SECRET_BYTES = 32


class SettingsError(Exception):
    """A setting that cannot be used; the message names the setting, where it came from and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamSettings:
    """How a team server runs; every replica behind one load balancer needs the same database and secret."""

    database_url: str
    secret_key: str
    host: str = "127.0.0.1"
    port: int = 8080
    trial: bool = False
    cookie_secure: bool = False
    session_hours: float = 12.0
    login_attempts: int = 5
    """Failed sign-ins allowed per user name (and per address, times four) within ``login_window_minutes``."""
    login_window_minutes: float = 15.0
    trusted_proxies: str = ""
    """IP addresses (comma-separated) of the proxies in front of this server; none by default. Only from these
    peers are X-Forwarded-For, -Host and -Proto believed (client address, public origin), and the SSO user header."""
    proxy_user_header: str = "X-Forwarded-User"
    """SSO: the header in which that proxy names the signed-in user (oauth2-proxy: X-Forwarded-User)."""
    proxy_groups_header: str = ""
    """SSO: the header in which that proxy lists the user's groups, comma-separated (oauth2-proxy:
    X-Forwarded-Groups); empty: the proxy names no groups. Artifacts shared with a group admit its members."""
    oidc_issuer: str = ""
    """OIDC: the provider's issuer URL (its /.well-known/openid-configuration is read); empty: no OIDC sign-in."""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    """OIDC: where the client secret is, ``env:NAME`` or ``file:PATH`` (never the secret); empty: a public client."""
    oidc_scopes: str = "openid email profile"
    oidc_username_claim: str = "preferred_username"
    """OIDC: the ID token's claim that is the dagsmith user name (``email``, ``preferred_username``, ``sub``...)."""
    oidc_admin_claim: str = ""
    """OIDC: a claim listing the user's groups (e.g. ``groups``); with ``oidc_admin_group``, names org admins."""
    oidc_admin_group: str = ""
    oidc_groups_claim: str = ""
    """OIDC: a claim listing the user's groups (e.g. ``groups``), stored at each sign-in; empty: none."""
    oidc_email_domains: str = ""
    """OIDC: only users whose verified ``email`` is in one of these domains (comma-separated); empty: any."""
    oidc_auto_provision: bool = True
    """OIDC: create a user on their first sign-in; off: only users who exist here already may sign in."""
    oidc_provider_name: str = ""
    """OIDC: the name on the "Sign in with ..." button (default: the issuer's host)."""
    oidc_redirect_uri: str = ""
    """OIDC: this server's callback URL as registered at the provider (default: from the request's host)."""

    @property
    def proxies(self) -> frozenset[str]:
        """The trusted proxy addresses (IP addresses in canonical text)."""
        return frozenset(canonical_address(part) for part in self.trusted_proxies.split(",") if part.strip())

    @property
    def oidc_enabled(self) -> bool:
        """Whether OIDC sign-in is configured."""
        return bool(self.oidc_issuer)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (a trial only)."""
        return make_url(self.database_url).get_backend_name() == "sqlite"

    @property
    def cookie_name(self) -> str:
        """The session cookie's name (``__Host-`` prefixed over HTTPS, so no subdomain can set it)."""
        return "__Host-dagsmith-session" if self.cookie_secure else "dagsmith-session"


def canonical_address(address: str) -> str:
    """An IP address in canonical text (as the server reports a peer's); anything else stripped, as is."""
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return address.strip()


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP header name (RFC 9110's token)."""
_KINDS = {field.name: str(field.type) for field in fields(TeamSettings)}


def load_settings(
    config: Path | None = None, *, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> TeamSettings:
    """The settings: ``config`` (or $DAGSMITH_CONFIG), then the environment, then ``overrides`` (command line)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    path = config or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if path is not None:
        for key, value in _read_file(path).items():
            values[key], origin[key] = value, f"{path} [server] {key}"
    for name in _KINDS:
        if name == "secret_key" and env.get(ENV_PREFIX + "SECRET_KEY_FILE"):
            values[name], origin[name] = (
                _read_secret(Path(env[ENV_PREFIX + "SECRET_KEY_FILE"])),
                "DAGSMITH_SECRET_KEY_FILE",
            )
        if ENV_PREFIX + name.upper() in env:
            values[name], origin[name] = env[ENV_PREFIX + name.upper()], ENV_PREFIX + name.upper()
    for name, value in dict(overrides or {}).items():
        if value is not None:
            values[name], origin[name] = value, f"--{name.replace('_', '-')}"
    converted = {name: _convert(name, value, origin[name]) for name, value in values.items()}
    for required in ("database_url", "secret_key"):
        if not converted.get(required):
            raise SettingsError(_missing(required))
    settings = TeamSettings(**converted)
    _check(settings, origin)
    return settings


def configured_database(config: Path | None = None, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The database the settings name (environment over file), without checking the rest; None if none."""
    env = os.environ if environ is None else environ
    if env.get(ENV_PREFIX + "DATABASE_URL"):
        return env[ENV_PREFIX + "DATABASE_URL"]
    path = config or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    value = _read_file(path).get("database_url") if path is not None else None
    return str(value) if value else None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"the config file {path} is not valid TOML: {exc}") from None
    server = data.get("server", {})
    if not isinstance(server, dict):
        raise SettingsError(f"{path}: 'server' must be a table ([server]), with the settings under it")
    server = dict(server)
    secret_file = server.pop("secret_key_file", None)
    if secret_file is not None:
        server.setdefault("secret_key", _read_secret(path.parent / str(secret_file)))
    unknown = sorted(set(server) - set(_KINDS))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], [*_KINDS, "secret_key_file"], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SettingsError(f"{path}: [server] has no setting {unknown[0]!r}{hint}; known: {', '.join(sorted(_KINDS))}")
    return server


def _read_secret(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"cannot read the secret key file {path}: {exc.strerror or exc}") from None


def _convert(name: str, value: Any, origin: str) -> Any:
    kind = _KINDS[name]
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
                raise ValueError(value)
            return text in ("1", "true", "yes", "on")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{origin} = {value!r} is not a {kind}; fix it (e.g. {_example(kind)})") from None
    return str(value)


def _example(kind: str) -> str:
    return {"bool": "true or false", "int": "8080", "float": "12 or 0.5"}.get(kind, "a text")


def _missing(name: str) -> str:
    if name == "database_url":
        return (
            "no database: set DAGSMITH_DATABASE_URL (or database_url in the config file) to a PostgreSQL URL, e.g. "
            "postgresql+psycopg://dagsmith@db.internal/dagsmith; for a trial on this machine only, use a "
            "sqlite:////path/dagsmith.db URL with --trial"
        )
    return (
        "no secret key: set DAGSMITH_SECRET_KEY (or DAGSMITH_SECRET_KEY_FILE, or secret_key_file in the config "
        "file) to at least 32 random bytes, e.g. the output of `python -c 'import secrets; "
        "print(secrets.token_urlsafe(48))'`; every replica needs the same key"
    )


def _check(settings: TeamSettings, origin: Mapping[str, str]) -> None:
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        raise SettingsError(
            f"{origin['database_url']}: {settings.database_url!r} is not a database URL; use e.g. "
            "postgresql+psycopg://dagsmith@db.internal/dagsmith"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite" and not settings.trial:
        raise SettingsError(
            f"{origin['database_url']} names SQLite: a team server needs PostgreSQL (several users and replicas "
            "write at once); for a trial on one machine pass --trial (or trial = true)"
        )
    if backend not in ("sqlite", "postgresql"):
        raise SettingsError(f"{origin['database_url']}: {backend} is not supported; use PostgreSQL")
    if len(settings.secret_key.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(f"{origin['secret_key']}: the secret key is too short; {_missing('secret_key')[15:]}")
    if not 0 < settings.port < 65536:
        raise SettingsError(f"{origin.get('port', 'port')} = {settings.port}: a port is 1 to 65535")
    if settings.session_hours <= 0 or settings.login_attempts < 1 or settings.login_window_minutes <= 0:
        raise SettingsError("session_hours, login_attempts and login_window_minutes must be positive")
    for proxy in settings.trusted_proxies.split(","):
        if proxy.strip() and not _is_address(proxy):
            raise SettingsError(
                f"{origin.get('trusted_proxies', 'DAGSMITH_TRUSTED_PROXIES')}: {proxy.strip()!r} is not an IP "
                "address; list the proxies' addresses as this server sees them, e.g. 10.0.0.5, 10.0.0.6 (a host "
                "name never matches)"
            )
    header = settings.proxy_groups_header
    if header and not _HEADER_NAME.fullmatch(header):
        raise SettingsError(
            f"{origin.get('proxy_groups_header', 'DAGSMITH_PROXY_GROUPS_HEADER')} = {header!r} is not a header "
            "name; give one without spaces or colons, e.g. X-Forwarded-Groups (or leave it empty)"
        )
    user_header = settings.proxy_user_header
    if user_header and not _HEADER_NAME.fullmatch(user_header):
        raise SettingsError(
            f"{origin.get('proxy_user_header', 'DAGSMITH_PROXY_USER_HEADER')} = {user_header!r} is not a header "
            "name; give one without spaces or colons, e.g. X-Forwarded-User"
        )
    _check_oidc(settings, origin)


def _check_oidc(settings: TeamSettings, origin: Mapping[str, str]) -> None:
    where = {name: origin.get(name, ENV_PREFIX + name.upper()) for name in _KINDS}
    if not settings.oidc_enabled:
        if settings.oidc_client_id:
            raise SettingsError(f"{where['oidc_client_id']} is set but no issuer: set DAGSMITH_OIDC_ISSUER too")
        return
    issuer = urlsplit(settings.oidc_issuer)
    loopback = issuer.hostname in ("localhost", "127.0.0.1", "::1")
    if issuer.scheme != "https" and not (issuer.scheme == "http" and loopback):
        raise SettingsError(
            f"{where['oidc_issuer']} = {settings.oidc_issuer!r}: the issuer must be an https:// URL (e.g. "
            "https://accounts.google.com or https://keycloak.example.com/realms/acme)"
        )
    if not settings.oidc_client_id:
        raise SettingsError(
            f"{where['oidc_issuer']} is set but no client id: set DAGSMITH_OIDC_CLIENT_ID (or oidc_client_id) to "
            "the client id the provider gave this server"
        )
    ref = settings.oidc_client_secret
    kind, _, rest = ref.partition(":")
    if ref and not ((kind == "env" and rest.isidentifier()) or (kind == "file" and rest)):
        raise SettingsError(
            f"{where['oidc_client_secret']}: give where the client secret is, not the secret itself: "
            "env:NAME (an environment variable) or file:PATH (a file holding it)"
        )
    if "openid" not in settings.oidc_scopes.split():
        raise SettingsError(f"{where['oidc_scopes']} = {settings.oidc_scopes!r}: the scopes must include openid")
    if not settings.oidc_username_claim.strip():
        raise SettingsError(f"{where['oidc_username_claim']} is empty: name a claim, e.g. preferred_username")
    if bool(settings.oidc_admin_claim) != bool(settings.oidc_admin_group):
        raise SettingsError(
            "oidc_admin_claim and oidc_admin_group go together: the claim (e.g. groups) and the group in it "
            "whose members are organisation admins (e.g. dagsmith-admins); set both or neither"
        )
    claim = settings.oidc_groups_claim
    if claim and (claim != claim.strip() or any(char.isspace() or char == "," for char in claim)):
        raise SettingsError(
            f"{where['oidc_groups_claim']} = {claim!r}: name one claim, without spaces or commas, e.g. groups "
            "(or leave it empty)"
        )
