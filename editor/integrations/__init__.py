"""What the editor can read from Feast and MLflow to help fill in nodes: catalogs, no NiceGUI.

``feast_catalog(repo)`` lists a Feast repository's feature views and feature services from its registry
(no materialization, nothing written); ``mlflow_catalog(uri)`` lists an MLflow server's experiments and
registered models with their aliases. Both are bounded in time and raise ``ComponentUnavailable`` with a
message naming the component, where it was looked for and what to do, whatever goes wrong.

Which repository and which tracking server: ``feast_location`` (the node's ``feast_repo`` when it is a
local folder, else ``$DAGSMITH_FEAST_REPO``) and ``mlflow_location`` (``$DAGSMITH_MLFLOW_TRACKING_URI``,
``$MLFLOW_TRACKING_URI``, else a local MLflow database that already exists). Feast and MLflow are
imported only when a catalog is read: they are optional (the ``mlops`` extra) and slow to import.

The modules: ``common`` (settings, the error, bounded calls), ``locations``, ``feast_reader`` and
``mlflow_reader``; ``decay`` and ``decay_reader`` read a pipeline's model health (the monitored metric
over versions, thresholds, retraining triggers) for the health page and ``dagsmith health``.
"""

from __future__ import annotations

from .common import ENV_FEAST_REPO, ENV_MLFLOW, ENV_MLFLOW_STANDARD, ComponentUnavailable, Configured, within
from .decay import ModelHealth
from .decay_reader import HEALTH_TIMEOUT_S, HealthReport, health_location, read_health
from .decay_watch import WatchedModel, watched_models
from .feast_reader import (
    FEAST_CONFIG,
    FEAST_TIMEOUT_S,
    FeastCatalog,
    FeatureServiceInfo,
    FeatureViewInfo,
    feast_catalog,
)
from .locations import RunsHome, feast_location, local_mlflow_databases, mlflow_location, resolve_local
from .mlflow_reader import (
    CONNECT_TIMEOUT_S,
    MAX_ITEMS,
    MLFLOW_TIMEOUT_S,
    ExperimentInfo,
    MlflowCatalog,
    RegisteredModelInfo,
    mlflow_catalog,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "ComponentUnavailable",
    "Configured",
    "ENV_FEAST_REPO",
    "ENV_MLFLOW",
    "ENV_MLFLOW_STANDARD",
    "ExperimentInfo",
    "FEAST_CONFIG",
    "FEAST_TIMEOUT_S",
    "FeastCatalog",
    "FeatureServiceInfo",
    "FeatureViewInfo",
    "HEALTH_TIMEOUT_S",
    "HealthReport",
    "MAX_ITEMS",
    "MLFLOW_TIMEOUT_S",
    "MlflowCatalog",
    "ModelHealth",
    "RegisteredModelInfo",
    "RunsHome",
    "WatchedModel",
    "feast_catalog",
    "feast_location",
    "health_location",
    "local_mlflow_databases",
    "mlflow_catalog",
    "mlflow_location",
    "read_health",
    "resolve_local",
    "watched_models",
    "within",
]
