"""The Elyra import warns when the pipeline's output files lived in Elyra's object storage (our own fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagsmith.nodes import PipelineSettings
from dagsmith.nodes.elyra import import_elyra, import_elyra_file
from dagsmith.nodes.elyra_storage import object_storage_warning

FIXTURES = Path(__file__).resolve().parent / "elyra_fixtures"


def test_outputs_in_object_storage_warn_naming_the_nodes_the_prefix_and_the_settings() -> None:
    pipeline, report = import_elyra_file(FIXTURES / "v7_pipeline_defaults.pipeline")
    (line,) = report.warnings
    assert line.startswith("pipeline: Elyra kept the output files of 2 node(s) ('score shard', 'score shard 2')")
    assert "prefix 'scoring/'" in line
    assert f"dagsmith's artifact root is {pipeline.settings.artifact_root!r}, a folder inside each pod" in line
    for setting in ("settings.artifact_root", "settings.artifact_store.endpoint_url", "settings.artifact_store.pvc"):
        assert setting in line
    assert line not in report.unmapped  # a change of meaning, not an unmapped entry


@pytest.mark.parametrize("name", ["v3_generic_strings", "v5_r_gpu_dependencies", "v8_kubernetes_settings"])
def test_every_fixture_with_output_files_warns(name: str) -> None:
    _, report = import_elyra_file(FIXTURES / f"{name}.pipeline")
    assert len(report.warnings) == 1 and "object storage" in report.warnings[0]


@pytest.mark.parametrize("name", ["v4_airflow_package_operators", "v8_supernode"])
def test_a_pipeline_without_output_files_relied_on_nothing(name: str) -> None:
    assert import_elyra_file(FIXTURES / f"{name}.pipeline")[1].warnings == ()


def test_outputs_removed_from_the_file_remove_the_warning() -> None:
    data = json.loads((FIXTURES / "v8_kubernetes_settings.pipeline").read_text(encoding="utf-8"))
    for node in data["pipelines"][0]["nodes"]:
        node["app_data"].get("component_parameters", {}).pop("outputs", None)
    assert import_elyra(data)[1].warnings == ()


def test_a_shared_store_carries_the_files() -> None:
    assert object_storage_warning(["a"], PipelineSettings(artifact_root="s3://ml/x"), None) is None
    shared = PipelineSettings.model_validate({"artifact_store": {"pvc": "ml-artifacts"}})
    assert object_storage_warning(["a"], shared, None) is None
    many = object_storage_warning([f"n{i}" for i in range(8)], PipelineSettings(), "")
    assert many is not None and "8 node(s) ('n0', 'n1', 'n2', 'n3', 'n4' and 3 more)" in many
