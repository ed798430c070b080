"""What the editor's pages call: projects, pipelines, drafts, versions, import and export.

No NiceGUI here: pages stay thin and every operation is testable without a browser. Errors the user
can act on are raised as ``UserError`` with a message saying what to do.
"""

from __future__ import annotations

import difflib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from dagsmith.codegen import ExportError, render
from dagsmith.codegen.gitexport import ExportResult, export_to_git
from dagsmith.codegen.history import GitExportError, RepositoryError, branch_name_problem, current_branch, open_repo
from dagsmith.nodes import (
    DocumentError,
    ElyraImportError,
    Pipeline,
    PipelineSettings,
    example_names,
    import_elyra,
    load_example,
    parse,
)
from dagsmith.nodes.fileformat import content_hash, dumps

from .errors import UserError
from .readback import unstorable
from .store import Conflict, Draft, NotFound, PipelineInfo, Project, Store, StoreError, open_store
from .version_merge import version_document

if TYPE_CHECKING:
    from .run_services import LocalRuns

ExportGate = Callable[..., int | None]
"""``gate(pipeline_id, number, *, branch)``: the approving review's id (None: not protected), or raises UserError."""

LOCAL_PROJECT = "Local"
MAX_ID = 2**31 - 1
"""The largest row id either database holds (ids are INTEGER: 32 bits on PostgreSQL); larger ones exist nowhere."""
TEMPLATE_TITLES = {
    "keyword_recommendation": "Keyword recommendation, retrained daily (gate + BentoML deploy)",
    "keyword_monitor": "Keyword monitor (triggers retraining)",
    "article_recommendation": "Article recommendation (hyper-parameter search + BentoML API)",
    "user_targeting": "User targeting (batch prediction, target user list)",
}


class DraftConflictError(UserError):
    """The draft was saved elsewhere (another tab or window) since this page loaded or saved it."""


@dataclass(frozen=True, slots=True)
class ExportPreview:
    """The DAG a version would export, and how it differs from the previous version's DAG.

    ``version``: the number that version gets, in the file's header, the store and the git commit alike.
    """

    dag_id: str
    source: str
    diff: str
    previous_version: int | None
    version: int


@dataclass(frozen=True, slots=True)
class Imported:
    """A document read from an uploaded file, with what the import could not map."""

    pipeline: Pipeline
    unmapped: tuple[str, ...]
    warnings: tuple[str, ...] = ()  # what would behave differently unless a setting is filled in


class EditorServices:
    """The editor's application services over one store."""

    export_gate: ExportGate | None = None
    """Asked before a commit to the project's branch: the approving review's id, or raises (team server)."""

    def __init__(self, store: Store, *, user: str = "local") -> None:
        self.store = store
        self.user = user

    @classmethod
    def open(cls, url: str | None = None) -> EditorServices:
        """Open (and migrate) the store; make sure the local project with the templates exists."""
        services = cls(open_store(url))
        services.local_project()
        return services

    @cached_property
    def runs(self) -> LocalRuns:
        """Local runs of this store's pipelines (the Run button and the run history)."""
        from .run_services import LocalRuns

        return LocalRuns(self)

    def edit_guard(self, pipeline_id: int) -> Callable[[], None] | None:
        """What an editing session checks before each change (None: the local editor's user may edit anything)."""
        return None

    def require(self, pipeline_id: int, action: str) -> None:
        """Raise ``UserError`` saying why when this user may not do ``action`` (e.g. ``run``) on the pipeline.

        The local editor's user may do everything; a team server checks the user's role in the project.
        """

    def read_only_reason(self, pipeline_id: int) -> str | None:
        """Why this user's page of the pipeline is read-only (a sentence for its banner); None: they may edit it.

        The local editor's user may edit everything; a team server says which role the user has where.
        """
        return None

    def project_read_only_reason(self, project_id: int) -> str | None:
        """Why this user may not edit the project's pipelines (``read_only_reason``'s sentence); None: they may."""
        return None

    def can_edit(self, pipeline_id: int) -> bool:
        """Whether the pipeline page offers editing to this user (the server checks each change regardless)."""
        return self.read_only_reason(pipeline_id) is None

    def is_org_admin(self) -> bool:
        """Whether this user is an organisation admin (the local editor has none: there is no /admin page)."""
        return False

    def project_checkout(self, project_id: int) -> Path | None:
        """The project's git checkout on this machine (its repository when that is a local folder)."""
        repo = self.store.get_project(project_id).git_repo
        return Path(repo) if repo and Path(repo).is_dir() else None

    def projects(self) -> list[Project]:
        """Every project, the local one first."""
        projects = self.store.list_projects()
        return sorted(projects, key=lambda project: (project.name != LOCAL_PROJECT, project.name.lower()))

    # -- projects and pipelines ---------------------------------------------------------------------
    def local_project(self) -> Project:
        """The default project, created on first start with one pipeline per template."""
        for project in self.store.list_projects():
            if project.name == LOCAL_PROJECT:
                return project
        project = self.store.create_project(
            LOCAL_PROJECT, by=self.user, description="Pipelines on this machine, starting from the templates."
        )
        for name in example_names():
            self.store.create_pipeline(project.id, load_example(name), by=self.user)
        return project

    def pipelines(self, project_id: int) -> list[PipelineInfo]:
        """The project's pipelines."""
        return self.store.list_pipelines(project_id)

    def listing(self, project_id: int) -> list[PipelineInfo]:
        """The project's pipelines as their drafts name them now (the stored names change only with a version)."""
        shown = []
        for info in self.store.list_pipelines(project_id):
            try:
                draft = self.store.get_draft(info.id)
                settings = PipelineSettings.model_validate(json.loads(draft.document)["settings"])
            except (NotFound, ValueError, TypeError, KeyError, ValidationError):
                shown.append(info)  # a draft that cannot be read: the page that opens it says why
                continue
            updated = max(info.updated_at, draft.updated_at)
            shown.append(replace(info, name=settings.name, dag_id=settings.effective_dag_id(), updated_at=updated))
        return sorted(shown, key=lambda info: (info.name.lower(), info.id))

    def create(self, project_id: int, pipeline: Pipeline) -> PipelineInfo:
        """Add a pipeline; a dag_id already used in the project gets a numbered suffix."""
        taken = {p.dag_id for p in self.store.list_pipelines(project_id)}
        if pipeline.dag_id in taken:
            base = pipeline.settings.name
            number = next(n for n in range(2, 10_000) if f"{pipeline.dag_id}_{n}" not in taken)
            pipeline = pipeline.model_copy(deep=True)
            pipeline.settings.name = f"{base} {number}"
            pipeline.settings.dag_id = None
        try:
            return self.store.create_pipeline(project_id, pipeline, by=self.user)
        except StoreError as exc:
            raise UserError(str(exc)) from None

    def create_from_template(self, project_id: int, template: str | None) -> PipelineInfo:
        """A new pipeline: blank, or a copy of a template."""
        pipeline = load_example(template) if template else Pipeline()
        if not template:
            pipeline.settings.name = "New pipeline"
        return self.create(project_id, pipeline)

    def rename(self, pipeline_id: int, name: str) -> PipelineInfo:
        """Rename a pipeline (its draft; the saved versions keep their names); UserError says why not."""
        try:
            return self.store.rename_pipeline(pipeline_id, name, by=self.user)
        except StoreError as exc:
            raise UserError(str(exc)) from None

    def delete(self, pipeline_id: int) -> str:
        """Delete a pipeline with its draft and versions (committed DAG files stay); its name."""
        try:
            return self.store.delete_pipeline(pipeline_id, by=self.user)
        except StoreError as exc:
            raise UserError(str(exc)) from None

    def read_upload(self, name: str, content: bytes) -> Imported:
        """Read an uploaded ``*.dagsmith.json`` or Elyra ``*.pipeline`` file; UserError says what is wrong in it.

        What is read must also be storable and readable again (UTF-8 text, finite numbers), so a bad
        file is refused here with where the problem is, not later when the draft is saved or opened.
        """
        if name.endswith(".pipeline"):
            try:
                data = json.loads(content, parse_constant=_refuse_constant)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise UserError(f"{name}: not a JSON file ({exc}); choose an Elyra .pipeline file") from None
            except (ValueError, RecursionError) as exc:  # a 5,000-digit number, NaN, nesting too deep
                raise UserError(f"{name}: cannot read the file as JSON: {exc}") from None
            try:
                pipeline, report = import_elyra(data, default_name=Path(name).name.removesuffix(".pipeline"))
            except ElyraImportError as exc:
                raise UserError(f"{name}: {exc}") from None
            imported = Imported(pipeline, report.unmapped, report.warnings)
        else:
            try:
                imported = Imported(parse(content, source=name), ())
            except DocumentError as exc:
                raise UserError(str(exc)) from None
            except (ValueError, RecursionError) as exc:  # whatever else the parser lets through
                raise UserError(f"{name}: cannot read the file as a pipeline: {exc}") from None
        problem = unstorable(imported.pipeline)
        if problem:
            raise UserError(f"{name}: {problem}")
        return imported

    # -- drafts and versions ---------------------------------------------------------------------------
    def open_draft(self, pipeline_id: int) -> tuple[PipelineInfo, Pipeline, int]:
        """The pipeline's info, its working copy and the draft revision; UserError when it cannot be opened."""
        if not 0 < pipeline_id <= MAX_ID:  # e.g. /pipeline/99999999999999999999999: too big for the database
            raise UserError(f"pipeline {pipeline_id} does not exist; go back to the pipeline list")
        try:
            info, draft = self.store.open_pipeline(pipeline_id)  # one query
        except NotFound as exc:
            raise UserError(str(exc)) from None
        return opened(info, draft)

    def save_draft(self, pipeline_id: int, pipeline: Pipeline | str, *, expected_revision: int | None = None) -> int:
        """Save the working copy (after every change; a document or its ``dumps`` text); the new revision.

        With ``expected_revision`` (the revision this page loaded or last saved), a draft saved meanwhile
        by another tab or window raises ``DraftConflictError`` instead of being overwritten.
        """
        try:
            return self.store.save_draft(pipeline_id, pipeline, expected_revision=expected_revision)
        except Conflict:
            raise DraftConflictError(
                "this pipeline was changed in another tab or window since this page loaded it, so this page's "
                "changes are not saved; download the document to keep them, then reload the page"
            ) from None

    def save_version(
        self,
        pipeline_id: int,
        pipeline: Pipeline,
        message: str = "",
        *,
        write_draft: bool = True,
        base: Pipeline | None = None,
    ) -> int:
        """Save an immutable version of the working copy; its number (the newest if nothing changed).

        ``write_draft=False``: the caller has saved ``pipeline`` as the draft already (the editor's page,
        which owns its draft's revisions). When another page saved the draft since, the version is the
        three-way merge of the two over ``base`` (the draft the page last saved or loaded), saved as the
        draft too (``version_merge``); UserError naming node and field when both changed a value, or when
        there is no ``base`` to merge over.
        """
        document = None
        if write_draft:
            self.store.save_draft(pipeline_id, pipeline)
        else:
            document = version_document(self.store, pipeline_id, pipeline, base)
        try:
            return self.store.create_version(pipeline_id, by=self.user, message=message, document=document).number
        except Conflict:
            return self.store.get_version(pipeline_id).number

    def latest_version(self, pipeline_id: int) -> int | None:
        """The newest version number, or None."""
        versions = self.store.list_versions(pipeline_id)
        return max((v.number for v in versions), default=None)

    # -- export --------------------------------------------------------------------------------------
    def preview(self, pipeline_id: int, pipeline: Pipeline, *, target: str = "airflow3") -> ExportPreview:
        """Render the DAG the working copy would export, with a diff against the newest version's DAG."""
        latest = self.latest_version(pipeline_id)
        try:
            previous = self.store.get_version(pipeline_id, latest) if latest else None
            # The store's own rule (create_version): a version is new when the content hash differs.
            same = previous is not None and previous.content_hash == content_hash(pipeline)
            number = latest if same and latest else (latest or 0) + 1
            source = render(pipeline, version=number, target=target)
        except ExportError as exc:
            raise UserError(str(exc)) from None
        diff = ""
        if previous is not None and not same:
            try:
                old = render(previous.pipeline(), version=previous.number, target=target)
            except ExportError:
                old = ""
            diff = "".join(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    source.splitlines(keepends=True),
                    fromfile=f"v{previous.number}/{pipeline.dag_id}.py",
                    tofile=f"v{number}/{pipeline.dag_id}.py",
                )
            )
        return ExportPreview(pipeline.dag_id, source, diff, previous.number if previous else None, number)

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
        """Save a version and commit its DAG and source to the project's git repository.

        The DAG file carries the saved version's number (the one the preview showed); ``expected``: the
        previewed DAG file, refused with a message when the file to commit differs from it. ``base``: as
        for ``save_version``; a version merged with another page's changes is what is committed.
        """
        info = self.store.get_pipeline(pipeline_id)
        project = self.store.get_project(info.project_id)
        if not project.git_repo:
            raise UserError("this project has no git repository; set one in the project settings first")
        number = self.save_version(pipeline_id, pipeline, message, write_draft=write_draft, base=base)
        if base is not None:
            pipeline = self.store.get_version(pipeline_id, number).pipeline()
        review_id = self.gate_export(pipeline_id, number, project)
        try:
            self.store.check_export(pipeline_id, number, by=self.user, production=True)
            result = export_to_git(
                pipeline,
                project.git_repo,
                branch=project.git_branch,
                message=message or None,
                target=target,
                version=number,
                expected=expected,
            )
        except (ExportError, GitExportError, StoreError) as exc:
            raise UserError(str(exc)) from None
        self.store.record_export(
            pipeline_id,
            number,
            by=self.user,
            target=target,
            production=True,
            location=project.git_repo,
            dag_path=result.paths[0] if result.paths else "",
            branch=project.git_branch,
            git_commit=result.commit,
            review_id=review_id,
        )
        return number, result

    def gate_export(self, pipeline_id: int, number: int, project: Project) -> int | None:
        """The approving review's id when the export reaches a protected branch or deployment, else None.

        An export commits to the project's branch, and every deployment of the project runs the DAGs of that
        repository, so each of the project's protected deployments (configured yet or not) is a target too.
        The gate (``export_gate``) raises when a protected target has no approval of exactly this content.
        """
        if self.export_gate is None:
            return None
        deployments = [t.name for t in self.store.protected_targets(project.id) if t.kind == "deployment"]
        review_id = self.export_gate(pipeline_id, number, branch=project.git_branch)
        for deployment in deployments:
            review_id = self.export_gate(pipeline_id, number, branch=None, deployment=deployment) or review_id
        return review_id

    def set_git(self, project_id: int, repo: str, branch: str) -> Project:
        """Configure where the project's exports are committed; the branch must be a name git accepts.

        No branch: the branch checked out in the repository (``main`` when that cannot be read).
        """
        branch = branch.strip() or self.checked_out_branch(repo) or "main"
        problem = branch_name_problem(branch)
        if problem:
            raise UserError(f"{branch!r} is not a valid git branch name: {problem}; use e.g. 'main' or 'dags'")
        try:
            return self.store.set_project_git(project_id, repo=repo or None, branch=branch, by=self.user)
        except StoreError as exc:
            raise UserError(str(exc)) from None

    @staticmethod
    def checked_out_branch(repo: str | None) -> str | None:
        """The branch HEAD names in the local repository ``repo``; None when it is no local git folder or detached."""
        if not repo or not Path(repo).is_dir():
            return None
        try:
            with open_repo(repo) as opened:
                return None if opened.bare else current_branch(opened)
        except RepositoryError:
            return None

    def branch_note(self, project: Project) -> str:
        """Where the project's exports land, and a warning when the checkout will not show them."""
        if not project.git_repo:
            return ""
        checked_out = self.checked_out_branch(project.git_repo)
        if checked_out is None or checked_out == project.git_branch:
            return f"exports are committed to {project.git_branch!r}" + (
                ", the branch checked out there" if checked_out else ""
            )
        return (
            f"exports are committed to {project.git_branch!r}, but the repository has {checked_out!r} checked out, "
            f"so its working tree will not show them (run 'git checkout {project.git_branch}' there, or choose "
            f"{checked_out!r})"
        )

    @staticmethod
    def document_text(pipeline: Pipeline) -> str:
        """The document as saved in files (for download)."""
        return dumps(pipeline)


def opened(info: PipelineInfo, draft: Draft | None) -> tuple[PipelineInfo, Pipeline, int]:
    """``open_draft``'s answer for a pipeline and its draft as read; UserError when the draft is missing or bad."""
    if draft is None:
        raise UserError(f"pipeline {info.id} has no draft; restore one of its versions")
    try:
        return info, draft.pipeline(), draft.revision
    except DocumentError as exc:
        raise UserError(
            f"the draft of pipeline {info.id} cannot be read ({exc.detail}); its saved versions are untouched"
        ) from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number; write a finite number or null")


def scratch_dir() -> Path:
    """A temporary folder for downloads."""
    return Path(tempfile.mkdtemp(prefix="dagsmith-"))
