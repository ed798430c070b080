"""A real local Airflow 3 for a test module: ``dagsmith airflow up`` on a project of given pipelines.

Shared by ``test_airflow_up.py`` and ``test_deployments_airflow.py`` (whose browser test of the Airflow tab
uses the same instance). Each module starts one instance in a module-scoped fixture with ``airflow_up``;
``down`` runs at the end whatever happened.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from dagsmith.editor.store import DB_FILENAME
from dagsmith.nodes import Pipeline, dumps


@dataclass(frozen=True)
class LocalAirflow:
    """A started instance: the project it serves, where it lives, and what ``up`` printed."""

    project: Path
    workspace: Path
    dagsmith_home: Path
    env: dict[str, str]
    output: str
    url: str
    user: str
    password: str

    @property
    def dags(self) -> Path:
        """The DAG folder the instance serves."""
        return self.workspace / "airflow-server" / "dags"

    @property
    def store_url(self) -> str:
        """The editor's store under the instance's DAGSMITH_HOME (what ``dagsmith edit`` would open)."""
        return f"sqlite:///{self.dagsmith_home / DB_FILENAME}"

    @property
    def where(self) -> tuple[str, ...]:
        """The ``dagsmith airflow`` arguments that name this instance."""
        return ("--project-dir", str(self.project), "--home", str(self.workspace))


def dagsmith(*args: str, env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """Run the ``dagsmith`` CLI as a user would, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "dagsmith.editor.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(dagsmith_home: Path) -> dict[str, str]:
    """Our environment without MLflow, Airflow or dagsmith settings, with its own DAGSMITH_HOME."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AIRFLOW", "DAGSMITH_"))}
    env.update(DAGSMITH_HOME=str(dagsmith_home), BENTOML_DO_NOT_TRACK="true")
    return env


@contextmanager
def airflow_up(factory: pytest.TempPathFactory, pipelines: dict[str, Pipeline]) -> Iterator[LocalAirflow]:
    """``dagsmith airflow up`` on a new project holding ``pipelines`` (file stem -> pipeline); down after."""
    project = factory.mktemp("project")
    workspace = factory.mktemp("workspace")
    dagsmith_home = factory.mktemp("dagsmith-home")
    for stem, pipeline in pipelines.items():
        (project / f"{stem}.dagsmith.json").write_text(dumps(pipeline), encoding="utf-8")
    env = clean_env(dagsmith_home)
    where = ("--project-dir", str(project), "--home", str(workspace))
    try:
        result = dagsmith("airflow", "up", *where, "--port", str(free_port()), env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        url = re.search(r"(http://127\.0\.0\.1:\d+)", result.stdout)
        login = re.search(r"login: (\S+) / (\S+)", result.stdout)
        assert url and login, result.stdout
        yield LocalAirflow(
            project, workspace, dagsmith_home, env, result.stdout, url.group(1), login.group(1), login.group(2)
        )
    finally:
        dagsmith("airflow", "down", *where, env=env, timeout=120)
