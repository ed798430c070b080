"""The catalog of a Feast repository: its feature views and feature services, read from its registry.

Feast is imported only when a catalog is read: it is optional (the ``mlops`` extra) and slow to import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .common import FEAST_HOW, ComponentUnavailable, first_line, within

FEAST_CONFIG = "feature_store.yaml"
FEAST_TIMEOUT_S = 20.0
"""How long reading a Feast registry may take (a SQL or remote registry can hang); the import is extra."""


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


def feast_catalog(repo_path: str | os.PathLike[str], *, timeout: float = FEAST_TIMEOUT_S) -> FeastCatalog:
    """The feature views and feature services in the registry of the Feast repository at ``repo_path``.

    Reads the registry only (nothing is materialized or applied, no registry file is created).
    """
    repo = Path(repo_path).expanduser()
    where = f"Feast repository at {repo}"
    if not repo.exists():
        raise ComponentUnavailable(f"{where} does not exist: {FEAST_HOW}")
    if not repo.is_dir():
        raise ComponentUnavailable(f"{where} is not a folder: {FEAST_HOW}")
    if not (repo / FEAST_CONFIG).is_file():
        raise ComponentUnavailable(f"{where} is not a Feast feature repository (it has no {FEAST_CONFIG}): {FEAST_HOW}")
    try:
        from feast import FeatureStore
    except ImportError as exc:
        raise ComponentUnavailable(
            f"Feast is not installed in the editor's environment ({first_line(exc)}): "
            "install it with `pip install 'dagsmith[mlops]'` (or `pip install feast`) to browse repositories"
        ) from None
    try:
        store = FeatureStore(repo_path=str(repo))
    except Exception as exc:
        raise ComponentUnavailable(
            f"{where}: {FEAST_CONFIG} cannot be read ({first_line(exc)}); fix it, then browse again"
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
            f"{where}: its registry cannot be read ({first_line(exc)}); check the registry in {FEAST_CONFIG} "
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
