"""The editor's services on a team server: every call runs as the signed-in user and checks their role.

One ``TeamServices`` serves every user: its ``user`` is whoever the current request or socket.io event
runs as (``identity.current_identity``), so the store's own checks (create, version, export) see the real
user, and the checks here cover what the store leaves open (opening, listing, saving drafts, running).

A pipeline of a project the user does not belong to is reported exactly like a pipeline that does not
exist: the user learns nothing about other projects, not even their names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path

from dagsmith.codegen.gitexport import ExportResult
from dagsmith.nodes import Pipeline

from ..errors import UserError
from ..run_services import LocalRuns, RunSettings
from ..runs import RunHandle
from ..runs.engine import StateCallback
from ..services import MAX_ID, EditorServices, ExportPreview, opened
from ..store import NotFound, PermissionDenied, PipelineInfo, Project, Role
from . import access
from .admin import ROLE_NAMES, archived, archived_ids
from .identity import current_identity, live_grants


class NoAccessError(UserError):
    """No such pipeline or project, or one of a project the user is not a member of (the same to them)."""


class RoleError(UserError):
    """A member whose role does not allow the action; the message says which role it needs and whom to ask."""


def _missing(pipeline_id: int) -> NoAccessError:
    return NoAccessError(
        f"pipeline {pipeline_id} does not exist or you have no access to it; go back to the pipeline list"
    )


def _no_project(project_id: int) -> NoAccessError:
    return NoAccessError(f"project {project_id} does not exist or you have no access to it")


class TeamServices(EditorServices):
    """``EditorServices`` for many users: the acting user comes from the request, and every action is authorised."""

    @property
    def user(self) -> str:
        """The signed-in user this request or event runs as."""
        return current_identity().name

    @user.setter
    def user(self, _: str) -> None:  # EditorServices.__init__ sets a fixed user; here it comes from the request
        pass

    @cached_property
    def runs(self) -> LocalRuns:
        """Local runs, started only by editors of the pipeline's project."""
        return TeamRuns(self)

    # -- the one check -------------------------------------------------------------------------------------
    def check(self, pipeline_id: int, action: str) -> int:
        """The pipeline's project id when the user may do ``action`` on it; ``UserError`` saying why not."""
        if not 0 < pipeline_id <= MAX_ID:  # larger ids exist nowhere (and overflow PostgreSQL's INTEGER)
            raise _missing(pipeline_id)
        try:  # allowed: one query at most (grants); refused: the full check below, with its message and log
            granted = access.pipeline_granted(self.store, current_identity(), pipeline_id, action)
            if granted is not None:
                return granted
            project_id = access.project_of(self.store, pipeline_id)
        except NotFound:
            raise _missing(pipeline_id) from None
        self.check_project(project_id, action, pipeline_id=pipeline_id)
        return project_id

    def check_project(self, project_id: int, action: str, *, pipeline_id: int | None = None) -> Role | None:
        """The user's role when they may do ``action`` in the project; ``UserError`` saying why not."""
        identity = current_identity()
        if not 0 < project_id <= MAX_ID:
            raise _no_project(project_id)
        try:
            return access.authorize(self.store, identity, project_id, action)
        except NotFound:
            raise _no_project(project_id) from None
        except PermissionDenied as exc:
            if self.store.role_of(identity.name, project_id) is None:  # a stranger learns nothing about it
                raise (_missing(pipeline_id) if pipeline_id is not None else _no_project(project_id)) from None
            raise RoleError(str(exc)) from None

    def require(self, pipeline_id: int, action: str) -> None:
        """``UserError`` when the user may not do ``action`` on the pipeline (logged as a refusal)."""
        self.check(pipeline_id, action)

    def edit_guard(self, pipeline_id: int) -> Callable[[], None] | None:
        """What an editing session checks before each change: that this user may still edit the pipeline."""
        self.check(pipeline_id, "open")
        return access.edit_guard(self.store, current_identity(), pipeline_id)

    def read_only_reason(self, pipeline_id: int) -> str | None:
        """Why the user's page of the pipeline is read-only, naming their role and the project; None: an editor.

        The same rule as ``access.authorize(..., "edit")`` (role and archive), asked without logging a refusal:
        opening a pipeline read-only is no refused action.
        """
        return self.project_read_only_reason(self.check(pipeline_id, "open"))

    def project_read_only_reason(self, project_id: int) -> str | None:
        """Why the user may not edit in the project (a member's role, an archive); None: they may.

        Read from the running request's session lookup when it has the user's membership (``grants``).
        """
        grants = live_grants(self.user)
        membership = grants.membership(project_id) if grants is not None else None
        role: Role | None
        if membership is not None:
            name, is_archived, role = membership.project, membership.archived, membership.role
        else:
            name = self.store.get_project(project_id).name
            is_archived = archived(self.store.engine, project_id) is not None
            role = None if is_archived else self.store.role_of(self.user, project_id)
        if is_archived:
            return f"Read-only: project {name} is archived; an organisation admin can restore it"
        needed = access.ACTIONS["edit"][0]
        if role is None or role.rank < needed.rank:
            shown = f"a {ROLE_NAMES[role]} in" if role is not None else "not a member of"
            return f"Read-only: you are {shown} project {name}; ask its admin for the {ROLE_NAMES[needed]} role to edit"
        return None

    def is_org_admin(self) -> bool:
        """Whether the signed-in user is an organisation admin (who may open /admin)."""
        return current_identity().org_admin

    # -- projects and listings -----------------------------------------------------------------------------
    def projects(self) -> list[Project]:
        """The projects the user belongs to, by name (archived ones are left out: ``admin.set_archived``)."""
        hidden = archived_ids(self.store.engine)
        listed = [project for project in self.store.list_projects(user=self.user) if project.id not in hidden]
        return sorted(listed, key=lambda project: project.name.lower())

    def local_project(self) -> Project:
        """Where new pipelines go: the first project the user may edit in; ``UserError`` when there is none."""
        projects = self.projects()
        for project in projects:
            role = self.store.role_of(self.user, project.id)
            if role is not None and role.rank >= Role.EDITOR.rank:
                return project
        if projects:
            return projects[0]
        raise UserError(f"{self.user!r} is not a member of any project yet; ask an administrator to add you to one")

    def pipelines(self, project_id: int) -> list[PipelineInfo]:
        """The project's pipelines, for its members."""
        self.check_project(project_id, "browse")
        return super().pipelines(project_id)

    def listing(self, project_id: int) -> list[PipelineInfo]:
        """The project's pipelines as their drafts name them, for its members."""
        self.check_project(project_id, "browse")
        return super().listing(project_id)

    def project_checkout(self, project_id: int) -> Path | None:
        """The project's git checkout, for its members."""
        self.check_project(project_id, "open")
        return super().project_checkout(project_id)

    def create(self, project_id: int, pipeline: Pipeline) -> PipelineInfo:
        """Add a pipeline, for the project's editors."""
        self.check_project(project_id, "edit")
        return super().create(project_id, pipeline)

    def rename(self, pipeline_id: int, name: str) -> PipelineInfo:
        """Rename a pipeline, for the project's editors."""
        self.check(pipeline_id, "edit")
        return super().rename(pipeline_id, name)

    def delete(self, pipeline_id: int) -> str:
        """Delete a pipeline, for the project's maintainers (the store's rule)."""
        self.check(pipeline_id, "commit")
        return super().delete(pipeline_id)

    # -- drafts, versions, export --------------------------------------------------------------------------
    def open_draft(self, pipeline_id: int) -> tuple[PipelineInfo, Pipeline, int]:
        """Open a pipeline, for the project's members: one query with the check (which uses the session lookup's
        roles, ``grants``); nothing of it is returned unless the check passed."""
        if not 0 < pipeline_id <= MAX_ID:
            raise _missing(pipeline_id)
        try:
            info, draft = self.store.open_pipeline(pipeline_id)
        except NotFound:
            raise _missing(pipeline_id) from None
        access.learn_project(pipeline_id, info.project_id)
        self.check_project(info.project_id, "open", pipeline_id=pipeline_id)
        return opened(info, draft)

    def save_draft(self, pipeline_id: int, pipeline: Pipeline | str, *, expected_revision: int | None = None) -> int:
        """Save the working copy, for the project's editors."""
        self.check(pipeline_id, "edit")
        return super().save_draft(pipeline_id, pipeline, expected_revision=expected_revision)

    def save_version(
        self,
        pipeline_id: int,
        pipeline: Pipeline,
        message: str = "",
        *,
        write_draft: bool = True,
        base: Pipeline | None = None,
    ) -> int:
        """Save a version, for the project's editors."""
        self.check(pipeline_id, "edit")
        return super().save_version(pipeline_id, pipeline, message, write_draft=write_draft, base=base)

    def preview(self, pipeline_id: int, pipeline: Pipeline, *, target: str = "airflow3") -> ExportPreview:
        """The DAG a version would export, for the project's members."""
        self.check(pipeline_id, "download")
        return super().preview(pipeline_id, pipeline, target=target)

    def export_to_project_git(
        self,
        pipeline_id: int,
        pipeline: Pipeline,
        *,
        message: str = "",
        target: str = "airflow3",
        write_draft: bool = True,
        expected: str | None = None,
        base: Pipeline | None = None,
    ) -> tuple[int, ExportResult]:
        """Commit a version's DAG to the project's repository, for its maintainers (and the review rule).

        Two checks, as the role table says: exporting (editors and up; a viewer is told they cannot export),
        then committing to the project's repository (maintainers).
        """
        self.check(pipeline_id, "export")
        self.check(pipeline_id, "commit")
        return super().export_to_project_git(
            pipeline_id,
            pipeline,
            message=message,
            target=target,
            write_draft=write_draft,
            expected=expected,
            base=base,
        )

    def set_git(self, project_id: int, repo: str, branch: str) -> Project:
        """Where the project's exports are committed, set by its maintainers."""
        self.check_project(project_id, "commit")
        return super().set_git(project_id, repo, branch)


class TeamRuns(LocalRuns):
    """Local runs on a team server: starting one needs the editor role in the pipeline's project."""

    per_project_workspace = True  # $DAGSMITH_WORKSPACE/project-<id>: one project never lists another's runs

    def start(
        self,
        pipeline_id: int,
        pipeline: Pipeline,
        settings: RunSettings,
        *,
        on_state: StateCallback | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> RunHandle:
        """Start a run of the working copy, for the project's editors."""
        services = self.services
        assert isinstance(services, TeamServices)
        services.check(pipeline_id, "run")
        return super().start(pipeline_id, pipeline, settings, on_state=on_state, environ=environ)
