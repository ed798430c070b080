"""Starting a local run and following it: ``start_local_run`` returns a ``RunHandle``.

The caller's process never imports Airflow: it renders the pipeline for the ``local`` target, writes the
DAG into the workspace and queues the run for the workspace's warm runner (``runner.py``), starting the
runner first if none is running. The handle follows the run's events file from a thread and calls
``on_state`` for every task state change (and ``on_event`` for every event); ``wait`` returns the run
record, ``cancel`` stops the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagsmith.nodes import Pipeline, dumps

from . import records, runner
from .extras import missing_extras_message, needed_modules
from .localize import LocalRunError, Setup, localize
from .workspace import Services, Workspace, default_workspace, redact, worker_environment


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """A task instance changed state (``state`` is one of ``records.STATES``)."""

    run: str  # the local run id (a triggered run has its own)
    dag_id: str
    task_id: str
    map_index: int
    state: str
    airflow_state: str | None
    try_number: int
    start: str | None
    end: str | None
    log: Path
    node: str | None  # the pipeline node the task belongs to (None for a triggered pipeline's unknown task)

    @property
    def key(self) -> str:
        """``task`` or ``task[3]``."""
        return records.task_key(self.task_id, self.map_index)


StateCallback = Callable[[TaskEvent], None]
EventCallback = Callable[[dict[str, Any]], None]


def _render_into(
    workspace: Workspace, pipeline: Pipeline, services: Services, project_dir: Path, environ: Mapping[str, str]
) -> tuple[Setup, Path, dict[str, Any]]:
    """Write the pipeline's local DAG and its document into the workspace; its setup, DAG file and store."""
    from dagsmith.codegen import render

    local, setup = localize(pipeline, workspace, services, project_dir=project_dir, environ=environ)
    dag_file = workspace.dags / f"{pipeline.dag_id}.py"
    records.write_text(dag_file, render(local, target="local"))
    records.write_text(workspace.pipelines / f"{pipeline.dag_id}.dagsmith.json", dumps(pipeline))
    store = local.settings.artifact_store
    described = {"root": local.settings.artifact_root, "endpoint_url": store.endpoint_url, "region": store.region}
    return setup, dag_file, described


def start_local_run(
    pipeline: Pipeline,
    workspace: str | os.PathLike[str] | None = None,
    *,
    project_dir: str | os.PathLike[str] | None = None,
    conf: Mapping[str, Any] | None = None,
    logical_date: str | None = None,
    on_state: StateCallback | None = None,
    on_event: EventCallback | None = None,
    related: tuple[Pipeline, ...] = (),
    follow_triggers: bool = True,
    parallelism: int | None = None,
    source: str = "ui",
    environ: Mapping[str, str] | None = None,
    warm: bool = True,
) -> RunHandle:
    """Run ``pipeline`` on this machine with Airflow; returns at once with a handle on the run.

    ``workspace``: default ``default_workspace(dag_id)``. ``project_dir``: where the steps run and
    relative paths (scripts, feature repos, the BentoML build context) resolve; default the current
    folder. ``conf`` overrides run-time parameters; ``logical_date`` is ISO 8601 (default now).
    ``related`` pipelines are rendered into the workspace too, so that a monitor's trigger finds its
    retraining pipeline. ``warm=False`` uses a runner that exits after this run (nothing stays in the
    background but the servers the run starts). Raises ``ExportError`` or ``LocalRunError`` before
    anything runs.
    """
    root = Workspace.at(workspace) if workspace is not None else Workspace(default_workspace(pipeline.dag_id))
    root.create()
    project = Path(project_dir or Path.cwd()).resolve()
    services = Services.from_env(root, environ)
    missing = missing_extras_message(needed_modules((pipeline, *related), mlflow=services.embedded_mlflow))
    if missing:  # before rendering: the packages to install come first
        raise LocalRunError(missing)
    chooser = os.environ if environ is None else environ  # LOCAL_STORE_ENV and the store's credentials
    for other in related:
        _render_into(root, other, services, project, chooser)
    setup, dag_file, store = _render_into(root, pipeline, services, project, chooser)
    from dagsmith.codegen.local import task_nodes

    run_id = records.new_run_id()
    folder = records.run_dir(root.runs, pipeline.dag_id, run_id)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    record = {
        "id": run_id,
        "dag_id": pipeline.dag_id,
        "pipeline": pipeline.settings.name,
        "workspace": str(root.root),
        "project_dir": str(project),
        "dag_file": str(dag_file),
        "conf": dict(conf or {}),
        "requested_logical_date": logical_date,
        "services": services.describe(),
        "tracking_uri": redact(services.tracking_uri),
        "artifact_store": store,
        "notices": setup.notices,
        "nodes": task_nodes(pipeline),
        "triggered_by": None,
        "state": "queued",
        "started": datetime.now(UTC).isoformat(),
    }
    records.write_json(folder / records.RECORD, record)
    with (folder / records.EVENTS).open("a", encoding="utf-8") as events:  # the run's log shows each notice
        for notice in setup.notices:
            events.write(json.dumps({"kind": "log", "message": notice, "time": time.time()}) + "\n")
    env = worker_environment(root, services, project_dir=project, base=environ)
    spec = {
        "workspace": str(root.root),
        "run_id": run_id,
        "run_dir": str(folder),
        "dag_id": pipeline.dag_id,
        "dag_file": dag_file.name,
        "conf": dict(conf or {}),
        "logical_date": logical_date,
        "follow_triggers": follow_triggers,
        "parallelism": parallelism or max(2, min(8, os.cpu_count() or 2)),
        "setup": setup.to_dict(),
        "source": source,
        "record": record,
        "env": env,
    }
    try:
        started = runner.ensure_runner(root.root, env, announce=folder / records.EVENTS, warm=warm)
        queued = runner.submit(root.root, spec)
    except OSError as exc:  # the history must not keep a run that never started as "queued"
        record.update(state="failed", ended=datetime.now(UTC).isoformat(), error=f"could not start: {exc}")
        records.write_json(folder / records.RECORD, record)
        raise LocalRunError(f"the local run could not start in {root.root}: {exc}") from exc
    return RunHandle(
        run_id=run_id,
        dag_id=pipeline.dag_id,
        folder=folder,
        queued=queued,
        runner_process=started,
        on_state=on_state,
        on_event=on_event,
    )


class RunHandle:
    """A local run in progress (and the runs it triggers): states, logs, records; wait or cancel."""

    def __init__(
        self,
        *,
        run_id: str,
        dag_id: str,
        folder: Path,
        queued: Path,
        runner_process: subprocess.Popen[bytes] | None = None,
        on_state: StateCallback | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.id, self.dag_id, self.folder, self.queued = run_id, dag_id, folder, queued
        self.runner_process = runner_process  # the runner this run started (None: it found one running)
        self.on_state, self.on_event = on_state, on_event
        self.events: list[dict[str, Any]] = []
        self.runs: dict[str, Path] = {run_id: folder}  # local run id -> folder (triggered runs too)
        self._tasks: dict[tuple[str, str], TaskEvent] = {}
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._nodes = records.read_record(folder).get("nodes", {})
        self._thread = threading.Thread(target=self._follow, name=f"dagsmith-run-{run_id}", daemon=True)
        self._thread.start()

    @property
    def workspace(self) -> Path:
        """The run's workspace folder."""
        return self.folder.parents[2]

    @property
    def done(self) -> bool:
        """True once the run (and the runs it followed) ended and every event was handled."""
        return self._done.is_set()

    @property
    def state(self) -> str:
        """queued, running, success, failed or cancelled (of this run, not the ones it triggered)."""
        with self._lock:
            states = [
                event.get("state") for event in self.events if event["kind"] == "run" and event.get("run") == self.id
            ]
        if not states:
            return "queued"
        last = str(states[-1])
        return "running" if last == "starting" else last

    def tasks(self, run: str | None = None) -> dict[str, TaskEvent]:
        """The latest state of each task instance (``task`` or ``task[i]``) of this run or ``run``."""
        wanted = run or self.id
        with self._lock:
            return {key: event for (owner, key), event in self._tasks.items() if owner == wanted}

    def log_path(self, task_id: str, map_index: int = -1, *, run: str | None = None) -> Path:
        """The log file of a task instance (it exists once the task has started)."""
        return self.runs.get(run or self.id, self.folder) / "logs" / records.log_name(task_id, map_index)

    def record(self, run: str | None = None) -> dict[str, Any]:
        """The run record (``run.json``) of this run or of a run it triggered."""
        return records.read_record(self.runs[run or self.id])

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the run (and the runs it follows) to finish; this run's record."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"the local run {self.id} is still going after {timeout} s")
        return self.record()

    @property
    def pid(self) -> int | None:
        """The run's process (a child of the runner), once it has started."""
        path = self.folder / "pid"
        try:
            return int(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def cancel(self) -> None:
        """Stop the run: its process and every step it started (servers already serving keep serving)."""
        try:  # not started yet: take it out of the queue
            self.queued.rename(self.queued.with_suffix(".cancelled"))
        except FileNotFoundError:
            pass
        else:
            self._finish("cancelled", None)
            return
        pid = self.pid
        if pid is not None and not self._done.is_set():
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                return

    def _finish(self, state: str, error: str | None) -> None:
        """Record an end the run process could not record itself (cancelled in the queue, or it died)."""
        record = records.read_record(self.folder)
        record.update(state=state, ended=datetime.now(UTC).isoformat())
        if error:
            record["error"] = error
        records.write_json(self.folder / records.RECORD, record)
        with (self.folder / records.EVENTS).open("a", encoding="utf-8") as handle:
            for event in (
                {"kind": "run", "run": self.id, "dag_id": self.dag_id, "state": state, "error": error},
                {"kind": "end", "run": self.id, "code": 1},
            ):
                handle.write(json.dumps({**event, "time": time.time()}) + "\n")

    def _gone(self) -> str | None:
        """Why the run can no longer finish by itself (None while it can)."""
        pid = self.pid
        if pid is not None:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return "the run's process ended without finishing the run (see worker.log)"
            return None
        waiting = self.queued.exists() or self.queued.with_suffix(".claimed").exists()
        starting = self.runner_process is not None and self.runner_process.poll() is None
        if waiting and not starting and runner.info(self.workspace) is None:
            log = self.workspace / runner.LOG
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:] if log.exists() else []
            return "the runner stopped before starting the run:\n" + "\n".join(tail)
        return None

    def _handle(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)
            if event["kind"] == "run" and event.get("dir"):
                self.runs[str(event["run"])] = Path(event["dir"])
        if event["kind"] == "task":
            task = TaskEvent(
                run=str(event["run"]),
                dag_id=str(event["dag_id"]),
                task_id=str(event["task_id"]),
                map_index=int(event["map_index"]),
                state=str(event["state"]),
                airflow_state=event.get("airflow_state"),
                try_number=int(event.get("try_number") or 0),
                start=event.get("start"),
                end=event.get("end"),
                log=Path(str(event["log"])),
                node=self._nodes.get(str(event["task_id"]).split("__", 1)[0]) if event["run"] == self.id else None,
            )
            with self._lock:
                self._tasks[(task.run, task.key)] = task
            self._call(self.on_state, task)
        self._call(self.on_event, event)

    def _call(self, callback: Callable[[Any], None] | None, argument: Any) -> None:
        """Run a caller's callback; its error is reported and does not stop the following."""
        if callback is None:
            return
        try:
            callback(argument)
        except Exception as exc:
            sys.stderr.write(f"dagsmith: a run callback failed: {type(exc).__name__}: {exc}\n")

    def _follow(self) -> None:
        path = self.folder / records.EVENTS
        position, buffer, ended, checked = 0, "", False, time.monotonic()
        try:
            while not ended:
                if path.exists():
                    with path.open(encoding="utf-8") as handle:
                        handle.seek(position)
                        buffer += handle.read()
                        position = handle.tell()
                    *lines, buffer = buffer.split("\n")
                    for line in lines:
                        if line.strip():
                            event = json.loads(line)
                            self._handle(event)
                            ended = ended or (event["kind"] == "end" and event.get("run") == self.id)
                if ended:
                    break
                if time.monotonic() - checked > 2:
                    checked = time.monotonic()
                    reason = self._gone()
                    if reason is not None and not self._ended_in(path):
                        self._finish("failed", reason)
                time.sleep(0.1)
        finally:
            self._done.set()

    def _ended_in(self, path: Path) -> bool:
        return any('"kind": "end"' in line for line in path.read_text(encoding="utf-8").splitlines()[-5:])
