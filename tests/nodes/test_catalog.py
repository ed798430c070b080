"""The node catalog (catalog.py): lookup, suggestions, registration, listing."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
from factories import node, pipeline

from dagsmith.nodes import CATALOG, Catalog, Code, Family, NodeType, PortType, validate
from dagsmith.nodes.types import BUILTIN_TYPES, Script
from dagsmith.nodes.types.base import port

PALETTE = [
    "feature_retrieval",
    "feature_materialize",
    "script",
    "notebook",
    "hyperparameter_search",
    "register_model",
    "model_gate",
    "bentoml_build",
    "bentoml_deploy",
    "batch_predict",
    "monitor",
]


def test_names_in_palette_order() -> None:
    assert CATALOG.names() == PALETTE
    assert [t.kind for t in CATALOG] == PALETTE
    assert list(CATALOG) == list(BUILTIN_TYPES)


def test_palette_follows_the_family_order() -> None:
    order = list(Family)
    positions = [order.index(t.family) for t in CATALOG]
    assert positions == sorted(positions)
    assert {t.family for t in CATALOG} == set(Family)


@pytest.mark.parametrize("kind", PALETTE)
def test_get_and_contains(kind: str) -> None:
    node_type = CATALOG.get(kind)
    assert node_type is not None
    assert node_type.kind == kind
    assert kind in CATALOG
    assert issubclass(node_type, NodeType)


@pytest.mark.parametrize("kind", ["Script", "scirpt", "", "nodes"])
def test_unknown_names_are_not_found(kind: str) -> None:
    assert CATALOG.get(kind) is None
    assert kind not in CATALOG


def test_contains_is_false_for_non_strings() -> None:
    assert Script not in CATALOG
    assert None not in CATALOG


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("scirpt", ["script"]),
        ("SCRIPT", ["script"]),
        ("Notebok", ["notebook"]),
        ("bentoml_deplyo", ["bentoml_deploy", "bentoml_build"]),
        ("register", ["register_model"]),
        ("kafka", []),
    ],
)
def test_suggest(kind: str, expected: list[str]) -> None:
    assert CATALOG.suggest(kind) == expected


def test_registering_a_name_twice_is_a_programmer_error() -> None:
    catalog = Catalog([Script])
    with pytest.raises(ValueError, match="node type 'script' is already registered"):
        catalog.register(Script)
    assert catalog.names() == ["script"]


class _Echo(NodeType):
    """A test-only node type."""

    kind: ClassVar[str] = "echo"
    family: ClassVar[Family] = Family.DEVELOP
    title: ClassVar[str] = "Echo"
    summary: ClassVar[str] = "Prints its message"
    in_ports = (port("text", PortType.DATASET, "What to echo", required=True),)
    out_ports = (port("output", PortType.DATASET, "The same"),)

    message: str


def test_validate_uses_the_given_catalog() -> None:
    catalog = Catalog([Script, _Echo])
    p = pipeline(node("a"), node("b", "echo", {"message": "hi"}), node("c", "notebook", {"notebook": "n.ipynb"}))
    issues = validate(p, catalog=catalog)
    assert [(i.code, i.node) for i in issues] == [(Code.UNKNOWN_NODE_TYPE, "c"), (Code.REQUIRED_INPUT, "b")] + [
        (Code.ISOLATED_NODE, n) for n in "abc"
    ]
    first = validate(p)[0]
    assert (first.code, first.node) == (Code.UNKNOWN_NODE_TYPE, "b")


def test_a_custom_type_is_validated_like_a_builtin() -> None:
    catalog = Catalog([Script, _Echo])
    p = pipeline(node("b", "echo", {"mesage": "hi"}))
    issues = validate(p, catalog=catalog)
    assert [(i.code, i.field, i.suggestions) for i in issues] == [
        (Code.MISSING_PARAMETER, "message", ()),
        (Code.UNKNOWN_PARAMETER, "mesage", ("message",)),
        (Code.REQUIRED_INPUT, None, ()),
    ]


# -- describe -------------------------------------------------------------------------------------
def test_describe_lists_every_type_as_json() -> None:
    entries = CATALOG.describe()
    assert [e["type"] for e in entries] == PALETTE
    json.dumps(entries)


@pytest.mark.parametrize("node_type", BUILTIN_TYPES, ids=lambda t: t.kind)
def test_describe_entry(node_type: type[NodeType]) -> None:
    entry = node_type.describe()
    assert list(entry) == ["type", "family", "title", "summary", "inputs", "outputs", "fields"]
    assert (entry["type"], entry["family"]) == (node_type.kind, node_type.family.value)
    assert entry["title"]
    assert entry["summary"]
    inputs, outputs = node_type.ports({})
    assert entry["inputs"] == [p.to_dict() for p in inputs]
    assert entry["outputs"] == [p.to_dict() for p in outputs]
    assert list(entry["fields"]) == list(node_type.model_fields)
    assert entry["fields"]["pod"]["required"] is False
    for field in entry["fields"].values():
        assert isinstance(field["annotation"], str)
        assert field["annotation"]


def test_describe_marks_required_fields() -> None:
    fields = CATALOG.get("register_model").describe()["fields"]  # type: ignore[union-attr]
    assert fields["model_name"] == {
        "required": True,
        "description": "Registered model name",
        "annotation": fields["model_name"]["annotation"],
    }
    assert fields["alias"]["required"] is False
    required = {
        t.kind: sorted(name for name, f in t.describe()["fields"].items() if f["required"]) for t in BUILTIN_TYPES
    }
    assert required == {
        "feature_retrieval": ["feast_repo"],
        "feature_materialize": ["feast_repo"],
        "script": [],
        "notebook": ["notebook"],
        "hyperparameter_search": ["command", "objective_metric", "search_space"],
        "register_model": ["model_name"],
        "model_gate": ["metric"],
        "bentoml_build": ["bento_name", "image_repository", "service"],
        "bentoml_deploy": ["deployment_name"],
        "batch_predict": ["id_column"],
        "monitor": ["metric", "retrain_dag_id", "threshold"],
    }
