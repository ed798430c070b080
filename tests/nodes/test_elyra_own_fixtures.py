"""The Elyra importer over our own hand-written fixture files (tests/nodes/elyra_fixtures), which every clone has.

One file per Elyra pipeline version 3 to 8 (plus a super node file), and malformed files for each refusal and
each kind of entry the importer keeps and reports. The real third-party files are tested in test_elyra.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dagsmith.nodes import Code, Pipeline, Severity, dumps, parse, validate
from dagsmith.nodes.elyra import NOTE_ID, ElyraImportError, import_elyra_file

OWN = Path(__file__).resolve().parent / "elyra_fixtures"
MALFORMED = OWN / "malformed"
BY_VERSION = {
    3: "v3_generic_strings.pipeline",
    4: "v4_airflow_package_operators.pipeline",
    5: "v5_r_gpu_dependencies.pipeline",
    6: "v6_catalog_components.pipeline",
    7: "v7_pipeline_defaults.pipeline",
    8: "v8_kubernetes_settings.pipeline",
}
SUPER = "v8_supernode.pipeline"
DONE = {"name": "done", "type": "any", "description": "Finished (run order only)"}


def load(name: str) -> dict[str, Any]:
    return json.loads((OWN / name).read_text(encoding="utf-8"))


def primary(data: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in data["pipelines"] if p["id"] == data["primary_pipeline"])


def links(data: dict[str, Any]) -> set[tuple[str, str]]:
    """(source, target) of every link of the primary pipeline, read without the importer."""
    return {
        (link["node_id_ref"], node["id"])
        for node in primary(data)["nodes"]
        for port in node.get("inputs", [])
        for link in port.get("links", [])
    }


def by_id(pipeline: Pipeline) -> dict[str, Any]:
    return {node.id: node for node in pipeline.nodes}


def errors(pipeline: Pipeline) -> set[tuple[str | None, Code, str | None]]:
    return {(i.node, i.code, i.field) for i in validate(pipeline) if i.severity is Severity.ERROR}


def note(pipeline: Pipeline) -> dict[str, Any]:
    """The settings kept in the import's canvas note."""
    (kept,) = [c for c in pipeline.comments if c.id == NOTE_ID]
    return json.loads(kept.text.split("\n", 1)[1])


# -- every well-formed file: nothing is lost ------------------------------------------------------------


def test_the_fixtures_cover_every_supported_version() -> None:
    versions = {name: primary(load(name))["app_data"]["version"] for name in [*BY_VERSION.values(), SUPER]}
    assert {v: versions[name] for v, name in BY_VERSION.items()} == {v: v for v in BY_VERSION}
    assert versions[SUPER] == 8


@pytest.mark.parametrize("name", [*BY_VERSION.values(), SUPER])
def test_every_node_link_and_comment_is_kept(name: str) -> None:
    data = load(name)
    pipeline, _ = import_elyra_file(OWN / name)
    flow = primary(data)
    assert [n.id for n in pipeline.nodes] == [n["id"] for n in flow["nodes"]]
    assert {(e.source, e.target) for e in pipeline.edges} == links(data)
    assert len(pipeline.edges) == len(links(data))
    assert all(e.target_port == "upstream" for e in pipeline.edges)
    for edge in pipeline.edges:  # each edge leaves from a port its source declares
        assert edge.source_port in [p["name"] for p in by_id(pipeline)[edge.source].params["outputs"]]
    expected = [
        (c["id"], c["content"], [r["node_ref"] for r in c["associated_id_refs"]])
        for c in flow["app_data"]["ui_data"]["comments"]
    ]
    assert [(c.id, c.text, c.nodes) for c in pipeline.comments if c.id != NOTE_ID] == expected
    assert parse(dumps(pipeline)) == pipeline


# -- one file per version ---------------------------------------------------------------------------------


def test_v3_parameters_in_app_data_and_settings_as_strings() -> None:
    pipeline, report = import_elyra_file(OWN / BY_VERSION[3])
    assert pipeline.settings.name == "sales-report-v3"
    fetch, clean, report_node = pipeline.nodes
    assert (fetch.type, fetch.label, fetch.position.x, fetch.position.y) == ("notebook", "Fetch sales", 80, 120)
    assert fetch.params["notebook"] == "notebooks/fetch_sales.ipynb"
    assert fetch.params["pod"] == {
        "image": "quay.io/acme/notebook-runner:2.1",
        "resources": {"cpu_request": "2", "memory_request": "4G"},
        "env": [{"name": "REGION", "value": "eu-west-1"}, {"name": "START_DATE", "value": "2024-01-01"}],
        "secrets": [{"env_var": "DB_PASSWORD", "secret_name": "warehouse-creds", "key": "password"}],
        "volumes": [{"pvc": "raw-sales", "mount_path": "/mnt/raw", "sub_path": "", "read_only": False}],
    }
    assert clean.type == "script" and clean.params["script"] == "scripts/clean.py"
    assert clean.params["pod"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "etl", "effect": "NoSchedule"}  # the TOL_1= id dropped
    ]
    assert (clean.params["pod"]["labels"], clean.params["pod"]["annotations"]) == (
        {"team": "analytics"},
        {"acme.com/cost-center": "4711"},
    )
    assert report_node.label == "report.ipynb"  # no label: the file name
    # Links leave from the source's first output file, or from a 'done' port added for run order only.
    assert [(e.source, e.source_port, e.target) for e in pipeline.edges] == [
        ("fetch", "sales", "clean"),
        ("clean", "done", "report"),
    ]
    assert clean.params["outputs"] == [DONE]
    assert report.unmapped == ()
    assert validate(pipeline) == []


def test_v4_airflow_package_operators_are_kept_and_reported() -> None:
    pipeline, report = import_elyra_file(OWN / BY_VERSION[4])
    assert pipeline.settings.description == "Two Airflow operators from the package catalog"
    greet, notify = pipeline.nodes
    assert [(n.type, n.label) for n in pipeline.nodes] == [("script", "Say hello"), ("script", "Mail the team")]
    assert greet.unmapped == {
        "op": "bash-operator_BashOperator",
        "component_parameters": {
            "bash_command": "echo hello from $WHO",
            "env": '{"WHO": "airflow"}',
            "xcom_push": False,
        },
        "component_source": "https://raw.githubusercontent.com/apache/airflow/1.10.15/airflow/operators/bash_operator.py",
    }
    assert notify.unmapped is not None and notify.unmapped["component_parameters"]["to"] == "data-team@example.com"
    assert report.unmapped == (
        "node 'Say hello' (op 'bash-operator_BashOperator'): unknown catalog component; "
        "kept as a script node with its parameters under 'unmapped'",
        "node 'Mail the team' (op 'email-operator_EmailOperator'): unknown catalog component; "
        "kept as a script node with its parameters under 'unmapped'",
    )
    assert pipeline.comments[0].nodes == ["greet", "notify"]
    # Validation asks for what the operators never had: a script and an image.
    assert errors(pipeline) == {
        (node, Code.MISSING_PARAMETER, field) for node in ("greet", "notify") for field in ("script", "pod.image")
    }


def test_v5_gpu_resources_dependencies_and_r() -> None:
    pipeline, report = import_elyra_file(OWN / BY_VERSION[5])
    train, plot = pipeline.nodes
    assert train.params["pod"]["resources"] == {
        "cpu_request": "4",
        "cpu_limit": "8",
        "memory_request": "16G",
        "memory_limit": "32G",
        "gpu": 2,
        "gpu_resource": "nvidia.com/gpu",  # the vendor 'nvidia' spelled as Kubernetes does
    }
    assert train.params["pod"]["shm_size"] == "8G"
    assert [p["name"] for p in train.params["outputs"]] == ["model", "metrics"]
    assert train.unmapped == {
        "dependencies": ["train/model.py", "train/configs/*.yaml"],
        "include_subdirectories": True,
    }
    assert (plot.type, plot.params["command"]) == ("script", ["Rscript", "report/plot.r"])
    assert plot.unmapped == {"op": "execute-r-node"}
    assert [line.split(":", 1)[0] for line in report.unmapped] == [
        "node 'Train model'",
        "node 'Train model'",
        "node 'Plot metrics'",
    ]
    assert "add these files to it" in report.unmapped[0] and "the image must have R" in report.unmapped[2]
    assert errors(pipeline) == set()


def test_v6_catalog_components_keep_parameters_and_pod_settings() -> None:
    pipeline, report = import_elyra_file(OWN / BY_VERSION[6])
    nodes = by_id(pipeline)
    call = nodes["call-api"]
    # Elyra applies image, volumes and labels to custom components too: those map; the rest is kept.
    assert call.params == {
        "outputs": [DONE],
        "pod": {
            "image": "apache/airflow:2.8.1",
            "volumes": [{"pvc": "http-cache", "mount_path": "/cache", "sub_path": "", "read_only": False}],
            "labels": {"owner": "ml-platform"},
        },
    }
    assert call.unmapped is not None
    assert call.unmapped["component_parameters"] == {"endpoint": "/score", "method": "POST", "http_conn_id": "scoring"}
    assert json.loads(call.unmapped["component_source"])["catalog_type"] == "url-catalog"
    assert nodes["archive"].unmapped is not None
    assert nodes["archive"].unmapped["op"] == "local-file-catalog:77aa01bc3f21:S3CreateObjectOperator"
    assert [(e.source, e.source_port, e.target) for e in pipeline.edges] == [
        ("prepare", "request", "call-api"),
        ("call-api", "done", "archive"),
    ]
    assert len(report.unmapped) == 2 and all("unknown catalog component" in line for line in report.unmapped)


def test_v7_pipeline_defaults_repeated_labels_and_a_note() -> None:
    pipeline, report = import_elyra_file(OWN / BY_VERSION[7])
    assert pipeline.settings.default_image == "registry.example.com/ml/scorer:3.2"
    assert pipeline.settings.default_resources is not None
    assert pipeline.settings.default_resources.cpu_request == "1"
    a, b, merge = pipeline.nodes
    assert "image" not in a.params["pod"]  # the default image stays a pipeline default
    assert b.params["pod"]["image"] == "python:3.12-slim"
    # The node's own values win; the defaults fill in the rest.
    assert a.params["pod"]["env"] == [
        {"name": "SHARD", "value": "a"},
        {"name": "MODE", "value": "backfill"},
        {"name": "TZ", "value": "UTC"},
    ]
    assert merge.params["pod"] == {
        "env": [{"name": "MODE", "value": "daily"}, {"name": "TZ", "value": "UTC"}],
        "secrets": [{"env_var": "API_KEY", "secret_name": "scoring-api", "key": "key"}],
        "volumes": [{"pvc": "model-store", "mount_path": "/models", "sub_path": "scoring", "read_only": False}],
        "labels": {"team": "ml"},
    }
    assert [n.label for n in pipeline.nodes] == ["score shard", "score shard 2", "Merge scores"]
    assert note(pipeline) == {"pipeline_defaults": {"cos_object_prefix": "scoring/"}}
    assert report.unmapped == (
        f"pipeline defaults: 'cos_object_prefix' has no dagsmith equivalent; kept in the canvas note {NOTE_ID!r}",
        "node 'score shard': renamed to 'score shard 2', as another node's name gives the same Airflow task id "
        "'score_shard'",
    )
    assert pipeline.comments[0].text == "Merges both shards.\nRuns after both finish."
    assert validate(pipeline) == []


def test_v8_kubernetes_settings_as_dicts() -> None:
    pipeline, report = import_elyra_file(OWN / BY_VERSION[8])
    extract, publish = pipeline.nodes
    assert (extract.position.x, extract.position.y) == (40.5, 80.25)
    defaults_toleration = {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"}
    assert extract.params["pod"] == {
        "image": "registry.example.com/ml/features:1.0",
        "shm_size": "2G",
        "env": [{"name": "FEATURE_SET", "value": "v2"}],
        "secrets": [
            {"env_var": "S3_ACCESS_KEY", "secret_name": "s3-creds", "key": "access_key"},
            {"env_var": "S3_SECRET_KEY", "secret_name": "s3-creds", "key": "secret_key"},
        ],
        "volumes": [
            {"pvc": "feature-input", "mount_path": "/data/in", "sub_path": "daily", "read_only": True},
            {"pvc": "scratch-space", "mount_path": "/scratch", "sub_path": "", "read_only": False},
        ],
        "tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "value": "", "effect": "NoSchedule"},
            defaults_toleration,
        ],
        "labels": {"app": "features"},
        "annotations": {"acme.com/owner": "Feature Team"},
    }
    # An env var with no value is never set by Elyra: kept and reported, not invented.
    assert extract.unmapped == {"env_vars": [{"env_var": "UNSET_HERE", "value": ""}]}
    assert publish.params["pod"] == {
        "tolerations": [defaults_toleration],
        "volumes": [{"pvc": "published", "mount_path": "/data/out", "sub_path": "", "read_only": False}],
        "annotations": {"acme.com/owner": "Platform"},
    }
    assert publish.unmapped is not None
    assert publish.unmapped["component_parameters"]["image"] == {
        "widget": "string",
        "value": "registry.example.com/tools/publish:1",
    }
    assert len(report.unmapped) == 2
    assert "UNSET_HERE" in report.unmapped[0] and "KubernetesPodOperator" in report.unmapped[1]
    assert [c.nodes for c in pipeline.comments] == [["extract"], []]


def test_super_node_keeps_its_nested_pipeline_and_unused_pipelines_go_to_the_note() -> None:
    data = load(SUPER)
    pipeline, report = import_elyra_file(OWN / SUPER)
    group = by_id(pipeline)["group"]
    assert (group.type, group.label) == ("script", "Clean-up group")  # the nested pipeline's name
    assert group.unmapped == {"op": "super_node", "subflow": data["pipelines"][1]}
    assert [(e.source, e.source_port, e.target) for e in pipeline.edges] == [
        ("load", "done", "group"),
        ("group", "done", "finish"),
    ]
    assert note(pipeline) == {"pipelines": ["orphan"]}
    assert report.unmapped == (
        "node 'Clean-up group' (op 'super_node'): super node with 2 nested node(s) ['Normalise', 'Deduplicate']; "
        "nested pipelines are not supported, kept as a script node with the nested pipeline under 'unmapped.subflow'",
        f"pipeline: the file holds 1 other pipeline(s) no super node uses; kept in the canvas note {NOTE_ID!r}",
    )


# -- malformed files ---------------------------------------------------------------------------------------


def test_each_malformed_setting_is_kept_and_reported_by_node_and_key() -> None:
    pipeline, report = import_elyra_file(MALFORMED / "bad_settings.pipeline")
    nodes = by_id(pipeline)
    assert nodes["env"].params["pod"]["env"] == [{"name": "GOOD", "value": "1"}]
    assert nodes["env"].unmapped == {"env_vars": ["1BAD=x", {"env_var": "DAGSMITH_RUN", "value": "1"}, 42, "EMPTY="]}
    assert nodes["secrets"].params["pod"]["secrets"] == [
        {"env_var": "OK_TOKEN", "secret_name": "creds", "key": "token"}
    ]
    assert nodes["secrets"].unmapped == {"kubernetes_secrets": ["TOKEN=creds", "TOKEN=Bad_Name:key"]}
    assert nodes["volumes"].params["pod"]["volumes"] == [
        {"pvc": "ok-data", "mount_path": "/ok", "sub_path": "", "read_only": True}  # "true" read as true
    ]
    assert nodes["volumes"].unmapped == {
        "mounted_volumes": ["/data=", {"path": "/ro", "pvc_name": "ro-data", "read_only": "sometimes"}]
    }
    assert nodes["scheduling"].unmapped == {
        "kubernetes_tolerations": ["nonsense", "k:Sometimes:v:NoSchedule"],
        "kubernetes_pod_labels": ["team=not valid!"],
        "kubernetes_pod_annotations": ["bad key=1"],
    }
    assert nodes["scheduling"].params["pod"]["labels"] == {"team": "ml", "tier": "gold"}  # default + its own
    assert nodes["resources"].unmapped == {
        "runtime_image": "Not An Image",
        "kubernetes_shared_mem_size": {"size": "huge"},
        "cpu": "lots",
        "memory": -1,
        "gpu": 1.5,
        "outputs": [7, {"path": "x"}],
        "disable_node_caching": "True",
    }
    assert nodes["resources"].params["outputs"] == [{"name": "ok", "type": "any", "description": "ok.csv"}]
    assert note(pipeline) == {"pipeline_defaults": {"env_vars": ["2BAD=x"]}}
    # One line per rejected entry, each naming the node and the key and saying where the entry went.
    expected_keys = [
        ("pipeline defaults", "env_vars"),
        *[("node 'env'", "env_vars")] * 4,
        *[("node 'secrets'", "kubernetes_secrets")] * 2,
        *[("node 'volumes'", "mounted_volumes")] * 2,
        *[("node 'scheduling'", "kubernetes_tolerations")] * 2,
        ("node 'scheduling'", "kubernetes_pod_labels"),
        ("node 'scheduling'", "kubernetes_pod_annotations"),
        *[
            ("node 'resources'", key)
            for key in ("runtime_image", "kubernetes_shared_mem_size", "cpu", "memory", "gpu", "outputs")
        ],
        ("node 'resources'", "disable_node_caching"),
    ]
    assert [tuple(line.split(": ", 2)[:2]) for line in report.unmapped] == expected_keys
    for line in report.unmapped[1:]:
        key = line.split(": ", 2)[1]
        assert line.endswith(f"; kept under 'unmapped.{key}'")
    reasons = "\n".join(report.unmapped)
    for fragment in (
        "'1BAD' is not a valid environment variable name",
        "'DAGSMITH_RUN' starts with 'DAGSMITH_'",
        "42: expected 'NAME=value'",
        "'EMPTY' has no value",
        "a secret needs an environment variable, a secret name and a key",
        "'Bad_Name' is not a valid Kubernetes name",
        "a volume needs a mount path and a PVC name",
        "read_only 'sometimes' is not true or false",
        "'nonsense': expected 'key:operator:value:effect'",
        "'Exists' or 'Equal'",
        "'not valid!' is not a valid Kubernetes label value",
        "'bad key' is not a valid Kubernetes label key",
        "'Not An Image' is not a container image reference",
        "'huge' is not a number",
        "'lots' is not a number",
        "-1 is not a positive number",
        "1.5 is not a whole number of GPUs",
        "are not file names",
    ):
        assert fragment in reasons
    # The rejected image leaves the notebook without one: the only error, and it names node and field.
    assert errors(pipeline) == {("resources", Code.MISSING_PARAMETER, "pod.image")}


def test_malformed_structure_is_repaired_kept_and_reported() -> None:
    pipeline, report = import_elyra_file(MALFORMED / "bad_structure.pipeline")
    assert [(n.id, n.label) for n in pipeline.nodes] == [
        ("first", "step"),
        ("node-3", "step 2"),  # a repeated id and a repeated label
        ("node-4", "Spark job"),  # no id
        ("model", "A model node"),
        ("lost-group", "Super node"),
    ]
    first, second, spark, model, group = pipeline.nodes
    assert (first.position.x, first.position.y) == (0, 0)  # coordinates that are not numbers
    assert second.unmapped == {"links": [{"id": "to-nowhere", "node_id_ref": "ghost", "port_id_ref": "outPort"}]}
    assert spark.unmapped == {"op": "execute-spark-node", "component_parameters": {"filename": "job.py"}}
    assert model.unmapped == {"op": "model_node"}
    assert group.unmapped == {"op": "super_node", "subflow": {"pipeline_id_ref": "not-in-file"}}
    # A link without an id gets one; links to the repeated id go to the first node that has it.
    assert [(e.id, e.source, e.target) for e in pipeline.edges] == [
        ("link-first-node-3", "first", "node-3"),
        ("l-3", "first", "node-4"),
    ]
    assert [(c.id, c.text, c.nodes) for c in pipeline.comments if c.id != NOTE_ID] == [
        ("comment-2", "attached to first", ["first"]),
        ("c-dup", "one", []),
        ("comment-4", "{'rich': 'text'}", []),
    ]
    assert note(pipeline) == {
        "pipeline_parameters": [{"name": "epochs"}],
        "node_2": "this entry is not a node",
        "comment_1": "not a comment",
    }
    assert report.unmapped == (
        "pipeline: the pipeline property 'pipeline_parameters' has no dagsmith equivalent; "
        f"kept in the canvas note {NOTE_ID!r}",
        f"pipeline: entry 2 of the node list is not a node; kept in the canvas note {NOTE_ID!r}",
        "node 3: its id 'first' is missing or repeated; it is now 'node-3'",
        "node 4: its id None is missing or repeated; it is now 'node-4'",
        "node 'Spark job' (op 'execute-spark-node'): unknown node operation; "
        "kept as a script node with its parameters under 'unmapped'",
        "node 'A model node' (op 'model_node'): node type 'model_node' is not supported; "
        "kept as a script node with its parameters under 'unmapped'",
        "node 'Super node' (op 'super_node'): super node with 0 nested node(s) []; nested pipelines are not "
        "supported, kept as a script node with the nested pipeline under 'unmapped.subflow'",
        "node 'step': a link from the unknown node 'ghost'; kept under 'unmapped.links'",
        f"pipeline: comment 1 is not a comment object; kept in the canvas note {NOTE_ID!r}",
        "node 'step': renamed to 'step 2', as another node's name gives the same Airflow task id 'step'",
    )
    assert parse(dumps(pipeline)) == pipeline


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "syntax_error.pipeline",
            r"syntax_error\.pipeline:4:30: malformed JSON \(line 4, column 30\): Expecting value",
        ),
        ("nan_number.pipeline", "cannot read the file as JSON: NaN is not a JSON number"),
        ("not_utf8.pipeline", "cannot read the file as JSON: 'utf-8' codec can't decode byte 0xe9"),
        ("top_level_list.pipeline", "expected a JSON object at the top, found list"),
        ("dagsmith_file.pipeline", "already a dagsmith pipeline; open it directly"),
        ("not_a_pipeline.pipeline", 'expected "doc_type": "pipeline" and a "pipelines" list'),
        ("no_pipeline.pipeline", "the Elyra file contains no pipeline"),
        ("version_2.pipeline", "version 2 is too old; this importer reads Elyra pipeline versions 3 to 8"),
        ("version_9.pipeline", "version 9 is newer than this importer knows"),
        ("version_text.pipeline", r"no valid Elyra version \(app_data.version is 'eight'\)"),
    ],
)
def test_files_that_are_not_importable_are_refused_with_the_path_and_reason(name: str, message: str) -> None:
    path = MALFORMED / name
    with pytest.raises(ElyraImportError, match=message) as caught:
        import_elyra_file(path)
    assert str(caught.value).startswith(str(path))
    if name == "syntax_error.pipeline":
        assert (caught.value.line, caught.value.column) == (4, 30)
