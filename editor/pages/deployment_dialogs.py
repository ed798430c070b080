"""The dialogs of the Airflow tab: add a deployment, trigger a run with typed params (a node's remote logs
open in ``log_dialog.LogDialog``, the Runs tab's dialog)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from ..deployments.client import API_VERSIONS, DeploymentError
from ..deployments.config import AUTH_KINDS, Deployment


class AddDeploymentDialog:
    """Name an Airflow API for the project; the secret is given as a reference (env:NAME or file:PATH)."""

    def __init__(self, on_add: Callable[..., Deployment]) -> None:
        self.on_add = on_add
        self.dialog = ui.dialog().mark("add-deployment-dialog")
        with self.dialog, ui.card().style("min-width: 420px"):
            ui.label("Add an Airflow deployment").classes("text-h6")
            self.name = ui.input("Name", placeholder="prod").classes("w-full").mark("add-deployment-name")
            self.url = ui.input("API URL", placeholder="https://airflow.example.com").classes("w-full")
            self.url.mark("add-deployment-url")
            with ui.row().classes("w-full no-wrap"):
                self.api_version = ui.select(list(API_VERSIONS), label="REST API", value="auto").classes("grow")
                self.auth = ui.select(list(AUTH_KINDS), label="Sign in with", value="token").classes("grow")
            self.user = ui.input("User (for password)", on_change=self.user_typed).classes("w-full")
            self.user.mark("add-deployment-user")
            self.secret = ui.input("Token or password from", placeholder="env:AIRFLOW_TOKEN or file:/path").classes(
                "w-full"
            )
            self.secret.mark("add-deployment-secret").tooltip("Only this reference is saved, never the secret")
            self.error = ui.label().classes("text-negative").props("role=alert data-dagsmith=add-deployment-error")
            self.error.mark("add-deployment-error")
            with ui.row():
                ui.button("Add", on_click=self.submit).props("data-dagsmith=add-deployment-save").mark(
                    "add-deployment-save"
                )
                ui.button("Cancel", on_click=self.dialog.close).props("flat")

    def user_typed(self) -> None:
        """A user typed while "Sign in with" says token means password sign-in (as ``--user`` does on the CLI).

        Before, the dialog kept "token" and the deployment was saved without the user the person had typed.
        """
        if (self.user.value or "").strip() and self.auth.value == "token":
            self.auth.set_value("password")

    def open(self) -> None:
        self.error.set_text("")
        self.dialog.open()

    def submit(self) -> None:
        self.error.set_text("")
        try:
            self.on_add(
                (self.name.value or "").strip(),
                (self.url.value or "").strip(),
                api_version=self.api_version.value,
                auth=self.auth.value,
                user=(self.user.value or "").strip(),
                secret_ref=(self.secret.value or "").strip(),
            )
        except DeploymentError as exc:
            self.error.set_text(str(exc))
            return
        except Exception as exc:  # e.g. the store refuses (a viewer): a message, not a traceback
            self.error.set_text(str(exc))
            return
        self.dialog.close()


class TriggerDialog:
    """The run-time params of the pipeline as typed inputs; the error names the param."""

    def __init__(self, on_trigger: Callable[[dict[str, Any]], Awaitable[str | None]]) -> None:
        self.on_trigger = on_trigger
        self.inputs: dict[str, Any] = {}
        self.dialog = ui.dialog().mark("trigger-dialog")
        with self.dialog, ui.card().style("min-width: 360px"):
            ui.label("Trigger a run on the deployment").classes("text-h6")
            self.form = ui.column().classes("w-full")
            self.error = ui.label().classes("text-negative").props("role=alert").mark("trigger-error")
            with ui.row():
                ui.button("Trigger", on_click=self.submit).props("data-dagsmith=trigger-start").mark("trigger-start")
                ui.button("Cancel", on_click=self.dialog.close).props("flat")

    def open(self, params: list[Any]) -> None:
        self.form.clear()
        self.inputs = {}
        self.error.set_text("")
        with self.form:
            for param in params:
                label = f"{param.name} ({param.type})"
                value = param.default
                widget: Any
                if param.type == "boolean":
                    widget = ui.checkbox(label, value=bool(value))
                elif param.enum:
                    widget = ui.select([*param.enum], label=label, value=value if value in param.enum else None)
                elif param.type in ("array", "object"):
                    widget = ui.textarea(label, value="" if value is None else json.dumps(value))
                else:
                    widget = ui.input(label, value="" if value is None else str(value))
                widget.classes("w-full").mark(f"trigger-param-{param.name}")
                self.inputs[param.name] = widget
            if not params:
                ui.label("The pipeline has no run-time params.").classes("text-caption")
        self.dialog.open()

    async def submit(self) -> None:
        values = {name: widget.value for name, widget in self.inputs.items() if widget.value not in (None, "")}
        message = await self.on_trigger(values)
        if message:
            self.error.set_text(message)
        else:
            self.dialog.close()
