"""``{{ params.name }}`` in a node's fields must name a run-time parameter of the pipeline (issue 12 D12)."""

from __future__ import annotations

import pytest
from factories import node, pipeline

from dagsmith.nodes import Code, RuntimeParam, validate
from dagsmith.nodes.param_refs import param_refs, strings_containing


def _undefined(**params: object) -> list[tuple[str | None, str | None, str]]:
    p = pipeline(
        node("a", params={"script": "train.py", **params}),
        params=[RuntimeParam(name="learning_rate", type="number"), RuntimeParam(name="epochs", type="integer")],
    )
    return [(i.node, i.field, i.message) for i in validate(p) if i.code is Code.UNDEFINED_PARAM]


def test_an_undefined_parameter_is_an_error_naming_node_field_and_parameter() -> None:
    [(node_id, field, message)] = _undefined(arguments=["--lr", "{{ params.learning_rte }}"])
    assert (node_id, field) == ("a", "arguments.1")
    assert "'learning_rte'" in message
    assert "Did you mean 'learning_rate'?" in message
    assert "'epochs', 'learning_rate'" in message  # the defined ones, when asked for


def test_nested_fields_are_scanned() -> None:
    found = _undefined(pod={"env": [{"name": "X", "value": "a {{params.nope}} b"}]})
    assert [(n, f) for n, f, _ in found] == [("a", "pod.env.0.value")]


def test_each_reference_is_reported_once_per_field() -> None:
    found = _undefined(arguments=["{{ params.x }}-{{ params.x }}-{{ params.y }}"])
    assert sorted(m.split("'")[1] for _, _, m in found) == ["x", "y"]


def test_defined_parameters_and_text_that_is_not_a_macro_pass() -> None:
    assert (
        _undefined(arguments=["{{ params.learning_rate }}", "{{params.epochs}}", "params.nope", "{{ params['x'] }}"])
        == []
    )


def test_a_pipeline_without_parameters_says_how_to_add_one() -> None:
    p = pipeline(node("a", params={"script": "train.py", "arguments": ["{{ params.nope }}"]}))
    [issue] = [i for i in validate(p) if i.code is Code.UNDEFINED_PARAM]
    assert issue.is_error
    assert "defines no run-time parameters" in issue.message


@pytest.mark.parametrize(
    ("text", "names"),
    [("{{ params.a }}", ["a"]), ("{{params.b_2}}x{{ params.c }}", ["b_2", "c"]), ("{{ ds }}", []), ("{params.a}", [])],
)
def test_param_refs(text: str, names: list[str]) -> None:
    assert param_refs(text) == names


def test_strings_containing_keeps_document_order_and_paths() -> None:
    value = {
        "a": "{{ params.x }}",
        "b": [{"c": "no macro", "d": "params here"}, "params in a list"],
        "params key": {"e": "params last"},
        "f": 3,
    }
    assert strings_containing(value, "params") == [
        ("a", "{{ params.x }}", False),
        ("b.0.d", "params here", False),
        ("b.1", "params in a list", False),
        ("params key.e", "params last", False),
    ]
    with_keys = strings_containing(value, "params", keys=True)
    assert with_keys[3:] == [("", "params key", True), ("params key.e", "params last", False)]
    assert strings_containing("params", "params") == [("", "params", False)]
    assert strings_containing(["x", ["y"]], "params") == []


def test_a_dict_key_is_no_field_that_refers_to_a_parameter() -> None:
    # A key that mentions a parameter marks the parameter used, but it is not a reference to check.
    assert _undefined(pod={"labels": {"{{ params.nope }}": "x"}}) == []
