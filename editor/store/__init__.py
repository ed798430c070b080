"""dagsmith.editor.store: projects, pipelines, drafts and immutable versions in SQLite or PostgreSQL.

``open_store()`` returns a ``Store``; no NiceGUI here, so the CLI and the server share it.
"""

from __future__ import annotations

from .engine import DB_FILENAME, ENV_HOME, ENV_URL, alembic_config, dagsmith_home, database_url, head_revision
from .errors import Conflict, NotFound, PermissionDenied, SchemaError, StoreError
from .models import ReviewStatus, Role
from .records import (
    LOCAL_USER,
    Draft,
    Export,
    Member,
    PipelineInfo,
    Project,
    Review,
    User,
    Version,
    VersionStatus,
    VersionSummary,
)
from .store import Store, open_store

__all__ = [
    "Conflict",
    "DB_FILENAME",
    "Draft",
    "ENV_HOME",
    "ENV_URL",
    "Export",
    "LOCAL_USER",
    "Member",
    "NotFound",
    "PermissionDenied",
    "PipelineInfo",
    "Project",
    "Review",
    "ReviewStatus",
    "Role",
    "SchemaError",
    "Store",
    "StoreError",
    "User",
    "Version",
    "VersionStatus",
    "VersionSummary",
    "alembic_config",
    "dagsmith_home",
    "database_url",
    "head_revision",
    "open_store",
]
