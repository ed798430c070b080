"""What the editor's Run button and run history call: local runs of a project's pipelines.

No NiceGUI here. Each project has one run workspace (``<DAGSMITH_HOME>/workspace/project-<id>``, or
``$DAGSMITH_WORKSPACE``; on a team server ``$DAGSMITH_WORKSPACE/project-<id>``), so that a monitor's
trigger finds the pipeline it retrains. Each pipeline remembers its run settings (the folder its steps
run in, the run-time parameters last used) in that workspace: they belong to this machine, not to the
project's document. Runs started here are kept by pipeline, so a page opened again follows the run that
is still going.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from dagsmith.codegen import ExportError
from dagsmith.nodes import DocumentError, Pipeline, RuntimeParam, Severity, load, validate

from .errors import UserError
from .integrations.locations import RunsHome
from .runs import LocalRunError, RunHandle, Workspace, list_runs, start_local_run
from .runs.engine import StateCallback
from .runs.mlflow_links import start_ui, stop_ui, ui_address
from .runs.records import read_record, run_dir, write_json
from .runs.workspace import ENV_WORKSPACE
from .store import NotFound, PipelineInfo, Store, StoreError
from .store.engine import dagsmith_home

RUNNABLE_EXAMPLES = {
    "keyword": ("Keyword recommendation (runnable)", ("pipeline", "monitor")),
    "article": ("Article recommendation (runnable)", ("pipeline",)),
    "user_targeting": ("User targeting (runnable)", ("pipeline",)),
}
"""The workloads under nodes/examples/workloads: folder -> (project name, documents in it)."""

LOG_TAIL = 200_000
"""How much of a task's log the editor shows (the end of it)."""


@dataclass(slots=True)
class RunSettings:
    """A pipeline's local-run settings: where its steps run, and the run-time parameters to pass."""

    project_dir: str = ""
    conf: dict[str, Any] = field(default_factory=dict)


def node_states(tasks: Iterable[tuple[str | None, str]]) -> dict[str, str]:
    """One state per node from its task instances' (node, state) pairs.

    A node whose tasks all ended shows failed if any failed, else success if any succeeded, else
    skipped. A node with tasks still to go shows running once any of them started or ended, else queued.
    """
    seen: dict[str, set[str]] = {}
    for node, state in tasks:
        if node:
            seen.setdefault(node, set()).add(state)
    result = {}
    for node, states in seen.items():
        if "failed" in states:
            result[node] = "failed"
        elif "running" in states or ("queued" in states and states - {"queued"}):
            result[node] = "running"
        elif "queued" in states:
            result[node] = "queued"
        elif "success" in states:
            result[node] = "success"
        else:
            result[node] = "skipped"
    return result


def record_states(record: Mapping[str, Any]) -> dict[str, str]:
    """The node states of a finished (or recorded) run."""
    return node_states((task.get("node"), str(task.get("state"))) for task in record.get("tasks") or [])


def handle_states(handle: RunHandle) -> dict[str, str]:
    """The node states of a run in progress."""
    return node_states((event.node, event.state) for event in handle.tasks().values())


def read_log(path: Path, limit: int = LOG_TAIL) -> str:
    """The end of a task's log ('' while the task has not written one)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return text if size <= limit else "… (the start of the log is cut)\n" + text.split("\n", 1)[-1]


def parse_param(param: RuntimeParam, text: str | bool | float | None) -> Any:
    """The typed value of a run-time parameter as entered in the run form; ValueError says what to enter."""
    if isinstance(text, bool) or text is None:
        return text
    if isinstance(text, float | int):
        value: Any = text
    else:
        raw = text.strip()
        if param.type == "string":
            value = text
        elif raw == "":
            return None
        elif param.type == "integer":
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{param.name}: enter a whole number, e.g. 3") from None
        elif param.type == "number":
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{param.name}: enter a number, e.g. 0.5") from None
            if not math.isfinite(value):
                raise ValueError(f"{param.name}: enter a finite number")
        elif param.type == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError(f"{param.name}: enter true or false")
            value = raw.lower() == "true"
        else:
            try:
                value = json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"{param.name}: not JSON ({exc}); enter a JSON {param.type}") from None
            if not isinstance(value, list if param.type == "array" else dict):
                raise ValueError(f"{param.name}: enter a JSON {param.type}")
    if param.type == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    problem = param.model_copy(update={"default": value}).default_problem()
    if problem:
        raise ValueError(f"{param.name}: {problem.replace('default ', '', 1)}")
    return value


class PipelineServices(Protocol):
    """What local runs need of the editor's services (``services.EditorServices`` provides it)."""

    store: Store
    user: str

    def project_checkout(self, project_id: int) -> Path | None:
        """The project's git checkout on this machine, if it has one."""
        ...

    def pipelines(self, project_id: int) -> list[PipelineInfo]:
        """The project's pipelines."""
        ...

    def create(self, project_id: int, pipeline: Pipeline) -> PipelineInfo:
        """A new pipeline in the project, from a document."""
        ...

    def open_draft(self, pipeline_id: int) -> tuple[PipelineInfo, Pipeline, int]:
        """The pipeline, its latest draft and the draft's revision."""
        ...


class LocalRuns:
    """Local runs of the pipelines in the editor's store."""

    def __init__(self, services: PipelineServices) -> None:
        self.services = services
        self._active: dict[int, RunHandle] = {}
        self._starting: set[int] = set()
        self._uis: set[Path] = set()
        self._lock = threading.Lock()
        self._ui_lock = threading.Lock()

    # -- where ------------------------------------------------------------------------------------------
    per_project_workspace = False
    """Whether ``$DAGSMITH_WORKSPACE`` holds one workspace per project (a team server) or is the workspace."""

    def workspace(self, project_id: int) -> Workspace:
        """The project's run workspace: ``project-<id>`` in ``<DAGSMITH_HOME>/workspace``, or ``$DAGSMITH_WORKSPACE``.

        The local editor runs every project in ``$DAGSMITH_WORKSPACE`` itself when it is set (the layout of
        existing local workspaces). With ``per_project_workspace`` (a team server) the variable names the
        parent folder instead: each project's runs, artifacts and logs stay in ``project-<id>`` beneath it,
        named by the project's id (never by its editable name), so projects never see each other's runs.
        """
        configured = os.environ.get(ENV_WORKSPACE)
        parent = Path(configured) if configured else dagsmith_home() / "workspace"
        if configured and not self.per_project_workspace:
            return Workspace.at(parent)
        return Workspace.at(parent / f"project-{int(project_id)}")

    def runs_home(self, project_id: int) -> RunsHome:
        """Where the project's runs live, for the MLflow lookup (Browse MLflow, the model-health page).

        On a team server (``per_project_workspace``) only the project's own workspace counts: the local
        editor's shared fallbacks hold other projects' runs there. No workspace (its folder cannot be made):
        ``workspace`` is ``None`` and the environment or the pipeline's setting decides.
        """
        try:
            workspace: Path | None = self.workspace(project_id).root
        except Exception:  # e.g. the folder cannot be created: no local database then, never another's
            workspace = None
        return RunsHome(workspace, own_only=self.per_project_workspace)

    def project_of(self, pipeline_id: int) -> int:
        """The project a pipeline belongs to (UserError when the pipeline was deleted)."""
        try:
            return self.services.store.get_pipeline(pipeline_id).project_id
        except NotFound:
            raise UserError(f"pipeline {pipeline_id} no longer exists; go back to the start page") from None

    def _settings_file(self, pipeline_id: int) -> Path:
        return self.workspace(self.project_of(pipeline_id)).root / "editor" / f"pipeline-{pipeline_id}.json"

    # -- settings ---------------------------------------------------------------------------------------
    def settings(self, pipeline_id: int) -> RunSettings:
        """The pipeline's run settings; the folder defaults to the project's git checkout when it has one."""
        data = self._read_settings(pipeline_id)
        folder = str(data.get("project_dir") or "")
        if not folder:
            checkout = self.services.project_checkout(self.project_of(pipeline_id))
            folder = str(checkout) if checkout else ""
        conf = data.get("conf")
        return RunSettings(project_dir=folder, conf=conf if isinstance(conf, dict) else {})

    def _read_settings(self, pipeline_id: int) -> dict[str, Any]:
        try:
            data = json.loads(self._settings_file(pipeline_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}  # a damaged file: start from the defaults

    def save_settings(self, pipeline_id: int, settings: RunSettings, *, dag_id: str | None = None) -> None:
        """Remember the settings for the next run of this pipeline (and ``dag_id`` among the ones it ran as)."""
        known = sorted(self.ran_as(pipeline_id) | ({dag_id} if dag_id else set()))
        data = {"project_dir": settings.project_dir, "conf": settings.conf, "dag_ids": known}
        write_json(self._settings_file(pipeline_id), data)

    # -- running ----------------------------------------------------------------------------------------
    def check(self, pipeline: Pipeline, settings: RunSettings) -> Path:
        """The folder the steps run in; UserError says what to fix before the pipeline can run."""
        errors = [issue for issue in validate(pipeline) if issue.severity is Severity.ERROR]
        if errors:
            first = errors[0]
            where = ", ".join(
                part
                for part in (f"node {first.node}" if first.node else "", f"field {first.field}" if first.field else "")
                if part
            )
            where = f" ({where})" if where else ""
            raise UserError(
                f"fix the pipeline's {len(errors)} error(s) in the problems panel before running it; "
                f"the first{where}: {first.message}"
            )
        if not pipeline.nodes:
            raise UserError("the pipeline has no steps yet; add one from the palette")
        if not settings.project_dir.strip():
            raise UserError(
                "choose the project folder: the folder with the steps' scripts, notebooks and feature repos"
            )
        folder = Path(settings.project_dir).expanduser()
        if not folder.is_dir():
            raise UserError(f"the project folder {folder} does not exist; choose the folder with the steps' code")
        return folder.resolve()

    def related(self, pipeline_id: int, pipeline: Pipeline) -> tuple[Pipeline, ...]:
        """The project's other pipelines this one triggers (a monitor's retraining pipeline), as drafts."""
        wanted = {str(node.params.get("retrain_dag_id")) for node in pipeline.nodes if node.type == "monitor"}
        found = []
        for info in self.services.pipelines(self.project_of(pipeline_id)):
            if info.id != pipeline_id and info.dag_id in wanted:
                found.append(self.services.open_draft(info.id)[1])
        return tuple(found)

    def start(
        self,
        pipeline_id: int,
        pipeline: Pipeline,
        settings: RunSettings,
        *,
        on_state: StateCallback | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> RunHandle:
        """Start a local run of the working copy (blocks while the DAG is rendered and the runner starts).

        One start at a time per pipeline: a second Start (another tab, a double click) while one is
        starting or running is refused. Every problem the user can act on is a ``UserError``.
        """
        with self._lock:
            current = self.active(pipeline_id)
            if current is not None:
                raise UserError(f"run {current.id} of this pipeline is still going; stop it or wait for it to end")
            if pipeline_id in self._starting:
                raise UserError("this pipeline's run is starting already")
            self._starting.add(pipeline_id)
        try:
            handle = self._start(pipeline_id, pipeline, settings, on_state=on_state, environ=environ)
        finally:
            with self._lock:
                self._starting.discard(pipeline_id)
        self._active[pipeline_id] = handle
        return handle

    def _start(
        self,
        pipeline_id: int,
        pipeline: Pipeline,
        settings: RunSettings,
        *,
        on_state: StateCallback | None,
        environ: Mapping[str, str] | None,
    ) -> RunHandle:
        folder = self.check(pipeline, settings)
        try:
            self.save_settings(pipeline_id, settings, dag_id=pipeline.dag_id)
            workspace = self.workspace(self.project_of(pipeline_id))
            related = self.related(pipeline_id, pipeline)
            from .airflow_local.scheduled import start_scheduled_run, through_scheduler

            # DAGSMITH_LOCAL_RUNS=scheduler: through the project's local Airflow (`dagsmith airflow up`)
            start: Callable[..., RunHandle] = start_scheduled_run if through_scheduler(environ) else start_local_run
            return start(
                pipeline,
                workspace.root,
                project_dir=folder,
                conf=settings.conf,
                on_state=on_state,
                related=related,
                source="editor",
                environ=environ,
            )
        except (ExportError, LocalRunError, StoreError, DocumentError) as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(
                f"the run could not be prepared ({exc}); check that {dagsmith_home()} and the project folder "
                "are writable and that the disk has room"
            ) from None

    def active(self, pipeline_id: int) -> RunHandle | None:
        """The run of this pipeline started here that has not ended yet."""
        handle = self._active.get(pipeline_id)
        return None if handle is None or handle.done else handle

    def latest(self, pipeline_id: int) -> RunHandle | None:
        """The last run started here for this pipeline, ended or not (kept until the next one starts)."""
        return self._active.get(pipeline_id)

    # -- MLflow's UI -------------------------------------------------------------------------------------
    def mlflow_ui(self, project_id: int, *, start: bool) -> str | None:
        """The URL of the MLflow UI over the project's embedded store; ``start`` starts it when it is down.

        UIs started here stop with the editor (``close``). RuntimeError says why one did not start.
        """
        workspace = self.workspace(project_id)
        if not start:
            return ui_address(workspace)
        with self._ui_lock:  # two tabs asking at once start one server
            running = ui_address(workspace)
            if running:
                return running
            url = start_ui(workspace)
            self._uis.add(workspace.root)  # only the ones started here
        return url

    def close(self) -> None:
        """Stop the MLflow UIs this editor started (runs, runners and BentoML servers keep going)."""
        for root in sorted(self._uis):
            stop_ui(Workspace(root))
        self._uis.clear()

    # -- history ----------------------------------------------------------------------------------------
    def ran_as(self, pipeline_id: int) -> set[str]:
        """The dag_ids this pipeline's runs from the editor had (more than one after a rename)."""
        return {str(item) for item in self._read_settings(pipeline_id).get("dag_ids") or [] if isinstance(item, str)}

    def history(self, pipeline_id: int, dag_id: str) -> list[dict[str, Any]]:
        """The pipeline's runs in its project's workspace, newest first: as ``dag_id``, and under the dag_ids
        it ran as before it was renamed (the runs it triggered are listed by their own pipeline)."""
        workspace = self.workspace(self.project_of(pipeline_id))
        names = {dag_id, *self.ran_as(pipeline_id)}
        found = [record for name in sorted(names) for record in list_runs(workspace.runs, name)]
        return sorted(found, key=lambda record: str(record["id"]), reverse=True)

    def record(self, pipeline_id: int, dag_id: str, run_id: str) -> dict[str, Any]:
        """One run's record; UserError when it is gone."""
        workspace = self.workspace(self.project_of(pipeline_id))
        try:
            return read_record(run_dir(workspace.runs, dag_id, run_id))
        except (OSError, ValueError):
            raise UserError(f"run {run_id} of {dag_id} is no longer in {workspace.runs}") from None

    # -- runnable examples ------------------------------------------------------------------------------
    def create_example(self, name: str) -> list[int]:
        """A project with a runnable workload: its pipelines, and a copy of its step code to run them in.

        The code is copied to ``<DAGSMITH_HOME>/examples/<name>`` (kept if it is already there, so that
        the user's changes stay). Returns the new pipelines' ids, the main one first.
        """
        if name not in RUNNABLE_EXAMPLES:
            raise UserError(f"no runnable example {name!r}; choose one of {', '.join(RUNNABLE_EXAMPLES)}")
        title, documents = RUNNABLE_EXAMPLES[name]
        folder = dagsmith_home() / "examples" / name
        if not folder.is_dir():
            source = resources.files("dagsmith.nodes").joinpath("examples", "workloads", name)
            with resources.as_file(source) as path:
                shutil.copytree(path, folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        project = next((p for p in self.services.store.list_projects() if p.name == title), None)
        if project is None:
            project = self.services.store.create_project(
                title, by=self.services.user, description=f"Runnable example; its step code is in {folder}"
            )
        ids = []
        for document in documents:
            pipeline = load(folder / f"{document}.dagsmith.json")
            existing = {p.dag_id: p.id for p in self.services.pipelines(project.id)}
            pipeline_id = existing.get(pipeline.dag_id) or self.services.create(project.id, pipeline).id
            if not self.settings(pipeline_id).project_dir:
                self.save_settings(pipeline_id, RunSettings(project_dir=str(folder)))
            ids.append(pipeline_id)
        return ids
