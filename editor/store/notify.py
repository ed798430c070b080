"""Telling the other replicas of a team server that a pipeline's draft was saved (PostgreSQL ``NOTIFY``).

Several ``dagsmith serve`` replicas share one PostgreSQL database. A draft save sends a notice on
``CHANNEL`` in the save's own transaction, so it is delivered when (and only if) the save commits. The
notice carries only ids: the project, the pipeline, the new draft revision and the replica that saved it
(``REPLICA``), never the document; a replica that hears it loads the draft from the database, with the
reading user's permissions (``editor.team.replica_sync``). SQLite has no other process to tell: nothing
is sent there.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

CHANNEL = "dagsmith_draft_saved"
REPLICA = uuid.uuid4().hex[:16]
"""This process's name in the notices it sends (a replica ignores its own: its pages heard of them already)."""

_SEND = text(
    "SELECT pg_notify(:channel, json_build_object("
    "'project', project_id, 'pipeline', id, 'revision', CAST(:revision AS integer), 'origin', CAST(:origin AS text)"
    ")::text) FROM pipeline WHERE id = :pipeline"
)


@dataclass(frozen=True)
class DraftSaved:
    """What a notice says: pipeline ``pipeline`` of project ``project`` has draft ``revision``, saved by ``origin``."""

    project: int
    pipeline: int
    revision: int
    origin: str

    @classmethod
    def parse(cls, payload: str) -> DraftSaved | None:
        """The notice in ``payload``; None when it is not one (another program may share the channel)."""
        try:
            data: Any = json.loads(payload)
            notice = cls(int(data["project"]), int(data["pipeline"]), int(data["revision"]), str(data["origin"]))
        except (ValueError, TypeError, KeyError):
            return None
        return notice


def announce_draft_saved(connection: Connection, pipeline_id: int, revision: int) -> None:
    """Send the notice of a draft save, in the save's transaction (PostgreSQL only; SQLite: nothing)."""
    if connection.dialect.name != "postgresql":
        return
    connection.execute(_SEND, {"channel": CHANNEL, "pipeline": pipeline_id, "revision": revision, "origin": REPLICA})
