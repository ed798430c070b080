"""The right panel: the selected node's generated form, or the pipeline settings form.

A form is never drawn again under a user who is typing: an edit updates only the inline errors. Only a
structural change (items added or removed, the node's outputs renamed) draws again: the whole form, or
just the outputs section; the open sections stay open (they are remembered per node while the page lives).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nicegui import ui
from pydantic import BaseModel

from dagsmith.nodes import CATALOG, Access, OutputSettings, Pipeline, PipelineSettings
from dagsmith.nodes.artifact_rules import VALUE_PORT_TYPES
from dagsmith.nodes.locations import preview
from dagsmith.nodes.schedule_words import schedule_words

from ..forms import FieldSpec, model_spec
from ..forms.widgets import Form, OnChange, Path
from ..session import EditorSession, Refusal
from .browse import Browser, Roots  # browse hook
from .read_only import disable_fields

_NODE_FIELDS = model_spec(OutputSettings)
_ACCESS_FIELDS = model_spec(Access)
_SETTINGS_FIELDS = model_spec(PipelineSettings)
_PARAM_FIELDS: dict[type[BaseModel], tuple[FieldSpec, ...]] = {}


def _params_spec(node_type: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """A node type's form spec, derived once per type (it depends on the type only)."""
    spec = _PARAM_FIELDS.get(node_type)
    if spec is None:
        spec = _PARAM_FIELDS[node_type] = model_spec(node_type)
    return spec


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

    def __init__(self, session: EditorSession, *, read_only: bool = False) -> None:
        """``read_only``: every form is shown with its fields disabled (a team server's viewer)."""
        self.session = session
        self.read_only = read_only
        self.on_view_notebook: Callable[[str], Awaitable[None]] | None = None
        """Set by the page: show a notebook read-only."""
        # -- browse hook (editor/pages/browse.py): the Feast and MLflow catalog dialog --------------------
        self.project_roots: Roots | None = None
        """Set by the page: the folders a relative ``feast_repo`` is resolved against (project git repo)."""
        self.browser = Browser(self)
        # -- end browse hook ---------------------------------------------------------------------------------
        self.node_id: str | None = None
        self.forms: list[Form] = []
        self.open_sections: dict[str | None, set[str]] = {}
        """The open sections of each node's form (None: the settings form), kept across redraws."""
        self.outputs_box: ui.column | None = None
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
            widget = form.widget(field or "")
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
        if self.read_only:
            disable_fields(self.container)
        self.show_errors()

    def _settings_form(self) -> None:
        ui.label("Pipeline settings").classes("text-h6")
        # Bound, not written once: a name or dag_id typed below (or an undo) shows at once, as the export uses it.
        ui.label().classes("text-caption").mark("dag-id").bind_text_from(
            self.session, "pipeline", backward=lambda pipeline: f"dag_id: {pipeline.dag_id}"
        )

        def change(path: Path, value: Any, structural: bool) -> None:
            self._notify(self.session.set_setting(path, value))
            self.refresh(rebuild=structural)

        form = Form(on_change=change, open_sections=self._sections(), **self._lazy(self._settings_data))
        form.render(_SETTINGS_FIELDS, self._settings_data())
        self.forms.append(form)
        self._schedule_words(form)

    def _schedule_words(self, form: Form) -> None:
        """The schedule in words under its field, following what is typed (bound: the field is not redrawn)."""
        field = form.widgets.get("schedule")
        slot = field.parent_slot if field is not None else None
        if field is None or slot is None:
            return
        words = ui.label().classes("text-caption text-positive").props("data-dagsmith=schedule-words")
        words.bind_text_from(self.session, "pipeline", backward=lambda p: schedule_words(p.settings.schedule))
        words.bind_visibility_from(words, "text", backward=bool)
        words.move(slot.parent, slot.children.index(field) + 1)

    def _node_form(self, node_id: str) -> None:
        pipeline = self.session.pipeline
        node = pipeline.node(node_id)
        assert node is not None
        node_type = CATALOG.get(node.type)
        ui.label(node_type.title if node_type else f"Unknown type {node.type!r}").classes("text-h6")
        if node_type:
            ui.label(node_type.summary).classes("text-caption")
        ui.label(f"id: {node.id} · task: {node.task_id()}").classes("text-caption")

        node_change = self._node_change(node_id)
        label = Form(on_change=node_change)
        label.widgets["label"] = (
            ui.input("Label", value=node.label, on_change=lambda e: node_change(("label",), e.value or "", False))
            .classes("w-full")
            .props('data-field="label"')
            .mark("field-label")
            .without_auto_validation()
        )
        self.forms.append(label)
        if node_type is None:
            ui.label("Choose a known node type: this node cannot be edited until then.").classes("text-negative")
            return

        def param_change(path: Path, value: Any, structural: bool) -> None:
            before = self._output_names(node_id)
            self.session.set_param(node_id, path, value)
            if structural:
                self.refresh(rebuild=True)
                return
            self.refresh(rebuild=False)
            # Outputs can depend on parameters (declared outputs): redraw only their section, not the field typed in.
            if self.node_id == node_id and self._output_names(node_id) != before:
                self._draw_outputs(node_id)

        notebook = node.params.get("notebook")
        if node.type == "notebook" and isinstance(notebook, str) and notebook and self.on_view_notebook:
            viewer = self.on_view_notebook
            ui.button("View notebook", icon="menu_book", on_click=lambda: viewer(notebook)).props("flat").mark(
                "view-notebook"
            )

        self.browser.buttons(node_id, node.type)  # browse hook: "Browse Feast" / "Browse MLflow"

        params = Form(
            on_change=param_change,
            placeholders=node_placeholders(pipeline),
            open_sections=self._sections(),
            keep_invalid=True,  # parameters are stored as typed; validation marks what is wrong
            **self._lazy(lambda: self._node_data(node_id, "params")),
        )
        params.render(_params_spec(node_type), node.params)
        self.forms.append(params)

        self.outputs_box = ui.column().classes("w-full gap-2")
        self._draw_outputs(node_id)
        with self._section("Runs with access", "access"):
            default = pipeline.settings.default_access.describe()
            ui.label(f"Unset: the pipeline default ({default})").classes("text-caption")
            data = lambda: self._node_data(node_id, "access")  # noqa: E731
            form = Form(on_change=node_change, prefix=("access",), open_sections=self._sections(), **self._lazy(data))
            form.render(_ACCESS_FIELDS, data())
            self.forms.append(form)

    def _location_preview(self, node_id: str, port: str) -> None:
        """Where the output lands with example run values; bound to the document, so it follows each keystroke."""
        label = ui.label().classes("text-caption text-positive break-all")
        label.props(f'data-dagsmith="location-preview" data-port="{port}"')
        label.bind_text_from(self.session, "pipeline", backward=lambda pipeline: preview(pipeline, node_id, port))

    def _node_change(self, node_id: str) -> OnChange:
        """Edits of the node's own fields (label, outputs, access): drawn again only for added or removed items."""

        def change(path: Path, value: Any, structural: bool) -> None:
            self._notify(self.session.set_node_field(node_id, path, value))
            self.refresh(rebuild=structural)

        return change

    def _lazy(self, data: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
        """A form's ``data`` and ``on_built``: a section opened later is built from the document as it is then,
        and its fields are disabled on a read-only page."""
        return {"data": data, "on_built": disable_fields if self.read_only else None}

    def _settings_data(self) -> dict[str, Any]:
        return self.session.pipeline.settings.model_dump(mode="json")

    def _node_data(self, node_id: str, part: str, port: str = "") -> Mapping[str, Any]:
        """The node's parameters, access or one output's settings as the forms hold them ({}: none)."""
        node = self.session.pipeline.node(node_id)
        if node is None:
            return {}
        if part == "params":
            return node.params
        settings = node.access if part == "access" else node.outputs.get(port)
        return settings.model_dump(mode="json") if settings is not None else {}

    def _sections(self) -> set[str]:
        return self.open_sections.setdefault(self.node_id, set())

    def _section(self, text: str, key: str) -> ui.expansion:
        """One of the inspector's own sections, open if it was open before."""
        sections = self._sections()
        expansion = ui.expansion(text, value=f"§{key}" in sections).classes("w-full")
        expansion.on_value_change(lambda e: (sections.add if e.value else sections.discard)(f"§{key}"))
        return expansion

    def _output_names(self, node_id: str) -> list[str]:
        node = self.session.pipeline.node(node_id)
        node_type = CATALOG.get(node.type) if node else None
        if node is None or node_type is None:
            return []
        return [port.name for port in node_type.ports(node.params)[1]]

    def _draw_outputs(self, node_id: str) -> None:
        """The outputs' storage, naming and access: a form per output port (drawn again when they change)."""
        pipeline = self.session.pipeline
        node = pipeline.node(node_id)
        node_type = CATALOG.get(node.type) if node else None
        if self.outputs_box is None or node is None or node_type is None:
            return
        self.forms = [form for form in self.forms if form.prefix[:1] != ("outputs",)]
        self.outputs_box.clear()
        _, outputs = node_type.ports(node.params)
        if not outputs:
            return
        with self.outputs_box, self._section("Outputs: storage, naming and access", "outputs").mark("outputs"):
            for port in outputs:
                ui.label(f"{port.name} ({port.type.value})").classes("text-bold")
                data = lambda name=port.name: self._node_data(node_id, "outputs", name)  # noqa: E731
                form = Form(
                    on_change=self._node_change(node_id),
                    prefix=("outputs", port.name),
                    placeholders=output_placeholders(pipeline),
                    open_sections=self._sections(),
                    **self._lazy(data),
                )
                form.render(_NODE_FIELDS, data())
                self.forms.append(form)
                if port.type not in VALUE_PORT_TYPES:
                    self._location_preview(node_id, port.name)
        if self.read_only:
            disable_fields(self.outputs_box)
        self.show_errors()
