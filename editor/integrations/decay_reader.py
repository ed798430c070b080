"""Reading a pipeline's model health from MLflow: the monitoring runs, the triggers and the registered versions.

``health_location`` picks the tracking URI the pipeline's runs use; ``read_health`` reads it, bounded in
time, and hands what it found to ``decay.model_health``. Whatever goes wrong raises ``ComponentUnavailable``
with a message naming the tracking URI and what to do. MLflow is imported only here, when a page or the
command line asks: it is optional (the ``mlops`` extra).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dagsmith.nodes import Pipeline

from .common import MLFLOW_HOW, ComponentUnavailable, Configured, first_line, within
from .decay import (
    ALIAS_MOVE_TAG,
    DRIFT_KIND,
    TRIGGER_KIND,
    AliasMove,
    Measurement,
    ModelHealth,
    Trigger,
    Version,
    model_health,
)
from .decay_watch import WatchedModel, watched_models
from .locations import mlflow_location
from .mlflow_reader import _check_http, _check_sqlite

HEALTH_TIMEOUT_S = 20.0
"""How long reading a pipeline's model health from MLflow may take."""
MAX_RUNS = 5000
"""At most this many monitoring runs per model and monitor are read (the newest)."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    """A pipeline's model health: where it was read, and one entry per watched model."""

    tracking_uri: str
    source: str
    models: list[ModelHealth] = field(default_factory=list)
    read_at: float = 0.0


def health_location(pipeline: Pipeline, workspace: Path | None = None, *, own_only: bool = False) -> Configured:
    """The tracking URI the pipeline's runs use: the environment, the run workspace's database, else its setting.

    ``own_only`` (a team server, ``RunsHome.own_only``): no local database but the project's own workspace's.
    ``ComponentUnavailable`` when none is configured (the message says how to configure one).
    """
    try:
        return mlflow_location(pipeline.dag_id, workspace=workspace, own_only=own_only)
    except ComponentUnavailable:
        configured = pipeline.settings.mlflow.tracking_uri
        if configured:
            return Configured(str(configured), "the pipeline's MLflow setting")
        raise


def _preflight(uri: str) -> None:
    """Refuse what MLflow would hang on or silently create (as ``mlflow_catalog`` does)."""
    where = f"MLflow at {uri}"
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("http", "https"):
        _check_http(uri, f"{where} is not reachable")
    elif scheme == "sqlite":
        _check_sqlite(uri, where, f"{where} is not reachable")


def read_health(
    tracking_uri: str,
    pipeline: Pipeline,
    *,
    source: str = "",
    timeout: float = HEALTH_TIMEOUT_S,
    now: float | None = None,
) -> HealthReport:
    """Read the health of every model the pipeline watches from the MLflow at ``tracking_uri``."""
    uri = tracking_uri.strip()
    if not uri:
        raise ComponentUnavailable(f"MLflow is not configured: {MLFLOW_HOW}")
    models = watched_models(pipeline)
    if not models:
        return HealthReport(uri, source, [], now or time.time())
    _preflight(uri)
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise ComponentUnavailable(
            f"MLflow is not installed in the editor's environment ({first_line(exc)}): "
            "install it with `pip install 'dagsmith[mlops]'` (or `pip install mlflow`) to see model health"
        ) from None
    where = f"MLflow at {uri}"

    def read() -> HealthReport:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        moment = time.time() if now is None else now
        return HealthReport(uri, source, [_model(client, model, moment) for model in models], moment)

    try:
        return within(timeout, where, read)
    except ComponentUnavailable as exc:
        raise ComponentUnavailable(f"{exc.message}; check that the server is up, or {MLFLOW_HOW}") from None
    except Exception as exc:
        raise ComponentUnavailable(f"{where} answered with an error: {first_line(exc)}; {MLFLOW_HOW}") from None


def _model(client: Any, model: WatchedModel, now: float) -> ModelHealth:
    versions = _versions(client, model)
    measurements: dict[str, list[Measurement]] = {}
    triggers: dict[str, list[Trigger]] = {}
    for watch in model.monitors:
        experiment = client.get_experiment_by_name(watch.experiment)
        if experiment is None:
            measurements[watch.node], triggers[watch.node] = [], []
            continue
        ids = [experiment.experiment_id]
        query = f"tags.`dagsmith.model_name` = {_quoted(model.name)} and attributes.status = 'FINISHED'"
        kind = DRIFT_KIND if watch.source == "drift" else None  # a quality monitor reads the untagged runs
        if kind:
            query += f" and tags.`dagsmith.kind` = '{kind}'"
        measurements[watch.node] = [
            Measurement(
                str(run.data.tags.get("dagsmith.model_version") or "?"),
                run.info.start_time / 1000.0,
                float(run.data.metrics[watch.metric]),
                run.info.run_id,
            )
            for run in _search(client, ids, query)
            if watch.metric in run.data.metrics and run.data.tags.get("dagsmith.kind") == kind
        ]
        dag = _quoted(watch.retrain_dag_id)
        query = f"tags.`dagsmith.kind` = '{TRIGGER_KIND}' and tags.`dagsmith.retrain_dag_id` = {dag}"
        triggers[watch.node] = [
            Trigger(
                run.info.start_time / 1000.0,
                run.info.run_id,
                str(run.data.tags.get("dagsmith.triggered_run_id", "")),
                watch.retrain_dag_id,
                run.data.metrics.get(watch.metric),
            )
            for run in _search(client, ids, query)
        ]
    health = model_health(model, versions, measurements, triggers, now)
    if not versions:
        note = f"no registered model {model.name!r} in this MLflow yet: it appears once a run registers it"
        health = ModelHealth(health.name, health.panels, health.versions, health.gate_metric, note)
    return health


def _versions(client: Any, model: WatchedModel) -> list[Version]:
    """The model's versions with their aliases and, when a gate watches it, the gate's metric from the source run."""
    try:
        found = list(client.search_model_versions(f"name = {_quoted(model.name)}", max_results=1000))
    except Exception as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
            return []
        raise
    held: dict[str, list[str]] = {}
    if found:  # searched versions carry no aliases: the registered model has them (alias → version)
        for alias, version in (getattr(client.get_registered_model(model.name), "aliases", None) or {}).items():
            held.setdefault(str(version), []).append(str(alias))
    metric = model.gates[0].metric if model.gates else None
    versions = []
    for item in found:
        value = None
        if metric and item.run_id:
            try:
                value = client.get_run(item.run_id).data.metrics.get(metric)
            except Exception as exc:  # a deleted source run: no metric to show
                if "RESOURCE_DOES_NOT_EXIST" not in str(exc) and "not found" not in str(exc).lower():
                    raise
        versions.append(
            Version(
                str(item.version),
                (item.creation_timestamp or 0) / 1000.0,
                str(item.run_id or ""),
                tuple(sorted(held.get(str(item.version), []))),
                None if value is None else float(value),
                _moves(str(item.version), getattr(item, "tags", None) or {}),
            )
        )
    return versions


def _moves(version: str, tags: dict[str, str]) -> tuple[AliasMove, ...]:
    """The alias moves the steps recorded on a version (its ``dagsmith.alias_move.`` tags); unreadable ones skipped."""
    moves = []
    for key, text in tags.items():
        if not key.startswith(ALIAS_MOVE_TAG):
            continue
        try:
            record = json.loads(text)
            alias, moment = str(record["alias"]), float(record["time"])
        except (ValueError, TypeError, KeyError):
            continue
        previous = record.get("previous")
        run_id = str(record.get("run_id") or "")
        moves.append(AliasMove(alias, version, moment, None if previous is None else str(previous), run_id))
    return tuple(sorted(moves, key=lambda move: move.time))


def _search(client: Any, experiment_ids: list[str], query: str) -> list[Any]:
    """The newest runs matching ``query`` (at most ``MAX_RUNS``)."""
    runs: list[Any] = []
    token: str | None = None
    while len(runs) < MAX_RUNS:
        page = client.search_runs(
            experiment_ids, query, order_by=["attributes.start_time DESC"], max_results=1000, page_token=token
        )
        runs += list(page)
        token = getattr(page, "token", None)
        if not token:
            break
    return runs[:MAX_RUNS]


def _quoted(text: str) -> str:
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"
