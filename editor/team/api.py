"""The team server's REST API, version 1: projects, pipelines, drafts and DAG export, as the signed-in user.

Routes live under ``/api/v1`` on the same server (FastAPI, which NiceGUI runs on; OpenAPI at ``/docs``
for signed-in users). ``TeamGuard`` lets a request in only with a session cookie or
``Authorization: Bearer TOKEN`` (``dagsmith users token NAME``); every route then goes through the same
``TeamServices`` checks as the pages. A pipeline or project the user cannot see answers 404, exactly like
one that does not exist; a role too low answers 403 with what it needs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query
from fastapi.responses import PlainTextResponse

from dagsmith.codegen.compat import TARGETS

from ..errors import UserError
from ..store import StoreError
from .accounts import Accounts
from .identity import current_identity
from .pipeline_api import register_pipeline_api
from .review_api import register_reviews
from .services import NoAccessError, RoleError, TeamServices

PREFIX = "/api/v1"


def _status(exc: UserError) -> HTTPException:
    code = 404 if isinstance(exc, NoAccessError) else 403 if isinstance(exc, RoleError) else 400
    return HTTPException(status_code=code, detail=str(exc))


def build_router(services: TeamServices, accounts: Accounts) -> APIRouter:
    """The v1 routes over ``services`` (checks included)."""
    router = APIRouter(prefix=PREFIX, tags=["dagsmith"])

    @router.get("/me")
    def me() -> dict[str, Any]:
        """Who the request runs as."""
        identity = current_identity()
        return {"name": identity.name, "org_admin": identity.org_admin}

    @router.get("/projects")
    def projects() -> list[dict[str, Any]]:
        """The projects the user belongs to, with their role."""
        user = current_identity().name
        return [
            {"id": p.id, "name": p.name, "description": p.description, "role": str(services.store.role_of(user, p.id))}
            for p in services.projects()
        ]

    @router.get("/projects/{project_id}/pipelines")
    def pipelines(project_id: int) -> list[dict[str, Any]]:
        """A project's pipelines (for its members)."""
        try:
            listed = services.listing(project_id)
        except UserError as exc:
            raise _status(exc) from None
        return [
            {"id": i.id, "name": i.name, "dag_id": i.dag_id, "updated_at": i.updated_at.isoformat()} for i in listed
        ]

    @router.get("/pipelines/{pipeline_id}/draft")
    def draft(pipeline_id: int) -> dict[str, Any]:
        """A pipeline's working copy (the document as JSON) and its revision, for the project's members."""
        try:
            info, pipeline, revision = services.open_draft(pipeline_id)
        except UserError as exc:
            raise _status(exc) from None
        return {"id": info.id, "revision": revision, "document": pipeline.model_dump(mode="json")}

    @router.get("/pipelines/{pipeline_id}/export", response_class=PlainTextResponse)
    def export(pipeline_id: int, target: str = Query("airflow3", enum=list(TARGETS))) -> str:
        """The DAG file the working copy exports to (not committed), for the project's members."""
        if target not in TARGETS:  # enum= only documents the choices; an unknown one failed deep in codegen (500)
            raise HTTPException(status_code=400, detail=f"there is no target {target!r}; use {', '.join(TARGETS)}")
        try:
            _, pipeline, _ = services.open_draft(pipeline_id)
            return services.preview(pipeline_id, pipeline, target=target).source
        except UserError as exc:
            raise _status(exc) from None

    @router.get("/tokens")
    def tokens() -> list[dict[str, Any]]:
        """The user's own API tokens (never their secrets)."""
        return [
            {"id": t.id, "name": t.name, "created_at": t.created_at.isoformat(), "revoked": t.revoked_at is not None}
            for t in accounts.tokens(current_identity().name)
        ]

    @router.delete("/tokens/{token_id}", status_code=204)
    def revoke(token_id: int) -> None:
        """Revoke one of the user's own API tokens."""
        try:
            accounts.revoke_token(current_identity().name, token_id)
        except StoreError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    return router


def register_api(app: FastAPI, services: TeamServices, accounts: Accounts) -> None:
    """Mount the v1 API on NiceGUI's app (with the pipeline and review routes; the latter install the export gate)."""
    app.include_router(build_router(services, accounts))
    register_pipeline_api(app, services)
    register_reviews(app, services)
