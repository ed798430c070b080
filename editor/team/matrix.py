"""Who may reach what on a team server: one table of page routes, socket.io events and API routes.

The table is the documentation (``python -m dagsmith.editor.team.matrix`` prints it as the README's
Markdown table) and the test's oracle: ``tests/editor/test_team_access.py`` walks every row against a real
``dagsmith serve`` as an anonymous visitor, as a member of each role and as a member of another project
only, and asserts allow or deny as the row says.

A row's ``rule`` is ``signed-in`` (any user with a live session or API token) or the lowest project role
that may do it (``access.ACTIONS`` and the store's ranks: viewer < editor < maintainer < owner). A project
the user is not a member of answers exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import Role

SIGNED_IN = "signed-in"
VISITORS = ("anonymous", "viewer", "editor", "maintainer", "owner", "stranger")
"""Who the table is checked as: no session; a member of the project with each role; a member of another."""


@dataclass(frozen=True, slots=True)
class Door:
    """One way in: a page, a socket.io event or an API route, and who may pass."""

    kind: str
    """``page``, ``socket.io`` or ``api``."""
    method: str
    path: str
    """The route (``{pipeline}``, ``{project}`` stand for the project's ids), or the event's name."""
    rule: str
    """``signed-in``, or the lowest role (a ``Role`` value) in the pipeline's or project's project."""
    what: str

    def allows(self, visitor: str) -> bool:
        """Whether ``visitor`` (one of ``VISITORS``) may pass."""
        if visitor == "anonymous":
            return False
        if self.rule == SIGNED_IN:
            return True
        if visitor == "stranger":
            return False
        return Role(visitor).rank >= Role(self.rule).rank


DOORS: tuple[Door, ...] = (
    Door("page", "GET", "/", SIGNED_IN, "pipeline list (only the user's projects)"),
    Door("page", "GET", "/pipeline/{pipeline}", Role.VIEWER.value, "open a pipeline (read-only for viewers)"),
    Door("page", "GET", "/reviews", SIGNED_IN, "the user's reviews and notifications"),
    Door("page", "GET", "/docs", SIGNED_IN, "the API's OpenAPI page"),
    Door("socket.io", "EVENT", "connect", SIGNED_IN, "a page's live connection"),
    Door("socket.io", "EVENT", "nodeDropped", Role.EDITOR.value, "a canvas or form change (forged ones too)"),
    Door("api", "GET", "/api/v1/me", SIGNED_IN, "who the request runs as"),
    Door("api", "GET", "/api/v1/projects", SIGNED_IN, "the user's projects and roles"),
    Door("api", "GET", "/api/v1/projects/{project}/pipelines", Role.VIEWER.value, "a project's pipelines"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/draft", Role.VIEWER.value, "a pipeline's working copy"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/export", Role.VIEWER.value, "the DAG file it exports to"),
    Door("api", "GET", "/api/v1/tokens", SIGNED_IN, "the user's own API tokens"),
    Door("api", "GET", "/api/v1/notifications", SIGNED_IN, "the user's own notifications"),
    Door("api", "GET", "/api/v1/projects/{project}/protected", Role.VIEWER.value, "protected branches, targets"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/reviews", Role.VIEWER.value, "a pipeline's reviews"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/exports", Role.VIEWER.value, "a pipeline's export log"),
)


def markdown() -> str:
    """The table as Markdown, one row per door and one column per visitor (the README's copy)."""
    head = ["Kind", "Route or event", "Who may", *VISITORS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for door in DOORS:
        route = door.path if door.kind == "socket.io" else f"{door.method} {door.path}"
        rule = "any signed-in user" if door.rule == SIGNED_IN else f"{door.rule} or higher"
        marks = ["yes" if door.allows(visitor) else "no" for visitor in VISITORS]
        lines.append("| " + " | ".join([door.kind, f"`{route}`", rule, *marks]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
