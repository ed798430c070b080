"""The REST API's pipeline routes beyond reading (issue 13): drafts written with a revision check,
validation, versions and their diff, and a pipeline's runs, each as the signed-in user (starting a run,
a task's log, and creating, renaming and deleting pipelines: ``pipeline_routes``).

Every route goes through ``TeamServices``' checks first (``open`` to read, ``edit`` to write), so a
pipeline the user cannot see answers 404 exactly like one that does not exist and a role too low 403.
A draft is written only over the revision the client read (``GET …/draft``): another save in between
answers 409 with the current revision, never a silent overwrite.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from dagsmith.codegen.changes import describe_changes
from dagsmith.codegen.compat import TARGETS
from dagsmith.nodes import FORMAT, VERSION, DocumentError, parse, validate

from ..errors import UserError
from ..services import DraftConflictError
from ..store import NotFound, Version
from .pipeline_routes import register_pipeline_routes, register_run_routes
from .review_content import dag_diff
from .services import NoAccessError, RoleError, TeamServices

PREFIX = "/api/v1"


class DraftBody(BaseModel):
    """A new working copy and the revision it replaces (``GET …/draft``'s ``revision``)."""

    revision: int = Field(ge=0, description="the draft revision this document was based on")
    document: dict[str, Any] = Field(description="the pipeline document, as GET …/draft returns it")


def _status(exc: UserError) -> HTTPException:
    code = 404 if isinstance(exc, NoAccessError) else 403 if isinstance(exc, RoleError) else 400
    return HTTPException(status_code=code, detail=str(exc))


def _version(services: TeamServices, pipeline_id: int, number: int) -> Version:
    try:
        return services.store.get_version(pipeline_id, number)
    except NotFound:
        raise HTTPException(
            status_code=404, detail=f"pipeline {pipeline_id} has no version {number}; GET …/versions lists them"
        ) from None


def build_pipeline_router(services: TeamServices) -> APIRouter:
    """The routes over ``services`` (checks included)."""
    router = APIRouter(prefix=PREFIX, tags=["dagsmith"])
    _draft_routes(router, services)
    _version_routes(router, services)
    register_run_routes(router, services)
    register_pipeline_routes(router, services)
    return router


def _draft_routes(router: APIRouter, services: TeamServices) -> None:
    @router.put("/pipelines/{pipeline_id}/draft")
    def save_draft(pipeline_id: int, body: DraftBody) -> dict[str, Any]:
        """Replace the working copy (editors), only over the revision it was based on (409 otherwise)."""
        try:
            services.check(pipeline_id, "edit")
            # GET …/draft's document is the pipeline without the file's header: it is of this format's version
            text = json.dumps({"format": FORMAT, "version": VERSION, **body.document})
            pipeline = parse(text, source=f"pipeline {pipeline_id}'s document")
            revision = services.save_draft(pipeline_id, pipeline, expected_revision=body.revision)
        except DraftConflictError:
            _, _, current = services.open_draft(pipeline_id)
            raise HTTPException(
                status_code=409,
                detail=f"the draft is at revision {current}, not {body.revision}: another save came first; "
                "GET the draft again, apply your change to it and PUT it with its revision",
            ) from None
        except DocumentError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        except UserError as exc:
            raise _status(exc) from None
        return {"id": pipeline_id, "revision": revision}

    @router.get("/pipelines/{pipeline_id}/validate")
    def validate_draft(pipeline_id: int) -> dict[str, Any]:
        """The working copy's problems, as the problems panel lists them (members)."""
        try:
            _, pipeline, revision = services.open_draft(pipeline_id)
        except UserError as exc:
            raise _status(exc) from None
        issues = validate(pipeline)
        errors = sum(1 for issue in issues if issue.is_error)
        return {"revision": revision, "valid": errors == 0, "errors": errors, "issues": [i.to_dict() for i in issues]}

    @router.get("/pipelines/{pipeline_id}/runs")
    def runs(pipeline_id: int) -> list[dict[str, Any]]:
        """The pipeline's local runs, newest first, with their states (members)."""
        try:
            info, _, _ = services.open_draft(pipeline_id)
        except UserError as exc:
            raise _status(exc) from None
        return [_run_json(record) for record in services.runs.history(pipeline_id, info.dag_id)]

    @router.get("/pipelines/{pipeline_id}/runs/{run_id}")
    def run(pipeline_id: int, run_id: str) -> dict[str, Any]:
        """One run: its state, run-time parameters and each task's state and times (members)."""
        try:
            info, _, _ = services.open_draft(pipeline_id)
        except UserError as exc:
            raise _status(exc) from None
        found = next((r for r in services.runs.history(pipeline_id, info.dag_id) if r.get("id") == run_id), None)
        if found is None:  # only a run the pipeline's history lists: the id is never a path
            raise HTTPException(status_code=404, detail=f"pipeline {pipeline_id} has no run {run_id[:80]!r}")
        tasks = [
            {key: task.get(key) for key in ("task_id", "map_index", "state", "start", "end")}
            for task in found.get("tasks") or []
            if isinstance(task, dict)
        ]
        return {**_run_json(found), "conf": found.get("conf") or {}, "tasks": tasks}


def _run_json(record: dict[str, Any]) -> dict[str, Any]:
    """A run record's fields the API shows (not the server's paths)."""
    return {key: record.get(key) for key in ("id", "dag_id", "state", "started", "airflow_run_id")}


def _version_routes(router: APIRouter, services: TeamServices) -> None:
    @router.get("/pipelines/{pipeline_id}/versions")
    def versions(pipeline_id: int) -> list[dict[str, Any]]:
        """The pipeline's saved versions, oldest first, without their documents (members)."""
        try:
            services.check(pipeline_id, "open")
        except UserError as exc:
            raise _status(exc) from None
        return [
            {
                "number": v.number,
                "dag_id": v.dag_id,
                "message": v.message,
                "created_by": v.created_by,
                "created_at": v.created_at.isoformat(),
                "content_hash": v.content_hash,
            }
            for v in services.store.list_versions(pipeline_id)
        ]

    @router.get("/pipelines/{pipeline_id}/versions/{number}")
    def version(pipeline_id: int, number: int) -> dict[str, Any]:
        """One saved version with its document (members)."""
        try:
            services.check(pipeline_id, "open")
        except UserError as exc:
            raise _status(exc) from None
        found = _version(services, pipeline_id, number)
        return {"number": found.number, "message": found.message, "document": found.pipeline().model_dump(mode="json")}

    @router.get("/pipelines/{pipeline_id}/diff/{base}/{to}")
    def diff(
        pipeline_id: int, base: int, to: int, target: str = Query("airflow3", enum=list(TARGETS))
    ) -> dict[str, Any]:
        """What changed from version ``base`` to ``to``: the plain-language list and the DAG file's diff."""
        if target not in TARGETS:
            raise HTTPException(status_code=400, detail=f"there is no target {target!r}; use {', '.join(TARGETS)}")
        try:
            services.check(pipeline_id, "open")
        except UserError as exc:
            raise _status(exc) from None
        old, new = _version(services, pipeline_id, base), _version(services, pipeline_id, to)
        return {
            "base": base,
            "to": to,
            "changes": describe_changes(old.pipeline(), new.pipeline()),
            "dag_diff": dag_diff(old, new, target=target),
        }


def register_pipeline_api(app: FastAPI, services: TeamServices) -> None:
    """Mount the routes on NiceGUI's app."""
    app.include_router(build_pipeline_router(services))
