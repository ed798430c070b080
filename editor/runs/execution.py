"""Driving one DAG run inside the worker (imports Airflow: only the worker process loads this module).

The loop is ``dag.test()``'s (``DagRun.update_state`` decides what is ready, skips and upstream failures
included) with one difference: ready task instances run at the same time, each in a forked child that
runs Airflow's in-process task runner with its output in its own log file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow import settings
from airflow.models.dagrun import DagRun, get_or_create_dagrun
from airflow.models.xcom import XComModel
from airflow.sdk import timezone
from airflow.sdk.definitions.dag import _run_task
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.serialization.serialized_objects import DagSerialization
from airflow.utils.state import DagRunState, TaskInstanceState
from airflow.utils.types import DagRunTriggeredByType, DagRunType
from sqlalchemy import select

from . import records

FINISHED = {
    TaskInstanceState.SUCCESS,
    TaskInstanceState.FAILED,
    TaskInstanceState.SKIPPED,
    TaskInstanceState.UPSTREAM_FAILED,
    TaskInstanceState.REMOVED,
}
MAX_TRIGGER_DEPTH = 3
Writer = Callable[[Path, dict[str, Any]], None]


def _child(ti: Any, task: Any, log_path: Path) -> None:
    """In the forked child: log to the task's file, run the task instance, never return."""
    code = 0
    try:
        handle = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(handle, 1)
        os.dup2(handle, 2)
        os.close(handle)
        print(f"--- {ti.task_id} map_index={ti.map_index} try={ti.try_number} pid={os.getpid()}", flush=True)
        _run_task(ti=ti, task=task, run_triggerer=True)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Driver:
    """Runs one DagRun to its end; reports task state changes as events."""

    def __init__(self, *, dag: Any, dagrun: Any, run_id: str, folder: Path, events: Any, parallelism: int) -> None:
        self.dag, self.dagrun, self.run_id, self.folder = dag, dagrun, run_id, folder
        self.events, self.parallelism = events, parallelism
        self.running: dict[tuple[str, int], int] = {}
        self.seen: dict[tuple[str, int], str | None] = {}
        self.logs = folder / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def log_path(self, task_id: str, map_index: int) -> Path:
        """The log file of a task instance."""
        return self.logs / records.log_name(task_id, map_index)

    def drive(self, session: Any) -> str:
        """Run until the DagRun has finished; its final state."""
        dagrun = self.dagrun
        try:
            while dagrun.state == DagRunState.RUNNING or self.running:
                if not self.step(session):
                    self.wait_for_child(0.5)
                self.reap(session)
        except BaseException:
            self.stop_children(session)
            raise
        self.report(session)
        return str(dagrun.state)

    def step(self, session: Any) -> bool:
        """One scheduling round: mark what is ready, start what may start; True if anything started."""
        session.expire_all()
        dagrun = self.dagrun
        if dagrun.state == DagRunState.RUNNING:
            schedulable, _ = dagrun.update_state(session=session)
            for ti in schedulable:
                if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                    ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
                ti.scheduled_dttm = timezone.utcnow()
            session.commit()
        tis = dagrun.get_task_instances(session=session)
        self.report(session, tis)
        started = False
        for ti in sorted(tis, key=lambda item: (item.priority_weight * -1, item.task_id, item.map_index)):
            key = (ti.task_id, ti.map_index)
            if ti.state != TaskInstanceState.SCHEDULED or key in self.running:
                continue
            if len(self.running) >= self.parallelism:
                break
            task = self.dag.task_dict[ti.task_id]
            limit = getattr(task, "max_active_tis_per_dagrun", None)
            if limit and sum(1 for running in self.running if running[0] == ti.task_id) >= limit:
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(ti, task, self.log_path(*key))
            self.running[key] = pid
            started = True
        session.commit()
        return started

    def wait_for_child(self, timeout: float) -> None:
        """Sleep until a child has exited (checked every 20 ms) or ``timeout`` has passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in self.running.values():
                try:  # WNOWAIT: look without collecting; reap() collects
                    exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                except ChildProcessError:
                    return
                if exited is not None:
                    return
            time.sleep(0.02)

    def reap(self, session: Any) -> None:
        """Collect finished children; a child that died without a final state fails its task."""
        for key, pid in list(self.running.items()):
            done, _status = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
            del self.running[key]
            session.expire_all()
            ti = self.dagrun.get_task_instance(key[0], map_index=key[1], session=session)
            if ti is not None and ti.state not in FINISHED and ti.state != TaskInstanceState.UP_FOR_RETRY:
                ti.set_state(TaskInstanceState.FAILED, session=session)
                session.commit()

    def stop_children(self, session: Any) -> None:
        """Wait for the children (they got the same signal as the worker) and fail what they left."""
        for key, pid in list(self.running.items()):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            session.expire_all()
            ti = self.dagrun.get_task_instance(key[0], map_index=key[1], session=session)
            if ti is not None and ti.state not in FINISHED:
                ti.set_state(TaskInstanceState.FAILED, session=session)
        self.running.clear()
        self.dagrun.set_state(DagRunState.FAILED)
        session.merge(self.dagrun)
        session.commit()
        self.report(session)

    def report(self, session: Any, tis: list[Any] | None = None) -> None:
        """Emit an event for every task instance whose state changed since the last report."""
        if tis is None:
            session.expire_all()
            tis = self.dagrun.get_task_instances(session=session)
        for ti in tis:
            key = (ti.task_id, ti.map_index)
            state = str(ti.state) if ti.state is not None else None
            if key in self.seen and self.seen[key] == state:
                continue
            self.seen[key] = state
            if state == TaskInstanceState.REMOVED:
                continue
            self.events.emit(
                "task",
                run=self.run_id,
                dag_id=self.dagrun.dag_id,
                task_id=ti.task_id,
                map_index=ti.map_index,
                state=records.task_state(state),
                airflow_state=state,
                try_number=ti.try_number,
                start=records.iso(ti.start_date),
                end=records.iso(ti.end_date),
                log=str(self.log_path(*key)),
            )


def _scheduler_dag(dag: Any) -> Any:
    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))


def create_dagrun(dag: Any, spec: dict[str, Any], session: Any) -> Any:
    """A new manual DagRun, as ``dag.test()`` makes it (an older run at the same logical date is replaced)."""
    run_after = timezone.utcnow()
    logical_date = timezone.parse(spec["logical_date"]) if spec.get("logical_date") else run_after
    interval = coerce_to_core_timetable(dag.timetable).infer_manual_data_interval(run_after=logical_date)
    return get_or_create_dagrun(
        dag=_scheduler_dag(dag),
        start_date=run_after,
        logical_date=logical_date,
        data_interval=interval,
        run_after=run_after,
        run_id=DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=logical_date, run_after=run_after),
        session=session,
        conf=spec.get("conf") or {},
        triggered_by=DagRunTriggeredByType.CLI if spec.get("source") == "cli" else DagRunTriggeredByType.UI,
        triggering_user_name="dagsmith",
    )


def finish_record(record: dict[str, Any], dagrun: Any, driver: Driver, session: Any) -> list[tuple[str, str]]:
    """Fill the record from the finished run; the (dag_id, run_id) pairs its triggers created."""
    rows = session.execute(
        select(XComModel.task_id, XComModel.map_index, XComModel.key, XComModel.value).where(
            XComModel.dag_id == dagrun.dag_id, XComModel.run_id == dagrun.run_id
        )
    ).all()
    tis = sorted(dagrun.get_task_instances(session=session), key=lambda item: (item.start_date or _END, item.task_id))
    order = {(ti.task_id, ti.map_index): index for index, ti in enumerate(tis)}
    values: dict[str, Any] = {}
    triggered: list[tuple[str, str]] = []
    for task_id, map_index, key, value in sorted(rows, key=lambda row: order.get((row[0], row[1]), len(order))):
        decoded = _json_or_text(value) if isinstance(value, str) else value
        if key == "return_value":
            values[records.task_key(task_id, map_index)] = decoded
        elif key == "trigger_run_id" and isinstance(decoded, str):
            target = getattr(driver.dag.task_dict.get(task_id), "trigger_dag_id", None)
            if target:
                triggered.append((str(target), decoded))
    tasks = []
    for ti in sorted(
        dagrun.get_task_instances(session=session), key=lambda item: (item.start_date or _END, item.task_id)
    ):
        duration = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
        tasks.append(
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "node": record.get("nodes", {}).get(ti.task_id.split("__", 1)[0]),
                "state": records.task_state(str(ti.state) if ti.state else None),
                "airflow_state": str(ti.state) if ti.state else None,
                "try_number": ti.try_number,
                "start": records.iso(ti.start_date),
                "end": records.iso(ti.end_date),
                "duration": round(duration, 3) if duration is not None else None,
                "log": str(driver.log_path(ti.task_id, ti.map_index)),
            }
        )
    record.update(
        state="success" if dagrun.state == DagRunState.SUCCESS else "failed",
        airflow_run_id=dagrun.run_id,
        logical_date=records.iso(dagrun.logical_date),
        ended=datetime.now(UTC).isoformat(),
        tasks=tasks,
        values=values,
        links=records.links(values),
        triggered=[{"dag_id": dag_id, "airflow_run_id": run_id} for dag_id, run_id in triggered],
    )
    return triggered


_END = datetime.max.replace(tzinfo=UTC)


def _json_or_text(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def run_dag(bag: Any, spec: dict[str, Any], events: Any, record: dict[str, Any], write: Writer) -> bool:
    """Run the spec's DAG, then (``follow_triggers``) the runs it triggered; True if all succeeded."""
    if settings.Session is None:
        raise RuntimeError("Airflow's database session is not configured")
    session = settings.Session()
    dag = bag.dags[spec["dag_id"]]
    dagrun = create_dagrun(dag, spec, session)
    pending = [(dag, dagrun, spec["run_id"], Path(spec["run_dir"]), record, 0)]
    ok = True
    while pending:
        dag, dagrun, run_id, folder, record, depth = pending.pop(0)
        record.update(airflow_run_id=dagrun.run_id, logical_date=records.iso(dagrun.logical_date))
        write(folder, record)
        events.emit(
            "run", run=run_id, dag_id=dag.dag_id, state="running", airflow_run_id=dagrun.run_id, dir=str(folder)
        )
        driver = Driver(
            dag=dag, dagrun=dagrun, run_id=run_id, folder=folder, events=events, parallelism=spec["parallelism"]
        )
        driver.drive(session)
        triggered = finish_record(record, dagrun, driver, session)
        ok = ok and record["state"] == "success"
        for target_dag_id, target_run_id in triggered:
            child = _triggered_run(bag, target_dag_id, target_run_id, session)
            child_id = records.new_run_id()
            child_folder = records.run_dir(Path(spec["workspace"]) / "runs", target_dag_id, child_id)
            entry = next(item for item in record["triggered"] if item["airflow_run_id"] == target_run_id)
            entry["run"] = (
                child_id if child is not None and spec["follow_triggers"] and depth < MAX_TRIGGER_DEPTH else None
            )
            events.emit("triggered", run=run_id, dag_id=target_dag_id, airflow_run_id=target_run_id, child=entry["run"])
            if entry["run"] is None or child is None:
                continue
            child_record = {
                **{
                    key: spec["record"][key]
                    for key in ("workspace", "services", "project_dir")
                    if key in spec["record"]
                },
                "id": child_id,
                "dag_id": target_dag_id,
                "conf": child.conf or {},
                "nodes": _nodes(Path(spec["workspace"]), target_dag_id),
                "triggered_by": {"dag_id": dag.dag_id, "run": run_id, "airflow_run_id": dagrun.run_id},
                "state": "running",
                "started": datetime.now(UTC).isoformat(),
            }
            pending.append((bag.dags[target_dag_id], child, child_id, child_folder, child_record, depth + 1))
        write(folder, record)
        events.emit("run", run=run_id, dag_id=dag.dag_id, state=record["state"], dir=str(folder))
    return ok


def _nodes(workspace: Path, dag_id: str) -> dict[str, str]:
    """Task id -> node id of a pipeline run earlier in this workspace (empty when it is not there)."""
    from dagsmith.codegen.local import task_nodes
    from dagsmith.nodes import DocumentError, load

    try:
        return task_nodes(load(workspace / "pipelines" / f"{dag_id}.dagsmith.json"))
    except (DocumentError, OSError):
        return {}


def _triggered_run(bag: Any, dag_id: str, run_id: str, session: Any) -> Any:
    """The queued DagRun a trigger created, made ready to run here (None when its DAG is not here)."""
    if dag_id not in bag.dags:
        return None
    dagrun = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if dagrun is None:
        return None
    dagrun.dag = _scheduler_dag(bag.dags[dag_id])  # its task instances exist: the trigger created them
    dagrun.state = DagRunState.RUNNING
    dagrun.start_date = timezone.utcnow()
    session.commit()
    return dagrun
