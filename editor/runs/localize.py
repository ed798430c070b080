"""A pipeline made ready for a local run: artifacts in the workspace, Feast repositories resolved.

``localize`` returns a copy of the document (the original is not changed) and the one-time setup the
workspace needs before the run: the embedded MLflow database, and an embedded Feast repository for each
feature repo the pipeline names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagsmith.nodes import Pipeline, PipelineSettings, slug
from dagsmith.nodes.store import store_kind

from .workspace import ENV_FEAST_REPO, Services, Workspace

FEATURE_NODES = ("feature_retrieval", "feature_materialize")
FEAST_CONFIG = "feature_store.yaml"


class LocalRunError(ValueError):
    """A pipeline that cannot run locally as it is; the message says where and what to do."""


@dataclass(slots=True)
class Setup:
    """One-time preparation of the workspace, done by the worker before the DAG runs."""

    mlflow: dict[str, Any] | None = None  # {"uri", "artifacts"}
    feast: list[dict[str, str]] = field(default_factory=list)  # [{"source", "target", "digest"}]

    def to_dict(self) -> dict[str, Any]:
        """JSON for the worker's spec."""
        return {"mlflow": self.mlflow, "feast": self.feast}


def folder_digest(folder: Path) -> str:
    """A hash of a folder's files (names and contents), skipping generated data and caches."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_dir() or relative.parts[0] in ("data", "__pycache__") or "__pycache__" in relative.parts:
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _feast_repo(node_id: str, value: Any, project_dir: Path, workspace: Workspace, setup: Setup) -> str:
    if not isinstance(value, str) or not value:
        raise LocalRunError(f"node {node_id!r}: no feast_repo to run with")
    source = (project_dir / value).resolve()
    if not (source / FEAST_CONFIG).is_file():
        raise LocalRunError(
            f"node {node_id!r}: the Feast repository {value!r} is not a folder with {FEAST_CONFIG} "
            f"(looked in {source}); point feast_repo at one (relative to {project_dir}), "
            f"or set {ENV_FEAST_REPO} to a repository whose stores are reachable from here"
        )
    target = workspace.feast / (slug(source.name) or "repo")
    if not any(entry["source"] == str(source) for entry in setup.feast):
        taken = {entry["target"] for entry in setup.feast}
        if str(target) in taken:
            target = target.with_name(target.name + "_" + hashlib.sha1(str(source).encode()).hexdigest()[:6])
        setup.feast.append({"source": str(source), "target": str(target), "digest": folder_digest(source)})
    return next(entry["target"] for entry in setup.feast if entry["source"] == str(source))


LOCAL_STORE_ENV = "DAGSMITH_LOCAL_STORE"
"""``pipeline`` in a local run's environment: store artifacts in the pipeline's own store, not the workspace."""


def local_artifact_root(settings: PipelineSettings, workspace: Workspace, *, own_store: bool) -> str:
    """Where a local run stores its artifacts: the workspace's ``artifacts`` folder, or the pipeline's store.

    With ``own_store`` (``DAGSMITH_LOCAL_STORE=pipeline``) an ``s3://`` or ``gs://`` root is used as the
    settings say (endpoint, region; a secret reference's variables come from the local environment under
    the same names), and a POSIX root must be a folder that exists on this machine (a shared folder).
    """
    root = settings.artifact_root
    if not own_store:
        return str(workspace.artifacts)
    kind = store_kind(root)
    if kind == "posix" and not Path(root).is_dir():
        raise LocalRunError(
            f"pipeline settings, artifact_root: {root} is not a folder on this machine, and "
            f"{LOCAL_STORE_ENV}=pipeline asks to store this run's artifacts there; create it (a shared folder), "
            f"or unset {LOCAL_STORE_ENV} to store them in the workspace"
        )
    if kind not in ("posix", "s3", "gcs"):
        raise LocalRunError(f"pipeline settings, artifact_root: {root} is not a store a local run can use")
    return root


def localize(
    pipeline: Pipeline,
    workspace: Workspace,
    services: Services,
    *,
    project_dir: Path,
    keep_artifact_root: bool = False,
    own_store: bool = False,
) -> tuple[Pipeline, Setup]:
    """The pipeline as it runs here, and the workspace setup it needs."""
    local = pipeline.model_copy(deep=True)
    setup = Setup()
    if not keep_artifact_root:
        local.settings.artifact_root = local_artifact_root(local.settings, workspace, own_store=own_store)
    for node in local.nodes:
        if node.type not in FEATURE_NODES:
            continue
        if services.feast_repo:
            node.params["feast_repo"] = services.feast_repo
        else:
            node.params["feast_repo"] = _feast_repo(
                node.id, node.params.get("feast_repo"), project_dir, workspace, setup
            )
    if services.embedded_mlflow:
        setup.mlflow = {"uri": services.tracking_uri, "artifacts": str(workspace.mlflow / "artifacts")}
    return local, setup
