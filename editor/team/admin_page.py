"""The organisation admin page of the team server (``/admin``): projects, members, users and API tokens.

Only organisation admins get the page; anyone else gets a refusal (logged). The page holds no rules:
every button calls ``admin.Administration``, which checks the acting user again on the server and logs the
change, so a forged socket.io event from another user's page is refused there too. A password reset shows
the new one-time password once, in a dialog; it is never stored in clear.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from nicegui import ui

from ..store import StoreError
from .admin import ROLE_NAMES, Administration, ProjectSummary, audit
from .identity import current_identity

log = logging.getLogger("dagsmith.team")
ROLES = list(ROLE_NAMES.values())


def _act(work: Callable[[], object], done: str, refresh: Callable[[], object]) -> None:
    """Run an admin operation as the signed-in user; tell the result, then show the page's new state."""
    try:
        work()
    except (StoreError, PermissionError) as exc:
        ui.notify(str(exc), type="warning", multi_line=True)
        return
    ui.notify(done, type="positive")
    refresh()


class AdminPage:
    """The page for one organisation admin: refreshed after every change."""

    def __init__(self, admin: Administration) -> None:
        self.admin = admin

    def build(self) -> None:
        identity = current_identity()
        with ui.row().classes("items-center q-pa-md"):
            ui.label("Organisation admin").classes("text-h5")
            ui.link("Back to the pipelines", "/")
        if not identity.org_admin:
            audit.warning("refused: %r opened the admin page (not an organisation admin)", identity.name)
            ui.label(
                "This page is for organisation admins: you have no access to it. "
                "A project's admin manages its members through the API (/api/v1/projects/ID/members)."
            ).classes("q-pa-md text-warning").mark("admin-refused")
            return
        with ui.tabs().classes("q-px-md") as tabs:
            projects_tab = ui.tab("Projects").mark("admin-projects-tab")
            users_tab = ui.tab("Users").mark("admin-users-tab")
        with ui.tab_panels(tabs, value=projects_tab).classes("w-full"):
            with ui.tab_panel(projects_tab):
                self.projects()
            with ui.tab_panel(users_tab):
                self.users()

    # -- projects --------------------------------------------------------------------------------------
    @ui.refreshable_method
    def projects(self) -> None:
        me = current_identity()
        with ui.row().classes("items-end gap-2").mark("create-project"):
            name = ui.input("New project").mark("new-project-name")
            description = ui.input("Description").mark("new-project-description")
            admin_user = ui.input("Its admin (user name; empty: you)").mark("new-project-admin")
            ui.button(
                "Create",
                icon="add",
                on_click=lambda: _act(
                    lambda: self.admin.create_project(
                        current_identity(),
                        name.value or "",
                        description=description.value or "",
                        admin=admin_user.value or "",
                    ),
                    f"project {name.value!r} created",
                    self.projects.refresh,
                ),
            ).mark("create-project-button")
        for project in self.admin.projects(me):
            self.project_card(project)

    def project_card(self, project: ProjectSummary) -> None:
        mark = f"project-{project.id}"
        with ui.card().classes("w-full q-mb-sm").mark(mark):
            with ui.row().classes("items-center gap-2 w-full"):
                ui.label(project.name).classes("text-subtitle1").mark(f"{mark}-name")
                if project.archived_at is not None:
                    ui.badge(f"archived {project.archived_at:%Y-%m-%d}", color="grey").mark(f"{mark}-archived")
                ui.label(f"{project.members} members").classes("text-caption")
                ui.space()
                new_name = ui.input("Rename to", value=project.name).props("dense").mark(f"{mark}-rename")
                ui.button(
                    "Rename",
                    on_click=lambda: _act(
                        lambda: self.admin.rename_project(current_identity(), project.id, new_name.value or ""),
                        "renamed",
                        self.projects.refresh,
                    ),
                ).props("flat").mark(f"{mark}-rename-button")
                archive = project.archived_at is None
                ui.button(
                    "Archive" if archive else "Restore",
                    on_click=lambda: _act(
                        lambda: self.admin.set_archived(current_identity(), project.id, archive),
                        "archived" if archive else "restored",
                        self.projects.refresh,
                    ),
                ).props("flat").mark(f"{mark}-archive")
            with ui.expansion("Members").classes("w-full").mark(f"{mark}-members"):
                self.members(project.id)

    def members(self, project_id: int) -> None:
        mark = f"project-{project_id}"
        for member in self.admin.members(current_identity(), project_id):
            with ui.row().classes("items-center gap-2").mark(f"{mark}-member-{member.user}"):
                ui.label(member.user).classes("w-40")
                ui.select(
                    ROLES,
                    value=ROLE_NAMES[member.role],
                    on_change=lambda e, user=member.user: _act(
                        lambda: self.admin.set_member(current_identity(), project_id, user, str(e.value)),
                        f"{user} is now {e.value}",
                        self.projects.refresh,
                    ),
                ).props("dense").mark(f"{mark}-role-{member.user}")
                ui.button(
                    icon="person_remove",
                    on_click=lambda user=member.user: _act(
                        lambda: self.admin.remove_member(current_identity(), project_id, user),
                        f"{user} removed",
                        self.projects.refresh,
                    ),
                ).props("flat dense").tooltip("Remove from the project").mark(f"{mark}-remove-{member.user}")
        with ui.row().classes("items-end gap-2"):
            user = ui.input("Add a user").props("dense").mark(f"{mark}-add-user")
            role = ui.select(ROLES, value="viewer").props("dense").mark(f"{mark}-add-role")
            ui.button(
                "Add",
                on_click=lambda: _act(
                    lambda: self.admin.set_member(
                        current_identity(), project_id, (user.value or "").strip(), role.value
                    ),
                    f"{user.value} added",
                    self.projects.refresh,
                ),
            ).props("flat").mark(f"{mark}-add-button")

    # -- users -----------------------------------------------------------------------------------------
    @ui.refreshable_method
    def users(self) -> None:
        for account in self.admin.users(current_identity()):
            mark = f"user-{account.name}"
            with ui.card().classes("w-full q-mb-sm").mark(mark):
                with ui.row().classes("items-center gap-2 w-full"):
                    ui.label(account.name).classes("text-subtitle1")
                    if account.display_name:
                        ui.label(account.display_name).classes("text-caption")
                    if account.org_admin:
                        ui.badge("organisation admin")
                    if account.disabled:
                        ui.badge("disabled", color="negative").mark(f"{mark}-disabled")
                    ui.space()
                    disable = not account.disabled
                    ui.button(
                        "Disable" if disable else "Enable",
                        on_click=lambda name=account.name, disable=disable: _act(
                            lambda: self.admin.set_disabled(current_identity(), name, disable),
                            f"{name} {'disabled' if disable else 'enabled'}",
                            self.users.refresh,
                        ),
                    ).props("flat").mark(f"{mark}-disable")
                    ui.button("Reset password", on_click=lambda name=account.name: self.reset(name)).props("flat").mark(
                        f"{mark}-reset"
                    )
                with ui.expansion("API tokens").classes("w-full").mark(f"{mark}-tokens"):
                    self.tokens(account.name)

    def tokens(self, user: str) -> None:
        listed = self.admin.tokens(current_identity(), user)
        if not listed:
            ui.label("No API tokens.").classes("text-caption")
        for token in listed:
            with ui.row().classes("items-center gap-2").mark(f"token-{token.id}"):
                used = f"last used {token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never used"
                ui.label(f"{token.name} · made {token.created_at:%Y-%m-%d} · {used}")
                if token.revoked_at is not None:
                    ui.badge("revoked", color="grey").mark(f"token-{token.id}-revoked")
                    continue
                ui.button(
                    "Revoke",
                    on_click=lambda token_id=token.id: _act(
                        lambda: self.admin.revoke_token(current_identity(), user, token_id),
                        "token revoked",
                        self.users.refresh,
                    ),
                ).props("flat dense color=negative").mark(f"token-{token.id}-revoke")

    def reset(self, user: str) -> None:
        """A new one-time password for ``user``, shown once in a dialog."""
        try:
            password = self.admin.reset_password(current_identity(), user)
        except (StoreError, PermissionError) as exc:
            ui.notify(str(exc), type="warning", multi_line=True)
            return
        with ui.dialog(value=True) as dialog, ui.card().mark("reset-dialog"):
            ui.label(f"The new password of {user}, shown only now:")
            ui.code(password).mark("reset-password")
            ui.label("Give it to them through a safe channel; their sessions have ended.").classes("text-caption")
            ui.button("Done", on_click=dialog.close)


def register_admin_page(admin: Administration) -> None:
    """Declare ``/admin`` on NiceGUI's app (the team server's sign-in guards it)."""

    @ui.page("/admin", title="dagsmith admin")
    def admin_page() -> None:
        AdminPage(admin).build()
