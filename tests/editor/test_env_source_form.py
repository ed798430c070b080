"""Issue 9, defect 1: in a step's form, where an env var's value comes from is a typed choice, not Jinja."""

from __future__ import annotations

from dagsmith.editor.forms.spec import FieldSpec, model_spec
from dagsmith.nodes import PodSettings


def _env_fields() -> dict[str, FieldSpec]:
    env = next(spec for spec in model_spec(PodSettings) if spec.name == "env")
    assert env.kind == "list"  # one row per variable
    return {child.name: child for child in env.children}


def test_the_source_of_an_env_value_is_a_select_of_value_variable_and_connection() -> None:
    fields = _env_fields()
    assert (fields["source"].kind, fields["source"].options) == ("select", ("value", "variable", "connection"))
    assert fields["source"].default == "value"
    # A Variable and a Connection are entered by name (plain text, validated as a name), never as a template.
    assert fields["variable"].kind == fields["connection"].kind == "text"
    assert fields["connection_field"].kind == "select"
    assert set(fields["connection_field"].options) >= {"host", "login", "password", "port", "uri"}
