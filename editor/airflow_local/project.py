"""What a local Airflow serves: a project's pipelines, rendered for the ``local`` target, and its workspace.

A project here is a folder of ``*.dagsmith.json`` documents (found recursively; hidden folders, virtual
environments and ``node_modules`` are skipped). Its steps run in that folder, and its workspace holds the
same embedded MLflow, Feast and BentoML as its local runs (``runs.workspace``). The Airflow instance gets a
home of its own in the workspace (``airflow-server/``), apart from the local runs' Airflow database.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from dagsmith.nodes import DocumentError, Pipeline, load, slug

from ..runs.localize import LocalRunError, Setup, localize
from ..runs.records import write_text
from ..runs.workspace import ENV_WORKSPACE, Services, Workspace

PATTERN = "*.dagsmith.json"
RENDERED = ".rendered.json"
"""The DAG folder's files that ``render_dags`` wrote from the project's documents (removed when stale)."""
SKIPPED = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"}


class AirflowUpError(Exception):
    """A problem starting, reaching or stopping the local Airflow; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Project:
    """A project folder and the workspace its local Airflow lives in."""

    folder: Path
    workspace: Workspace

    @property
    def home(self) -> Path:
        """The instance's ``AIRFLOW_HOME`` (its own SQLite database, config, logs and state file)."""
        return self.workspace.root / "airflow-server"

    @property
    def dags(self) -> Path:
        """The DAG folder the instance serves: the project's pipelines rendered for the local target."""
        return self.home / "dags"

    @property
    def log(self) -> Path:
        """Everything ``airflow standalone`` and its components print, one line each prefixed by component."""
        return self.home / "standalone.log"

    @property
    def state(self) -> Path:
        """The running instance: pid, port, home (``instance.State``)."""
        return self.home / "instance.json"


def default_workspace(folder: Path) -> Path:
    """``$DAGSMITH_WORKSPACE``, else ``<DAGSMITH_HOME>/workspace/project-<folder name>-<hash of its path>``."""
    configured = os.environ.get(ENV_WORKSPACE)
    if configured:
        return Path(configured).expanduser().resolve()
    from ..store.engine import dagsmith_home

    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:8]
    return dagsmith_home() / "workspace" / f"project-{slug(folder.name) or 'dir'}-{digest}"


def resolve(project_dir: str | None, home: str | None) -> Project:
    """The project in ``project_dir`` (default: the current folder), its workspace ``home`` or the default."""
    folder = Path(project_dir or Path.cwd()).expanduser().resolve()
    if not folder.is_dir():
        raise AirflowUpError(f"the project folder {folder} does not exist; pass --project-dir DIR")
    root = Path(home).expanduser().resolve() if home else default_workspace(folder)
    return Project(folder=folder, workspace=Workspace.at(root))


def find_pipelines(folder: Path) -> dict[str, tuple[Path, Pipeline]]:
    """The project's pipelines by dag_id; two files with one dag_id, or an unreadable file, are errors."""
    found: dict[str, tuple[Path, Pipeline]] = {}
    for path in sorted(_documents(folder)):
        try:
            pipeline = load(path)
        except DocumentError as exc:
            raise AirflowUpError(f"{exc}; fix or move the file, then run `dagsmith airflow up` again") from None
        if pipeline.dag_id in found:
            other = found[pipeline.dag_id][0]
            raise AirflowUpError(
                f"{path} and {other} both make the DAG {pipeline.dag_id!r}; Airflow serves one DAG per id. "
                "Rename one pipeline (its name sets the dag_id) or move it out of the project folder"
            )
        found[pipeline.dag_id] = (path, pipeline)
    return found


def _documents(folder: Path) -> list[Path]:
    paths: list[Path] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if name not in SKIPPED and not name.startswith(".")]
        paths += [Path(current) / name for name in files if name.endswith(PATTERN[1:])]
    return paths


def render_dags(project: Project, services: Services) -> tuple[list[str], Setup]:
    """Write every pipeline's local DAG into the DAG folder; the dag_ids and the workspace setup they need.

    A file whose text did not change is left alone (the DAG processor does not parse it again); files of
    pipelines that left the project are removed (not those that a run through the scheduler wrote, see
    ``scheduled``). Errors name the pipeline's file.
    """
    from dagsmith.codegen import ExportError, render

    setup = Setup()
    written: set[str] = set()
    project.dags.mkdir(parents=True, exist_ok=True)
    for dag_id, (path, pipeline) in find_pipelines(project.folder).items():
        try:
            local, needs = localize(pipeline, project.workspace, services, project_dir=project.folder)
            text = render(local, target="local")
        except (ExportError, LocalRunError) as exc:
            raise AirflowUpError(f"{path}: {exc}") from None
        setup.mlflow = setup.mlflow or needs.mlflow
        setup.feast += [repo for repo in needs.feast if repo not in setup.feast]
        target = project.dags / f"{dag_id}.py"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            write_text(target, text)
        written.add(target.name)
    manifest = project.dags / RENDERED
    try:
        before = set(json.loads(manifest.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        before = {path.name for path in project.dags.glob("*.py")}  # an instance from before the manifest
    for stale in before - written:  # DAG files that runs through the scheduler wrote stay
        (project.dags / stale).unlink(missing_ok=True)
    write_text(manifest, json.dumps(sorted(written)))
    return sorted(name[:-3] for name in written), setup
