"""NiceGUI widgets for form specs: one widget per field, errors shown inline, values sent to a callback.

A ``Form`` renders specs against the current data and calls ``on_change(path, value)`` for every edit;
``show_errors`` updates the inline messages in place, so typing never loses focus.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nicegui import ui
from nicegui.elements.mixins.validation_element import ValidationElement

from .spec import FieldSpec

Path = tuple[str | int, ...]
OnChange = Callable[[Path, Any, bool], None]
"""``on_change(path, value, structural)``: structural when items were added or removed (re-render)."""


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
    ) -> None:
        self.on_change = on_change
        self.placeholders = dict(placeholders or {})
        self.prefix = prefix
        self.widgets: dict[str, ui.element] = {}
        self._local_errors: dict[str, str] = {}

    # -- building ----------------------------------------------------------------------------------
    def render(self, specs: Sequence[FieldSpec], data: Mapping[str, Any], path: Path = ()) -> None:
        """Build widgets for ``specs`` in the current container."""
        for spec in specs:
            self.render_field(spec, data.get(spec.name) if isinstance(data, Mapping) else None, (*path, spec.name))

    def _emit(self, path: Path, value: Any, structural: bool = False) -> None:
        self._local_errors.pop(path_key(path), None)
        self.on_change((*self.prefix, *path), value, structural)

    def _hint(self, spec: FieldSpec, path: Path) -> str:
        placeholder = self.placeholders.get(path_key(path))
        if placeholder:
            return str(placeholder)
        if spec.default not in (None, "", [], {}):
            return str(spec.default)
        return str(spec.examples[0]) if spec.examples else ""

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
                on_change=lambda e, p=path, k=spec.kind: self._emit(p, _number(e.value, k)),
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
            widget = ui.input_chips(
                label,
                value=list(value or []),
                new_value_mode="add",
                on_change=lambda e, p=path: self._emit(p, list(e.value or [])),
            )
        elif spec.kind == "date":
            widget = ui.input(
                label,
                value=str(value or spec.default or ""),
                on_change=lambda e, p=path: self._emit(p, e.value or None),
            ).props("type=date")
        elif spec.kind == "json":
            widget = self._json_field(spec, label, value, path)
        elif spec.kind == "keyvalue":
            self._keyvalue(spec, label, value if isinstance(value, dict) else {}, path)
            return
        elif spec.kind == "section":
            with ui.expansion(spec.label, caption=spec.description).classes("w-full") as widget:
                self.render(spec.children, value if isinstance(value, Mapping) else {}, path)
            self.widgets[key] = widget
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
                on_change=lambda e, p=path, s=spec: self._emit(p, _text(e.value, s)),
            )
        widget.classes("w-full")
        if spec.description:
            widget.tooltip(spec.description)
        widget.props(f"data-field={json.dumps(key)}")
        widget.mark(f"field-{key}")
        if isinstance(widget, ValidationElement):
            widget.without_auto_validation()
        self.widgets[key] = widget

    def _json_field(self, spec: FieldSpec, label: str, value: Any, path: Path) -> ui.element:
        text = "" if value is None else json.dumps(value)

        def changed(event: Any, p: Path = path) -> None:
            raw = (event.value or "").strip()
            if not raw:
                self._emit(p, None)
                return
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                self._local_errors[path_key(p)] = f'not valid JSON ({exc.msg}); e.g. [32, 64] or "text"'
                self.show_errors({})
                return
            self._emit(p, parsed)

        return ui.input(label, value=text, placeholder=self._hint(spec, path), on_change=changed)

    def _keyvalue(self, spec: FieldSpec, label: str, value: dict[str, Any], path: Path) -> None:
        rows = [[k, "" if v is None else str(v)] for k, v in value.items()]
        with ui.column().classes("w-full gap-0") as box:
            ui.label(label).classes("text-caption")

            def commit() -> None:
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

            def draw() -> None:
                box.clear()
                with box:
                    ui.label(label).classes("text-caption")
                    for row in rows:
                        with ui.row().classes("w-full no-wrap items-center"):
                            ui.input("key", value=row[0], on_change=lambda e, r=row: edit(r, 0, e.value))
                            ui.input("value", value=row[1], on_change=lambda e, r=row: edit(r, 1, e.value))
                            ui.button(icon="close", on_click=lambda r=row: remove(r)).props("flat dense round")
                    ui.button("add", icon="add", on_click=add).props("flat dense")

            draw()
        self.widgets[path_key(path)] = box

    def _list(self, spec: FieldSpec, items: list[Any], path: Path) -> None:
        with ui.expansion(f"{spec.label} ({len(items)})", caption=spec.description).classes("w-full") as box:
            for index, item in enumerate(items):
                with ui.card().classes("w-full q-pa-sm"):
                    self.render(spec.children, item if isinstance(item, Mapping) else {}, (*path, index))
                    ui.button(
                        "remove",
                        icon="delete",
                        on_click=lambda i=index: self._emit(path, [x for j, x in enumerate(items) if j != i], True),
                    ).props("flat dense color=negative")
            ui.button(
                f"add {spec.label.lower()}", icon="add", on_click=lambda: self._emit(path, [*items, {}], True)
            ).props("flat dense")
        self.widgets[path_key(path)] = box

    def _map(self, spec: FieldSpec, entries: dict[str, Any], path: Path) -> None:
        with ui.expansion(f"{spec.label} ({len(entries)})", caption=spec.description).classes("w-full") as box:
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
        self.widgets[path_key(path)] = box

    # -- errors --------------------------------------------------------------------------------------
    def show_errors(self, errors: Mapping[str, str]) -> None:
        """Show ``errors`` (field path → message) inline; clear the others."""
        prefix = path_key(self.prefix)
        merged = dict(self._local_errors)
        for field, text in errors.items():
            local = field[len(prefix) + 1 :] if prefix and field.startswith(prefix + ".") else field
            merged.setdefault(local, text)
        for key, widget in self.widgets.items():
            message = merged.get(key) or None
            if isinstance(widget, ValidationElement):
                widget.error = message  # NiceGUI's own error state (auto-validation is off for form widgets)
            elif message:
                widget.props["error"] = True
                widget.props["error-message"] = message
            else:
                widget.props.pop("error", None)
                widget.props.pop("error-message", None)


def _number(value: float | None, kind: str) -> float | int | None:
    """The number as entered: a fraction in a whole-number field stays a fraction, for validation to report.

    (Truncating it with ``int()`` turned 2.7 GPUs into 2 without a word.)
    """
    if value is None:
        return None
    number = float(value)
    return int(number) if kind == "integer" and number.is_integer() else number


def _text(value: str | None, spec: FieldSpec) -> str | None:
    """Empty text removes the value, so the default (or 'is required') applies again."""
    return value or None
