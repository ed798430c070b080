"""Which Feast repository and which MLflow tracking server the editor browses.

``feast_location``: the node's ``feast_repo`` when it is a local folder, else ``$DAGSMITH_FEAST_REPO``;
``mlflow_location``: ``$DAGSMITH_MLFLOW_TRACKING_URI``, ``$MLFLOW_TRACKING_URI``, else a local MLflow
database that already exists. ``RunsHome`` says where a project's runs live: on a team server only the
project's own run workspace is looked in, never a folder that other projects share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .common import (
    ENV_FEAST_REPO,
    ENV_MLFLOW,
    ENV_MLFLOW_STANDARD,
    FEAST_HOW,
    MLFLOW_HOW,
    ComponentUnavailable,
    Configured,
)


@dataclass(frozen=True, slots=True)
class RunsHome:
    """Where a project's runs live, for the MLflow lookup (``LocalRuns.runs_home`` gives it)."""

    workspace: Path | None
    """The project's run workspace (``LocalRuns.workspace``); ``None`` when it has none."""
    own_only: bool = False
    """A team server: only ``workspace`` is looked in. The shared fallbacks (``$DAGSMITH_WORKSPACE`` itself,
    ``<DAGSMITH_HOME>/workspace/<dag_id>``, ``<DAGSMITH_HOME>/mlflow.db``) hold other projects' runs there."""


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
            f"and {ENV_FEAST_REPO} is not set: {FEAST_HOW}"
        )
    raise ComponentUnavailable(f"No Feast repository is configured: {FEAST_HOW}")


def local_mlflow_databases(
    dag_id: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    workspace: Path | None = None,
    own_only: bool = False,
) -> list[Path]:
    """Where a local MLflow database may be: the local-run workspace, then ``$DAGSMITH_HOME``.

    The workspace: ``workspace`` when given (the editor's runs: ``LocalRuns.workspace`` of the pipeline's
    project, which already follows ``$DAGSMITH_WORKSPACE``; on a team server that is the project's own
    folder beneath it, never the shared parent), else ``$DAGSMITH_WORKSPACE`` as editor/runs/workspace.py
    reads it; then, without that variable, the command line's ``<DAGSMITH_HOME>/workspace/<dag_id>``. The
    database is at ``mlflow/mlflow.db`` in each. With ``own_only`` (a team server) only ``workspace``'s
    database, and none without a workspace: every other folder is shared by the server's projects.
    """
    from ..store.engine import dagsmith_home

    if own_only:
        return [] if workspace is None else [workspace / "mlflow" / "mlflow.db"]

    env = os.environ if environ is None else environ
    home = Path(env["DAGSMITH_HOME"]).expanduser() if env.get("DAGSMITH_HOME") else dagsmith_home()
    candidates: list[Path] = []
    configured = env.get("DAGSMITH_WORKSPACE")
    if workspace is not None:
        candidates.append(workspace / "mlflow" / "mlflow.db")
    elif configured:
        candidates.append(Path(configured).expanduser() / "mlflow" / "mlflow.db")
    if dag_id and not configured:
        candidates.append(home / "workspace" / dag_id / "mlflow" / "mlflow.db")
    candidates.append(home / "mlflow.db")
    return list(dict.fromkeys(candidates))


def mlflow_location(
    dag_id: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    workspace: Path | None = None,
    own_only: bool = False,
) -> Configured:
    """The tracking URI to browse: ``$DAGSMITH_MLFLOW_TRACKING_URI``, ``$MLFLOW_TRACKING_URI``, or a local database.

    ``workspace``: the editor's run workspace of the pipeline's project, where its local runs track;
    ``own_only``: look in no other folder (a team server, see ``RunsHome``). The local database is used
    only if it exists; otherwise ``ComponentUnavailable`` says how to configure one.
    """
    env = os.environ if environ is None else environ
    for name in (ENV_MLFLOW, ENV_MLFLOW_STANDARD):
        value = env.get(name, "").strip()
        if value:
            return Configured(value, name)
    candidates = local_mlflow_databases(dag_id, env, workspace=workspace, own_only=own_only)
    for database in candidates:
        if database.is_file():
            return Configured(f"sqlite:///{database}", "local MLflow database")
    if own_only:  # the server's folders are not shown: they are no business of a project's members
        raise ComponentUnavailable(
            f"MLflow is not configured for this project: {MLFLOW_HOW}, or set the pipeline's MLflow tracking "
            "URI (Pipeline settings). On a team server a local MLflow database is used only from the "
            "project's own run workspace, once its runs have created one"
        )
    raise ComponentUnavailable(
        f"MLflow is not configured: {MLFLOW_HOW} (a local MLflow database is used when one exists, "
        f"looked for {' and '.join(str(c) for c in candidates)})"
    )
