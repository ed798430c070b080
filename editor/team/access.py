"""What each role may do in a project, checked on the server for every action; the table is the documentation.

The store's roles rank viewer < editor < maintainer < owner, each able to do what the ones before can.
In the issue's words a *reviewer* is the store's ``maintainer`` (approves others' versions, commits to the
project's repository) and a project *admin* its ``owner`` (members, review rule).

``authorize`` is the one check: the editor's services (``TeamServices``) call it when a pipeline is
opened, saved, run, exported or committed, and the editing session calls it (through its ``guard``) before
each canvas or form change, so a forged websocket event from a viewer is refused and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..store import PermissionDenied, Role, Store
from .admin import archived
from .identity import live_grants

if TYPE_CHECKING:
    from .accounts import Identity

log = logging.getLogger("dagsmith.team.access")

ACTIONS: dict[str, tuple[Role, str]] = {
    "open": (Role.VIEWER, "open its pipelines"),
    "browse": (Role.VIEWER, "list its pipelines"),
    "download": (Role.VIEWER, "download its documents and DAG files"),
    "edit": (Role.EDITOR, "edit its pipelines"),
    "run": (Role.EDITOR, "run its pipelines"),
    "export": (Role.EDITOR, "export its pipelines"),
    "commit": (Role.MAINTAINER, "commit DAGs to its repository"),
    "review": (Role.MAINTAINER, "review its versions"),
    "manage": (Role.OWNER, "manage its members and settings"),
}
"""Action -> (the lowest role allowed, what it does, for messages). Anything not here is refused."""
READ_ONLY = frozenset({"open", "browse", "download"})
"""What members may still do in an archived project (``admin.Administration.set_archived``)."""


def authorize(store: Store, identity: Identity, project_id: int, action: str) -> Role | None:
    """The user's role when they may do ``action`` in the project; raises ``PermissionDenied`` (logged) if not.

    Organisation admins may ``manage`` any project (then the role returned is None); everything else
    needs membership.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; add it to ACTIONS in {__name__} with the role it needs")
    if action == "manage" and identity.org_admin:
        return None
    role, doing = ACTIONS[action]
    granted = _granted(identity, project_id, action)
    if granted is not None:  # the roles this request's or event's session lookup read: no query
        return granted
    have, is_archived = store.access_to(identity.name, project_id)  # else one query (NotFound: no such project)
    if have is not None and have.rank >= role.rank and (action in READ_ONLY or not is_archived):
        return have
    try:  # refused: the store's check says whom to ask (and a role given meanwhile passes)
        have = store.require_role(identity.name, project_id, role, doing=doing)
        if action not in READ_ONLY and archived(store.engine, project_id) is not None:
            raise PermissionDenied(
                f"project {project_id} is archived: its pipelines can be opened and downloaded but not changed "
                f"(you cannot {doing}); ask an organisation admin to restore it"
            )
    except PermissionDenied:
        log.warning("refused: %r may not %s (%s) in project %s", identity.name, action, doing, project_id)
        raise
    return have


def _granted(identity: Identity, project_id: int, action: str) -> Role | None:
    """The user's role when the running request's or event's lookup (``grants``) allows ``action``; None: ask the
    database (it refuses with whom to ask, and logs; or allows a role given since the lookup)."""
    grants = live_grants(identity.name)
    membership = grants.membership(project_id) if grants is not None else None
    if membership is None or membership.role.rank < ACTIONS[action][0].rank:
        return None
    return None if membership.archived and action not in READ_ONLY else membership.role


def pipeline_granted(store: Store, identity: Identity, pipeline_id: int, action: str) -> int | None:
    """The pipeline's project when ``action`` on it is allowed, read from the running lookup's ``grants`` (and the
    pipeline's project), else in one query; None: not as far as this knows (``authorize`` refuses, with its
    message and log, or allows a role given meanwhile). ``NotFound``: no such pipeline."""
    if action not in ACTIONS or action == "manage":
        return None
    if live_grants(identity.name) is not None:
        project_id = project_of(store, pipeline_id)
        return project_id if _granted(identity, project_id, action) is not None else None
    project_id, role, is_archived = store.pipeline_access(identity.name, pipeline_id)
    allowed = role is not None and role.rank >= ACTIONS[action][0].rank and (action in READ_ONLY or not is_archived)
    return project_id if allowed else None


def project_of(store: Store, pipeline_id: int) -> int:
    """The project a pipeline belongs to (``NotFound`` when there is no such pipeline).

    Read once per request or event (kept with its ``grants``): a pipeline never moves to another project.
    """
    grants = live_grants()
    if grants is not None and pipeline_id in grants.pipelines:
        return grants.pipelines[pipeline_id]
    project_id = store.get_pipeline(pipeline_id).project_id
    if grants is not None:
        grants.pipelines[pipeline_id] = project_id
    return project_id


def learn_project(pipeline_id: int, project_id: int) -> None:
    """Keep a pipeline's project, read by the caller, for the rest of the running request or event."""
    grants = live_grants()
    if grants is not None:
        grants.pipelines[pipeline_id] = project_id


def edit_guard(store: Store, identity: Identity, pipeline_id: int) -> Callable[[], None]:
    """The check an editing session runs before each change: the user may still edit this pipeline.

    Asked again at every change, so a role taken away while a page is open stops its next edit.
    """
    project_id = project_of(store, pipeline_id)

    def check() -> None:
        authorize(store, identity, project_id, "edit")

    return check
