"""Renaming and deleting pipelines (the start page's list); a user's groups from the identity provider."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlmodel import Session, col, delete, select

from dagsmith.nodes import DocumentError, dumps, parse

from .base import StoreBase
from .errors import Conflict, NotFound, StoreError
from .models import DraftRow, ExportRow, PipelineRow, ReviewRow, Role, UserRow, VersionRow, utcnow
from .notify import announce_draft_saved
from .records import LOCAL_USER, PipelineInfo

MAX_NAME = 200
MAX_DAG_ID = 250


def groups_text(groups: Iterable[str]) -> str:
    """How a user's IdP groups are stored (``UserRow.idp_groups``): a sorted JSON list, blanks dropped."""
    return json.dumps(sorted({group.strip() for group in groups if group.strip()}))


class ManageMixin(StoreBase):
    """Rename a pipeline (its draft and its row) or delete it with its draft, versions, reviews and exports."""

    def rename_pipeline(self, pipeline_id: int, name: str, *, by: str = LOCAL_USER) -> PipelineInfo:
        """Give the pipeline's draft a new name; needs an editor. The versions keep their names.

        A pipeline without its own dag_id takes the one the new name gives, which must be free in the project.
        """
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise StoreError(f"a pipeline name needs 1 to {MAX_NAME} characters, not {len(name)}; enter another name")
        with self._write() as session:
            row = self._pipeline(session, pipeline_id, lock=True)
            project = self._project(session, row.project_id)
            self._require(session, self._user(session, by), project, Role.EDITOR, "rename pipelines")
            draft = session.get(DraftRow, pipeline_id)
            if draft is None:
                raise NotFound(f"pipeline {pipeline_id} has no draft; restore one of its versions, then rename it")
            try:
                document = parse(draft.document, source=f"draft of pipeline {pipeline_id}")
            except DocumentError as exc:
                raise StoreError(f"{exc}; open the pipeline and fix it before renaming it") from None
            document.settings.name = name
            dag_id = document.dag_id
            if not dag_id or len(dag_id) > MAX_DAG_ID:
                raise StoreError(
                    f"the name {name!r} gives no usable dag_id; use letters or digits, or set a DAG ID in settings"
                )
            self._dag_id_free(session, row, dag_id)
            draft.document, draft.revision, draft.updated_at = dumps(document), draft.revision + 1, utcnow()
            row.name, row.dag_id, row.updated_at = name, dag_id, utcnow()
            session.flush()
            announce_draft_saved(session.connection(), pipeline_id, draft.revision)
            return PipelineInfo.from_row(row)

    def delete_pipeline(self, pipeline_id: int, *, by: str = LOCAL_USER) -> str:
        """Delete the pipeline with its draft, versions, reviews and export records; needs a maintainer.

        DAG files already committed to git stay where they are. Returns the deleted pipeline's name.
        """
        with self._write() as session:
            row = self._pipeline(session, pipeline_id, lock=True)
            project = self._project(session, row.project_id)
            self._require(session, self._user(session, by), project, Role.MAINTAINER, "delete pipelines")
            versions = select(VersionRow.id).where(VersionRow.pipeline_id == pipeline_id)
            session.exec(delete(ExportRow).where(col(ExportRow.version_id).in_(versions)))
            session.exec(delete(ReviewRow).where(col(ReviewRow.version_id).in_(versions)))
            session.exec(delete(VersionRow).where(col(VersionRow.pipeline_id) == pipeline_id))
            session.exec(delete(DraftRow).where(col(DraftRow.pipeline_id) == pipeline_id))
            session.delete(row)
            return row.name

    def set_idp_groups(self, name: str, groups: Iterable[str]) -> bool:
        """Store the groups the identity provider names for user ``name`` (replacing the previous set).

        Returns whether anything changed (an unchanged set is not written again).
        """
        wanted = groups_text(groups)
        with self._read() as session:  # most requests carry the same groups: read first, write only a change
            if self._user(session, name).idp_groups == wanted:
                return False
        with self._write() as session:
            row = self._user(session, name)
            row.idp_groups = wanted
            session.add(row)
            return True

    def idp_groups(self, name: str) -> set[str]:
        """The groups the identity provider last named for user ``name`` (empty when it never named any)."""
        with self._read() as session:
            stored = session.exec(select(UserRow.idp_groups).where(UserRow.name == name)).first()
        return {str(group) for group in json.loads(stored)} if stored else set()

    @staticmethod
    def _dag_id_free(session: Session, row: PipelineRow, dag_id: str) -> None:
        taken = session.exec(
            select(PipelineRow.name).where(
                PipelineRow.project_id == row.project_id, PipelineRow.dag_id == dag_id, PipelineRow.id != row.id
            )
        ).first()
        if taken is not None:
            raise Conflict(
                f"the name gives the dag_id {dag_id!r}, which pipeline {taken!r} of this project uses already; "
                "choose another name, or set this pipeline's DAG ID in its settings first"
            )
