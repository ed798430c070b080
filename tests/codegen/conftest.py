"""Fixtures for the code generation tests: the sample DAGs rendered once and loaded into Airflow once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from codegen_support import ROOT, RUFF, ruff, sample_pipelines  # noqa: F401  (re-exported for fixtures)

from dagsmith.codegen import render
from dagsmith.nodes import Pipeline


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway AIRFLOW_HOME, set before Airflow is first imported (it reads it once)."""
    home = tmp_path_factory.mktemp("airflow-home")
    os.environ["AIRFLOW_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def pipelines() -> dict[str, Pipeline]:
    """The sample pipelines by file stem."""
    return sample_pipelines()


@pytest.fixture(scope="session")
def dag_folder(tmp_path_factory: pytest.TempPathFactory, pipelines: dict[str, Pipeline]) -> Path:
    """Every sample pipeline rendered for Airflow 3 into one folder (the loop as version 3)."""
    folder = tmp_path_factory.mktemp("dags")
    for stem, pipeline in pipelines.items():
        version = 3 if stem == "loop" else 1
        (folder / f"{stem}.py").write_text(render(pipeline, version=version), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def dagbag(airflow_home: Path, dag_folder: Path) -> Any:
    """A real Airflow 3 DagBag over the rendered folder."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dag_folder))
