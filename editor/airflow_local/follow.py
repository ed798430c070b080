"""One local run through the real scheduler of the project's local Airflow, in a process of its own.

``python -m dagsmith.editor.airflow_local.follow SPEC`` (started by ``scheduled.start_scheduled_run``):
find or start the instance (``instance.up``), write the run's DAG files into its DAG folder, wait until
the DAG processor parsed them (Airflow's own import error fails the run), trigger a run through the REST
API v2 with the run's typed conf, and follow it: every task instance state change becomes an event in the
run's ``events.jsonl`` (the format of the in-process runs, so that ``RunHandle``, the CLI's progress and
the editor read it unchanged); each task's log is read from the API into the run's ``logs`` folder; the
record gets the tasks and the values (``return_value`` XComs) at the end. SIGTERM marks the Airflow run
failed (cancelled). Runs that the DAG triggers are run by the scheduler itself; the follower follows them
after the run as local runs of their own (``triggered``), as the in-process runs do.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..runs import records
from ..runs.worker import Events, RunCancelledError, finish_setup, start_setup
from ..runs.workspace import Workspace
from .api import ApiError, Client
from .instance import DEFAULT_PORT, attach, free_port, port_free, up
from .project import AirflowUpError, Project
from .triggered import follow_child, follow_triggered

POLL = 0.5
PATIENCE = 120.0
"""Seconds the follower waits for an API server that does not answer (a loaded machine) before failing."""
LOG_REFRESH = 3.0
TIMEOUT = 20.0
"""Seconds one API call may take (the API server shares two cores with the tasks it runs)."""
PARSE_TIMEOUT = 180.0
FINISHED = {"success", "failed", "upstream_failed", "skipped", "removed"}


def _when(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_parsed(client: Client, dag_id: str, file: Path, since: float) -> None:
    """Wait until the DAG processor parsed ``file`` at or after ``since``; its import error is raised.

    The run's copy has no schedule: a DAG that still has one is the project's file from before it.
    """
    deadline = time.monotonic() + PARSE_TIMEOUT
    while time.monotonic() < deadline:
        try:
            dag = client.get(f"/api/v2/dags/{dag_id}")
        except ApiError:
            dag = None
        if (
            dag
            and _when(dag.get("last_parsed_time")) >= since
            and Path(str(dag.get("fileloc"))).name == file.name
            and dag.get("timetable_summary") in (None, "", "None")  # the run's manual copy, not a file before it
        ):
            return
        try:
            errors = client.get("/api/v2/importErrors?limit=1000").get("import_errors", [])
        except ApiError:  # a busy API server: ask again
            errors = []
        for error in errors:
            if Path(str(error.get("filename"))).name == file.name and _when(error.get("timestamp")) >= since:
                raise RuntimeError(f"Airflow could not import {file.name}:\n{error.get('stack_trace')}")
        time.sleep(POLL)
    raise RuntimeError(f"the local Airflow did not parse {file} within {PARSE_TIMEOUT:.0f}s (see its log)")


class Follower:
    """Follows one Airflow DAG run: task events, logs, the record's tasks and values."""

    def __init__(self, client: Client, spec: dict[str, Any], events: Events, airflow_run_id: str) -> None:
        self.client, self.spec, self.events = client, spec, events
        self.dag_id, self.run_id = str(spec["dag_id"]), airflow_run_id
        self.folder = Path(spec["run_dir"])
        self.seen: dict[tuple[str, int], tuple[str | None, int]] = {}
        self.base = f"/api/v2/dags/{dag_id_path(self.dag_id)}/dagRuns/{urllib.parse.quote(airflow_run_id, safe='')}"

    def log_path(self, task_id: str, map_index: int) -> Path:
        """The task instance's log file in the run's folder."""
        return self.folder / "logs" / records.log_name(task_id, map_index)

    def get(self, path: str) -> Any:
        """A GET that waits out a busy API server (no answer for up to ``PATIENCE`` seconds)."""
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                return self.client.get(path)
            except ApiError as exc:
                if exc.status is not None or time.monotonic() > deadline:
                    raise
            time.sleep(POLL)

    def instances(self) -> list[dict[str, Any]]:
        """The run's task instances as the API lists them."""
        answer = self.get(self.base + "/taskInstances?limit=1000")
        return list(answer.get("task_instances", []))

    def report(self, instances: list[dict[str, Any]]) -> None:
        """An event per task instance whose state (or try) changed; logs of the ones that ran."""
        for ti in instances:
            key = (str(ti["task_id"]), int(ti.get("map_index", -1)))
            state, tries = ti.get("state"), int(ti.get("try_number") or 0)
            if self.seen.get(key) == (state, tries):
                continue
            self.seen[key] = (state, tries)
            if state == "removed":
                continue
            if state in FINISHED or state == "running":
                self.fetch_log(*key, tries)
            self.events.emit(
                "task",
                run=self.spec["run_id"],
                dag_id=self.dag_id,
                task_id=key[0],
                map_index=key[1],
                state=records.task_state(state),
                airflow_state=state,
                try_number=tries,
                start=ti.get("start_date"),
                end=ti.get("end_date"),
                log=str(self.log_path(*key)),
            )

    def fetch_log(self, task_id: str, map_index: int, try_number: int) -> None:
        """Write the task's log, as Airflow's API serves it, into the run's folder (best effort)."""
        if try_number < 1:
            return
        path = f"{self.base}/taskInstances/{task_id}/logs/{try_number}?full_content=true&map_index={map_index}"
        try:
            answer = self.client.get(path)
        except ApiError:
            return
        lines = []
        for item in answer.get("content") or []:
            if isinstance(item, dict):
                event = str(item.get("event", ""))
                stamp = item.get("timestamp")
                lines.append(f"[{stamp}] {event}" if stamp else event)
            else:
                lines.append(str(item))
        records.write_text(self.log_path(task_id, map_index), "\n".join(lines) + "\n")

    def values(self) -> dict[str, Any]:
        """Each task instance's ``return_value`` XCom, by ``task`` or ``task[i]``."""
        found: dict[str, Any] = {}
        try:
            entries = self.get(self.base + "/taskInstances/~/xcomEntries?xcom_key=return_value&limit=1000")
        except ApiError:
            return found
        for entry in entries.get("xcom_entries", []):
            task_id, map_index = str(entry["task_id"]), int(entry.get("map_index", -1))
            path = (
                f"{self.base}/taskInstances/{task_id}/xcomEntries/return_value?map_index={map_index}&deserialize=true"
            )
            try:
                value = self.get(path).get("value")
            except ApiError:
                continue
            found[records.task_key(task_id, map_index)] = value
        return found

    def follow(self) -> str:
        """Follow the run until it ends; its final state. Running tasks' logs are read again every few seconds."""
        refreshed = time.monotonic()
        while True:
            run = self.get(self.base)
            instances = self.instances()
            self.report(instances)
            if run.get("state") in ("success", "failed"):
                self.report(self.instances())
                return str(run["state"])
            if time.monotonic() - refreshed > LOG_REFRESH:
                refreshed = time.monotonic()
                for ti in instances:
                    if ti.get("state") == "running":
                        self.fetch_log(str(ti["task_id"]), int(ti.get("map_index", -1)), int(ti.get("try_number") or 0))
            time.sleep(POLL)

    def finish(self, record: dict[str, Any], state: str) -> None:
        """Fill the record from the finished run."""
        tasks = []
        for ti in sorted(self.instances(), key=lambda item: (item.get("start_date") or "~", item["task_id"])):
            start, end = ti.get("start_date"), ti.get("end_date")
            key = (str(ti["task_id"]), int(ti.get("map_index", -1)))
            tasks.append(
                {
                    "task_id": key[0],
                    "map_index": key[1],
                    "node": record.get("nodes", {}).get(key[0].split("__", 1)[0]),
                    "state": records.task_state(ti.get("state")),
                    "airflow_state": ti.get("state"),
                    "try_number": ti.get("try_number"),
                    "start": start,
                    "end": end,
                    "duration": round(_when(end) - _when(start), 3) if start and end else None,
                    "log": str(self.log_path(*key)),
                }
            )
        values = self.values()
        record.update(
            state=state,
            ended=datetime.now(UTC).isoformat(),
            tasks=tasks,
            values=values,
            links=records.links(values),
            triggered=[],
        )


def dag_id_path(dag_id: str) -> str:
    """A dag_id as a path segment."""
    return urllib.parse.quote(dag_id, safe="")


def _running(project: Project, timeout: float) -> Client | None:
    """A client of the project's instance when its supervisor runs, waited for (up to ``timeout`` seconds)
    until it answers healthy; None when none runs (start it). A slow API is no reason to start another."""
    return attach(project, timeout, api_timeout=TIMEOUT)


def run(spec: dict[str, Any], events: Events, record: dict[str, Any]) -> bool:
    """Start or find Airflow, write the DAGs, trigger and follow the run; True when it succeeded."""
    folder = Path(spec["run_dir"])
    project = Project(folder=Path(spec["project_dir"]), workspace=Workspace.at(spec["workspace"]))
    timeout = float(spec.get("timeout", 300))
    client = _running(project, timeout)
    if client is None:  # start it (as `dagsmith airflow up` does, rendering the project's pipelines)
        began = time.time()
        port = None if port_free(DEFAULT_PORT) else free_port()  # another project's Airflow may hold the default
        ready = up(project, port=port, timeout=timeout, say=lambda text: events.emit("log", message=text))
        events.emit("setup", step="airflow", state="success", seconds=round(time.time() - began, 2))
        client = Client(ready.state.url, ready.user, ready.password, timeout=TIMEOUT)
    jobs = start_setup(spec, folder / "logs", events)
    written: dict[str, float] = {}
    for name, text in spec["dags"].items():
        target = project.dags / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            records.write_text(target, text)
        written[name] = target.stat().st_mtime  # a parse of this text ends after it was written
    began = time.time()
    for name, since in written.items():  # the pipelines it triggers too: a trigger of a DAG not parsed fails
        wait_parsed(client, name.removesuffix(".py"), project.dags / name, since)
    events.emit("setup", step="dags", state="success", seconds=round(time.time() - began, 2))
    finish_setup(jobs, events)
    path = f"/api/v2/dags/{dag_id_path(spec['dag_id'])}"
    # Unpaused for the run (the copies have no schedule), paused again after: the run's DAG, and the DAGs
    # it may trigger when their runs are followed (a paused DAG's triggered run would wait queued).
    names = list(spec["dags"]) if spec.get("follow_triggers", True) else [f"{spec['dag_id']}.py"]
    unpaused = [f"/api/v2/dags/{dag_id_path(name.removesuffix('.py'))}" for name in names]
    unpaused = [each for each in unpaused if client.get(each).get("is_paused")]
    for each in unpaused:
        client.patch(each, {"is_paused": False})
    try:
        body: dict[str, Any] = {"logical_date": spec.get("logical_date"), "conf": spec.get("conf") or {}}
        triggered = client.post(path + "/dagRuns", body)
        airflow_run_id = str(triggered["dag_run_id"])
        record.update(airflow_run_id=airflow_run_id, logical_date=triggered.get("logical_date"))
        records.write_json(folder / records.RECORD, record)
        events.emit("run", run=spec["run_id"], dag_id=spec["dag_id"], state="running", airflow_run_id=airflow_run_id)
        follower = Follower(client, spec, events, airflow_run_id)
        try:
            state = follower.follow()
        except RunCancelledError:
            client.patch(follower.base, {"state": "failed"})
            follower.report(follower.instances())
            raise
        follower.finish(record, state)
        return follow_all(client, spec, events, follower, record)
    finally:
        for each in unpaused:
            client.patch(each, {"is_paused": True})


def follow_all(client: Client, spec: dict[str, Any], events: Events, first: Follower, record: dict[str, Any]) -> bool:
    """End the finished run's record, then follow the runs it triggered (and theirs), as the in-process runs
    do; True when every run succeeded."""
    pending = [(first, record, False)]
    ok = True
    while pending:
        follower, each, running = pending.pop(0)
        # a triggered run is followed to its end first
        succeeded = follow_child(client, events, follower, each) if running else each["state"] == "success"
        ok = ok and succeeded
        pending.extend(
            (child, child_record, True)
            for child, child_record in follow_triggered(client, spec, events, follower, each)
        )
        folder = Path(follower.spec["run_dir"])
        records.write_json(folder / records.RECORD, each)
        events.emit("run", run=follower.spec["run_id"], dag_id=follower.dag_id, state=each["state"], dir=str(folder))
    return ok


def main(argv: list[str]) -> int:
    """Run the spec in ``argv[0]``; 0 when the run succeeded."""
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    folder = Path(spec["run_dir"])
    (folder / "pid").write_text(str(os.getpid()), encoding="utf-8")
    events = Events(folder / records.EVENTS)
    record: dict[str, Any] = dict(spec["record"], state="running", started=datetime.now(UTC).isoformat())
    records.write_json(folder / records.RECORD, record)

    def stop(signum: int, frame: Any) -> None:
        raise RunCancelledError()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 1
    try:
        events.emit("run", run=spec["run_id"], dag_id=spec["dag_id"], state="starting")
        code = 0 if run(spec, events, record) else 1
    except RunCancelledError:
        record.update(state="cancelled", ended=datetime.now(UTC).isoformat())
        records.write_json(folder / records.RECORD, record)
        events.emit("run", run=spec["run_id"], dag_id=spec["dag_id"], state="cancelled")
        code = 130
    except Exception as exc:
        traceback.print_exc()
        error = (
            str(exc) if isinstance(exc, RuntimeError | ApiError | AirflowUpError) else f"{type(exc).__name__}: {exc}"
        )
        record.update(state="failed", error=error, ended=datetime.now(UTC).isoformat())
        records.write_json(folder / records.RECORD, record)
        events.emit("run", run=spec["run_id"], dag_id=spec["dag_id"], state="failed", error=error)
    finally:
        events.emit("end", run=spec["run_id"], code=code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
