"""Who may reach what on a team server: one table of page routes, socket.io events and API routes.

The table is the documentation (``python -m dagsmith.editor.team.matrix`` prints it as the README's
Markdown table) and the test's oracle: ``tests/editor/test_team_access.py`` walks every row against a real
``dagsmith serve`` as an anonymous visitor, as a member of each role and as a member of another project
only, and as an organisation admin who is no member of it, and asserts allow or deny as the row says.

A row's ``rule`` is ``signed-in`` (any user with a live session or API token), ``org-admin`` (organisation
admins only) or the lowest project role that may do it (``access.ACTIONS`` and the store's ranks: viewer <
editor < maintainer (the issue's *reviewer*) < owner (the project's *admin*)); ``plus`` names who else
passes (an organisation admin manages every project's members; an artifact shared with a group is for
that group's members too: ``downloads``). ``public`` doors are for anyone, signed in or not (signing in and
out); a ``keyed-link`` door is a Runs-tab download link: a random key the server makes, after the artifact's
access check, for the signed-in user who pressed download, valid for ten minutes; it needs that user's session
too, and a forged, expired or someone else's key opens nothing. A project the user is not a member of
answers exactly like one that does not exist. Every socket.io event type the canvas and the forms send has
its own row: the edits are refused on the server for viewers (and logged), the others need only the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import Role

SIGNED_IN = "signed-in"
ORG_ADMIN = "org-admin"
PUBLIC = "public"
KEYED_LINK = "keyed-link"
VISITORS = ("anonymous", "viewer", "editor", "maintainer", "owner", "stranger", "org-admin")
"""Who the table is checked as: no session; a member of the project with each role; a member of another
project only (also a member of the group ``Other``); an organisation admin who is no member of the project."""
EDIT, VIEW = Role.EDITOR.value, Role.VIEWER.value


@dataclass(frozen=True, slots=True)
class Door:
    """One way in: a page, a socket.io event or an API route, and who may pass."""

    kind: str
    """``page``, ``socket.io`` or ``api``."""
    method: str
    path: str
    """The route (``{pipeline}``, ``{project}`` stand for the project's ids), or the event's name."""
    rule: str
    """``public``, ``keyed-link``, ``signed-in``, ``org-admin``, or the lowest role (a ``Role`` value) in the
    pipeline's or project's project."""
    what: str
    plus: str = ""
    """Who else passes a role rule: ``org-admin`` (organisation admins) or ``group`` (the artifact's group)."""
    given: tuple[tuple[str, str], ...] = ()
    """Fixed values of the route's other parts (which artifact)."""
    body: str = ""
    """The JSON a state-changing route is sent."""
    reached: int = 0
    """A status besides 2xx that also shows the visitor got past the role check: the route's own check refused
    the request afterwards (e.g. 400: the walked pipeline cannot run, so the walk starts no real run)."""
    walked_as: str = ""
    """How the walk tries a door it cannot try as its row says (then nobody passes there): ``forged`` (a made-up
    key: refused for everyone), ``not-served`` (the walked server has no OIDC, so the route answers as an unknown
    page would); the test module that walks the door as the row says is named in ``what``."""

    def allows(self, visitor: str) -> bool:
        """Whether ``visitor`` (one of ``VISITORS``) may pass (a ``keyed-link``: holding a link made for them)."""
        if self.rule == PUBLIC:
            return True
        if visitor == "anonymous":
            return False
        if self.rule in (SIGNED_IN, KEYED_LINK):
            return True
        if self.rule == ORG_ADMIN:
            return visitor == "org-admin"
        if visitor == "org-admin":
            return self.plus == "org-admin"
        if visitor == "stranger":
            return self.plus == "group"
        return Role(visitor).rank >= Role(self.rule).rank

    @property
    def who(self) -> str:
        """The rule in words."""
        if self.rule == PUBLIC:
            return "anyone, signed in or not"
        if self.rule == KEYED_LINK:
            return "a signed-in user, with a link made for them"
        if self.rule in (SIGNED_IN, ORG_ADMIN):
            return "any signed-in user" if self.rule == SIGNED_IN else "organisation admins"
        extra = {"org-admin": ", or an organisation admin", "group": ", or a member of its group"}.get(self.plus, "")
        return f"{self.rule} or higher{extra}"


def _event(name: str, rule: str, what: str) -> Door:
    return Door("socket.io", "EVENT", name, rule, what)


_ARTIFACT = "/api/v1/pipelines/{pipeline}/runs/{run}/artifacts/{node}/{port}"
_MEMBER = "/api/v1/projects/{project}/members/{user}"
DOORS: tuple[Door, ...] = (
    Door("page", "GET", "/", SIGNED_IN, "pipeline list (only the user's projects)"),
    Door("page", "GET", "/pipeline/{pipeline}", VIEW, "open a pipeline (read-only for viewers)"),
    Door("page", "GET", "/pipeline/{pipeline}/health", VIEW, "a pipeline's model health (read from MLflow)"),
    Door("page", "GET", "/reviews", SIGNED_IN, "the user's reviews and notifications"),
    Door("page", "GET", "/review/{review}", VIEW, "a review: its diffs, comments and decision"),
    Door("page", "GET", "/docs", SIGNED_IN, "the API's OpenAPI page"),
    Door("page", "GET", "/admin", ORG_ADMIN, "the organisation admin page"),
    Door("page", "GET", "/openapi.json", SIGNED_IN, "the API's OpenAPI description"),
    Door("page", "GET", "/redoc", SIGNED_IN, "the API's ReDoc page"),
    Door("page", "GET", "/docs/oauth2-redirect", SIGNED_IN, "the OpenAPI page's OAuth2 helper (unused)"),
    Door("page", "GET", "/favicon.ico", SIGNED_IN, "the icon (the sign-in page has none)"),
    Door("page", "GET", "/login", PUBLIC, "the sign-in form (plain HTML, no script)"),
    Door(
        "page",
        "POST",
        "/login",
        PUBLIC,
        "sign in: a new session, 303 to `next`; a wrong password: 401 and the form (walked so), rate-limited",
        reached=401,
    ),
    Door("page", "GET", "/logout", PUBLIC, "405: signing out is a POST, so a link cannot sign anyone out", reached=405),
    Door("page", "POST", "/logout", PUBLIC, "sign out: the session ends on every replica, 303 to /login"),
    Door(
        "page",
        "GET",
        "/_nicegui/{version}/static/{file}",
        SIGNED_IN,
        "NiceGUI's own scripts and styles (the sign-in page needs none)",
        given=(("file", "nicegui.js"),),
    ),
    Door(
        "page",
        "GET",
        "/_dagsmith/run-artifact/{key}",
        KEYED_LINK,
        "a Runs-tab download; a forged or expired key: 404 (walked so), anonymous: sign-in (test_team_admin)",
        given=(("key", "forged-key"),),
        walked_as="forged",
    ),
    Door(
        "page",
        "GET",
        "/login/oidc",
        PUBLIC,
        "with OIDC configured: leave for the provider (test_team_oidc)",
        walked_as="not-served",
    ),
    Door(
        "page",
        "GET",
        "/login/oidc/callback",
        PUBLIC,
        "with OIDC configured: back from the provider, signed in or told why (test_team_oidc)",
        walked_as="not-served",
    ),
    _event("connect", SIGNED_IN, "a page's live connection"),
    _event("nodeDropped", EDIT, "canvas: add a node from the palette"),
    _event("nodeMoved", EDIT, "canvas: move nodes"),
    _event("edgeRequested", EDIT, "canvas: connect an output to an input"),
    _event("deleteRequested", EDIT, "canvas: delete nodes and edges"),
    _event("pasteRequested", EDIT, "canvas: paste copied nodes"),
    _event("undoRequested", EDIT, "canvas: undo"),
    _event("redoRequested", EDIT, "canvas: redo"),
    _event("layoutComputed", EDIT, "canvas: store the auto-layout's positions"),
    _event("update:value", EDIT, "form: change a field of the inspector (a node's label)"),
    _event("click", EDIT, "button: save a version"),
    _event("canvasReady", VIEW, "canvas: mounted, asks for the graph"),
    _event("selectionChanged", VIEW, "canvas: select nodes (shows their form)"),
    _event("nodeClicked", VIEW, "canvas: click a node (shows its form)"),
    _event("paneClicked", VIEW, "canvas: click the empty pane (shows the settings)"),
    _event("copyRequested", VIEW, "canvas: copy nodes"),
    _event("stateClicked", VIEW, "canvas: a task state's badge (shows its log)"),
    _event("viewportChanged", VIEW, "canvas: pan or zoom"),
    Door("api", "GET", "/api/v1/me", SIGNED_IN, "who the request runs as"),
    Door("api", "GET", "/api/v1/projects", SIGNED_IN, "the user's projects and roles"),
    Door("api", "GET", "/api/v1/projects/{project}/pipelines", VIEW, "a project's pipelines"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/draft", VIEW, "a pipeline's working copy"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/export", VIEW, "the DAG file it exports to"),
    Door(
        "api",
        "PUT",
        "/api/v1/pipelines/{pipeline}/draft",
        EDIT,
        "save the working copy over the revision it was read at (409 otherwise)",
        body="{draft}",
    ),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/validate", VIEW, "the working copy's problems"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/versions", VIEW, "its saved versions"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/versions/{number}", VIEW, "one version", given=(("number", "1"),)),
    Door(
        "api",
        "GET",
        "/api/v1/pipelines/{pipeline}/diff/{base}/{to}",
        VIEW,
        "two versions' change list and DAG diff",
        given=(("base", "1"), ("to", "1")),
    ),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/runs", VIEW, "its runs and their states"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/runs/{run}", VIEW, "one run: its parameters and tasks' states"),
    Door(
        "api",
        "GET",
        "/api/v1/pipelines/{pipeline}/runs/{run}/tasks/{task_id}/log",
        VIEW,
        "the end of a task's log (a run its history lists, a task its record names)",
        given=(("task_id", "score"),),
    ),
    Door(
        "api",
        "POST",
        "/api/v1/pipelines/{pipeline}/runs",
        EDIT,
        "start a run of the working copy (409 while one is going; walked on a pipeline that cannot run: 400)",
        body="{}",
        reached=400,
    ),
    Door(
        "api",
        "POST",
        "/api/v1/projects/{project}/pipelines",
        EDIT,
        "create a pipeline: blank, from a template or a document",
        body='{"name": "Made by {visitor}"}',
    ),
    Door(
        "api", "PATCH", "/api/v1/pipelines/{pipeline}", EDIT, "rename a pipeline", body='{"name": "Named by {visitor}"}'
    ),
    Door("api", "DELETE", "/api/v1/pipelines/{pipeline}", Role.MAINTAINER.value, "delete a pipeline and its versions"),
    Door("api", "GET", "/api/v1/tokens", SIGNED_IN, "the user's own API tokens"),
    Door("api", "DELETE", "/api/v1/tokens/{token}", SIGNED_IN, "revoke one of the user's own API tokens"),
    Door("api", "GET", "/api/v1/notifications", SIGNED_IN, "the user's own notifications"),
    Door("api", "GET", "/api/v1/projects/{project}/protected", VIEW, "protected branches, targets"),
    Door(
        "api",
        "POST",
        "/api/v1/projects/{project}/protected",
        Role.OWNER.value,
        "protect a branch or deployment",
        body='{"kind": "deployment", "name": "walk-{visitor}"}',
    ),
    Door(
        "api",
        "DELETE",
        "/api/v1/projects/{project}/protected/{kind}/{name}",
        Role.OWNER.value,
        "take a protection off",
        given=(("kind", "deployment"), ("name", "walk-gone")),
    ),
    Door("api", "GET", "/api/v1/reviews/{review}", VIEW, "a review with the DAG diff, change list and file diffs"),
    Door(
        "api", "POST", "/api/v1/pipelines/{pipeline}/reviews", EDIT, "request a review of the newest version", body="{}"
    ),
    Door(
        "api", "POST", "/api/v1/reviews/{review}/comments", EDIT, "comment on a review", body='{"body": "by {visitor}"}'
    ),
    Door(
        "api",
        "POST",
        "/api/v1/reviews/{review}/approve",
        Role.MAINTAINER.value,
        "approve a version someone else wrote and asked for (four eyes)",
        body='{"content_hash": "{hash}"}',
    ),
    Door(
        "api",
        "POST",
        "/api/v1/reviews/{review}/request-changes",
        Role.MAINTAINER.value,
        "ask for changes to a version someone else asked for",
        body='{"comment": "please change it"}',
    ),
    Door("api", "POST", "/api/v1/notifications/read", SIGNED_IN, "mark the user's own notifications read", body="{}"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/reviews", VIEW, "a pipeline's reviews"),
    Door("api", "GET", "/api/v1/pipelines/{pipeline}/exports", VIEW, "a pipeline's export log"),
    Door(
        "api",
        "POST",
        "/api/v1/pipelines/{pipeline}/commit",
        Role.MAINTAINER.value,
        "commit the DAG to the project's repository (a protected branch also needs an approval)",
        body='{"message": "by {visitor}"}',
    ),
    Door(
        "api",
        "GET",
        "/api/v1/pipelines/{pipeline}/runs/{run}/artifacts",
        SIGNED_IN,
        "a run's artifacts: each user sees those they may download (none: 404)",
    ),
    Door("api", "GET", _ARTIFACT, VIEW, "download a private artifact", given=(("node", "score"), ("port", "private"))),
    Door(
        "api",
        "GET",
        _ARTIFACT,
        VIEW,
        "download an artifact shared with the group Other",
        plus="group",
        given=(("node", "score"), ("port", "grouped")),
    ),
    Door(
        "api", "GET", _ARTIFACT, SIGNED_IN, "download a public artifact", given=(("node", "score"), ("port", "public"))
    ),
    Door("api", "GET", "/api/v1/projects/{project}/members", Role.OWNER.value, "a project's members", plus="org-admin"),
    Door(
        "api", "PUT", _MEMBER, Role.OWNER.value, "add a member, change a role", "org-admin", body='{"role": "viewer"}'
    ),
    Door("api", "DELETE", _MEMBER, Role.OWNER.value, "take a member out", plus="org-admin"),
    Door("api", "GET", "/api/v1/admin/projects", ORG_ADMIN, "every project, archived ones too"),
    Door("api", "POST", "/api/v1/admin/projects", ORG_ADMIN, "create a project", body='{"name": "Made by {visitor}"}'),
    Door(
        "api", "POST", "/api/v1/admin/projects/{spare}/rename", ORG_ADMIN, "rename a project", body='{"name": "Spare"}'
    ),
    Door(
        "api",
        "POST",
        "/api/v1/admin/projects/{spare}/archive",
        ORG_ADMIN,
        "archive or restore",
        body='{"archived": false}',
    ),
    Door("api", "GET", "/api/v1/admin/users", ORG_ADMIN, "every user"),
    Door("api", "POST", "/api/v1/admin/users/{user}/disable", ORG_ADMIN, "disable a user"),
    Door("api", "POST", "/api/v1/admin/users/{user}/enable", ORG_ADMIN, "enable a user"),
    Door("api", "POST", "/api/v1/admin/users/{user}/reset-password", ORG_ADMIN, "a one-time password"),
    Door("api", "GET", "/api/v1/admin/users/{user}/tokens", ORG_ADMIN, "a user's API tokens"),
    Door("api", "DELETE", "/api/v1/admin/users/{user}/tokens/{token}", ORG_ADMIN, "revoke a user's API token"),
)


def markdown() -> str:
    """The table as Markdown, one row per door and one column per visitor (the README's copy)."""
    head = ["Kind", "Route or event", "Who may", *VISITORS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for door in DOORS:
        route = door.path if door.kind == "socket.io" else f"{door.method} {door.path}"
        marks = ["yes" if door.allows(visitor) else "no" for visitor in VISITORS]
        lines.append("| " + " | ".join([door.kind, f"`{route}`: {door.what}", door.who, *marks]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
