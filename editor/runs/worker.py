"""One local DAG run, in a process forked by the warm runner (``runner.py``); the editor never imports this.

Like ``dag.test()`` it creates the DAG run in the workspace's SQLite metadata database and drives it with
Airflow's own dependency checks (``DagRun.update_state``), but it runs the ready task instances in
parallel: each one in a forked child (``_run_task``, the in-process task runner ``dag.test()`` uses), up to
``parallelism`` at once and each task's ``max_active_tis_per_dagrun`` (see ``execution``). State changes go
to ``events.jsonl``; each task instance logs to its own file. Runs that the DAG's TriggerDagRunOperator
recorded are run next, when their DAG is in the workspace.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import records
from .setup import feast_done, mlflow_done

MIGRATED = ".dagsmith-migrated"


class RunCancelledError(BaseException):
    """The run was asked to stop (SIGTERM). A BaseException: no ``except Exception`` on the way swallows it."""


class Events:
    """Appends one JSON object per line to the run's events file (the editor and the CLI follow it)."""

    def __init__(self, path: Path) -> None:
        self.handle = path.open("a", encoding="utf-8")

    def emit(self, kind: str, **fields: Any) -> None:
        """Write one event now."""
        self.handle.write(json.dumps({"kind": kind, "time": time.time(), **fields}, default=str) + "\n")
        self.handle.flush()


def start_setup(spec: dict[str, Any], logs: Path, events: Events) -> list[tuple[str, subprocess.Popen[bytes], float]]:
    """Start the workspace setup the run needs (in parallel with importing Airflow)."""
    jobs: list[tuple[str, dict[str, Any]]] = []
    if spec["setup"]["mlflow"] and not mlflow_done(spec["setup"]["mlflow"]):
        jobs.append(("mlflow", spec["setup"]["mlflow"]))
    jobs += [("feast", repo) for repo in spec["setup"]["feast"] if not feast_done(repo)]
    started = []
    for kind, job in jobs:
        name = kind if kind == "mlflow" else f"feast:{Path(job['target']).name}"
        log = (logs / f"setup-{name.replace(':', '-')}.log").open("ab")
        command = [sys.executable, "-m", "dagsmith.editor.runs.setup", kind, json.dumps(job)]
        started.append((name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), time.time()))
        events.emit("setup", step=name, state="running", log=log.name)
    return started


def finish_setup(jobs: list[tuple[str, subprocess.Popen[bytes], float]], events: Events) -> None:
    """Wait for the setup; a failure stops the run (its log says why)."""
    failed = []
    for name, process, began in jobs:
        code = process.wait()
        state = "success" if code == 0 else "failed"
        events.emit("setup", step=name, state=state, seconds=round(time.time() - began, 2))
        if code:
            failed.append(name)
    if failed:
        raise RuntimeError(f"workspace setup failed: {', '.join(failed)} (see the setup-*.log files)")


def migrate(workspace: Path, events: Events | None) -> None:
    """Import Airflow and migrate the workspace's metadata database once (per Airflow version)."""
    began = time.time()
    from airflow import __version__ as airflow_version

    marker = workspace / "airflow" / MIGRATED
    if not marker.exists() or marker.read_text(encoding="utf-8") != airflow_version:
        from airflow.utils import db

        db.upgradedb()
        marker.write_text(airflow_version, encoding="utf-8")
        if events is not None:
            events.emit("setup", step="airflow-db", state="success", seconds=round(time.time() - began, 2))


def load_dags(events: Events) -> Any:
    """Parse the dags folder and write it to the metadata database (as ``dag.test()`` does); the DagBag."""
    began = time.time()
    from airflow import settings
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    if settings.Session is None:
        raise RuntimeError("Airflow's database session is not configured")
    session = settings.Session()
    manager = DagBundlesManager()
    manager.sync_bundles_to_db(session=session)
    session.commit()
    bundle = next(iter(manager.get_all_dag_bundles()))
    if not bundle.is_initialized:
        bundle.initialize()
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
    sync_bag_to_db(bag, bundle.name, bundle.version)
    events.emit("setup", step="dags", state="success", seconds=round(time.time() - began, 2))
    return bag


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Save the run record (see ``records``)."""
    records.write_json(path / records.RECORD, record)


def run_spec(spec: dict[str, Any]) -> int:
    """Run the DAG run the spec describes, then the runs it triggered; 0 when every run succeeded.

    Runs in a child of the warm runner (``runner.py``), which has imported Airflow and built the
    Execution API already; the spec's environment becomes this process's.
    """
    folder = Path(spec["run_dir"])
    events = Events(folder / records.EVENTS)
    record: dict[str, Any] = dict(spec["record"], state="running", started=datetime.now(UTC).isoformat())
    write_record(folder, record)
    os.environ.clear()
    os.environ.update(spec["env"])
    os.chdir(spec["record"]["project_dir"])

    def stop(signum: int, frame: Any) -> None:
        raise RunCancelledError()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workspace = Path(spec["workspace"])
    lock = (workspace / ".run.lock").open("w")
    code = 1
    try:
        if not _try_lock(lock):
            events.emit("log", message="waiting for another run in this workspace to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        events.emit("run", run=spec["run_id"], dag_id=spec["dag_id"], state="starting")
        jobs = start_setup(spec, folder / "logs", events)
        bag = load_dags(events)
        errors = {path: error for path, error in bag.import_errors.items() if Path(path).name == spec["dag_file"]}
        if errors or spec["dag_id"] not in bag.dags:
            raise RuntimeError(f"Airflow could not load the DAG file: {errors or 'no DAG ' + spec['dag_id']}")
        finish_setup(jobs, events)
        from .execution import run_dag

        code = 0 if run_dag(bag, spec, events, record, write_record) else 1
    except RunCancelledError:
        record.update(state="cancelled", ended=datetime.now(UTC).isoformat())
        write_record(folder, record)
        events.emit("run", run=spec["run_id"], dag_id=spec["dag_id"], state="cancelled")
        code = 130
    except Exception as exc:
        traceback.print_exc()
        record.update(state="failed", error=f"{type(exc).__name__}: {exc}", ended=datetime.now(UTC).isoformat())
        write_record(folder, record)
        events.emit("run", run=spec["run_id"], dag_id=spec["dag_id"], state="failed", error=record["error"])
    finally:
        lock.close()
        events.emit("end", run=spec["run_id"], code=code)
    return code


def _try_lock(handle: Any) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
