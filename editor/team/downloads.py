"""Who may download a run's artifact on a team server: the project's role and the artifact's access level.

The rule (the same as the artifact layer's ``nodes.common.Access``: ``private`` is the pipeline's project,
``groups`` the project and the named groups, ``public`` everyone in the organisation):

- a **member of the run's project**, any role (the ``download`` action: viewer or higher), may download
  every artifact of the project's runs, whatever its level: each level includes the project;
- anyone else signed in may download a ``public`` artifact, or a ``groups`` artifact when they belong to
  one of its groups. On the team server a user's groups are **the groups the identity provider names**
  (the OIDC claim ``oidc_groups_claim``, or the SSO proxy's ``proxy_groups_header``, stored at each sign-in
  or proxied request) **and the names of the projects they are a member of** (an organisation admin may
  create such a project for a group and add its people on the admin page);
- nobody else, and nothing with an unknown level. A refusal says "no such artifact, or no access to it",
  the same words as for an artifact that does not exist, so an outsider learns nothing of it.

``TeamDownloads`` applies the rule to the Runs tab's download links (``pages.run_artifacts``), which are
also bound to the user who asked for them; ``artifact_api`` applies it to the API's artifact routes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..runs.artifacts import ArtifactAccessError, StoredArtifact
from ..store import NotFound, Store
from .accounts import Identity
from .admin import archived_ids
from .identity import NotSignedIn, current_identity

log = logging.getLogger("dagsmith.team.access")
NO_ACCESS = "no such artifact, or you have no access to it; ask a member of its project to share it"


def groups_of(store: Store, user: str) -> set[str]:
    """The groups ``user`` belongs to: their identity provider's groups and the names of their (active) projects."""
    hidden = archived_ids(store.engine)
    projects = {project.name for project in store.list_projects(user=user) if project.id not in hidden}
    return store.idp_groups(user) | projects


def may_download(store: Store, identity: Identity, project_id: int, access: Mapping[str, Any]) -> bool:
    """Whether ``identity`` may download an artifact with ``access`` (its manifest's) of a run in the project."""
    try:
        if store.role_of(identity.name, project_id) is not None:
            return True
    except NotFound:
        return False
    level = access.get("level")
    if level == "public":
        return True
    if level == "groups":
        named = {str(group) for group in access.get("groups") or []}
        return bool(named & groups_of(store, identity.name))
    return False


class TeamDownloads:
    """The Runs tab's download gate on a team server: the link's user, and the rule above, checked again."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def requester(self) -> str | None:
        """Who the current request or event runs as (None outside a signed-in context)."""
        try:
            return current_identity().name
        except NotSignedIn:
            return None

    def check(self, pipeline_id: int, artifact: StoredArtifact) -> None:
        """Raise ``ArtifactAccessError`` (the same words whether it exists or not) unless the user may download."""
        try:
            identity = current_identity()
            project_id = self.store.get_pipeline(pipeline_id).project_id
        except (NotSignedIn, NotFound):
            raise ArtifactAccessError(NO_ACCESS) from None
        if not may_download(self.store, identity, project_id, artifact.access):
            log.warning(
                "refused: %r may not download %s of pipeline %s (%s)",
                identity.name,
                artifact.uri,
                pipeline_id,
                artifact.access_text,
            )
            raise ArtifactAccessError(NO_ACCESS)
