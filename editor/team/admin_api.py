"""The admin part of the REST API (v1): projects, members, users and API tokens, with the admin page's checks.

- ``/api/v1/admin/...``: organisation admins only (anyone else: 403; the routes reveal nothing of a project).
- ``/api/v1/projects/{id}/members``: an organisation admin, or the project's own admin (role ``admin``, the
  store's ``owner``). A user who is not a member of the project gets 404, as for a project that does not
  exist; a member with a lower role gets 403 naming the role it needs.

Every route runs ``admin.Administration``, which checks and logs (``dagsmith.team.audit``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Body, FastAPI, HTTPException

from ..store import Conflict, Member, NotFound, PermissionDenied, StoreError
from .admin import ROLE_NAMES, Administration, ProjectSummary
from .api import PREFIX
from .identity import current_identity

T = TypeVar("T")


def _stranger(admin: Administration | None, project_id: int | None) -> bool:
    """Whether the caller may not learn that project ``project_id`` exists (not a member, not an org admin)."""
    if admin is None or project_id is None:
        return False
    identity = current_identity()
    if identity.org_admin:
        return False
    try:
        return admin.store.role_of(identity.name, project_id) is None
    except NotFound:
        return True


def _call(work: Callable[[], T], *, project_id: int | None = None, admin: Administration | None = None) -> T:
    """Run an admin operation; its refusal as the HTTP status that says it without leaking a project."""
    try:
        return work()
    except (PermissionDenied, NotFound) as exc:
        if _stranger(admin, project_id):
            raise HTTPException(404, f"project {project_id} does not exist or you have no access to it") from None
        raise HTTPException(403 if isinstance(exc, PermissionDenied) else 404, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except StoreError as exc:
        raise HTTPException(400, str(exc)) from None


def project_json(project: ProjectSummary) -> dict[str, Any]:
    """A project as the API shows it."""
    archived = project.archived_at.isoformat() if project.archived_at else None
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "members": project.members,
        "archived_at": archived,
    }


def member_json(member: Member) -> dict[str, Any]:
    """A member as the API shows it (the role by its shown name)."""
    return {"user": member.user, "role": ROLE_NAMES[member.role], "added_at": member.added_at.isoformat()}


def build_admin_router(admin: Administration) -> APIRouter:
    """The admin routes over ``admin`` (checks included)."""
    router = APIRouter(prefix=PREFIX, tags=["dagsmith admin"])

    @router.get("/admin/projects")
    def projects() -> list[dict[str, Any]]:
        """Every project, archived ones included (organisation admins)."""
        return [project_json(p) for p in _call(lambda: admin.projects(current_identity()))]

    @router.post("/admin/projects", status_code=201)
    def create_project(
        name: str = Body(..., embed=True),
        description: str = Body("", embed=True),
        admin_user: str = Body("", embed=True),
    ) -> dict[str, Any]:
        """A new project; ``admin_user`` becomes its admin (default: you)."""
        identity = current_identity()
        project = _call(lambda: admin.create_project(identity, name, description=description, admin=admin_user))
        return {"id": project.id, "name": project.name, "description": project.description}

    @router.post("/admin/projects/{project_id}/rename")
    def rename_project(project_id: int, name: str = Body(..., embed=True)) -> dict[str, Any]:
        """Give a project another name."""
        project = _call(lambda: admin.rename_project(current_identity(), project_id, name))
        return {"id": project.id, "name": project.name}

    @router.post("/admin/projects/{project_id}/archive")
    def archive_project(project_id: int, archived: bool = Body(True, embed=True)) -> dict[str, Any]:
        """Archive a project (read-only, out of its members' lists), or restore it with ``archived: false``."""
        return project_json(_call(lambda: admin.set_archived(current_identity(), project_id, archived)))

    @router.get("/projects/{project_id}/members")
    def members(project_id: int) -> list[dict[str, Any]]:
        """The project's members and roles (its admin, or an organisation admin)."""
        listed = _call(lambda: admin.members(current_identity(), project_id), project_id=project_id, admin=admin)
        return [member_json(m) for m in listed]

    @router.put("/projects/{project_id}/members/{user}")
    def set_member(project_id: int, user: str, role: str = Body(..., embed=True)) -> dict[str, Any]:
        """Add a member or change their role: viewer, editor, reviewer or admin."""
        work = lambda: admin.set_member(current_identity(), project_id, user, role)  # noqa: E731
        return member_json(_call(work, project_id=project_id, admin=admin))

    @router.delete("/projects/{project_id}/members/{user}", status_code=204)
    def remove_member(project_id: int, user: str) -> None:
        """Take a member out of the project (not its last admin)."""
        _call(lambda: admin.remove_member(current_identity(), project_id, user), project_id=project_id, admin=admin)

    @router.get("/admin/users")
    def users() -> list[dict[str, Any]]:
        """Every user: whether they have a password, are disabled or an organisation admin."""
        return [
            {
                "name": a.name,
                "display_name": a.display_name,
                "has_password": a.has_password,
                "disabled": a.disabled,
                "org_admin": a.org_admin,
                "created_at": a.created_at.isoformat(),
            }
            for a in _call(lambda: admin.users(current_identity()))
        ]

    @router.post("/admin/users/{user}/disable", status_code=204)
    def disable(user: str) -> None:
        """Disable a user: their sessions end and their API tokens stop working."""
        _call(lambda: admin.set_disabled(current_identity(), user, True))

    @router.post("/admin/users/{user}/enable", status_code=204)
    def enable(user: str) -> None:
        """Let a disabled user sign in again."""
        _call(lambda: admin.set_disabled(current_identity(), user, False))

    @router.post("/admin/users/{user}/reset-password")
    def reset_password(user: str) -> dict[str, str]:
        """A new one-time password for the user, shown only in this answer; their sessions end."""
        password = _call(lambda: admin.reset_password(current_identity(), user))
        return {"user": user, "password": password}

    @router.get("/admin/users/{user}/tokens")
    def tokens(user: str) -> list[dict[str, Any]]:
        """A user's API tokens (never their secrets)."""
        return [
            {
                "id": t.id,
                "name": t.name,
                "created_at": t.created_at.isoformat(),
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                "revoked": t.revoked_at is not None,
            }
            for t in _call(lambda: admin.tokens(current_identity(), user))
        ]

    @router.delete("/admin/users/{user}/tokens/{token_id}", status_code=204)
    def revoke(user: str, token_id: int) -> None:
        """Revoke one of a user's API tokens."""
        _call(lambda: admin.revoke_token(current_identity(), user, token_id))

    return router


def register_admin_api(app: FastAPI, admin: Administration) -> None:
    """Mount the admin routes on NiceGUI's app."""
    app.include_router(build_admin_router(admin))
