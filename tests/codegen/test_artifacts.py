"""Artifact paths and the env contract of a pod."""

from __future__ import annotations

import pytest
from sample_pipelines import mlops_loop, node, pipeline

from dagsmith.codegen.artifacts import Artifacts, contract_env, shared_env, xcom_value
from dagsmith.codegen.builders import split_config
from dagsmith.codegen.errors import ExportError
from dagsmith.codegen.templating import Tmpl
from dagsmith.nodes import CATALOG, Node, OutputSettings

DS = "{{ ds if ds is defined else dag_run.run_after | ds }}"
DS_NODASH = "{{ ds_nodash if ds_nodash is defined else dag_run.run_after | ds_nodash }}"
TS = "{{ ts if ts is defined else dag_run.run_after | ts }}"
TS_NODASH = "{{ ts_nodash if ts_nodash is defined else dag_run.run_after | ts_nodash }}"
RUN_KEY = "{{ run_id | replace(':', '_') | replace('+', '_') | replace('~', '_') }}"
"""How ``{run_id}`` is written in a path (test_cluster_defaults renders it)."""
TS_KEY = (
    "{{ (ts if ts is defined else dag_run.run_after | ts) | "
    + "replace(':', '_') | replace('+', '_') | replace('~', '_') }}"
)
"""How ``{logical_date}`` is written in a path: a safe key, as ``{run_id}`` (issue 10)."""


def test_default_path_uses_pipeline_settings() -> None:
    loop = mlops_loop()
    artifacts = Artifacts.of(loop, 3)
    features = loop.node_map()["features"]
    assert artifacts.output_path(features, "features").final() == (
        "s3://ml-artifacts/keyword_loop/" + DS + "/" + RUN_KEY + "/features/features"
    )


def test_output_settings_and_every_placeholder() -> None:
    subject = node("Prep Step", "script", inputs=[])
    subject.outputs["output"] = OutputSettings(
        path="{pipeline}/{dag_id}/{node}/{task_id}/{version}", naming="{output}-{ds_nodash}-{ts_nodash}-{logical_date}"
    )
    sample = pipeline("My Pipe", [subject], [], artifact_root="/data/root/", dag_id="my.dag")
    path = Artifacts.of(sample, 4).output_path(subject, "output").final()
    assert path == f"/data/root/my_pipe/my.dag/prep_step/prep_step/4/output-{DS_NODASH}-{TS_NODASH}-{TS_KEY}"


def test_empty_folder_template_and_braces_in_user_text() -> None:
    subject = node("a", "script", inputs=[])
    subject.outputs["output"] = OutputSettings(path="", naming="{{literal}}{run_id}")
    sample = pipeline("p", [subject], [], artifact_root="/r{{ conf }}")
    path = Artifacts.of(sample, 1).output_path(subject, "output")
    assert path.final() == "/r{{ '{' }}{ conf }}/{{ '{' }}literal}" + RUN_KEY


def test_contract_env_of_the_gate() -> None:
    loop = mlops_loop()
    artifacts = Artifacts.of(loop, 3)
    gate = loop.node_map()["gate"]
    incoming = [edge for edge in loop.edges if edge.target == "gate"]
    node_type = CATALOG.get("model_gate")
    assert node_type is not None
    env = {name: value.final() for name, value in contract_env(artifacts, gate, node_type, incoming).items()}
    assert env["DAGSMITH_TASK_ID"] == "gate"
    assert env["DAGSMITH_NODE_TYPE"] == "model_gate"
    assert env["DAGSMITH_VALUE_CANDIDATE"] == xcom_value("register", "model").final()
    # registered models are values (XCom): no artifact path in or out
    assert "DAGSMITH_INPUT_CANDIDATE" not in env
    assert not [name for name in env if name.startswith("DAGSMITH_OUTPUT_")]
    assert "DAGSMITH_INPUT_METRICS" not in env
    shared = {name: value.final() for name, value in shared_env(artifacts).items()}
    assert shared == {
        "DAGSMITH_DAG_ID": "keyword_loop",
        "DAGSMITH_PIPELINE_VERSION": "3",
        "DAGSMITH_RUN_ID": "{{ run_id }}",
        "DAGSMITH_LOGICAL_DATE": TS,
        "DAGSMITH_ARTIFACT_ROOT": "s3://ml-artifacts",
        "DAGSMITH_PROJECT": "keyword_loop",
    }


def test_multiple_inputs_are_counted_and_numbered() -> None:
    sources = [node(f"s{i}", "script", inputs=[]) for i in range(2)]
    sink = Node(id="sink", type="script", params={"script": "x.py"})
    edges = [
        {"id": f"e{i}", "source": f"s{i}", "source_port": "run", "target": "sink", "target_port": "upstream"}
        for i in range(2)
    ]
    sample = pipeline("p", [*sources, sink], [])
    sample.edges = [type(sample).model_validate({"edges": [edge]}).edges[0] for edge in edges]
    node_type = CATALOG.get("script")
    assert node_type is not None
    env = contract_env(Artifacts.of(sample, 1), sink, node_type, sample.edges)
    assert env["DAGSMITH_INPUT_UPSTREAM_COUNT"].final() == "2"
    assert env["DAGSMITH_VALUE_UPSTREAM_1"].final() == xcom_value("s1", "run").final()  # mlflow_run: a value
    assert "DAGSMITH_INPUT_UPSTREAM_0" not in env and "DAGSMITH_INPUT_UPSTREAM_1" not in env  # and no path


def test_config_strings_with_macros_move_to_their_own_variables() -> None:
    literal, moved = split_config({"b": "{{ ds }}", "a": ["x", "{{ conf }}", {"c": "at {{ run_id }}"}], "n": 1})
    assert literal == {
        "a": ["x", "{{ conf }}", {"c": {"$dagsmith_env": "DAGSMITH_CONFIG_0"}}],
        "b": {"$dagsmith_env": "DAGSMITH_CONFIG_1"},
        "n": 1,
    }
    assert moved == {"DAGSMITH_CONFIG_0": Tmpl("at {{ run_id }}"), "DAGSMITH_CONFIG_1": Tmpl(DS)}


# -- a resolved path never leaves the artifact root (even for a document that skipped validation) --
@pytest.mark.parametrize(
    ("settings", "output", "field"),
    [
        ({"dag_id": ".."}, OutputSettings(path="{dag_id}"), "outputs.output.path"),
        ({"dag_id": "../../etc"}, OutputSettings(path="keep/{dag_id}/x"), "outputs.output.path"),
        ({}, OutputSettings(path="a/../../b"), "outputs.output.path"),
        ({}, OutputSettings(naming="..\\..\\x"), "outputs.output.naming"),
        ({"path_template": "{run_id}/../../.."}, None, "settings.path_template"),
        ({"naming_format": "../{output}"}, None, "settings.naming_format"),
    ],
)
def test_a_path_that_would_leave_the_artifact_root_is_refused(
    settings: dict[str, str], output: OutputSettings | None, field: str
) -> None:
    subject = node("a", "script", inputs=[])
    if output is not None:
        subject.outputs["output"] = output
    sample = pipeline("p", [subject], [], artifact_root="/data/root", **settings)
    with pytest.raises(ExportError, match="leaves the artifact root '/data/root'") as caught:
        Artifacts.of(sample, 1).output_path(subject, "output")
    [issue] = caught.value.issues
    assert (issue.node, issue.field) == (subject.id, field)


def test_dots_inside_a_segment_stay_under_the_root() -> None:
    subject = node("a", "script", inputs=[])
    subject.outputs["output"] = OutputSettings(path="v1..2/.{dag_id}/.", naming="{output}..x")
    sample = pipeline("p", [subject], [], artifact_root="/data/root", dag_id="d")
    assert Artifacts.of(sample, 1).output_path(subject, "output").final() == "/data/root/v1..2/.d/./output..x"


def test_only_an_output_no_step_reads_is_optional() -> None:
    writer = Node(
        id="w",
        type="script",
        params={"script": "w.py", "outputs": [{"name": "data", "type": "dataset"}, {"name": "log", "type": "dataset"}]},
    )
    reader = Node(id="r", type="script", params={"script": "r.py", "inputs": [{"name": "data", "type": "dataset"}]})
    sample = pipeline("p", [writer, reader], [])
    sample.edges = (
        type(sample)
        .model_validate(
            {"edges": [{"id": "e1", "source": "w", "source_port": "data", "target": "r", "target_port": "data"}]}
        )
        .edges
    )
    node_type = CATALOG.get("script")
    assert node_type is not None
    env = contract_env(Artifacts.of(sample, 1), writer, node_type, [])
    assert "DAGSMITH_OUTPUT_DATA_OPTIONAL" not in env  # the reader needs it: the runtime requires it
    assert env["DAGSMITH_OUTPUT_LOG_OPTIONAL"].final() == "1"  # nothing reads it: stored when written
    assert "DAGSMITH_OUTPUT_DATA" in env and "DAGSMITH_OUTPUT_LOG" in env
