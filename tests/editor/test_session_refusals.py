"""A value a form sends that the document cannot hold is refused in plain language, under its field (issue 11)."""

from __future__ import annotations

from dagsmith.editor.session import EditorSession, Refusal
from dagsmith.nodes import Node, Pipeline


def test_a_refused_setting_is_plain_language_and_shown_under_its_field_until_fixed() -> None:
    session = EditorSession(Pipeline())
    result = session.set_setting(("retries",), 2.5)
    assert isinstance(result, Refusal)
    expected = "2.5 is not a whole number; enter a whole number without decimals, e.g. 3"
    assert result.message == f"retries of the pipeline settings: {expected}"
    assert session.field_errors(None)["settings.retries"] == expected
    assert session.set_setting(("retries",), 3) is None
    assert "settings.retries" not in session.field_errors(None)


def test_a_refused_node_field_names_the_node() -> None:
    session = EditorSession(Pipeline(nodes=[Node(id="train", type="script", label="Train")]))
    result = session.set_node_field("train", ("access", "level"), "sometimes")
    assert isinstance(result, Refusal)
    assert result.message.startswith("access.level of node train: 'sometimes' is not one of the choices")
    assert "input should" not in result.message.lower()
    assert session.field_errors("train")["access.level"].startswith("'sometimes' is not one of the choices")
