"""A form's inline errors touch an element only when its error state changed (issue 11, "Speed"): every
element update re-sends all its props to the browser, once per keystroke on each field of the form."""

from __future__ import annotations

from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.forms import model_spec
from dagsmith.editor.forms.widgets import Form
from dagsmith.nodes import PodSettings


async def test_showing_the_same_errors_again_updates_no_element(user: User) -> None:
    holder: dict[str, Form] = {}

    @ui.page("/")
    def page() -> None:
        form = Form(on_change=lambda *_: None)
        form.render(model_spec(PodSettings), {})
        holder["form"] = form

    await user.open("/")
    form = holder["form"]
    section = next(key for key, w in form.widgets.items() if isinstance(w, ui.expansion))
    field = next(key for key, w in form.widgets.items() if isinstance(w, ui.input))
    errors = {section: "the section is wrong", field: "the field is wrong"}
    form.show_errors(errors)
    assert form.widgets[section].props["error-message"] == "the section is wrong"
    updated: list[str] = []
    for key, widget in form.widgets.items():
        widget.update = lambda k=key: updated.append(k)  # type: ignore[method-assign]
    form.show_errors(dict(errors))  # a keystroke elsewhere: nothing changed here
    assert updated == []
    form.show_errors({})  # now both errors go
    assert set(updated) == {section, field}
    updated.clear()
    form.show_errors({})
    assert updated == []
    assert "error" not in form.widgets[section].props
