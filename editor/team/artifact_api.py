"""A run's stored artifacts in the REST API (v1), with the download rule of ``team.downloads``.

- ``GET /api/v1/pipelines/{id}/runs/{run}/artifacts``: the artifacts of a run of the pipeline that the user
  may download (their manifests; never a file's path chosen by the request).
- ``GET /api/v1/pipelines/{id}/runs/{run}/artifacts/{node}/{port}``: one of them, streamed (a file as
  stored, a folder as a zip).

A run is found only among the pipeline's listed runs, and an artifact only among the run's manifests inside
its store root, so no path a request names is ever opened. Members of the pipeline's project see every
artifact; others see ``public`` ones and ``groups`` ones of a group they are in. Whatever is refused answers
404 with the same words as what does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import StreamingResponse

from ..runs.artifacts import ArtifactAccessError, RunStore, StoredArtifact, check_download, run_artifacts, stream
from ..services import MAX_ID
from ..store import NotFound
from .api import PREFIX
from .downloads import NO_ACCESS, may_download
from .identity import current_identity
from .services import TeamServices


def _no_run(pipeline_id: int, run_id: str) -> HTTPException:
    return HTTPException(
        404, f"run {run_id[:80]!r} of pipeline {pipeline_id} does not exist or you have no access to it"
    )


def visible_artifacts(services: TeamServices, pipeline_id: int, run_id: str) -> tuple[RunStore, list[StoredArtifact]]:
    """The run's store and the artifacts the user may download; 404 when there are none for them."""
    identity = current_identity()
    if not 0 < pipeline_id <= MAX_ID:
        raise _no_run(pipeline_id, run_id)
    try:
        info = services.store.get_pipeline(pipeline_id)
        member = services.store.role_of(identity.name, info.project_id) is not None
    except NotFound:
        raise _no_run(pipeline_id, run_id) from None
    record = next((r for r in services.runs.history(pipeline_id, info.dag_id) if r.get("id") == run_id), None)
    if record is None:
        raise _no_run(pipeline_id, run_id)
    store = RunStore.of(record)
    try:
        found = run_artifacts(record, store)
    except (ArtifactAccessError, OSError, ValueError) as exc:
        if not member:
            raise _no_run(pipeline_id, run_id) from None
        raise HTTPException(502, f"the artifacts in {store.root} could not be listed: {exc}") from None
    visible = [a for a in found if may_download(services.store, identity, info.project_id, a.access)]
    if not member and not visible:
        raise _no_run(pipeline_id, run_id)
    return store, visible


def artifact_json(artifact: StoredArtifact) -> dict[str, Any]:
    """An artifact as its manifest describes it."""
    return {
        "node": artifact.node,
        "port": artifact.port,
        "uri": artifact.uri,
        "kind": artifact.kind,
        "size": artifact.size,
        "files": artifact.files,
        "sha256": artifact.sha256,
        "access": artifact.access,
        "written_at": artifact.written_at,
    }


def build_artifact_router(services: TeamServices) -> APIRouter:
    """The artifact routes over ``services``."""
    router = APIRouter(prefix=PREFIX, tags=["dagsmith"])

    @router.get("/pipelines/{pipeline_id}/runs/{run_id}/artifacts")
    def artifacts(pipeline_id: int, run_id: str) -> list[dict[str, Any]]:
        """The run's artifacts that you may download."""
        _, visible = visible_artifacts(services, pipeline_id, run_id)
        return [artifact_json(a) for a in visible]

    @router.get("/pipelines/{pipeline_id}/runs/{run_id}/artifacts/{node}/{port}")
    def download(pipeline_id: int, run_id: str, node: str, port: str) -> StreamingResponse:
        """One artifact of the run, streamed (a folder as a zip)."""
        store, visible = visible_artifacts(services, pipeline_id, run_id)
        artifact = next((a for a in visible if a.node == node and a.port == port), None)
        if artifact is None:
            raise HTTPException(404, NO_ACCESS)
        try:
            check_download(store, artifact)
        except ArtifactAccessError as exc:
            raise HTTPException(404, str(exc)) from None
        media = "application/zip" if artifact.kind == "folder" else "application/octet-stream"
        headers = {"Content-Disposition": f'attachment; filename="{artifact.filename}"'}
        return StreamingResponse(stream(store, artifact), media_type=media, headers=headers)

    return router


def register_artifact_api(app: FastAPI, services: TeamServices) -> None:
    """Mount the artifact routes on NiceGUI's app."""
    app.include_router(build_artifact_router(services))
