"""A pipeline made ready for a local run: artifacts in the workspace, Feast repositories resolved.

``localize`` returns a copy of the document (the original is not changed) and the one-time setup the
workspace needs before the run: the embedded MLflow database, and an embedded Feast repository for each
feature repo the pipeline names.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Mapping
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
    notices: list[str] = field(default_factory=list)  # for the run's log (not the worker's)

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
"""Where a local run stores artifacts: unset (the pipeline's store when this machine can reach it, else the
workspace, with a notice), ``pipeline`` (the pipeline's store, or an error) or ``workspace``."""

STORE_CHOICES = ("pipeline", "workspace")

_CLUSTER_HOSTS = (".svc", ".svc.cluster.local", ".cluster.local")


def _credentials_here(settings: PipelineSettings, kind: str, environ: Mapping[str, str]) -> str | None:
    """Why this machine has no credentials for the pipeline's object store (None when it has some)."""
    store = settings.artifact_store
    if kind == "s3":
        if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
            return None
        home = Path(environ.get("HOME") or Path.home())
        profile = environ.get("AWS_PROFILE") or environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
        if store.workload_identity and (profile or (home / ".aws" / "credentials").is_file()):
            return None
        return "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set here"
    if environ.get("STORAGE_EMULATOR_HOST"):
        return None
    keyfile = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if keyfile and Path(keyfile).is_file():
        return None
    default = Path(environ.get("HOME") or Path.home()) / ".config/gcloud/application_default_credentials.json"
    if store.workload_identity and default.is_file():
        return None
    return "GOOGLE_APPLICATION_CREDENTIALS does not name a key file here"


def _unreachable(settings: PipelineSettings, environ: Mapping[str, str]) -> str | None:
    """Why this machine cannot reach the pipeline's artifact store (None when it can)."""
    root, store = settings.artifact_root, settings.artifact_store
    kind = store_kind(root)
    if kind == "posix":
        if Path(root).is_dir():
            return None
        where = f"the claim {store.pvc!r} mounted in every pod" if store.pvc else "a folder inside each pod"
        return f"{root} is not a folder on this machine (on Kubernetes it is {where})"
    if kind not in ("s3", "gcs"):
        return f"{root} is not a store a local run can use"
    host = urllib.parse.urlsplit(store.endpoint_url or "").hostname or ""
    if host.endswith(_CLUSTER_HOSTS):
        return f"its endpoint {store.endpoint_url} is a name inside the Kubernetes cluster"
    return _credentials_here(settings, kind, environ)


def choose_artifact_root(
    settings: PipelineSettings, workspace: Workspace, environ: Mapping[str, str]
) -> tuple[str, str | None]:
    """Where a local run stores its artifacts, and a notice for the run's log when it is not the pipeline's store.

    The pipeline's own store by default (``settings.artifact_root``, as on Kubernetes): an existing folder on
    this machine (a shared folder, or the volume mounted at the same path), or an ``s3://``/``gs://`` root
    reached with the settings' endpoint and region and the credentials in this environment under the names
    the secret reference fills in a pod. A store this machine cannot reach (a claim only the cluster mounts,
    an endpoint inside the cluster, no credentials here) falls back to the workspace's ``artifacts`` folder.
    ``DAGSMITH_LOCAL_STORE`` overrides: ``pipeline`` (an unreachable store is an error) or ``workspace``.
    """
    choice = (environ.get(LOCAL_STORE_ENV) or "").strip().lower()
    if choice and choice not in STORE_CHOICES:
        raise LocalRunError(
            f"{LOCAL_STORE_ENV}={choice!r} is not a choice: use 'pipeline' (the pipeline's artifact store), "
            "'workspace' (this workspace's folder), or leave it unset (the pipeline's store when reachable)"
        )
    fallback = str(workspace.artifacts)
    if choice == "workspace":
        return fallback, None
    problem = _unreachable(settings, environ)
    if problem is None:
        return settings.artifact_root, None
    if choice == "pipeline":
        raise LocalRunError(
            f"pipeline settings, artifact_root: this machine cannot reach the artifact store: {problem}; "
            f"{LOCAL_STORE_ENV}=pipeline asks to store this run's artifacts there. Make it reachable (create the "
            f"shared folder, set the credentials), or unset {LOCAL_STORE_ENV} to store them in the workspace"
        )
    notice = (
        f"artifacts: the pipeline's store {settings.artifact_root} cannot be reached from this machine ({problem}); "
        f"this run stores its artifacts in the workspace, {fallback}. Set {LOCAL_STORE_ENV}=pipeline to require "
        "the pipeline's store, or workspace to silence this"
    )
    return fallback, notice


def local_artifact_root(settings: PipelineSettings, workspace: Workspace, *, own_store: bool) -> str:
    """Where a local run stores its artifacts: the pipeline's store (``own_store``; an error when it cannot be
    reached from here) or the workspace's ``artifacts`` folder."""
    choice = {LOCAL_STORE_ENV: "pipeline" if own_store else "workspace"}
    return choose_artifact_root(settings, workspace, {**os.environ, **choice})[0]


def localize(
    pipeline: Pipeline,
    workspace: Workspace,
    services: Services,
    *,
    project_dir: Path,
    keep_artifact_root: bool = False,
    own_store: bool = False,
    environ: Mapping[str, str] | None = None,
) -> tuple[Pipeline, Setup]:
    """The pipeline as it runs here, and the workspace setup it needs.

    With ``environ`` the artifact store is chosen by ``choose_artifact_root`` (its notice lands in
    ``setup.notices``); without it, ``own_store`` says pipeline store or workspace.
    """
    local = pipeline.model_copy(deep=True)
    setup = Setup()
    if not keep_artifact_root and environ is not None:
        local.settings.artifact_root, notice = choose_artifact_root(local.settings, workspace, environ)
        setup.notices += [notice] if notice else []
    elif not keep_artifact_root:
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
