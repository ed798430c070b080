"""The right panel: the selected node's generated form, or the pipeline settings form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from dagsmith.nodes import CATALOG, Access, OutputSettings, Pipeline, PipelineSettings

from ..forms import model_spec
from ..forms.widgets import Form, Path
from ..session import EditorSession, Refusal
from .browse import Browser, Roots  # browse hook

_NODE_FIELDS = model_spec(OutputSettings)
_ACCESS_FIELDS = model_spec(Access)


def node_placeholders(pipeline: Pipeline) -> dict[str, str]:
    """Pipeline defaults shown as placeholders in node forms (keys are field paths)."""
    s = pipeline.settings
    result = {"pod.image": s.default_image or "", "pod.retries": str(s.retries)}
    for name, value in s.default_resources.model_dump().items():
        if value is not None:
            result[f"pod.resources.{name}"] = str(value)
    if s.execution_timeout_minutes:
        result["pod.timeout_minutes"] = str(s.execution_timeout_minutes)
    return {key: f"pipeline default: {value}" for key, value in result.items() if value}


def output_placeholders(pipeline: Pipeline) -> dict[str, str]:
    """Defaults for an output's storage settings."""
    s = pipeline.settings
    return {"path": f"pipeline default: {s.path_template}", "naming": f"pipeline default: {s.naming_format}"}


class Inspector:
    """Shows the form for the selected node, or the pipeline settings when nothing is selected."""

    def __init__(self, session: EditorSession) -> None:
        self.session = session
        self.on_view_notebook: Callable[[str], Awaitable[None]] | None = None
        """Set by the page: show a notebook read-only."""
        # -- browse hook (editor/pages/browse.py): the Feast and MLflow catalog dialog --------------------
        self.project_roots: Roots | None = None
        """Set by the page: the folders a relative ``feast_repo`` is resolved against (project git repo)."""
        self.browser = Browser(self)
        # -- end browse hook ---------------------------------------------------------------------------------
        self.node_id: str | None = None
        self.forms: list[Form] = []
        self.container = ui.column().classes("w-full gap-2").mark("inspector")
        self.render()

    def select(self, node_id: str | None) -> None:
        """Show the form of ``node_id`` (None: pipeline settings)."""
        if node_id is not None and self.session.pipeline.node(node_id) is None:
            node_id = None
        self.node_id = node_id
        self.render()

    def refresh(self, *, rebuild: bool) -> None:
        """After a change: rebuild the widgets, or only update the inline errors (keeps focus while typing)."""
        if self.node_id is not None and self.session.pipeline.node(self.node_id) is None:
            self.node_id = None
            rebuild = True
        if rebuild:
            self.render()
        else:
            self.show_errors()

    def show_errors(self) -> None:
        """Update every form's inline errors from the session's issues."""
        errors = self.session.field_errors(self.node_id)
        if self.node_id is None:
            errors = {k.removeprefix("settings."): v for k, v in errors.items() if k.startswith("settings.")}
        for form in self.forms:
            form.show_errors(errors)

    def focus(self, field: str | None) -> None:
        """Scroll to and focus the widget of ``field`` (a dotted path), opening its sections."""
        for form in self.forms:
            widget = form.widgets.get(field or "")
            if widget is not None:
                widget.run_method("focus")
                return

    def _notify(self, result: Refusal | None) -> None:
        if isinstance(result, Refusal):
            ui.notify(result.message, type="warning")

    def render(self) -> None:
        """Build the form for the current selection."""
        self.container.clear()
        self.forms = []
        with self.container:
            if self.node_id is None:
                self._settings_form()
            else:
                self._node_form(self.node_id)
        self.show_errors()

    def _settings_form(self) -> None:
        ui.label("Pipeline settings").classes("text-h6")
        ui.label(f"dag_id: {self.session.pipeline.dag_id}").classes("text-caption").mark("dag-id")

        def change(path: Path, value: Any, structural: bool) -> None:
            self._notify(self.session.set_setting(path, value))
            self.refresh(rebuild=structural)

        form = Form(on_change=change)
        form.render(model_spec(PipelineSettings), self.session.pipeline.settings.model_dump(mode="json"))
        self.forms.append(form)

    def _node_form(self, node_id: str) -> None:
        pipeline = self.session.pipeline
        node = pipeline.node(node_id)
        assert node is not None
        node_type = CATALOG.get(node.type)
        ui.label(node_type.title if node_type else f"Unknown type {node.type!r}").classes("text-h6")
        if node_type:
            ui.label(node_type.summary).classes("text-caption")
        ui.label(f"id: {node.id} · task: {node.task_id()}").classes("text-caption")

        def node_change(path: Path, value: Any, structural: bool) -> None:
            self._notify(self.session.set_node_field(node_id, path, value))
            self.refresh(rebuild=structural or path[0] != "label")

        label = Form(on_change=node_change)
        label.widgets["label"] = (
            ui.input("Label", value=node.label, on_change=lambda e: node_change(("label",), e.value or "", False))
            .classes("w-full")
            .mark("field-label")
            .without_auto_validation()
        )
        self.forms.append(label)
        if node_type is None:
            ui.label("Choose a known node type: this node cannot be edited until then.").classes("text-negative")
            return

        def param_change(path: Path, value: Any, structural: bool) -> None:
            self.session.set_param(node_id, path, value)
            # Ports can depend on parameters (declared inputs and outputs): redraw those changes.
            self.refresh(rebuild=structural or path[0] in ("inputs", "outputs"))

        notebook = node.params.get("notebook")
        if node.type == "notebook" and isinstance(notebook, str) and notebook and self.on_view_notebook:
            viewer = self.on_view_notebook
            ui.button("View notebook", icon="menu_book", on_click=lambda: viewer(notebook)).props("flat").mark(
                "view-notebook"
            )

        self.browser.buttons(node_id, node.type)  # browse hook: "Browse Feast" / "Browse MLflow"

        params = Form(on_change=param_change, placeholders=node_placeholders(pipeline))
        params.render(model_spec(node_type), node.params)
        self.forms.append(params)

        _, outputs = node_type.ports(node.params)
        if outputs:
            with ui.expansion("Outputs: storage, naming and access").classes("w-full").mark("outputs"):
                for port in outputs:
                    ui.label(f"{port.name} ({port.type.value})").classes("text-bold")
                    form = Form(
                        on_change=node_change, prefix=("outputs", port.name), placeholders=output_placeholders(pipeline)
                    )
                    settings = node.outputs.get(port.name)
                    form.render(_NODE_FIELDS, settings.model_dump(mode="json") if settings else {})
                    self.forms.append(form)
        with ui.expansion("Runs with access").classes("w-full"):
            default = pipeline.settings.default_access.describe()
            ui.label(f"Unset: the pipeline default ({default})").classes("text-caption")
            form = Form(on_change=node_change, prefix=("access",))
            form.render(_ACCESS_FIELDS, node.access.model_dump(mode="json") if node.access else {})
            self.forms.append(form)
