"""NiceGUI widgets for form specs: one widget per field, errors shown inline, values sent to a callback.

A ``Form`` renders specs against the current data and calls ``on_change(path, value)`` for every edit;
``show_errors`` updates the inline messages in place, so typing never loses focus. Which sections are open
lives in a set the caller keeps (``open_sections``), so a form drawn again shows the same sections open.

A closed section's fields are built when it is first opened (or when ``widget`` asks for one of them), from
the data as it is then (``data``): most of a node's fields sit in closed sections, and building them at every
selection was most of the server's work for a click on a node.

Nothing typed is dropped: invalid input is kept and marked. Text still in a list field's input when it
loses focus becomes an item; JSON that does not parse is kept as typed (with ``keep_invalid``: stored as
the text, which validation then reports); key/value rows with a repeated or missing key stay as typed
and are marked, and the mapping is sent only when they are resolved (with ``keep_invalid``: the rows are
stored as ``[key, value]`` pairs meanwhile, which validation reports, so a reload shows them again).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nicegui import ui
from nicegui.elements.mixins.validation_element import ValidationElement
from nicegui.events import ValueChangeEventArguments

from .spec import FieldSpec
from .values import JSON_EXAMPLES, as_number, as_text, json_error, remember, row_problems, rows_of

__all__ = ["Form", "OnChange", "Path", "path_key", "row_problems"]

Path = tuple[str | int, ...]
OnChange = Callable[[Path, Any, bool], None]
"""``on_change(path, value, structural)``: structural when items were added or removed (re-render)."""


FIELD_CSS = """
.q-field--with-bottom { padding-bottom: 0; }
.q-field__bottom--animated { position: static; transform: none; }
"""
"""Quasar places a field's hint/error line in a fixed 20 px strip below it, so a message that wraps ran
over the next field's label. In the flow instead, the strip grows with the message (one line: same height)."""
_STYLED: weakref.WeakSet[Any] = weakref.WeakSet()  # the pages that have FIELD_CSS


def _add_field_css() -> None:
    """Add FIELD_CSS to the current page once."""
    try:
        client = ui.context.client
    except RuntimeError:  # no page (e.g. building specs in a unit test)
        return
    if client not in _STYLED:
        _STYLED.add(client)
        ui.add_css(FIELD_CSS)


def path_key(path: Path) -> str:
    """The dotted field path validation issues use (``pod.resources.gpu``)."""
    return ".".join(str(part) for part in path)


class Form:
    """A generated form bound to a data mapping and a change callback."""

    def __init__(
        self,
        *,
        on_change: OnChange,
        placeholders: Mapping[str, str] | None = None,
        prefix: Path = (),
        open_sections: set[str] | None = None,
        keep_invalid: bool = False,
        data: Callable[[], Mapping[str, Any]] | None = None,
        on_built: Callable[[ui.element], None] | None = None,
    ) -> None:
        _add_field_css()
        self.on_change = on_change
        self.placeholders = dict(placeholders or {})
        """Inherited pipeline defaults by field path ('pipeline default: …'): shown as the placeholder and, while
        the field is empty, as an italic 'inherits …' note under it; other fields show 'e.g. …' or 'default: …'."""
        self.prefix = prefix
        self.open_sections = open_sections if open_sections is not None else set()
        """Keys (``path_key`` with the prefix) of the open sections; shared with the caller across redraws."""
        self.keep_invalid = keep_invalid
        """Whether ``on_change`` accepts values of the wrong shape (node parameters: validation marks them)."""
        self.data = data
        """The form's data as it is now: a closed section is built from it when opened (None: from the data
        ``render`` was given)."""
        self.on_built = on_built
        """Called with a section whose fields were built after the form was drawn (e.g. to disable them)."""
        self.widgets: dict[str, ui.element] = {}
        """The built widgets by field path (without the prefix); the fields of unopened sections are not here."""
        self._unbuilt: dict[str, Callable[[], None]] = {}  # a closed section's builder by its path
        self._local_errors: dict[str, str] = {}
        self._errors: Mapping[str, str] = {}  # the validation errors shown last

    # -- building ----------------------------------------------------------------------------------
    def render(self, specs: Sequence[FieldSpec], data: Mapping[str, Any], path: Path = ()) -> None:
        """Build widgets for ``specs`` in the current container."""
        for spec in specs:
            self.render_field(spec, data.get(spec.name) if isinstance(data, Mapping) else None, (*path, spec.name))

    def _expansion(self, text: str, caption: str, path: Path, value: Any, fill: Callable[[Any], None]) -> ui.expansion:
        """A section that remembers whether it is open (in ``open_sections``) across redraws; ``fill(value)``
        builds its content now if it is open, else when it is first opened (from the data as it is then)."""
        key = path_key((*self.prefix, *path))
        expansion = ui.expansion(text, caption=caption, value=key in self.open_sections).classes("w-full")
        expansion.props(f"data-section={json.dumps(key)}")  # where a field of an unbuilt section will be
        expansion.on_value_change(lambda e: remember(self.open_sections, key, bool(e.value)))
        if expansion.value:
            with expansion:
                fill(value)
            return expansion
        local = path_key(path)

        def build() -> None:
            del self._unbuilt[local]
            with expansion:
                fill(self._current(path, value))
            self.show_errors(self._errors)
            if self.on_built is not None:
                self.on_built(expansion)

        def opened(event: ValueChangeEventArguments[bool]) -> None:
            if event.value and local in self._unbuilt:
                build()

        self._unbuilt[local] = build
        expansion.on_value_change(opened)
        return expansion

    def _current(self, path: Path, drawn: Any) -> Any:
        """The value at ``path`` in the form's data as it is now (``drawn``: the value it was drawn with)."""
        if self.data is None:
            return drawn
        value: Any = self.data()
        for part in path:
            if isinstance(value, Mapping):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
                value = value[part]
            else:
                return None
        return value

    def _emit(self, path: Path, value: Any, structural: bool = False) -> None:
        self._local_errors.pop(path_key(path), None)
        self.on_change((*self.prefix, *path), value, structural)

    def _hint(self, spec: FieldSpec, path: Path) -> str:
        """The placeholder, saying what it is: the pipeline default inherited, the field's default, or an example."""
        placeholder = self.placeholders.get(path_key(path))
        if placeholder:
            return str(placeholder)
        if spec.default not in (None, "", [], {}):
            return f"default: {spec.default}"
        return f"e.g. {spec.examples[0]}" if spec.examples else ""

    def _inherits(self, widget: ui.element, path: Path) -> None:
        """Under an empty field that inherits a pipeline default: 'inherits …', styled unlike an example."""
        inherited = self.placeholders.get(path_key(path))
        if not inherited or widget.props.get("placeholder") != inherited:
            return
        widget.props("bottom-slots")  # Quasar shows a field's hint slot only with it
        with widget.add_slot("hint"):
            note = ui.label(f"inherits the {inherited}").classes("text-italic text-info")
            note.props("data-dagsmith=inherits")
        note.bind_visibility_from(widget, "value", backward=lambda value: value in (None, ""))

    def render_field(self, spec: FieldSpec, value: Any, path: Path) -> None:
        """One field's widget (sections recurse)."""
        label = spec.label + (" *" if spec.required else "")
        key = path_key(path)
        widget: ui.element
        if spec.kind == "switch":
            widget = ui.switch(
                label,
                value=bool(value if value is not None else spec.default),
                on_change=lambda e, p=path: self._emit(p, bool(e.value)),
            )
        elif spec.kind in ("integer", "number"):
            widget = ui.number(
                label,
                value=value,
                placeholder=self._hint(spec, path),
                on_change=lambda e, p=path, k=spec.kind: self._emit(p, as_number(e.value, k)),
            )
        elif spec.kind == "select":
            options = list(spec.options)
            widget = ui.select(
                options,
                label=label,
                value=value if value in options else None,
                clearable=spec.optional or not spec.required,
                on_change=lambda e, p=path: self._emit(p, e.value),
            )
        elif spec.kind == "chips":
            widget = self._chips(label, value, path)
        elif spec.kind == "date":
            widget = ui.input(
                label,
                value=str(value or spec.default or ""),
                on_change=lambda e, p=path: self._emit(p, e.value or None),
            ).props("type=date")
        elif spec.kind == "json":
            widget = self._json_field(spec, label, value, path)
        elif spec.kind == "keyvalue":
            self._keyvalue(label, value, path)
            return
        elif spec.kind == "section":
            self.widgets[key] = self._expansion(
                spec.label,
                spec.description,
                path,
                value,
                lambda v: self.render(spec.children, v if isinstance(v, Mapping) else {}, path),
            )
            return
        elif spec.kind == "list":
            self._list(spec, value if isinstance(value, list) else [], path)
            return
        elif spec.kind == "map":
            self._map(spec, value if isinstance(value, dict) else {}, path)
            return
        else:
            widget = ui.input(
                label,
                value="" if value is None else str(value),
                placeholder=self._hint(spec, path),
                on_change=lambda e, p=path, s=spec: self._emit(p, as_text(e.value, s)),
            )
        widget.classes("w-full")
        if spec.description:
            widget.tooltip(spec.description)
        full = path_key((*self.prefix, *path))  # unique on the page (outputs.model.path, access.level)
        widget.props(f"data-field={json.dumps(full)}")
        widget.mark(f"field-{full}")
        if isinstance(widget, ValidationElement):
            widget.without_auto_validation()
        self._inherits(widget, path)
        self.widgets[key] = widget

    def _chips(self, label: str, value: Any, path: Path) -> ui.input_chips:
        """A list of texts; text still in the input when it loses focus is added, as Enter would."""
        widget = ui.input_chips(
            label,
            value=[str(item) for item in value] if isinstance(value, list) else [],
            new_value_mode="add",
            on_change=lambda e, p=path: self._emit(p, list(e.value or [])),
        )

        def blurred(event: Any) -> None:
            text = str(event.args or "").strip()
            if text:
                widget.value = [*(widget.value or []), text]  # on_change sends it
                widget.run_method("updateInputValue", "", True)

        # Quasar passes the focusout event: its target is the select's text input.
        widget.on("blur", blurred, js_handler="(e) => emit(e?.target?.value ?? '')")
        return widget

    def _json_field(self, spec: FieldSpec, label: str, value: Any, path: Path) -> ui.element:
        key = path_key(path)
        example = JSON_EXAMPLES[spec.shape]
        if spec.shape and isinstance(value, str):  # invalid JSON kept as typed (keep_invalid)
            text = value
            self._local_errors[key] = json_error(value, example)
        else:
            text = "" if value is None else json.dumps(value)

        def changed(event: Any, p: Path = path) -> None:
            raw = (event.value or "").strip()
            if not raw:
                self._emit(p, None)
                return
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError:
                if spec.shape and self.keep_invalid:
                    self._emit(p, event.value)  # kept as typed; marked here and by validation
                self._local_errors[key] = json_error(raw, example)
                self.show_errors(self._errors)
                return
            self._emit(p, parsed)

        return ui.input(label, value=text, placeholder=self._hint(spec, path), on_change=changed)

    def _keyvalue(self, label: str, value: Any, path: Path) -> None:
        """Rows of key and value. A repeated or missing key is marked on its row and nothing is dropped:
        the mapping is sent once every row is valid (meanwhile, with ``keep_invalid``, the rows as pairs)."""
        rows = rows_of(value)
        keys: list[ui.input] = []
        box = ui.column().classes("w-full gap-0")

        def mark() -> dict[int, str]:
            problems = row_problems(rows)
            for index, widget in enumerate(keys):
                widget.error = problems.get(index)
            return problems

        def commit() -> None:
            if mark():
                if self.keep_invalid:
                    self._emit(path, [list(row) for row in rows if row[0] or row[1]])
                return
            self._emit(path, {k: v for k, v in rows if k} or None)

        def edit(row: list[str], column: int, text: str | None) -> None:
            row[column] = text or ""
            commit()

        def remove(row: list[str]) -> None:
            rows.remove(row)
            commit()
            draw()

        def add() -> None:
            rows.append(["", ""])
            draw()
            keys[-1].run_method("focus")

        def draw() -> None:
            box.clear()
            keys.clear()
            with box:
                ui.label(label).classes("text-caption")
                for row in rows:
                    with ui.row().classes("w-full no-wrap items-center"):
                        key = ui.input("key", value=row[0], on_change=lambda e, r=row: edit(r, 0, e.value))
                        keys.append(key.without_auto_validation().props("data-kv=key"))
                        ui.input("value", value=row[1], on_change=lambda e, r=row: edit(r, 1, e.value)).props(
                            "data-kv=value"
                        )
                        ui.button(icon="close", on_click=lambda r=row: remove(r)).props("flat dense round")
                ui.button("add", icon="add", on_click=add).props("flat dense")
            mark()

        draw()
        box.props(f"data-field={json.dumps(path_key((*self.prefix, *path)))}")
        self.widgets[path_key(path)] = box

    def _list(self, spec: FieldSpec, items: list[Any], path: Path) -> None:
        text = f"{spec.label} ({len(items)})"
        box = self._expansion(text, spec.description, path, items, lambda v: self._list_items(spec, v, path))
        self.widgets[path_key(path)] = box

    def _list_items(self, spec: FieldSpec, value: Any, path: Path) -> None:
        items = value if isinstance(value, list) else []
        for index, item in enumerate(items):
            with ui.card().classes("w-full q-pa-sm"):
                self.render(spec.children, item if isinstance(item, Mapping) else {}, (*path, index))
                ui.button(
                    "remove",
                    icon="delete",
                    on_click=lambda i=index: self._emit(path, [x for j, x in enumerate(items) if j != i], True),
                ).props("flat dense color=negative")
        ui.button(f"add {spec.label.lower()}", icon="add", on_click=lambda: self._emit(path, [*items, {}], True)).props(
            "flat dense"
        )

    def _map(self, spec: FieldSpec, entries: dict[str, Any], path: Path) -> None:
        text = f"{spec.label} ({len(entries)})"
        box = self._expansion(text, spec.description, path, entries, lambda v: self._map_entries(spec, v, path))
        self.widgets[path_key(path)] = box

    def _map_entries(self, spec: FieldSpec, value: Any, path: Path) -> None:
        entries = value if isinstance(value, dict) else {}
        for name, item in entries.items():
            with ui.card().classes("w-full q-pa-sm"):
                ui.label(name).classes("text-bold")
                self.render(spec.children, item if isinstance(item, Mapping) else {}, (*path, name))
                ui.button(
                    "remove",
                    icon="delete",
                    on_click=lambda n=name: self._emit(path, {k: v for k, v in entries.items() if k != n}, True),
                ).props("flat dense color=negative")
        with ui.row().classes("items-center"):
            new_name = ui.input("name").props("dense")

            def add() -> None:
                if new_name.value:
                    self._emit(path, {**entries, new_name.value: {}}, True)

            ui.button("add", icon="add", on_click=add).props("flat dense")

    def widget(self, field: str) -> ui.element | None:
        """The widget of ``field``, a dotted path from the form's data root (with the prefix); the fields of
        the closed sections around it are built if they were not yet."""
        prefix = path_key(self.prefix)
        if prefix:
            if not field.startswith(prefix + "."):
                return None
            field = field[len(prefix) + 1 :]
        parts = field.split(".")
        for end in range(1, len(parts)):  # build the closed sections around it (they stay closed)
            build = self._unbuilt.get(".".join(parts[:end]))
            if build is not None:
                build()
        return self.widgets.get(field)

    # -- errors --------------------------------------------------------------------------------------
    def show_errors(self, errors: Mapping[str, str]) -> None:
        """Show ``errors`` (field path → message) inline; clear the others."""
        self._errors = errors
        prefix = path_key(self.prefix)
        merged = dict(self._local_errors)
        for field, text in errors.items():
            local = field[len(prefix) + 1 :] if prefix and field.startswith(prefix + ".") else field
            merged.setdefault(local, text)
        for key, widget in self.widgets.items():
            message = merged.get(key) or None
            # Only a changed error state touches the element: an update re-sends all its props to the browser.
            if isinstance(widget, ValidationElement):
                widget.error = message  # NiceGUI's own error state (auto-validation is off for form widgets)
            elif message:
                if widget.props.get("error") is not True or widget.props.get("error-message") != message:
                    widget.props["error"] = True
                    widget.props["error-message"] = message
            elif "error" in widget.props or "error-message" in widget.props:
                widget.props.pop("error", None)
                widget.props.pop("error-message", None)
