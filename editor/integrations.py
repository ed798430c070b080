"""What the editor can read from Feast and MLflow to help fill in nodes: catalogs, no NiceGUI.

``feast_catalog(repo)`` lists a Feast repository's feature views and feature services from its registry
(no materialization, nothing written); ``mlflow_catalog(uri)`` lists an MLflow server's experiments and
registered models with their aliases. Both are bounded in time and raise ``ComponentUnavailable`` with a
message naming the component, where it was looked for and what to do, whatever goes wrong.

Which repository and which tracking server: ``feast_location`` (the node's ``feast_repo`` when it is a
local folder, else ``$DAGSMITH_FEAST_REPO``) and ``mlflow_location`` (``$DAGSMITH_MLFLOW_TRACKING_URI``,
``$MLFLOW_TRACKING_URI``, else a local MLflow database that already exists). Feast and MLflow are
imported only when a catalog is read: they are optional (the ``mlops`` extra) and slow to import.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

ENV_FEAST_REPO = "DAGSMITH_FEAST_REPO"
ENV_MLFLOW = "DAGSMITH_MLFLOW_TRACKING_URI"
ENV_MLFLOW_STANDARD = "MLFLOW_TRACKING_URI"
FEAST_CONFIG = "feature_store.yaml"
FEAST_TIMEOUT_S = 20.0
"""How long reading a Feast registry may take (a SQL or remote registry can hang); the import is extra."""
MLFLOW_TIMEOUT_S = 15.0
"""How long reading the MLflow catalog may take (MLflow retries HTTP requests for minutes by default)."""
CONNECT_TIMEOUT_S = 3.0
"""How long a tracking server has to answer the first request at all."""
MAX_ITEMS = 1000
"""At most this many experiments and registered models are listed."""

_MLFLOW_HOW = f"set {ENV_MLFLOW_STANDARD} (or {ENV_MLFLOW}) to your tracking server, e.g. http://mlflow.internal:5000"
_FEAST_HOW = f"point feast_repo at a local Feast feature repository, or set {ENV_FEAST_REPO} to one"

T = TypeVar("T")


class ComponentUnavailable(Exception):  # noqa: N818  (the name says what happened)
    """Feast or MLflow cannot be read; the message names it, where it was looked for, and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- results ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FeatureViewInfo:
    """A feature view: its features (by name) and the entities it is keyed by."""

    name: str
    features: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    kind: str = "feature view"
    """'feature view', 'stream feature view' or 'on-demand feature view' (the last cannot be materialized)."""
    description: str = ""

    @property
    def references(self) -> list[str]:
        """The features as references ``view:feature``."""
        return [f"{self.name}:{feature}" for feature in self.features]

    @property
    def materializable(self) -> bool:
        """Whether ``feast materialize`` can load this view into the online store."""
        return self.kind != "on-demand feature view"


@dataclass(frozen=True, slots=True)
class FeatureServiceInfo:
    """A feature service: the feature references it serves."""

    name: str
    features: list[str] = field(default_factory=list)
    description: str = ""


@dataclass(frozen=True, slots=True)
class FeastCatalog:
    """What a Feast repository's registry holds for its project."""

    location: str
    project: str
    feature_views: list[FeatureViewInfo] = field(default_factory=list)
    feature_services: list[FeatureServiceInfo] = field(default_factory=list)


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


@dataclass(frozen=True, slots=True)
class Configured:
    """Where a component was found, and which setting named it (for the message shown with it)."""

    location: str
    source: str


# -- which Feast repository, which MLflow ----------------------------------------------------------------
def resolve_local(path: str, roots: Sequence[Path]) -> Path | None:
    """A local folder for ``path``: absolute, or relative to one of ``roots`` (like notebooks)."""
    candidate = Path(path).expanduser()
    options = [candidate] if candidate.is_absolute() else [root / candidate for root in roots]
    return next((option for option in options if option.is_dir()), None)


def feast_location(
    feast_repo: object, roots: Sequence[Path] = (), environ: Mapping[str, str] | None = None
) -> Configured:
    """The Feast repository to browse: the node's ``feast_repo`` if it is a local folder, else the env's.

    Raises ``ComponentUnavailable`` when neither names one.
    """
    env = os.environ if environ is None else environ
    if isinstance(feast_repo, str) and feast_repo.strip():
        local = resolve_local(feast_repo.strip(), roots)
        if local is not None:
            return Configured(str(local), "feast_repo")
    configured = env.get(ENV_FEAST_REPO, "").strip()
    if configured:
        return Configured(str(Path(configured).expanduser()), ENV_FEAST_REPO)
    if isinstance(feast_repo, str) and feast_repo.strip():
        where = ", ".join(str(root) for root in roots) or "no project folder (set the project's git repository)"
        raise ComponentUnavailable(
            f"Feast repository {feast_repo.strip()!r} is not a folder on this machine (looked in {where}) "
            f"and {ENV_FEAST_REPO} is not set: {_FEAST_HOW}"
        )
    raise ComponentUnavailable(f"No Feast repository is configured: {_FEAST_HOW}")


def local_mlflow_databases(
    dag_id: str | None = None, environ: Mapping[str, str] | None = None, *, workspace: Path | None = None
) -> list[Path]:
    """Where a local MLflow database may be: the local-run workspace, then ``$DAGSMITH_HOME``.

    The workspace follows editor/runs/workspace.py: ``$DAGSMITH_WORKSPACE``, else ``workspace`` (the
    editor's runs: the project's ``<DAGSMITH_HOME>/workspace/project-<id>``), then the command line's
    ``<DAGSMITH_HOME>/workspace/<dag_id>``; the database is at ``mlflow/mlflow.db`` in each.
    """
    from .store.engine import dagsmith_home

    env = os.environ if environ is None else environ
    home = Path(env["DAGSMITH_HOME"]).expanduser() if env.get("DAGSMITH_HOME") else dagsmith_home()
    candidates: list[Path] = []
    configured = env.get("DAGSMITH_WORKSPACE")
    if configured:
        candidates.append(Path(configured).expanduser() / "mlflow" / "mlflow.db")
    else:
        if workspace is not None:
            candidates.append(workspace / "mlflow" / "mlflow.db")
        if dag_id:
            candidates.append(home / "workspace" / dag_id / "mlflow" / "mlflow.db")
    candidates.append(home / "mlflow.db")
    return list(dict.fromkeys(candidates))


def mlflow_location(
    dag_id: str | None = None, environ: Mapping[str, str] | None = None, *, workspace: Path | None = None
) -> Configured:
    """The tracking URI to browse: ``$DAGSMITH_MLFLOW_TRACKING_URI``, ``$MLFLOW_TRACKING_URI``, or a local database.

    ``workspace``: the editor's run workspace of the pipeline's project, where its local runs track.
    The local database is used only if it exists; otherwise ``ComponentUnavailable`` says how to configure one.
    """
    env = os.environ if environ is None else environ
    for name in (ENV_MLFLOW, ENV_MLFLOW_STANDARD):
        value = env.get(name, "").strip()
        if value:
            return Configured(value, name)
    candidates = local_mlflow_databases(dag_id, env, workspace=workspace)
    for database in candidates:
        if database.is_file():
            return Configured(f"sqlite:///{database}", "local MLflow database")
    raise ComponentUnavailable(
        f"MLflow is not configured: {_MLFLOW_HOW} (a local MLflow database is used when one exists, "
        f"looked for {' and '.join(str(c) for c in candidates)})"
    )


# -- bounded calls ----------------------------------------------------------------------------------------
def within(seconds: float, what: str, call: Callable[[], T]) -> T:
    """``call()`` in a daemon thread; ``ComponentUnavailable`` if it has not returned after ``seconds``.

    A call that overruns keeps running in the background (Python threads cannot be stopped), but nothing
    waits for it: not the editor, and not the interpreter at exit.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="dagsmith-integration", daemon=True).start()
    if not done.wait(seconds):
        raise ComponentUnavailable(f"{what} did not answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 300 else line[:297] + "..."


# -- Feast -------------------------------------------------------------------------------------------------
def feast_catalog(repo_path: str | os.PathLike[str], *, timeout: float = FEAST_TIMEOUT_S) -> FeastCatalog:
    """The feature views and feature services in the registry of the Feast repository at ``repo_path``.

    Reads the registry only (nothing is materialized or applied, no registry file is created).
    """
    repo = Path(repo_path).expanduser()
    where = f"Feast repository at {repo}"
    if not repo.exists():
        raise ComponentUnavailable(f"{where} does not exist: {_FEAST_HOW}")
    if not repo.is_dir():
        raise ComponentUnavailable(f"{where} is not a folder: {_FEAST_HOW}")
    if not (repo / FEAST_CONFIG).is_file():
        raise ComponentUnavailable(
            f"{where} is not a Feast feature repository (it has no {FEAST_CONFIG}): {_FEAST_HOW}"
        )
    try:
        from feast import FeatureStore
    except ImportError as exc:
        raise ComponentUnavailable(
            f"Feast is not installed in the editor's environment ({_first_line(exc)}): "
            "install it with `pip install 'dagsmith[mlops]'` (or `pip install feast`) to browse repositories"
        ) from None
    try:
        store = FeatureStore(repo_path=str(repo))
    except Exception as exc:
        raise ComponentUnavailable(
            f"{where}: {FEAST_CONFIG} cannot be read ({_first_line(exc)}); fix it, then browse again"
        ) from None
    registry = getattr(store.config, "registry", None)
    _check_local_registry(repo, registry, where)
    if registry is not None and getattr(registry, "cache_mode", "sync") != "sync":
        registry.cache_mode = "sync"  # 'thread' would start a refresh thread that never ends

    def read() -> FeastCatalog:
        views = [_view_info(view) for view in store.list_all_feature_views()]
        services = [_service_info(service) for service in store.list_feature_services()]
        return FeastCatalog(
            location=str(repo),
            project=str(store.project),
            feature_views=sorted(views, key=lambda v: v.name),
            feature_services=sorted(services, key=lambda s: s.name),
        )

    try:
        return within(timeout, f"The registry of the {where}", read)
    except ComponentUnavailable as exc:
        raise ComponentUnavailable(f"{exc.message}; check the registry in {repo / FEAST_CONFIG}") from None
    except Exception as exc:
        raise ComponentUnavailable(
            f"{where}: its registry cannot be read ({_first_line(exc)}); check the registry in {FEAST_CONFIG} "
            "and run `feast apply` there"
        ) from None


def _check_local_registry(repo: Path, registry: Any, where: str) -> None:
    """A local registry file must exist already: reading would otherwise create an empty one."""
    path = getattr(registry, "path", registry) if registry is not None else None
    kind = getattr(registry, "registry_type", "file") or "file"
    if kind != "file" or not isinstance(path, str) or not path:
        return
    parsed = urlparse(path)
    if parsed.scheme not in ("", "file") and not (len(parsed.scheme) == 1 and path[1:3] in (":\\", ":/")):
        return  # s3://, gs://, hdfs://: read remotely
    local = Path(parsed.path if parsed.scheme == "file" else path)
    local = local if local.is_absolute() else repo / local
    if not local.is_file():
        raise ComponentUnavailable(
            f"{where} has no registry yet ({local} is missing): run `feast apply` in {repo} to register its "
            "feature views and services"
        )


def _view_info(view: Any) -> FeatureViewInfo:
    kind = type(view).__name__
    label = {"StreamFeatureView": "stream feature view", "OnDemandFeatureView": "on-demand feature view"}.get(
        kind, "feature view"
    )
    entities = [str(e) for e in getattr(view, "entities", None) or []]
    return FeatureViewInfo(
        name=str(view.name),
        features=[str(f.name) for f in getattr(view, "features", None) or []],
        entities=entities,
        kind=label,
        description=str(getattr(view, "description", "") or ""),
    )


def _service_info(service: Any) -> FeatureServiceInfo:
    references = []
    for projection in getattr(service, "feature_view_projections", None) or []:
        view = projection.name_to_use() if hasattr(projection, "name_to_use") else projection.name
        references += [f"{view}:{f.name}" for f in projection.features]
    return FeatureServiceInfo(
        name=str(service.name), features=references, description=str(getattr(service, "description", "") or "")
    )


# -- MLflow ------------------------------------------------------------------------------------------------
def mlflow_catalog(tracking_uri: str, *, timeout: float = MLFLOW_TIMEOUT_S) -> MlflowCatalog:
    """The active experiments and registered models (with aliases) of the MLflow at ``tracking_uri``.

    Local stores must exist already (MLflow would otherwise create an empty one); an HTTP server must
    answer within ``CONNECT_TIMEOUT_S``, and the whole read within ``timeout``.
    """
    uri = tracking_uri.strip()
    where = f"MLflow at {uri}"
    unreachable = f"{where} is not reachable"
    if not uri:
        raise ComponentUnavailable(f"MLflow is not configured: {_MLFLOW_HOW}")
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("http", "https"):
        _check_http(uri, unreachable)
    elif scheme == "sqlite":
        _check_sqlite(uri, where, unreachable)
    elif scheme in ("", "file") or (len(scheme) == 1 and uri[1:3] in (":\\", ":/")):
        folder = Path(urlparse(uri).path if scheme == "file" else uri).expanduser()
        if not folder.is_dir():
            raise ComponentUnavailable(f"{unreachable}: the folder {folder} does not exist; {_MLFLOW_HOW}")
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise ComponentUnavailable(
            f"MLflow is not installed in the editor's environment ({_first_line(exc)}): "
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
        raise ComponentUnavailable(f"{exc.message}; check that the server is up, or {_MLFLOW_HOW}") from None
    except Exception as exc:
        raise ComponentUnavailable(f"{where} answered with an error: {_first_line(exc)}; {_MLFLOW_HOW}") from None


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
        text = _first_line(exc)
    raise ComponentUnavailable(f"{unreachable}: {text}; {_MLFLOW_HOW}")


def _check_sqlite(uri: str, where: str, unreachable: str) -> None:
    """The database file must exist and hold MLflow's tables (MLflow would create them in any file)."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(uri).database
    except ArgumentError:
        raise ComponentUnavailable(f"{where}: not a valid database URI; {_MLFLOW_HOW}") from None
    if not database or database == ":memory:":
        raise ComponentUnavailable(f"{where}: an in-memory database holds nothing to browse; {_MLFLOW_HOW}")
    path = Path(database).expanduser()
    if not path.is_file():
        raise ComponentUnavailable(f"{unreachable}: the database file {path} does not exist; {_MLFLOW_HOW}")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=CONNECT_TIMEOUT_S)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise ComponentUnavailable(f"{where}: {path} cannot be read ({_first_line(exc)}); {_MLFLOW_HOW}") from None
    if not {"experiments", "registered_models"} <= tables:
        raise ComponentUnavailable(f"{where}: {path} is not an MLflow database (no MLflow tables); {_MLFLOW_HOW}")
