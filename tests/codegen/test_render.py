"""render(): the public contract, versions, determinism, golden files and formatting."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest
from codegen_support import ruff
from sample_pipelines import mlops_loop, node, pipeline, single

from dagsmith.codegen import TARGETS, ExportError, check_source, content_hash, is_pristine, read_header, render
from dagsmith.nodes import Code, Pipeline, PipelineSettings, validate

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("DAGSMITH_UPDATE_GOLDEN") == "1"


def _literals(text: str) -> list[object]:
    return [node.value for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Constant)]


def test_targets() -> None:
    assert TARGETS == ("airflow3", "airflow2")


def test_unknown_target_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown export target 'airflow4'; use one of airflow3, airflow2"):
        render(single("script"), target="airflow4")


@pytest.mark.parametrize("version", [0, -1, True, 1.5])
def test_version_must_be_a_positive_integer(version: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        render(single("script"), version=version)  # type: ignore[arg-type]


def test_invalid_pipeline_raises_export_error_with_its_issues() -> None:
    broken = pipeline("broken", [node("a", "script", script="", inputs=[])], [])
    with pytest.raises(ExportError, match="set the Python file to run") as caught:
        render(broken)
    assert [issue.code for issue in caught.value.issues] == [Code.MISSING_PARAMETER]
    assert isinstance(caught.value, Exception)


def test_warnings_do_not_block_export() -> None:
    unused = pipeline("warned", [node("a", "script", inputs=[])], [], params=[{"name": "unused", "default": "x"}])
    assert [issue.code for issue in validate(unused)] == [Code.UNUSED_PARAM]
    check_source(render(unused))


@pytest.mark.parametrize("target", [*TARGETS, "local"])
def test_a_pipeline_without_steps_is_refused_with_a_message(target: str) -> None:
    empty = Pipeline(settings=PipelineSettings(name="empty"))
    assert [issue.code for issue in validate(empty)] == [Code.EMPTY_PIPELINE]  # editing it is fine
    with pytest.raises(
        ExportError, match="the pipeline has no steps, so its DAG would run nothing; add a node"
    ) as caught:
        render(empty, target=target)
    assert [(issue.code, issue.field) for issue in caught.value.issues] == [(Code.EMPTY_PIPELINE, "nodes")]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tags": ["x" * 101]}, "at most 100"),
        ({"schedule": "@continuous", "max_active_runs": 3}, "max active runs 1"),
    ],
)
def test_export_refuses_what_airflow_would_refuse(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ExportError, match=message):
        render(pipeline("p", [node("a", "script", inputs=[])], [], **settings))


def test_case_clashing_ports_are_refused() -> None:
    outputs = [{"name": "model", "type": "any"}, {"name": "Model", "type": "any"}]
    with pytest.raises(ExportError, match="differ only in case"):
        render(pipeline("p", [node("a", "script", outputs=outputs, inputs=[])], []))


@pytest.mark.parametrize("target", TARGETS)
def test_same_document_and_version_give_identical_bytes(target: str) -> None:
    assert render(mlops_loop(), version=4, target=target) == render(mlops_loop(), version=4, target=target)


def test_version_and_hash_in_header_doc_and_tags() -> None:
    loop = mlops_loop()
    text = render(loop, version=7)
    header = read_header(text)
    assert header is not None
    assert (header.dag_id, header.version, header.content_hash) == ("keyword_loop", 7, content_hash(loop))
    assert is_pristine(text)
    literals = _literals(text)
    assert "dagsmith-v7" in literals
    doc = next(value for value in literals if isinstance(value, str) and "dagsmith from the pipeline" in value)
    assert doc.startswith("Keyword recommendation: the whole loop.")
    assert "version 7" in doc
    assert content_hash(loop) in doc
    assert render(loop, version=8).count("dagsmith-v8") == 1


def test_dag_id_is_stable_across_versions() -> None:
    first, second = render(mlops_loop(), version=1), render(mlops_loop(), version=2)
    assert 'dag_id="keyword_loop"' in first
    assert 'dag_id="keyword_loop"' in second


@pytest.mark.parametrize("target", TARGETS)
def test_imports_only_airflow_kubernetes_and_stdlib(target: str) -> None:
    tree = ast.parse(render(mlops_loop(), target=target))
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert all(str(m).split(".")[0] in ("__future__", "airflow", "kubernetes", "datetime", "operator") for m in modules)
    assert not any("dagsmith" in str(m) for m in modules)


def test_targets_differ_only_in_imports_and_header() -> None:
    three = render(mlops_loop(), target="airflow3").splitlines()
    two = render(mlops_loop(), target="airflow2").splitlines()

    def rest(lines: list[str]) -> list[str]:
        return [line for line in lines if not line.startswith(("# Generated", "# checksum", "from "))]

    assert rest(three) == rest(two)
    assert "from airflow.sdk import DAG, Param, timezone" in three
    assert "from airflow import DAG" in two


def test_every_output_passes_ruff_defaults(tmp_path: Path, pipelines: dict[str, Pipeline]) -> None:
    for stem, sample in pipelines.items():
        for target in TARGETS:
            (tmp_path / f"{stem}_{target}.py").write_text(render(sample, target=target), encoding="utf-8")
    lint = ruff("check", "--output-format", "concise", ".", cwd=tmp_path)
    assert lint.returncode == 0, lint.stdout
    formatted = ruff("format", "--check", "--diff", ".", cwd=tmp_path)
    assert formatted.returncode == 0, formatted.stdout[:5000]


def test_long_task_ids_stay_formatted(tmp_path: Path) -> None:
    long = "a very long label " * 6
    nodes = [node("one", "script", label=long + "one", inputs=[]), node("two", "model_gate", label=long + "two")]
    nodes.append(node("reg", "register_model", label=long + "three"))
    edges = [
        {"id": "e1", "source": "one", "source_port": "run", "target": "reg", "target_port": "run"},
        {"id": "e2", "source": "reg", "source_port": "model", "target": "two", "target_port": "candidate"},
    ]
    sample = Pipeline.model_validate(
        {"settings": {"name": "x" * 150, "default_image": "img:1"}, "nodes": [n.model_dump() for n in nodes]}
        | {"edges": edges}
    )
    (tmp_path / "long.py").write_text(render(sample), encoding="utf-8")
    assert ruff("format", "--check", "--diff", "long.py", cwd=tmp_path).returncode == 0
    assert ruff("check", "long.py", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("name", "sample", "target"),
    [
        ("loop_airflow3", mlops_loop, "airflow3"),
        ("loop_airflow2", mlops_loop, "airflow2"),
        ("script_airflow3", lambda: single("script"), "airflow3"),
    ],
)
def test_golden_files(name: str, sample: object, target: str) -> None:
    """The output is pinned; regenerate with DAGSMITH_UPDATE_GOLDEN=1 after an intended change."""
    assert callable(sample)
    text = render(sample(), version=3, target=target)
    path = GOLDEN / f"{name}.py"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with DAGSMITH_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; review, then DAGSMITH_UPDATE_GOLDEN=1"


def test_no_secret_values_in_the_file() -> None:
    text = render(mlops_loop())
    assert 'deploy_target="MLFLOW_TRACKING_TOKEN"' in text
    assert re.search(r'secret="mlflow-credentials",\s+key="token"', text)
    assert "dagsmith_mlflow_tracking_uri" in text  # a Variable of that name wins over the settings' URI
    # The only URL in the file is the MLflow server from the settings, which holds no credentials.
    assert set(re.findall(r"https?://[^'\"]*", text)) == {"http://mlflow.ml.svc:5000"}
