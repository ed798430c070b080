"""The generated forms and the inspector through NiceGUI's simulated user: nothing typed is lost or redrawn away."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from dagsmith.editor.forms import model_spec
from dagsmith.editor.forms.widgets import Form, Path, row_problems
from dagsmith.editor.pages.inspector import Inspector
from dagsmith.editor.session import EditorSession
from dagsmith.nodes import Node, Pipeline, PodSettings


def test_row_problems_name_repeated_and_missing_keys() -> None:
    rows = [["gpu", "a100"], ["zone", "eu"], ["gpu", "h100"], ["", "orphan"], ["", ""]]
    problems = row_problems(rows)
    assert set(problems) == {0, 2, 3}  # the empty new row is not a problem
    assert "'gpu' is used by 2 rows" in problems[0] and problems[0] == problems[2]
    assert "enter a key for the value 'orphan'" in problems[3]


async def open_inspector(user: User, pipeline: Pipeline) -> Inspector:
    holder: dict[str, Inspector] = {}

    @ui.page("/")
    def page() -> None:
        holder["inspector"] = Inspector(EditorSession(pipeline))

    await user.open("/")
    return holder["inspector"]


def widget(inspector: Inspector, field: str) -> Any:
    for form in inspector.forms:
        found = form.widget(field)
        if found is not None:
            return found
    raise AssertionError(f"no widget for {field}")


def script_pipeline() -> Pipeline:
    return Pipeline(nodes=[Node(id="train", type="script", label="Train", params={"script": "train.py"})])


async def test_typing_into_an_output_or_choosing_access_redraws_nothing(user: User) -> None:
    inspector = await open_inspector(user, script_pipeline())
    inspector.select("train")
    path = widget(inspector, "outputs.output.path")
    level = widget(inspector, "outputs.output.access.level")
    user.find(marker="field-outputs.output.path").type("models/x")
    level.set_value("groups")
    node = inspector.session.pipeline.node("train")
    assert node is not None and node.outputs["output"].path == "models/x"
    assert node.outputs["output"].access is not None and node.outputs["output"].access.level == "groups"
    assert widget(inspector, "outputs.output.path") is path  # the same element: not drawn again
    assert widget(inspector, "outputs.output.access.level") is level


async def test_open_sections_stay_open_when_items_are_added(user: User) -> None:
    inspector = await open_inspector(user, script_pipeline())
    inspector.select("train")
    widget(inspector, "pod").set_value(True)  # the user opens "Pod" and its "Env" list
    widget(inspector, "pod.env").set_value(True)
    params = inspector.forms[1]
    params.on_change(("pod", "env"), [{}], True)  # "add env": a structural change draws the form again
    assert widget(inspector, "pod").value is True
    assert widget(inspector, "pod.env").value is True
    assert widget(inspector, "pod.env.0.name") is not None


async def test_declared_outputs_redraw_only_the_outputs_section(user: User) -> None:
    inspector = await open_inspector(user, script_pipeline())
    inspector.select("train")
    script = widget(inspector, "script")
    inspector.forms[1].on_change(("outputs",), [{"name": "model", "type": "model"}], False)
    assert widget(inspector, "script") is script  # the parameters form is kept
    assert widget(inspector, "outputs.model.path") is not None  # the new output's storage form


def keyvalue_form(keep_invalid: bool) -> tuple[Form, list[tuple[Path, Any]]]:
    sent: list[tuple[Path, Any]] = []
    form = Form(on_change=lambda path, value, _: sent.append((path, value)), keep_invalid=keep_invalid)
    node_selector = next(spec for spec in model_spec(PodSettings) if spec.name == "node_selector")
    form.render_field(node_selector, {"gpu": "a100"}, ("node_selector",))
    return form, sent


@pytest.mark.parametrize("keep_invalid", [False, True])
async def test_repeated_key_is_marked_and_never_sent_as_a_mapping(user: User, keep_invalid: bool) -> None:
    holder: dict[str, tuple[Form, list[tuple[Path, Any]]]] = {}

    @ui.page("/")
    def page() -> None:
        holder["form"] = keyvalue_form(keep_invalid)

    await user.open("/")
    form, sent = holder["form"]
    user.find(kind=ui.button, content="add").click()
    inputs = [e for e in form.widgets["node_selector"].descendants() if isinstance(e, ui.input)]
    inputs[2].set_value("gpu")  # the new row repeats the key
    inputs[3].set_value("h100")
    assert [i.value for i in inputs] == ["gpu", "a100", "gpu", "h100"]  # both rows as typed
    assert "used by 2 rows" in (inputs[2].error or "")
    assert all(not isinstance(value, dict) for _, value in sent)  # no mapping that drops a row
    if keep_invalid:  # node parameters: the rows are stored as typed, so a reload shows them
        assert sent[-1] == (("node_selector",), [["gpu", "a100"], ["gpu", "h100"]])
    inputs[2].set_value("zone")
    assert sent[-1] == (("node_selector",), {"gpu": "a100", "zone": "h100"})
    assert not inputs[2].error


async def test_invalid_json_is_kept_for_a_dictionary_parameter(user: User) -> None:
    pipeline = Pipeline(nodes=[Node(id="nb", type="notebook", params={"notebook": "a.ipynb", "parameters": "{1"})])
    inspector = await open_inspector(user, pipeline)
    inspector.select("nb")
    field = widget(inspector, "parameters")
    assert field.value == "{1"  # kept as typed, shown again after a reload
    assert "not valid JSON" in field.error and '{"alpha": 0.5, "epochs": 10}' in field.error
    user.find(marker="field-parameters").clear().type('{"alpha": 1')
    node = inspector.session.pipeline.node("nb")
    assert node is not None and node.params["parameters"] == '{"alpha": 1'
    field.set_value('{"alpha": 1}')
    assert node.params["parameters"] == {"alpha": 1}
    assert not field.error


async def test_a_closed_section_is_built_when_opened_from_the_document_as_it_is_then(user: User) -> None:
    inspector = await open_inspector(user, script_pipeline())
    inspector.select("train")
    params = inspector.forms[1]
    assert "pod.image" not in params.widgets  # the closed "Pod" section's fields are not built at selection
    inspector.session.set_param("train", ("pod", "image"), "registry.example.com/train:2")  # not through its field
    inspector.session.set_param("train", ("pod", "shm_size"), "8 gigs")
    inspector.refresh(rebuild=False)
    params.widgets["pod"].set_value(True)  # the user opens "Pod"
    assert params.widgets["pod.image"].value == "registry.example.com/train:2"
    assert "not a Kubernetes quantity" in params.widgets["pod.shm_size"].props["error-message"]
    assert "pod.resources.gpu" not in params.widgets  # a section inside it stays unbuilt until opened too
    user.find(marker="field-pod.image").clear().type("registry.example.com/train:3")
    node = inspector.session.pipeline.node("train")
    assert node is not None and node.params["pod"]["image"] == "registry.example.com/train:3"


async def test_focusing_a_field_of_a_closed_section_builds_it(user: User) -> None:
    inspector = await open_inspector(user, script_pipeline())
    inspector.select("train")
    gpu = widget(inspector, "pod.resources.gpu")  # Form.widget builds the sections around the field
    assert gpu is inspector.forms[1].widgets["pod.resources.gpu"]
    assert inspector.forms[1].widgets["pod"].value is False  # built, not opened
