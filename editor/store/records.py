"""What the store hands out: frozen records, detached from any database session."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from dagsmith.nodes import Pipeline, parse

from .models import ExportRow, PipelineRow, ProjectRow, ReviewStatus, Role

LOCAL_USER = "local"
"""The user of a single-person installation, created when a store is first opened."""


class VersionStatus(enum.StrEnum):
    """Where a version stands on its way to production: its latest review, or ``draft`` without one."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class User:
    """A person who can be a project member."""

    id: int
    name: str
    display_name: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Project:
    """A project and where its DAGs are exported to."""

    id: int
    name: str
    description: str
    git_repo: str | None
    git_branch: str
    review_required: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: ProjectRow) -> Project:
        """The record of a table row."""
        assert row.id is not None
        return cls(
            row.id,
            row.name,
            row.description,
            row.git_repo,
            row.git_branch,
            row.review_required,
            row.created_at,
            row.updated_at,
        )


@dataclass(frozen=True, slots=True)
class Member:
    """A user's role in a project."""

    project_id: int
    user: str
    role: Role
    added_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PipelineInfo:
    """A pipeline of a project; ``name`` and ``dag_id`` are those of its newest version (or its creation)."""

    id: int
    project_id: int
    name: str
    dag_id: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: PipelineRow) -> PipelineInfo:
        """The record of a table row."""
        assert row.id is not None
        return cls(row.id, row.project_id, row.name, row.dag_id, row.created_at, row.updated_at)


@dataclass(frozen=True, slots=True)
class Draft:
    """The working copy of a pipeline; pass ``revision`` back to ``save_draft`` to detect other writers."""

    pipeline_id: int
    document: str
    revision: int
    updated_at: dt.datetime

    def pipeline(self) -> Pipeline:
        """The document, parsed (raises ``DocumentError`` if it cannot be read)."""
        return parse(self.document, source=f"draft of pipeline {self.pipeline_id}")


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """A version without its document, for listings."""

    id: int
    pipeline_id: int
    number: int
    content_hash: str
    dag_id: str
    message: str
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Version(VersionSummary):
    """An immutable version with its document (canonical ``dumps()`` text)."""

    document: str

    def pipeline(self) -> Pipeline:
        """The document, parsed."""
        return parse(self.document, source=f"version {self.number} of pipeline {self.pipeline_id}")


@dataclass(frozen=True, slots=True)
class Review:
    """A four-eyes review of a version."""

    id: int
    version_id: int
    status: ReviewStatus
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    comment: str
    content_hash: str | None = None  # what the reviewer saw: the document and the files it runs


@dataclass(frozen=True, slots=True)
class Export:
    """One export of a version: target, destination and the commit it made."""

    id: int
    version_id: int
    target: str
    production: bool
    location: str
    branch: str | None
    git_commit: str | None
    dag_path: str
    exported_by: str
    exported_at: dt.datetime
    review_id: int | None = None  # the approval a protected target needed

    @classmethod
    def from_row(cls, row: ExportRow, exported_by: str) -> Export:
        """The record of a table row and its exporter's name."""
        assert row.id is not None
        return cls(
            row.id,
            row.version_id,
            row.target,
            row.production,
            row.location,
            row.branch,
            row.git_commit,
            row.dag_path,
            exported_by,
            row.exported_at,
            row.review_id,
        )
