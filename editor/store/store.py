"""The store: projects, pipelines, drafts and immutable versions, plus users, roles and reviews.

``open_store()`` connects (see ``engine`` for where the database is), migrates the schema to the
newest revision and makes sure the local user exists. Methods that act for someone take ``by`` (a
user name, ``"local"`` by default) and check that user's role; ``save_draft`` does not, because it
runs on every edit: the caller checks the editor role once when it opens a pipeline for editing.
"""

from __future__ import annotations

import json
import time
from types import TracebackType

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from dagsmith.nodes import FORMAT, DocumentError, Pipeline, dumps, parse
from dagsmith.nodes.fileformat import content_hash

from .access import AccessMixin
from .engine import IMMEDIATE, database_url, make_engine, upgrade
from .errors import Conflict, NotFound, SchemaError, StoreError
from .manage import ManageMixin
from .models import DraftRow, MemberRow, PipelineRow, ProjectRow, Role, UserRow, VersionRow, utcnow
from .notify import announce_draft_saved
from .protection import ProtectionMixin
from .records import LOCAL_USER, Draft, PipelineInfo, Project, Version, VersionSummary
from .reviews import ReviewMixin

_MAX_DAG_ID = 250


def open_store(url: str | None = None, *, local_user: bool = True) -> Store:
    """Open the store at ``url`` (default: ``$DAGSMITH_DATABASE_URL``, else SQLite in ``$DAGSMITH_HOME``).

    Upgrades the schema first (a no-op when current) and, with ``local_user``, creates the user ``local``.
    """
    engine = make_engine(database_url(url))
    try:
        store = _open(engine, local_user=local_user)
    except OperationalError as exc:
        engine.dispose()
        where = engine.url.render_as_string(hide_password=True)
        hint = (
            "another program held its write lock for over 30 s; close other programs using it and retry"
            if "locked" in str(exc.orig)
            else "check that its folder exists and is writable, or that the database server is reachable"
        )
        raise SchemaError(f"cannot open the database {where}: {exc.orig}; {hint}") from None
    except BaseException:
        engine.dispose()
        raise
    return store


def _open(engine: Engine, *, local_user: bool) -> Store:
    """Migrate and open, retrying a few times when SQLite refuses a lock at once.

    SQLite answers "database is locked" without waiting for its busy timeout when switching a new
    file to WAL or upgrading a read lock while another connection writes (several processes opening a
    new database together); such a refusal clears within moments, a real 30 s lock does not.
    """
    for attempt in range(6):
        started = time.monotonic()
        try:
            upgrade(engine)
            store = Store(engine)
            if local_user:
                store.ensure_user(LOCAL_USER)
            return store
        except OperationalError as exc:
            immediate = time.monotonic() - started < 5
            if "locked" not in str(exc.orig) or not immediate or attempt == 5:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def _document_text(document: Pipeline | str) -> str:
    if isinstance(document, Pipeline):
        return dumps(document)
    try:
        data = json.loads(document)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("a draft must be a Pipeline or the text of dagsmith.nodes.dumps(pipeline)")
    return document


def _dag_id(pipeline: Pipeline) -> str:
    dag_id = pipeline.dag_id
    if not dag_id or len(dag_id) > _MAX_DAG_ID:
        raise StoreError(
            f"the dag_id {dag_id!r} must have 1 to {_MAX_DAG_ID} characters; set the pipeline's name or dag_id"
        )
    return dag_id


def _version_record(row: VersionRow, created_by: str) -> Version:
    assert row.id is not None
    return Version(
        row.id,
        row.pipeline_id,
        row.number,
        row.content_hash,
        row.dag_id,
        row.message,
        created_by,
        row.created_at,
        row.document,
    )


class Store(AccessMixin, ReviewMixin, ManageMixin, ProtectionMixin):
    """Service API over the database; safe to share between threads. Close it when done."""

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # Projects

    def create_project(
        self,
        name: str,
        *,
        by: str = LOCAL_USER,
        description: str = "",
        git_repo: str | None = None,
        git_branch: str = "main",
    ) -> Project:
        """A new project, with ``by`` as its owner."""
        name = name.strip()
        if not name or len(name) > 200:
            raise StoreError(f"a project name needs 1 to 200 characters, not {len(name)}; enter another name")
        row = ProjectRow(name=name, description=description, git_repo=_repo(git_repo), git_branch=_branch(git_branch))
        with self._write() as session:
            user = self._user(session, by)
            if session.exec(select(ProjectRow.id).where(ProjectRow.name == name)).first() is not None:
                raise Conflict(f"a project named {name!r} exists already; choose another name or open that one")
            session.add(row)
            session.flush()
            assert row.id is not None and user.id is not None
            session.add(MemberRow(project_id=row.id, user_id=user.id, role=Role.OWNER.value))
        return Project.from_row(row)

    def get_project(self, project_id: int) -> Project:
        """One project."""
        with self._read() as session:
            return Project.from_row(self._project(session, project_id))

    def list_projects(self, *, user: str | None = None) -> list[Project]:
        """All projects by name, or those ``user`` is a member of."""
        with self._read() as session:
            query = select(ProjectRow).order_by(ProjectRow.name)
            if user is not None:
                user_id = self._user(session, user).id
                query = query.join(MemberRow, col(MemberRow.project_id) == col(ProjectRow.id)).where(
                    MemberRow.user_id == user_id
                )
            return [Project.from_row(row) for row in session.exec(query)]

    def set_project_git(
        self, project_id: int, *, repo: str | None, branch: str = "main", by: str = LOCAL_USER
    ) -> Project:
        """Set the git repository (path or URL; None: none) and branch exports go to; needs a maintainer."""
        with self._write() as session:
            row = self._project(session, project_id)
            self._require(session, self._user(session, by), row, Role.MAINTAINER, "change the git settings")
            row.git_repo, row.git_branch, row.updated_at = _repo(repo), _branch(branch), utcnow()
            session.flush()
            return Project.from_row(row)

    def set_review_required(self, project_id: int, required: bool, *, by: str = LOCAL_USER) -> Project:
        """Require (or stop requiring) an approved review before production exports; needs an owner."""
        with self._write() as session:
            row = self._project(session, project_id)
            self._require(session, self._user(session, by), row, Role.OWNER, "change the review rule")
            row.review_required, row.updated_at = required, utcnow()
            session.flush()
            return Project.from_row(row)

    # Pipelines and drafts

    def create_pipeline(self, project_id: int, pipeline: Pipeline, *, by: str = LOCAL_USER) -> PipelineInfo:
        """A new pipeline whose draft is ``pipeline``; its dag_id must be free in the project."""
        dag_id = _dag_id(pipeline)
        with self._write() as session:
            project = self._project(session, project_id)
            self._require(session, self._user(session, by), project, Role.EDITOR, "create pipelines")
            self._check_dag_id_free(session, project, dag_id, pipeline_id=None)
            row = PipelineRow(project_id=project_id, name=pipeline.settings.name[:200], dag_id=dag_id)
            session.add(row)
            session.flush()
            assert row.id is not None
            session.add(DraftRow(pipeline_id=row.id, document=dumps(pipeline)))
        return PipelineInfo.from_row(row)

    def get_pipeline(self, pipeline_id: int) -> PipelineInfo:
        """One pipeline."""
        with self._read() as session:
            return PipelineInfo.from_row(self._pipeline(session, pipeline_id))

    def list_pipelines(self, project_id: int) -> list[PipelineInfo]:
        """The project's pipelines by name."""
        with self._read() as session:
            self._project(session, project_id)
            rows = session.exec(
                select(PipelineRow).where(PipelineRow.project_id == project_id).order_by(PipelineRow.name)
            )
            return [PipelineInfo.from_row(row) for row in rows]

    def open_pipeline(self, pipeline_id: int) -> tuple[PipelineInfo, Draft | None]:
        """One pipeline and its working copy (None: it has none), in one query (a page open; ``NotFound``)."""
        with self._read() as session:
            found = session.exec(
                select(PipelineRow, DraftRow)
                .outerjoin(DraftRow, col(DraftRow.pipeline_id) == col(PipelineRow.id))
                .where(PipelineRow.id == pipeline_id)
            ).first()
            row, draft = found if found is not None else (self._pipeline(session, pipeline_id), None)  # NotFound
        working = Draft(draft.pipeline_id, draft.document, draft.revision, draft.updated_at) if draft else None
        return PipelineInfo.from_row(row), working

    def get_draft(self, pipeline_id: int) -> Draft:
        """The working copy."""
        with self._read() as session:
            row = session.get(DraftRow, pipeline_id)
            if row is None:
                self._pipeline(session, pipeline_id)
                raise NotFound(f"pipeline {pipeline_id} has no draft; restore one of its versions")
            return Draft(row.pipeline_id, row.document, row.revision, row.updated_at)

    def save_draft(self, pipeline_id: int, document: Pipeline | str, *, expected_revision: int | None = None) -> int:
        """Store the working copy (one UPDATE, committed durably); returns the new revision.

        With ``expected_revision`` (the revision this editor last loaded or saved), a save that another
        editor overtook raises ``Conflict`` instead of overwriting that editor's work.
        """
        text = _document_text(document)
        statement = (
            update(DraftRow)
            .where(col(DraftRow.pipeline_id) == pipeline_id)
            .values(document=text, revision=col(DraftRow.revision) + 1, updated_at=utcnow())
            .returning(col(DraftRow.revision))
        )
        if expected_revision is not None:
            statement = statement.where(col(DraftRow.revision) == expected_revision)
        with self.engine.connect().execution_options(**{IMMEDIATE: True}) as connection, connection.begin():
            revision = connection.execute(statement).scalar_one_or_none()
            if revision is not None:
                announce_draft_saved(connection, pipeline_id, int(revision))  # other replicas, on commit
                return int(revision)
            current = connection.execute(
                select(DraftRow.revision).where(DraftRow.pipeline_id == pipeline_id)
            ).scalar_one_or_none()
        if current is None:
            with self._read() as session:
                self._pipeline(session, pipeline_id)
            raise NotFound(f"pipeline {pipeline_id} has no draft; restore one of its versions")
        raise Conflict(
            f"the draft of pipeline {pipeline_id} was saved elsewhere meanwhile (revision {current}, this editor "
            f"had {expected_revision}); reload it to see those changes, then edit again"
        )

    def restore_version(self, pipeline_id: int, number: int) -> Draft:
        """Make a version's document the working copy again (the versions stay as they are)."""
        with self._write() as session:
            version = self._version(session, pipeline_id, number)
            row = session.get(DraftRow, pipeline_id)
            if row is None:
                row = DraftRow(pipeline_id=pipeline_id, document=version.document, revision=0)
                session.add(row)
            row.document, row.revision, row.updated_at = version.document, row.revision + 1, utcnow()
            session.flush()
            announce_draft_saved(session.connection(), pipeline_id, row.revision)
            return Draft(row.pipeline_id, row.document, row.revision, row.updated_at)

    # Versions

    def create_version(
        self, pipeline_id: int, *, by: str = LOCAL_USER, message: str = "", document: Pipeline | None = None
    ) -> Version:
        """Snapshot the draft (or ``document``) as the next version; never changes an existing one.

        Raises ``Conflict`` when the document equals the newest version, so that numbers mean changes.
        """
        with self._write() as session:
            pipeline_row = self._pipeline(session, pipeline_id, lock=True)
            project = self._project(session, pipeline_row.project_id)
            user = self._user(session, by)
            self._require(session, user, project, Role.EDITOR, "save versions")
            if document is None:
                document = self._draft_document(session, pipeline_id)
            digest, dag_id = content_hash(document), _dag_id(document)
            latest = session.exec(
                select(VersionRow).where(VersionRow.pipeline_id == pipeline_id).order_by(col(VersionRow.number).desc())
            ).first()
            if latest is not None and latest.content_hash == digest:
                raise Conflict(
                    f"nothing changed since version {latest.number} of {pipeline_row.name!r}; "
                    "edit the pipeline before saving a new version"
                )
            self._check_dag_id_free(session, project, dag_id, pipeline_id=pipeline_id)
            assert user.id is not None
            row = VersionRow(
                pipeline_id=pipeline_id,
                number=latest.number + 1 if latest else 1,
                content_hash=digest,
                dag_id=dag_id,
                document=dumps(document),
                message=message,
                created_by=user.id,
            )
            session.add(row)
            pipeline_row.name, pipeline_row.dag_id = document.settings.name[:200], dag_id
            pipeline_row.updated_at = row.created_at
            session.flush()
            return _version_record(row, user.name)

    def list_versions(self, pipeline_id: int) -> list[VersionSummary]:
        """The pipeline's versions, oldest first, without their documents."""
        with self._read() as session:
            self._pipeline(session, pipeline_id)
            columns = [col(getattr(VersionRow, name)) for name in ("id", "pipeline_id", "number", "content_hash")]
            columns += [col(VersionRow.dag_id), col(VersionRow.message), col(UserRow.name), col(VersionRow.created_at)]
            rows = session.execute(
                sa_select(*columns)
                .join(UserRow, col(UserRow.id) == col(VersionRow.created_by))
                .where(col(VersionRow.pipeline_id) == pipeline_id)
                .order_by(col(VersionRow.number))
            )
            return [VersionSummary(*row) for row in rows]

    def get_version(self, pipeline_id: int, number: int | None = None) -> Version:
        """A version with its document: ``number``, or the newest one."""
        with self._read() as session:
            if number is None:
                self._pipeline(session, pipeline_id)
                number = session.exec(
                    select(VersionRow.number)
                    .where(VersionRow.pipeline_id == pipeline_id)
                    .order_by(col(VersionRow.number).desc())
                ).first()
                if number is None:
                    raise NotFound(f"pipeline {pipeline_id} has no versions yet; save one first")
            row = self._version(session, pipeline_id, number)
            creator = session.get(UserRow, row.created_by)
            return _version_record(row, creator.name if creator else f"#{row.created_by}")

    @staticmethod
    def _draft_document(session: Session, pipeline_id: int) -> Pipeline:
        draft = session.get(DraftRow, pipeline_id)
        if draft is None:
            raise NotFound(f"pipeline {pipeline_id} has no draft; restore one of its versions")
        try:
            return parse(draft.document, source=f"draft of pipeline {pipeline_id}")
        except DocumentError as exc:
            raise StoreError(f"{exc}; fix the draft in the editor or restore a version") from None

    @staticmethod
    def _check_dag_id_free(session: Session, project: ProjectRow, dag_id: str, *, pipeline_id: int | None) -> None:
        query = select(PipelineRow.dag_id).where(PipelineRow.project_id == project.id)
        if pipeline_id is not None:
            query = query.where(PipelineRow.id != pipeline_id)
        taken = set(session.exec(query))
        if dag_id in taken:
            free = next(f"{dag_id}_{n}" for n in range(2, len(taken) + 3) if f"{dag_id}_{n}" not in taken)
            raise Conflict(
                f"project {project.name!r} has a pipeline with the dag_id {dag_id!r} already; rename this "
                f"pipeline or set its dag_id, e.g. to {free!r}"
            )


def _repo(repo: str | None) -> str | None:
    repo = (repo or "").strip()
    if len(repo) > 1000:
        raise StoreError("the git repository path or URL is longer than 1000 characters")
    return repo or None


def _branch(branch: str) -> str:
    branch = branch.strip()
    if not branch or len(branch) > 255 or any(c.isspace() for c in branch) or branch.startswith("-") or ".." in branch:
        raise StoreError(f"{branch!r} is not a git branch name; use e.g. 'main' or 'release/dags'")
    return branch
