"""Every built-in node type (types/*.py): ports, a minimal valid node, and each cross-field problem."""

from __future__ import annotations

from typing import Any

import pytest
from factories import KINDS, MINIMAL_PARAMS, valid_pipeline

from dagsmith.nodes import CATALOG, Code, Family, Port, PortType, Severity, compatible, validate
from dagsmith.nodes.ports import accepted_sources
from dagsmith.nodes.types import BUILTIN_TYPES, Notebook, Problem, Script

ANY, DS, FEAT, REG = PortType.ANY, PortType.DATASET, PortType.FEATURES, PortType.REGISTERED_MODEL
# kind: (family, inputs as (name, type, required, multiple), outputs as (name, type))
PORTS: dict[str, tuple[Family, list[tuple[str, PortType, bool, bool]], list[tuple[str, PortType]]]] = {
    "feature_retrieval": (Family.FEATURES, [("entities", DS, False, False)], [("features", FEAT)]),
    "feature_materialize": (Family.FEATURES, [("upstream", ANY, False, True)], [("materialized", PortType.SIGNAL)]),
    "script": (Family.DEVELOP, [("upstream", ANY, False, True)], [("output", ANY)]),
    "notebook": (Family.DEVELOP, [("upstream", ANY, False, True)], [("executed", PortType.NOTEBOOK), ("output", ANY)]),
    "hyperparameter_search": (
        Family.TUNE,
        [("dataset", DS, False, False)],
        [("best_run", PortType.MLFLOW_RUN), ("trials", PortType.METRICS)],
    ),
    "register_model": (Family.TRACK, [("run", PortType.MLFLOW_RUN, True, False)], [("model", REG)]),
    "model_gate": (
        Family.TRACK,
        [("candidate", REG, True, False), ("metrics", PortType.METRICS, False, False)],
        [("approved", REG)],
    ),
    "bentoml_build": (Family.DEPLOY, [("model", REG, True, False)], [("bento", PortType.BENTO)]),
    "bentoml_deploy": (Family.DEPLOY, [("bento", PortType.BENTO, True, False)], [("deployment", PortType.DEPLOYMENT)]),
    "batch_predict": (
        Family.DEPLOY,
        [("model", REG, True, False), ("dataset", DS, True, False)],
        [("predictions", PortType.PREDICTIONS)],
    ),
    "monitor": (
        Family.MONITOR,
        [("model", REG, False, False), ("reference", DS, False, False), ("current", DS, False, False)],
        [("metrics", PortType.METRICS)],
    ),
}


def test_every_builtin_type_is_covered() -> None:
    assert sorted(t.kind for t in BUILTIN_TYPES) == KINDS == sorted(PORTS)
    assert len(KINDS) == 11


@pytest.mark.parametrize("kind", KINDS)
def test_ports_as_declared(kind: str) -> None:
    node_type = CATALOG.get(kind)
    assert node_type is not None
    family, inputs, outputs = PORTS[kind]
    ins, outs = node_type.ports(MINIMAL_PARAMS[kind])
    assert node_type.family is family
    assert [(p.name, p.type, p.required, p.multiple) for p in ins] == inputs
    assert [(p.name, p.type) for p in outs] == outputs
    assert not any(p.required for p in outs)


@pytest.mark.parametrize("kind", KINDS)
def test_minimal_node_passes_validation(kind: str) -> None:
    assert validate(valid_pipeline(kind)) == []


def _with(kind: str, **changes: Any) -> dict[str, Any]:
    params = {**MINIMAL_PARAMS[kind], **changes}
    return {key: value for key, value in params.items() if value is not None}


UNIFORM = {"kind": "uniform", "low": 0.001, "high": 0.1}
# (kind, params, inputs to connect, code, field, message part): one case per problems() branch.
PROBLEMS = [
    ("script", _with("script", script=""), (), Code.MISSING_PARAMETER, "script", "set the Python file to run"),
    ("script", _with("script", command=["make"]), (), Code.INVALID_VALUE, "command", "not both"),
    ("script", _with("script", outputs=[{"name": "upstream"}]), (), Code.INVALID_VALUE, "outputs.0.name", "used twice"),
    (
        "script",
        _with("script", inputs=[{"name": "data", "required": False}], outputs=[{"name": "data"}]),
        (),
        Code.INVALID_VALUE,
        "outputs.0.name",
        "port name 'data' is used twice",
    ),
    ("notebook", _with("notebook", outputs=[{"name": "executed"}]), (), Code.INVALID_VALUE, "outputs.0.name", "twice"),
    (
        "feature_retrieval",
        _with("feature_retrieval", feature_service=None),
        (),
        Code.MISSING_PARAMETER,
        "feature_service",
        "choose a feature service",
    ),
    (
        "feature_retrieval",
        _with("feature_retrieval", features=["user_stats:clicks_7d"]),
        (),
        Code.INVALID_VALUE,
        "features",
        "not both",
    ),
    (
        "feature_retrieval",
        _with("feature_retrieval", feature_service=None, features=["user_stats:clicks_7d", "clicks"]),
        (),
        Code.INVALID_VALUE,
        "features.1",
        "'clicks' is not a feature reference",
    ),
    (
        "feature_retrieval",
        _with("feature_retrieval", feature_service=None, features=["user_stats:clicks_7d\n"]),
        (),
        Code.INVALID_VALUE,
        "features.0",
        "is not a feature reference",
    ),
    (
        "feature_retrieval",
        _with("feature_retrieval", entity_source=None),
        (),
        Code.MISSING_PARAMETER,
        "entity_source",
        "connect an entity dataset",
    ),
    (
        "hyperparameter_search",
        _with("hyperparameter_search", search_space={"lr": {"kind": "choice"}}),
        (),
        Code.MISSING_PARAMETER,
        "search_space.lr.values",
        "give 'lr' at least one value",
    ),
    (
        "hyperparameter_search",
        _with("hyperparameter_search", search_space={"lr": {"kind": "uniform", "low": 0.1}}),
        (),
        Code.MISSING_PARAMETER,
        "search_space.lr.low",
        "a low and a high bound",
    ),
    (
        "hyperparameter_search",
        _with("hyperparameter_search", search_space={"lr": {"kind": "int", "low": 5, "high": 5}}),
        (),
        Code.INVALID_VALUE,
        "search_space.lr.high",
        "must be above its low bound",
    ),
    (
        "hyperparameter_search",
        _with("hyperparameter_search", search_space={"lr": {"kind": "loguniform", "low": 0, "high": 1}}),
        (),
        Code.INVALID_VALUE,
        "search_space.lr.low",
        "positive low bound",
    ),
    (
        "hyperparameter_search",
        _with("hyperparameter_search", algorithm="grid"),
        (),
        Code.INVALID_VALUE,
        "search_space.lr.kind",
        "grid search needs discrete values",
    ),
    (
        "hyperparameter_search",
        _with("hyperparameter_search", max_trials=2, parallelism=3),
        (),
        Code.INVALID_VALUE,
        "parallelism",
        "above the number of trials",
    ),
    (
        "model_gate",
        _with("model_gate", compare_to_champion=False),
        (),
        Code.MISSING_PARAMETER,
        "threshold",
        "set a threshold",
    ),
    (
        "model_gate",
        _with("model_gate", champion_alias="candidate"),
        (),
        Code.INVALID_VALUE,
        "champion_alias",
        "must differ",
    ),
    (
        "bentoml_deploy",
        _with("bentoml_deploy", min_replicas=4, max_replicas=3),
        (),
        Code.INVALID_VALUE,
        "max_replicas",
        "at least min replicas",
    ),
    (
        "monitor",
        _with("monitor", source="drift"),
        ("reference",),
        Code.REQUIRED_INPUT,
        "source",
        "drift needs the 'current' input connected",
    ),
    (
        "monitor",
        _with("monitor", model_name=None),
        (),
        Code.MISSING_PARAMETER,
        "model_name",
        "connect a model",
    ),
]


@pytest.mark.parametrize(
    ("kind", "params", "connect", "expected"), [(k, p, c, (code, f, m)) for k, p, c, code, f, m in PROBLEMS]
)
def test_each_problem_is_reported(
    kind: str, params: dict[str, Any], connect: tuple[str, ...], expected: tuple[Code, str, str]
) -> None:
    code, field, match = expected
    issues = validate(valid_pipeline(kind, params, connect=connect))
    assert [(i.severity, i.code, i.node, i.edge, i.field) for i in issues] == [(Severity.ERROR, code, "n", None, field)]
    assert match in issues[0].message


# The passing side of each problem: the same parameters, set right.
FIXED = [
    ("script", _with("script", script="", command=["make", "train"]), ()),
    ("script", _with("script", inputs=[{"name": "data", "required": False}], outputs=[{"name": "model"}]), ()),
    ("notebook", _with("notebook", outputs=[{"name": "report", "type": "metrics"}]), ()),
    ("feature_retrieval", _with("feature_retrieval", feature_service=None, features=["user_stats:clicks_7d"]), ()),
    ("feature_retrieval", _with("feature_retrieval", entity_source=None), ("entities",)),
    ("hyperparameter_search", _with("hyperparameter_search", search_space={"lr": {"values": [0.1, 0.01]}}), ()),
    (
        "hyperparameter_search",
        _with(
            "hyperparameter_search",
            algorithm="grid",
            search_space={"depth": {"kind": "int", "low": 2, "high": 8}, "act": {"values": ["relu", "gelu"]}},
        ),
        (),
    ),
    (
        "hyperparameter_search",
        _with("hyperparameter_search", search_space={"lr": {**UNIFORM, "kind": "loguniform"}}),
        (),
    ),
    ("hyperparameter_search", _with("hyperparameter_search", max_trials=3, parallelism=3), ()),
    ("model_gate", _with("model_gate", compare_to_champion=False, threshold=0.8), ()),
    ("model_gate", _with("model_gate", candidate_alias="challenger", champion_alias="champion"), ()),
    ("bentoml_deploy", _with("bentoml_deploy", min_replicas=3, max_replicas=3), ()),
    ("monitor", _with("monitor", source="drift"), ("reference", "current")),
    ("monitor", _with("monitor", model_name=None), ("model",)),
]


@pytest.mark.parametrize(("kind", "params", "connect"), FIXED)
def test_problem_fixed_passes(kind: str, params: dict[str, Any], connect: tuple[str, ...]) -> None:
    assert validate(valid_pipeline(kind, params, connect=connect)) == []


def test_drift_reports_each_missing_dataset() -> None:
    issues = validate(valid_pipeline("monitor", _with("monitor", source="drift")))
    assert [(i.code, i.field) for i in issues] == [(Code.REQUIRED_INPUT, "source")] * 2
    assert ["'reference'" in issues[0].message, "'current'" in issues[1].message] == [True, True]


def test_problems_are_yielded_by_the_instance() -> None:
    problems = list(Script(script="a.py", command=["b"]).problems(frozenset()))
    assert problems == [Problem("command", "set either a Python file or a command, not both; clear one of them")]
    assert list(Script(script="a.py").problems(frozenset())) == []


# Field-level checks of each type's own parameters (not cross-field): one bad value each.
FIELD_ERRORS = [
    ("notebook", {"notebook": "train.py"}, "notebook"),
    ("notebook", {"parameters": {"1x": 1}}, "parameters.1x.[key]"),
    ("script", {"outputs": [{"name": "class"}]}, "outputs.0.name"),
    ("script", {"inputs": [{"name": "x", "type": "tensor", "required": False}]}, "inputs.0.type"),
    ("feature_materialize", {"feast_repo": ""}, "feast_repo"),
    ("hyperparameter_search", {"max_trials": 0}, "max_trials"),
    ("hyperparameter_search", {"search_space": {}}, "search_space"),
    ("register_model", {"alias": "1st"}, "alias"),
    ("bentoml_build", {"service": "service"}, "service"),
    ("bentoml_deploy", {"deployment_name": "api.v1"}, "deployment_name"),
    ("bentoml_deploy", {"namespace": "Bad_Name"}, "namespace"),
    ("batch_predict", {"top_k": 0}, "top_k"),
    ("monitor", {"retrain_dag_id": "bad id"}, "retrain_dag_id"),
]


@pytest.mark.parametrize(("kind", "changes", "field"), FIELD_ERRORS)
def test_type_fields_are_checked(kind: str, changes: dict[str, Any], field: str) -> None:
    issues = validate(valid_pipeline(kind, _with(kind, **changes)))
    assert [(i.code, i.node, i.field) for i in issues] == [(Code.INVALID_VALUE, "n", field)]


# -- declared ports of scripts and notebooks ------------------------------------------------------
def test_script_declares_its_own_ports() -> None:
    params = {
        "inputs": [{"name": "train", "type": "dataset"}, {"name": "extra", "required": False}],
        "outputs": [{"name": "model", "type": "model", "required": True}],
    }
    ins, outs = Script.ports(params)
    assert [(p.name, p.type, p.required, p.multiple) for p in ins] == [
        ("upstream", ANY, False, True),
        ("train", DS, True, False),
        ("extra", ANY, False, False),
    ]
    assert [(p.name, p.type, p.required) for p in outs] == [("model", PortType.MODEL, False)]


def test_declared_ports_survive_invalid_entries() -> None:
    params = {"inputs": ["x", {"name": 3}, {"name": "ok", "type": "tensor"}], "outputs": "nope"}
    ins, outs = Script.ports(params)
    assert [(p.name, p.type) for p in ins] == [("upstream", ANY), ("ok", ANY)]
    assert outs == ()


def test_explicit_empty_outputs_means_no_outputs() -> None:
    assert Script.ports({"outputs": []})[1] == ()
    assert [p.name for p in Notebook.ports({"outputs": []})[1]] == ["executed"]


# -- ports.py -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [
        ("features", "dataset", True),
        ("predictions", "dataset", True),
        ("mlflow_run", "model", True),
        ("mlflow_run", "metrics", True),
        ("registered_model", "model", True),
        ("any", "bento", True),
        ("bento", "any", True),
        ("dataset", "features", False),
        ("model", "registered_model", False),
        ("model", "dataset", False),
        ("bento", "deployment", False),
        ("metrics", "mlflow_run", False),
    ],
)
def test_compatible(source: str, target: str, ok: bool) -> None:
    assert compatible(PortType(source), PortType(target)) is ok


@pytest.mark.parametrize("port_type", list(PortType))
def test_every_type_connects_to_itself_and_any(port_type: PortType) -> None:
    assert compatible(port_type, port_type)
    assert compatible(port_type, ANY)
    assert compatible(ANY, port_type)


def test_accepted_sources_lists_subtypes() -> None:
    assert accepted_sources(DS) == ["dataset", "features", "predictions"]
    assert accepted_sources(PortType.MODEL) == ["mlflow_run", "model", "registered_model"]
    assert accepted_sources(PortType.BENTO) == ["bento"]


def test_port_to_dict() -> None:
    assert Port("d", DS, "rows", required=True).to_dict() == {
        "name": "d",
        "type": "dataset",
        "description": "rows",
        "required": True,
        "multiple": False,
    }
