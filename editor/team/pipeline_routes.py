"""The REST API's routes that start things and change the pipeline list (issue 13), as the signed-in user.

- ``POST …/pipelines/{id}/runs`` starts a local run of the working copy, with the same check as the page's
  Run button (``TeamRuns.start``: the editor role) and its run settings (the project folder saved for the
  pipeline, else the project's checkout); a second start while one is going answers 409, as the page
  refuses it. The answer is the new run's id.
- ``GET …/pipelines/{id}/runs/{run}/tasks/{task}/log`` is the end of one task's log, for members. The run
  must be one the pipeline's history lists and the task one its record names: the request names nothing
  on disk, the file is the one the run's own folder keeps for that task.
- ``POST /projects/{id}/pipelines`` (editors), ``PATCH /pipelines/{id}`` (rename, editors) and
  ``DELETE /pipelines/{id}`` (maintainers) do what the start page's list does, with its rules.

As everywhere in the API, a pipeline or project the user is no member of answers 404 like one that does
not exist, and a role too low 403 naming the role needed.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from dagsmith.nodes import FORMAT, VERSION, DocumentError, Pipeline, load_example, parse

from ..errors import UserError
from ..run_services import RunSettings, read_log
from ..runs.records import log_name, run_dir
from ..store import PipelineInfo
from .services import NoAccessError, RoleError, TeamServices


class RunBody(BaseModel):
    """How to start a run: run-time parameters (none: the ones saved with the pipeline's run settings)."""

    conf: dict[str, Any] | None = Field(default=None, description="run-time parameters by name", examples=[{}])


class NewPipelineBody(BaseModel):
    """A new pipeline: blank, a copy of a bundled template, or a document; optionally named."""

    name: str | None = Field(default=None, description="its name (default: the template's or 'New pipeline')")
    template: str | None = Field(default=None, description="a bundled template's name", examples=["user_targeting"])
    document: dict[str, Any] | None = Field(default=None, description="a pipeline document, as GET …/draft returns")


class RenameBody(BaseModel):
    """A pipeline's new name (its dag_id follows unless it was set)."""

    name: str = Field(description="the new name", examples=["Churn scoring"])


def _status(exc: UserError) -> HTTPException:
    code = 404 if isinstance(exc, NoAccessError) else 403 if isinstance(exc, RoleError) else 400
    return HTTPException(status_code=code, detail=str(exc))


def _info_json(info: PipelineInfo) -> dict[str, Any]:
    return {"id": info.id, "project_id": info.project_id, "name": info.name, "dag_id": info.dag_id}


def register_run_routes(router: APIRouter, services: TeamServices) -> None:
    """Start a run; read a task's log."""

    @router.post("/pipelines/{pipeline_id}/runs", status_code=201)
    def start_run(pipeline_id: int, body: RunBody | None = None) -> dict[str, Any]:
        """Start a local run of the working copy (editors); 409 while another run of it is going."""
        runs = services.runs
        try:
            _, pipeline, _ = services.open_draft(pipeline_id)
            services.check(pipeline_id, "run")  # before anything of the run settings is read
            going = runs.active(pipeline_id)
            if going is not None:
                raise HTTPException(
                    status_code=409,
                    detail=f"run {going.id} of this pipeline is still going; wait for it to end, then start again",
                )
            saved = runs.settings(pipeline_id)
            conf = saved.conf if body is None or body.conf is None else body.conf
            handle = runs.start(pipeline_id, pipeline, RunSettings(project_dir=saved.project_dir, conf=conf))
        except UserError as exc:
            going = runs.active(pipeline_id)
            if going is not None and not isinstance(exc, NoAccessError | RoleError):  # started meanwhile
                raise HTTPException(status_code=409, detail=str(exc)) from None
            raise _status(exc) from None
        return {"id": handle.id, "dag_id": pipeline.dag_id}

    @router.get("/pipelines/{pipeline_id}/runs/{run_id}/tasks/{task_id}/log", response_class=PlainTextResponse)
    def task_log(pipeline_id: int, run_id: str, task_id: str, map_index: int = Query(-1, ge=-1)) -> str:
        """The end of a task's log in one of the pipeline's runs (members); empty while it has not started."""
        try:
            info, _, _ = services.open_draft(pipeline_id)
            history = services.runs.history(pipeline_id, info.dag_id)
            runs_folder = services.runs.workspace(services.runs.project_of(pipeline_id)).runs
        except UserError as exc:
            raise _status(exc) from None
        found = next((r for r in history if r.get("id") == run_id), None)
        if found is None:  # only a run the pipeline's history lists: the id is never a path
            raise HTTPException(status_code=404, detail=f"pipeline {pipeline_id} has no run {run_id[:80]!r}")
        task = next(
            (
                t
                for t in found.get("tasks") or []
                if isinstance(t, dict) and t.get("task_id") == task_id and t.get("map_index", -1) == map_index
            ),
            None,
        )
        if task is None:
            known = sorted({str(t.get("task_id")) for t in found.get("tasks") or [] if isinstance(t, dict)})
            raise HTTPException(
                status_code=404,
                detail=f"run {run_id} has no task {task_id[:80]!r} (map index {map_index}); "
                f"its tasks: {', '.join(known) or 'none yet'}",
            )
        # the record's own dag_id, run id and task: names read from the server's files, never from the request
        folder = run_dir(runs_folder, str(found["dag_id"]), str(found["id"]))
        return read_log(folder / "logs" / log_name(str(task["task_id"]), int(task.get("map_index", -1))))


def register_pipeline_routes(router: APIRouter, services: TeamServices) -> None:
    """Create, rename and delete pipelines."""

    @router.post("/projects/{project_id}/pipelines", status_code=201)
    def create(project_id: int, body: NewPipelineBody) -> dict[str, Any]:
        """A new pipeline in the project (editors): blank, from a template, or a document."""
        try:
            services.check_project(project_id, "edit")  # before the body is looked at
            pipeline = _new_pipeline(body, project_id)
            if body.name is not None:
                pipeline.settings.name = body.name.strip()
            return _info_json(services.create(project_id, pipeline))
        except UserError as exc:
            raise _status(exc) from None

    @router.patch("/pipelines/{pipeline_id}")
    def rename(pipeline_id: int, body: RenameBody) -> dict[str, Any]:
        """Rename a pipeline (editors), as the start page does: its draft; saved versions keep their names."""
        try:
            return _info_json(services.rename(pipeline_id, body.name.strip()))
        except UserError as exc:
            raise _status(exc) from None

    @router.delete("/pipelines/{pipeline_id}")
    def delete(pipeline_id: int) -> dict[str, Any]:
        """Delete a pipeline with its draft and versions (maintainers); DAG files committed stay in git."""
        try:
            return {"id": pipeline_id, "deleted": services.delete(pipeline_id)}
        except UserError as exc:
            raise _status(exc) from None


def _new_pipeline(body: NewPipelineBody, project_id: int) -> Pipeline:
    """The pipeline the body describes; ``UserError`` says what is wrong with it."""
    if body.template is not None and body.document is not None:
        raise UserError("send either a template or a document, not both")
    if body.document is not None:
        text = json.dumps({"format": FORMAT, "version": VERSION, **body.document})
        try:
            return parse(text, source=f"the new pipeline's document for project {project_id}")
        except DocumentError as exc:
            raise UserError(str(exc)) from None
    if body.template is not None:
        try:
            return load_example(body.template)
        except KeyError as exc:
            raise UserError(str(exc.args[0])) from None
    pipeline = Pipeline()
    pipeline.settings.name = "New pipeline"
    return pipeline
