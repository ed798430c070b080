"""The Elyra importer: real fixture files (from ../shared; skipped without it), synthetic files, and refusals.

Our own fixture files, which run in a bare clone, are tested in test_elyra_own_fixtures.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dagsmith.nodes import Code, Pipeline, Severity, dumps, parse, validate
from dagsmith.nodes.elyra import NOTE_ID, ElyraImportError, ImportReport, import_elyra, import_elyra_file

NOTEBOOK = "execute-notebook-node"
PYTHON = "execute-python-node"


HELLO = "hello-generic-world/hello-generic-world.pipeline"
PRODUCER = "producer-consumer/pipelines/producer-consumer.pipeline"
BASH = "bash-operator/aa_bash_operator_example.pipeline"


@pytest.fixture
def fixture(shared_fixture: Callable[[str], Path]) -> Callable[[str], Path]:
    """``fixture(name)``: a real Elyra file from the shared fixtures; the test skips when they are absent."""
    return lambda name: shared_fixture(f"elyra/{name}")


def elyra_links(data: dict[str, Any]) -> set[tuple[str, str]]:
    """(source, target) of every link in an Elyra file, read independently of the importer."""
    return {
        (link["node_id_ref"], node["id"])
        for node in data["pipelines"][0]["nodes"]
        for port in node.get("inputs", [])
        for link in port.get("links", [])
    }


def errors(pipeline: Pipeline) -> list[tuple[Code, str | None]]:
    return [(issue.code, issue.field) for issue in validate(pipeline) if issue.severity is Severity.ERROR]


# -- the real fixture files --------------------------------------------------------------------------


@pytest.mark.parametrize("name", [HELLO, PRODUCER, BASH])
def test_fixture_keeps_every_node_link_and_comment(name: str, fixture: Callable[[str], Path]) -> None:
    path = fixture(name)
    data = json.loads(path.read_text(encoding="utf-8"))
    pipeline, report = import_elyra_file(path)
    elyra_nodes = data["pipelines"][0]["nodes"]
    assert [n.id for n in pipeline.nodes] == [n["id"] for n in elyra_nodes]
    assert {(e.source, e.target) for e in pipeline.edges} == elyra_links(data)
    assert len(pipeline.edges) == len(elyra_links(data))
    assert all(e.target_port == "upstream" for e in pipeline.edges)
    comments = data["pipelines"][0]["app_data"]["ui_data"]["comments"]
    assert [(c.id, c.text, c.nodes) for c in pipeline.comments] == [
        (c["id"], c["content"], [r["node_ref"] for r in c["associated_id_refs"]]) for c in comments
    ]
    assert isinstance(report, ImportReport)
    assert parse(dumps(pipeline)) == pipeline
    assert Pipeline.model_validate(pipeline.model_dump(mode="json")) == pipeline


def test_hello_generic_world(fixture: Callable[[str], Path]) -> None:
    pipeline, report = import_elyra_file(fixture(HELLO))
    assert pipeline.settings.name == "hello-generic-world"
    assert pipeline.settings.description == "A generic pipeline tutorial"
    assert [n.type for n in pipeline.nodes] == ["notebook"] * 4
    assert [n.label for n in pipeline.nodes] == [
        "Load weather data",
        "Part 1 - Data Cleaning.ipynb",  # app_data.label is empty: the canvas label is used
        "Part 2 - Data Analysis.ipynb",
        "Part 3 - Time Series Forecasting.ipynb",
    ]
    load = pipeline.nodes[0]
    assert load.params["notebook"] == "load_data.ipynb"
    assert load.position.x == 106
    assert {n.params["pod"]["image"] for n in pipeline.nodes} == {"docker.io/amancevice/pandas:1.1.1"}
    assert load.params["pod"]["env"] == [
        {
            "name": "DATASET_URL",
            "value": "https://dax-cdn.cdn.appdomain.cloud/dax-noaa-weather-data-jfk-airport/1.1.4/"
            "noaa-weather-data-jfk-airport.tar.gz",
        }
    ]
    assert load.params["outputs"] == [
        {"name": "jfk_weather", "type": "any", "description": "data/noaa-weather-data-jfk-airport/jfk_weather.csv"}
    ]
    assert pipeline.nodes[2].params["outputs"] == []
    assert [(e.source_port) for e in pipeline.edges] == ["jfk_weather", "jfk_weather_cleaned", "jfk_weather_cleaned"]
    assert report.unmapped == ()
    assert validate(pipeline) == []


def test_producer_consumer_reports_what_it_keeps(fixture: Callable[[str], Path]) -> None:
    pipeline, report = import_elyra_file(fixture(PRODUCER))
    by_label = {n.label: n for n in pipeline.nodes}
    assert {label: n.type for label, n in by_label.items()} == {
        "producer.ipynb": "notebook",
        "consumer.ipynb": "notebook",
        "setup.py": "script",
        "create-source-files.py": "script",
        "producer-script.py": "script",
    }
    assert by_label["setup.py"].params["script"] == "../scripts/setup.py"
    assert [p["name"] for p in by_label["producer.ipynb"].params["outputs"]] == ["output_1", "output_2"]
    # An Elyra env var without a value is never set by Elyra: kept and reported, not invented.
    assert "env" not in by_label["producer.ipynb"].params["pod"]
    assert by_label["producer.ipynb"].unmapped == {"env_vars": [{"env_var": "NB_USER", "value": ""}]}
    assert by_label["setup.py"].unmapped == {"dependencies": ["setup.txt"]}
    assert any("'setup.py'" in line and "dependencies" in line for line in report.unmapped)
    assert any("'producer.ipynb'" in line and "NB_USER" in line for line in report.unmapped)
    # setup.py declares no outputs: it gets a 'done' port so that its link to the next node has a source.
    setup_edge = next(e for e in pipeline.edges if e.source == by_label["setup.py"].id)
    assert setup_edge.source_port == "done"
    assert by_label["setup.py"].params["outputs"] == [
        {"name": "done", "type": "any", "description": "Finished (run order only)"}
    ]
    assert errors(pipeline) == []
    assert {i.code for i in validate(pipeline)} == {Code.UNMAPPED}


def test_bash_operator_is_kept_and_reported_by_name(fixture: Callable[[str], Path]) -> None:
    pipeline, report = import_elyra_file(fixture(BASH))
    assert pipeline.settings.name == "aa_bash_operator_example"
    (node,) = pipeline.nodes
    assert (node.type, node.label) == ("script", "Bash Operator")
    assert node.unmapped is not None
    assert node.unmapped["op"] == "bash-operator_BashOperator"
    assert node.unmapped["component_parameters"]["bash_command"] == "cat /etc/hosts && echo $TEST_ENV"
    assert node.unmapped["component_source"].endswith("bash_operator.py")
    assert node.params == {"outputs": []}
    (line,) = report.unmapped
    assert "'Bash Operator'" in line and "bash-operator_BashOperator" in line and "unmapped" in line
    assert pipeline.comments[0].nodes == [node.id]
    # The file names no image or script; nothing else is wrong with the result.
    assert sorted(errors(pipeline), key=str) == [
        (Code.MISSING_PARAMETER, "pod.image"),
        (Code.MISSING_PARAMETER, "script"),
    ]


def test_file_stem_names_a_pipeline_without_a_name(tmp_path: Path) -> None:
    own = Path(__file__).resolve().parent / "elyra_fixtures" / "v3_generic_strings.pipeline"
    data = json.loads(own.read_text(encoding="utf-8"))
    del data["pipelines"][0]["app_data"]["properties"]["name"]
    path = tmp_path / "weather.pipeline"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert import_elyra_file(path)[0].settings.name == "weather"
    assert import_elyra(data)[0].settings.name == "imported"


# -- synthetic files of each version -------------------------------------------------------------------


def generic(
    node_id: str,
    params: dict[str, Any],
    *,
    version: int,
    op: str = PYTHON,
    links: tuple[str, ...] = (),
    label: str = "",
) -> dict[str, Any]:
    """An Elyra generic node; before version 4 its parameters sit directly in app_data."""
    ui = {"label": label or node_id, "x_pos": 10, "y_pos": 20}
    app = {**params, "ui_data": ui} if version < 4 else {"label": label, "component_parameters": params, "ui_data": ui}
    return {
        "id": node_id,
        "type": "execution_node",
        "op": op,
        "app_data": app,
        "inputs": [
            {
                "id": "inPort",
                "links": [{"id": f"l-{s}-{node_id}", "node_id_ref": s, "port_id_ref": "outPort"} for s in links],
            }
        ],
        "outputs": [{"id": "outPort"}],
    }


def document(
    version: int, *nodes: dict[str, Any], properties: dict[str, Any] | None = None, comments: list[Any] | None = None
) -> dict[str, Any]:
    """An Elyra file around these nodes."""
    return {
        "doc_type": "pipeline",
        "version": "3.0",
        "id": "doc",
        "primary_pipeline": "main",
        "pipelines": [
            {
                "id": "main",
                "nodes": list(nodes),
                "app_data": {
                    "version": version,
                    "properties": {"name": "synthetic", **(properties or {})},
                    "ui_data": {"comments": comments or []},
                },
            }
        ],
        "schemas": [],
    }


OLD_FORMS = {
    "env_vars": ["BATCH=32", "URL=http://x/?a=b"],
    "kubernetes_secrets": ["TOKEN=mlflow-creds:token"],
    "mounted_volumes": ["/data=training-data", "models=model-store:team/a"],
    "kubernetes_tolerations": ["TOL_1=nvidia.com/gpu:Exists::NoSchedule", "dedicated:Equal:ml:NoExecute"],
    "kubernetes_pod_labels": ["team=ml"],
    "kubernetes_pod_annotations": ["example.com/owner=Jane Doe"],
}
NEW_FORMS = {
    "env_vars": [{"env_var": "BATCH", "value": "32"}, {"env_var": "URL", "value": "http://x/?a=b"}],
    "kubernetes_secrets": [{"env_var": "TOKEN", "name": "mlflow-creds", "key": "token"}],
    "mounted_volumes": [
        {"path": "/data", "pvc_name": "training-data", "sub_path": "", "read_only": False},
        {"path": "models", "pvc_name": "model-store", "sub_path": "team/a", "read_only": False},
    ],
    "kubernetes_tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists", "value": "", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"},
    ],
    "kubernetes_pod_labels": [{"key": "team", "value": "ml"}],
    "kubernetes_pod_annotations": [{"key": "example.com/owner", "value": "Jane Doe"}],
}
EXPECTED_POD = {
    "env": [{"name": "BATCH", "value": "32"}, {"name": "URL", "value": "http://x/?a=b"}],
    "secrets": [{"env_var": "TOKEN", "secret_name": "mlflow-creds", "key": "token"}],
    "volumes": [
        {"pvc": "training-data", "mount_path": "/data", "sub_path": "", "read_only": False},
        {"pvc": "model-store", "mount_path": "/models", "sub_path": "team/a", "read_only": False},
    ],
    "tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists", "value": "", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"},
    ],
    "labels": {"team": "ml"},
    "annotations": {"example.com/owner": "Jane Doe"},
}


@pytest.mark.parametrize("version", [3, 5, 8])
@pytest.mark.parametrize("forms", [OLD_FORMS, NEW_FORMS], ids=["strings", "dicts"])
def test_kubernetes_settings_in_both_forms(version: int, forms: dict[str, Any]) -> None:
    params = {"filename": "train.py", "runtime_image": "python:3.11", **forms}
    pipeline, report = import_elyra(document(version, generic("a", params, version=version)))
    (node,) = pipeline.nodes
    assert node.params == {"script": "train.py", "outputs": [], "pod": {"image": "python:3.11", **EXPECTED_POD}}
    assert report.unmapped == ()
    assert node.unmapped is None
    # Valid; only the GPU toleration on a pod without GPUs is worth a look.
    assert [(i.severity, i.code, i.field) for i in validate(pipeline)] == [
        (Severity.WARNING, Code.GPU_SCHEDULING, "pod.tolerations.0")
    ]


@pytest.mark.parametrize("version", [3, 6, 8])
@pytest.mark.parametrize(
    ("params", "resources"),
    [
        (
            {"cpu": 2, "cpu_limit": 4, "memory": 8, "memory_limit": 16},
            {"cpu_request": "2", "cpu_limit": "4", "memory_request": "8G", "memory_limit": "16G"},
        ),
        ({"cpu": "0.5", "memory": 0.5}, {"cpu_request": "0.5", "memory_request": "0.5G"}),
        ({"gpu": 1}, {"gpu": 1, "gpu_resource": "nvidia.com/gpu"}),
        ({"gpu": 2, "gpu_vendor": "amd.com/gpu"}, {"gpu": 2, "gpu_resource": "amd.com/gpu"}),
        ({"gpu": "1", "gpu_vendor": "nvidia"}, {"gpu": 1, "gpu_resource": "nvidia.com/gpu"}),
        ({"cpu": 0, "gpu": 0, "memory": ""}, None),  # Elyra treats 0 and empty as unset
    ],
)
def test_resources_and_gpus(version: int, params: dict[str, Any], resources: dict[str, Any] | None) -> None:
    node_json = generic("a", {"filename": "nb.ipynb", **params}, version=version, op=NOTEBOOK)
    pipeline, report = import_elyra(
        document(version, node_json, properties={"pipeline_defaults": {"runtime_image": "python:3.11"}})
    )
    (node,) = pipeline.nodes
    assert node.type == "notebook"
    assert node.params.get("pod") == ({"resources": resources} if resources else None)
    assert report.unmapped == ()
    assert validate(pipeline) == []


def test_shared_memory_size() -> None:
    for raw, expected in (({"size": 2, "units": "G"}, "2G"), ({"size": 0}, None), (4, "4G")):
        params = {"filename": "a.py", "kubernetes_shared_mem_size": raw}
        (node,) = import_elyra(document(8, generic("a", params, version=8)))[0].nodes
        assert (node.params.get("pod") or {}).get("shm_size") == expected


def test_pipeline_defaults_reach_every_generic_node_and_node_values_win() -> None:
    defaults = {
        "runtime_image": "registry.example.com/ml/base:1",
        "env_vars": ["MODE=prod", "LEVEL=info"],
        "kubernetes_pod_labels": [{"key": "team", "value": "ml"}],
        "mounted_volumes": ["/data=shared-data"],
    }
    nodes = [
        generic("a", {"filename": "a.py", "env_vars": ["MODE=dev"]}, version=7),
        generic("b", {"filename": "b.py", "runtime_image": "python:3.12"}, version=7, links=("a",)),
    ]
    pipeline, report = import_elyra(document(7, *nodes, properties={"pipeline_defaults": defaults}))
    assert pipeline.settings.default_image == "registry.example.com/ml/base:1"
    a, b = pipeline.nodes
    assert a.params["pod"] == {  # the default image stays a pipeline default
        "env": [{"name": "MODE", "value": "dev"}, {"name": "LEVEL", "value": "info"}],
        "labels": {"team": "ml"},
        "volumes": [{"pvc": "shared-data", "mount_path": "/data", "sub_path": "", "read_only": False}],
    }
    assert b.params["pod"]["image"] == "python:3.12"
    assert b.params["pod"]["env"] == [{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "info"}]
    assert report.unmapped == ()
    assert validate(pipeline) == []


@pytest.mark.parametrize(
    ("key", "entry", "fragment"),
    [
        ("env_vars", "1BAD=x", "not a valid environment variable name"),
        ("env_vars", {"env_var": "DAGSMITH_X", "value": "1"}, "reserves"),
        ("env_vars", 42, "expected"),
        ("kubernetes_secrets", "TOKEN=creds", "needs"),
        ("kubernetes_secrets", "TOKEN=Bad_Name:key", "not a valid Kubernetes name"),
        ("mounted_volumes", "/data=", "needs"),
        ("kubernetes_tolerations", "nonsense", "expected"),
        ("kubernetes_tolerations", "k:Sometimes:v:NoSchedule", "Exists"),
        ("kubernetes_pod_labels", "team=not valid!", "label value"),
        ("kubernetes_pod_annotations", "bad key=1", "label key"),
    ],
)
def test_malformed_entries_are_kept_under_unmapped_and_reported(key: str, entry: Any, fragment: str) -> None:
    entries = ["GOOD=1", entry] if key == "env_vars" else [entry]
    params = {"filename": "a.py", "runtime_image": "python:3.11", key: entries}
    pipeline, report = import_elyra(document(8, generic("a", params, version=8, label="train")))
    (node,) = pipeline.nodes
    assert node.unmapped == {key: [entry]}
    (line,) = report.unmapped
    assert line.startswith(f"node 'train': {key}:") and fragment in line and f"'unmapped.{key}'" in line
    if key == "env_vars":
        assert node.params["pod"]["env"] == [{"name": "GOOD", "value": "1"}]
    assert errors(pipeline) == []
    assert [i.code for i in validate(pipeline)] == [Code.UNMAPPED]


@pytest.mark.parametrize(
    ("key", "value"), [("cpu", "lots"), ("memory", -1), ("gpu", 1.5), ("gpu", 100), ("runtime_image", "Not An Image")]
)
def test_malformed_scalars_are_kept_under_unmapped(key: str, value: Any) -> None:
    pipeline, report = import_elyra(document(8, generic("a", {"filename": "a.py", key: value}, version=8)))
    (node,) = pipeline.nodes
    assert node.unmapped == {key: value}
    assert len(report.unmapped) == 1 and key in report.unmapped[0]


def test_dependencies_and_unknown_parameters_are_kept() -> None:
    params = {
        "filename": "a.py",
        "dependencies": ["utils.py", "data/*.csv"],
        "include_subdirectories": True,
        "disable_node_caching": "True",
        "outputs": ["model.pkl"],
    }
    pipeline, report = import_elyra(document(8, generic("a", params, version=8, label="train")))
    (node,) = pipeline.nodes
    assert node.unmapped == {
        "dependencies": ["utils.py", "data/*.csv"],
        "include_subdirectories": True,
        "disable_node_caching": "True",
    }
    assert len(report.unmapped) == 3
    assert all(line.startswith("node 'train':") for line in report.unmapped)


def test_output_files_become_unique_port_names() -> None:
    outputs = ["a/model.pkl", "b/model.pkl", "class.py", "1.csv", "*.json", "upstream.txt", ""]
    (node,) = import_elyra(document(8, generic("a", {"filename": "a.py", "outputs": outputs}, version=8)))[0].nodes
    assert node.params["outputs"] == [
        {"name": name, "type": "any", "description": path}
        for name, path in zip(
            ["model", "model_2", "class_file", "n_1", "json", "upstream_file"], outputs[:6], strict=True
        )
    ]


def test_links_use_the_first_output_or_a_done_port() -> None:
    nodes = [
        generic("a", {"filename": "a.py", "outputs": ["x.csv", "y.csv"]}, version=8),
        generic("b", {"filename": "b.py"}, version=8, links=("a",)),
        generic("c", {"filename": "c.py"}, version=8, links=("a", "b")),
    ]
    pipeline, _ = import_elyra(document(8, *nodes))
    assert [(e.id, e.source, e.source_port, e.target) for e in pipeline.edges] == [
        ("l-a-b", "a", "x", "b"),
        ("l-a-c", "a", "x", "c"),
        ("l-b-c", "b", "done", "c"),
    ]
    assert pipeline.node("c").params["outputs"] == []


def test_links_without_ids_get_unique_ids_and_dangling_links_are_kept() -> None:
    target = generic("b", {"filename": "b.py"}, version=8, links=("a", "a", "ghost"))
    for link in target["inputs"][0]["links"]:
        del link["id"]
    pipeline, report = import_elyra(document(8, generic("a", {"filename": "a.py"}, version=8), target))
    assert len({e.id for e in pipeline.edges}) == 2
    assert pipeline.node("b").unmapped == {"links": [{"node_id_ref": "ghost", "port_id_ref": "outPort"}]}
    assert any("ghost" in line for line in report.unmapped)


def test_r_nodes_become_commands_and_are_reported() -> None:
    node_json = generic(
        "r", {"filename": "fit.r", "runtime_image": "r-base:4.3", "cpu": 1}, version=8, op="execute-r-node", label="fit"
    )
    pipeline, report = import_elyra(document(8, node_json))
    (node,) = pipeline.nodes
    assert node.type == "script"
    assert node.params == {
        "command": ["Rscript", "fit.r"],
        "outputs": [],
        "pod": {"image": "r-base:4.3", "resources": {"cpu_request": "1"}},
    }
    assert node.unmapped == {"op": "execute-r-node"}
    (line,) = report.unmapped
    assert line.startswith("node 'fit': op: 'execute-r-node' runs an R script") and "Rscript fit.r" in line


def test_catalog_components_keep_their_parameters_and_links() -> None:
    component = {
        "id": "k",
        "type": "execution_node",
        "op": "local-file-catalog:8371f5970c7b:BashOperator",
        "app_data": {
            "label": "Run a bash command",
            "component_parameters": {
                "bash_command": {"widget": "string", "value": "echo hi"},
                "kubernetes_pod_labels": [{"key": "team", "value": "ml"}],
            },
            "component_source": '{"catalog_type": "local-file-catalog"}',
        },
        "inputs": [{"id": "inPort", "links": [{"id": "l1", "node_id_ref": "a"}]}],
    }
    after = generic("z", {"filename": "z.py"}, version=8, links=("k",))
    pipeline, report = import_elyra(document(8, generic("a", {"filename": "a.py"}, version=8), component, after))
    node = pipeline.node("k")
    assert node is not None and node.type == "script"
    assert node.params == {
        "outputs": [{"name": "done", "type": "any", "description": "Finished (run order only)"}],
        "pod": {"labels": {"team": "ml"}},
    }
    assert node.unmapped == {
        "op": "local-file-catalog:8371f5970c7b:BashOperator",
        "component_parameters": {"bash_command": {"widget": "string", "value": "echo hi"}},
        "component_source": '{"catalog_type": "local-file-catalog"}',
    }
    assert {(e.source, e.target) for e in pipeline.edges} == {("a", "k"), ("k", "z")}
    assert report.unmapped == (
        "node 'Run a bash command' (op 'local-file-catalog:8371f5970c7b:BashOperator'): unknown catalog component; "
        "kept as a script node with its parameters under 'unmapped'",
    )


def test_super_nodes_are_kept_with_their_nested_pipeline() -> None:
    data = document(8, generic("a", {"filename": "a.py"}, version=8))
    data["pipelines"][0]["nodes"].append(
        {
            "id": "s",
            "type": "super_node",
            "subflow_ref": {"pipeline_id_ref": "sub"},
            "app_data": {},
            "inputs": [{"id": "s_in", "links": [{"node_id_ref": "a", "port_id_ref": "outPort"}]}],
        }
    )
    data["pipelines"].append(
        {"id": "sub", "nodes": [generic("inner", {"filename": "i.py"}, version=8)], "app_data": {"name": "nested"}}
    )
    pipeline, report = import_elyra(data)
    node = pipeline.node("s")
    assert node is not None and node.label == "nested" and node.type == "script"
    assert node.unmapped is not None and node.unmapped["subflow"]["id"] == "sub"
    assert [(e.source, e.target) for e in pipeline.edges] == [("a", "s")]
    assert any("super node" in line and "inner" in line for line in report.unmapped)


def test_pipeline_parameters_are_kept_and_reported() -> None:
    # Elyra's pipeline parameters (a Kubeflow Pipelines feature) have no mapping yet: kept, not dropped.
    parameters = [{"name": "epochs", "default_value": {"type": "Integer", "value": 3}, "required": False}]
    node_json = generic("a", {"filename": "a.py", "pipeline_parameters": ["epochs"]}, version=8, label="train")
    pipeline, report = import_elyra(document(8, node_json, properties={"pipeline_parameters": parameters}))
    assert pipeline.settings.params == []
    assert pipeline.nodes[0].unmapped == {"pipeline_parameters": ["epochs"]}
    note = pipeline.comments[-1]
    assert json.loads(note.text.split("\n", 1)[1]) == {"pipeline_parameters": parameters}
    assert report.unmapped == (
        "pipeline: the pipeline property 'pipeline_parameters' has no dagsmith equivalent; "
        f"kept in the canvas note {NOTE_ID!r}",
        "node 'train': pipeline_parameters: ['epochs'] has no dagsmith equivalent; "
        "kept under 'unmapped.pipeline_parameters'",
    )


def test_unknown_pipeline_settings_go_to_a_canvas_note() -> None:
    properties = {"pipeline_defaults": {"cos_object_prefix": "team/a", "env_vars": ["1BAD=x"]}}
    pipeline, report = import_elyra(document(8, generic("a", {"filename": "a.py"}, version=8), properties=properties))
    note = pipeline.comments[-1]
    assert note.id == NOTE_ID
    assert json.loads(note.text.split("\n", 1)[1]) == {
        "pipeline_defaults": {"cos_object_prefix": "team/a", "env_vars": ["1BAD=x"]}
    }
    assert len(report.unmapped) == 2 and all(NOTE_ID in line for line in report.unmapped)
    assert pipeline.nodes[0].params.get("pod") is None


def test_comments_and_positions() -> None:
    comments = [
        {"id": "c1", "x_pos": 5, "y_pos": 6.5, "content": "note", "associated_id_refs": [{"id": "x", "node_ref": "a"}]},
        {"content": "no id", "associated_id_refs": ["a"]},
    ]
    pipeline, _ = import_elyra(document(5, generic("a", {"filename": "a.py"}, version=5), comments=comments))
    assert [(c.id, c.text, c.position.x, c.position.y, c.nodes) for c in pipeline.comments] == [
        ("c1", "note", 5, 6.5, ["a"]),
        ("comment-2", "no id", 0, 0, ["a"]),
    ]
    assert (pipeline.nodes[0].position.x, pipeline.nodes[0].position.y) == (10, 20)


def test_repeated_labels_are_made_distinct_for_airflow() -> None:
    nodes = [generic(i, {"filename": "train.py"}, version=8, label="train") for i in ("a", "b")]
    pipeline, report = import_elyra(document(8, *nodes))
    assert [n.label for n in pipeline.nodes] == ["train", "train 2"]
    assert len(report.unmapped) == 1 and "train 2" in report.unmapped[0]


def test_a_rich_document_round_trips() -> None:
    params = {
        "filename": "a.py",
        "runtime_image": "python:3.11",
        "gpu": 1,
        "outputs": ["m.pkl"],
        "dependencies": ["x"],
        **NEW_FORMS,
    }
    data = document(
        8,
        generic("a", params, version=8),
        generic("b", {"filename": "b.py"}, version=8, links=("a",)),
        properties={"description": "d", "pipeline_defaults": {"cos_object_prefix": "p"}},
        comments=[{"id": "c", "content": "hi", "associated_id_refs": [{"node_ref": "b"}]}],
    )
    original = copy.deepcopy(data)
    pipeline, _ = import_elyra(data)
    assert data == original  # the input is not modified
    assert parse(dumps(pipeline)) == pipeline


# -- refusals ------------------------------------------------------------------------------------------


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.pipeline"
    path.write_text('{\n  "doc_type": "pipeline",\n  "pipelines": [,]\n}', encoding="utf-8")
    with pytest.raises(ElyraImportError, match=r"line 3, column 17") as caught:
        import_elyra_file(path)
    assert (caught.value.line, caught.value.column) == (3, 17)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ElyraImportError, match="cannot read"):
        import_elyra_file(tmp_path / "nope.pipeline")


def _with_version(version: Any) -> dict[str, Any]:
    data = document(8)
    data["pipelines"][0]["app_data"]["version"] = version
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a JSON object"),
        ({"nodes": []}, '"doc_type": "pipeline"'),
        ({"format": "dagsmith.pipeline", "version": 2}, "already a dagsmith pipeline"),
        ({"doc_type": "pipeline", "pipelines": []}, "no pipeline"),
        (_with_version(2), "version 2 is too old"),
        (_with_version(99), "version 99 is newer"),
        (_with_version(None), "no valid Elyra version"),
        (_with_version("seven"), "no valid Elyra version"),
    ],
)
def test_not_an_importable_pipeline(data: Any, message: str) -> None:
    with pytest.raises(ElyraImportError, match=message) as caught:
        import_elyra(data)
    assert "3 to 8" in str(caught.value) or "version" not in message


@pytest.mark.parametrize("version", [3, 4, 5, 6, 7, 8, "8", 8.0])
def test_supported_versions(version: Any) -> None:
    assert import_elyra(_with_version(version))[0].settings.name == "synthetic"


def test_non_standard_json_numbers_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nan.pipeline"
    path.write_text('{"doc_type": "pipeline", "pipelines": [], "x": NaN}', encoding="utf-8")
    with pytest.raises(ElyraImportError, match="NaN is not a JSON number"):
        import_elyra_file(path)


@pytest.mark.parametrize(
    ("filename", "node_type", "params"),
    [
        ("train.py", "script", {"script": "train.py"}),
        ("src/Train.PY", "script", {"script": "src/Train.PY"}),
        ("report.r", "script", {"command": ["Rscript", "report.r"]}),
        ("explore.ipynb", "notebook", {"notebook": "explore.ipynb"}),
    ],
)
def test_the_file_extension_decides_what_a_notebook_node_runs(
    filename: str, node_type: str, params: dict[str, Any]
) -> None:
    """Elyra runs a .py file under execute-notebook-node as a Python script (and .r as R): so does the import."""
    data = document(8, generic("a", {"filename": filename}, version=8, op="execute-notebook-node"))
    pipeline, report = import_elyra(data)
    (node,) = pipeline.nodes
    assert node.type == node_type
    assert {key: node.params[key] for key in params} == params
    changed = [line for line in report.unmapped if "Elyra runs as such under 'execute-notebook-node'" in line]
    assert len(changed) == (0 if node_type == "notebook" else 1)
