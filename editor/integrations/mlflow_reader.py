"""The catalog of an MLflow tracking server: its experiments and registered models with their aliases.

MLflow is imported only when a catalog is read: it is optional (the ``mlops`` extra) and slow to import.
"""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .common import MLFLOW_HOW, ComponentUnavailable, first_line, within

MLFLOW_TIMEOUT_S = 15.0
"""How long reading the MLflow catalog may take (MLflow retries HTTP requests for minutes by default)."""
CONNECT_TIMEOUT_S = 3.0
"""How long a tracking server has to answer the first request at all."""
MAX_ITEMS = 1000
"""At most this many experiments and registered models are listed."""


@dataclass(frozen=True, slots=True)
class ExperimentInfo:
    """An active MLflow experiment."""

    name: str
    experiment_id: str


@dataclass(frozen=True, slots=True)
class RegisteredModelInfo:
    """A registered model, its aliases (alias → version) and latest versions."""

    name: str
    aliases: dict[str, str] = field(default_factory=dict)
    latest_versions: list[str] = field(default_factory=list)
    description: str = ""


@dataclass(frozen=True, slots=True)
class MlflowCatalog:
    """What an MLflow tracking server and model registry hold."""

    location: str
    experiments: list[ExperimentInfo] = field(default_factory=list)
    registered_models: list[RegisteredModelInfo] = field(default_factory=list)
    truncated: bool = False
    """More than ``MAX_ITEMS`` experiments or models: only the first ones are listed."""


def mlflow_catalog(tracking_uri: str, *, timeout: float = MLFLOW_TIMEOUT_S) -> MlflowCatalog:
    """The active experiments and registered models (with aliases) of the MLflow at ``tracking_uri``.

    Local stores must exist already (MLflow would otherwise create an empty one); an HTTP server must
    answer within ``CONNECT_TIMEOUT_S``, and the whole read within ``timeout``.
    """
    uri = tracking_uri.strip()
    where = f"MLflow at {uri}"
    unreachable = f"{where} is not reachable"
    if not uri:
        raise ComponentUnavailable(f"MLflow is not configured: {MLFLOW_HOW}")
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("http", "https"):
        _check_http(uri, unreachable)
    elif scheme == "sqlite":
        _check_sqlite(uri, where, unreachable)
    elif scheme in ("", "file") or (len(scheme) == 1 and uri[1:3] in (":\\", ":/")):
        folder = Path(urlparse(uri).path if scheme == "file" else uri).expanduser()
        if not folder.is_dir():
            raise ComponentUnavailable(f"{unreachable}: the folder {folder} does not exist; {MLFLOW_HOW}")
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise ComponentUnavailable(
            f"MLflow is not installed in the editor's environment ({first_line(exc)}): "
            "install it with `pip install 'dagsmith[mlops]'` (or `pip install mlflow`) to browse models"
        ) from None

    def read() -> MlflowCatalog:
        client = MlflowClient(tracking_uri=uri)
        experiments = _paged(lambda token: client.search_experiments(max_results=MAX_ITEMS, page_token=token))
        models = _paged(lambda token: client.search_registered_models(max_results=100, page_token=token))
        return MlflowCatalog(
            location=uri,
            experiments=sorted(
                (ExperimentInfo(str(e.name), str(e.experiment_id)) for e in experiments[:MAX_ITEMS]),
                key=lambda e: e.name.lower(),
            ),
            registered_models=sorted((_model_info(m) for m in models[:MAX_ITEMS]), key=lambda m: m.name.lower()),
            truncated=len(experiments) > MAX_ITEMS or len(models) > MAX_ITEMS,
        )

    try:
        return within(timeout, where, read)
    except ComponentUnavailable as exc:
        raise ComponentUnavailable(f"{exc.message}; check that the server is up, or {MLFLOW_HOW}") from None
    except Exception as exc:
        raise ComponentUnavailable(f"{where} answered with an error: {first_line(exc)}; {MLFLOW_HOW}") from None


def _paged(search: Callable[[str | None], Any]) -> list[Any]:
    items: list[Any] = []
    token: str | None = None
    while True:
        page = search(token)
        items += list(page)
        token = getattr(page, "token", None)
        if not token or len(items) > MAX_ITEMS:
            return items


def _model_info(model: Any) -> RegisteredModelInfo:
    aliases = {str(alias): str(version) for alias, version in (getattr(model, "aliases", None) or {}).items()}
    versions = sorted({str(v.version) for v in getattr(model, "latest_versions", None) or []}, key=_version_key)
    return RegisteredModelInfo(
        name=str(model.name),
        aliases=dict(sorted(aliases.items())),
        latest_versions=versions,
        description=str(getattr(model, "description", "") or ""),
    )


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)


def _check_http(uri: str, unreachable: str) -> None:
    """Any HTTP answer counts (even 401 or 404): only a server that does not answer at all is refused."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=CONNECT_TIMEOUT_S):
            return
    except urllib.error.HTTPError:
        return
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    except TimeoutError:
        text = f"no answer within {CONNECT_TIMEOUT_S:g} s"
    except (OSError, ValueError) as exc:
        text = first_line(exc)
    raise ComponentUnavailable(f"{unreachable}: {text}; {MLFLOW_HOW}")


def _check_sqlite(uri: str, where: str, unreachable: str) -> None:
    """The database file must exist and hold MLflow's tables (MLflow would create them in any file)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(uri).database
    except ArgumentError:
        raise ComponentUnavailable(f"{where}: not a valid database URI; {MLFLOW_HOW}") from None
    if not database or database == ":memory:":
        raise ComponentUnavailable(f"{where}: an in-memory database holds nothing to browse; {MLFLOW_HOW}")
    path = Path(database).expanduser()
    if not path.is_file():
        raise ComponentUnavailable(f"{unreachable}: the database file {path} does not exist; {MLFLOW_HOW}")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=CONNECT_TIMEOUT_S)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise ComponentUnavailable(f"{where}: {path} cannot be read ({first_line(exc)}); {MLFLOW_HOW}") from None
    if not {"experiments", "registered_models"} <= tables:
        raise ComponentUnavailable(f"{where}: {path} is not an MLflow database (no MLflow tables); {MLFLOW_HOW}")
