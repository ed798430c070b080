"""Runs that a followed run triggered (the monitor's retraining), followed as the in-process runs follow them.

The scheduler runs a triggered DAG run itself; the follower finds it from the triggering task instance
(a ``TriggerDagRunOperator``: its rendered ``trigger_dag_id`` and the ``trigger_run_id`` it pushed) and,
when the triggered DAG is one of the run's pipelines (``--with``), follows it as a local run of its own:
a run folder and record with ``triggered_by``, its task events in the same ``events.jsonl`` under its own
run id, its logs, and the link from the triggering run's record (``triggered``). A triggered DAG that is
not here, or past ``MAX_TRIGGER_DEPTH``, or with ``--no-follow``, is listed with no local run.
"""

from __future__ import annotations

import urllib.parse
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..runs import records
from ..runs.worker import Events, RunCancelledError
from .api import ApiError, Client

MAX_TRIGGER_DEPTH = 3
"""How deep a chain of triggered runs is followed (the in-process runs' limit too)."""


def triggers(follower: Any) -> list[tuple[str, str]]:
    """The (dag_id, run_id) of each run the follower's run triggered, in the order its tasks started."""
    found: list[tuple[str, str]] = []
    instances = sorted(follower.instances(), key=lambda ti: (ti.get("start_date") or "~", ti["task_id"]))
    for ti in instances:
        rendered = ti.get("rendered_fields") or {}
        target = rendered.get("trigger_dag_id") if isinstance(rendered, dict) else None
        if ti.get("state") != "success" or not target:
            continue
        run_id = _pushed_run_id(follower, str(ti["task_id"]), int(ti.get("map_index", -1)))
        run_id = run_id or rendered.get("trigger_run_id")
        if run_id:
            found.append((str(target), str(run_id)))
    return found


def _pushed_run_id(follower: Any, task_id: str, map_index: int) -> str | None:
    """The ``trigger_run_id`` XCom the trigger task pushed (None when there is none)."""
    path = (
        f"{follower.base}/taskInstances/{urllib.parse.quote(task_id, safe='')}/xcomEntries/trigger_run_id"
        f"?map_index={map_index}&deserialize=true"
    )
    try:
        value = follower.get(path).get("value")
    except ApiError:
        return None
    return value if isinstance(value, str) and value else None


def _nodes(workspace: Path, dag_id: str) -> dict[str, str]:
    """Task id -> node id of a pipeline of this run (``scheduled`` saved it; empty when it is not there)."""
    from dagsmith.codegen.local import task_nodes
    from dagsmith.nodes import DocumentError, load

    try:
        return task_nodes(load(workspace / "pipelines" / f"{dag_id}.dagsmith.json"))
    except (DocumentError, OSError):
        return {}


def follow_triggered(
    client: Client, spec: dict[str, Any], events: Events, parent: Any, parent_record: dict[str, Any]
) -> list[tuple[Any, dict[str, Any]]]:
    """List the runs ``parent``'s run triggered in its record (``triggered``) and announce them; the ones to
    follow, as (follower, record) pairs whose runs have begun (their folder, record and ``run`` event).

    ``parent`` is a ``follow.Follower`` of a finished run; ``spec`` the whole run's spec.
    """
    depth = int(parent.spec.get("depth", 0))
    here = {name.removesuffix(".py") for name in spec["dags"]}
    workspace = Path(spec["workspace"])
    children: list[tuple[Any, dict[str, Any]]] = []
    entries = []
    for dag_id, airflow_run_id in triggers(parent):
        follow = bool(spec.get("follow_triggers", True)) and depth < MAX_TRIGGER_DEPTH and dag_id in here
        child_id = records.new_run_id() if follow else None
        entries.append({"dag_id": dag_id, "airflow_run_id": airflow_run_id, "run": child_id})
        events.emit(
            "triggered", run=parent.spec["run_id"], dag_id=dag_id, airflow_run_id=airflow_run_id, child=child_id
        )
        if child_id is None:
            continue
        folder = records.run_dir(workspace / "runs", dag_id, child_id)
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        try:
            quoted = urllib.parse.quote(dag_id, safe=""), urllib.parse.quote(airflow_run_id, safe="")
            run = client.get("/api/v2/dags/{}/dagRuns/{}".format(*quoted))
        except ApiError as exc:
            entries[-1]["run"] = None
            events.emit("log", message=f"the triggered run {dag_id} {airflow_run_id} is not there: {exc}")
            continue
        record = {
            **{
                key: spec["record"][key]
                for key in ("workspace", "services", "project_dir", "through")
                if key in spec["record"]
            },
            "id": child_id,
            "dag_id": dag_id,
            "conf": run.get("conf") or {},
            "nodes": _nodes(workspace, dag_id),
            "triggered_by": {
                "dag_id": parent.dag_id,
                "run": parent.spec["run_id"],
                "airflow_run_id": parent.run_id,
            },
            "airflow_run_id": airflow_run_id,
            "logical_date": run.get("logical_date"),
            "state": "running",
            "started": datetime.now(UTC).isoformat(),
        }
        records.write_json(folder / records.RECORD, record)
        child_spec = dict(spec, run_id=child_id, run_dir=str(folder), dag_id=dag_id, depth=depth + 1)
        events.emit("run", run=child_id, dag_id=dag_id, state="running", airflow_run_id=airflow_run_id, dir=str(folder))
        children.append((type(parent)(client, child_spec, events, airflow_run_id), record))  # a Follower too
    parent_record["triggered"] = entries
    return children


def follow_child(client: Client, events: Events, child: Any, record: dict[str, Any]) -> bool:
    """Follow a triggered run to its end and write its record; True when it succeeded. A cancel (SIGTERM)
    fails Airflow's run too and ends its record as cancelled."""
    folder = Path(child.spec["run_dir"])
    try:
        state = child.follow()
    except RunCancelledError:
        with suppress(ApiError):
            client.patch(child.base, {"state": "failed"})
        record.update(state="cancelled", ended=datetime.now(UTC).isoformat())
        records.write_json(folder / records.RECORD, record)
        events.emit("run", run=child.spec["run_id"], dag_id=child.dag_id, state="cancelled", dir=str(folder))
        raise
    child.finish(record, state)
    return record["state"] == "success"
