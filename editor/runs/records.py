"""Run history: one ``run.json`` per run under ``<workspace>/runs/<dag_id>/<run id>/``, beside its logs.

A record says how the run went (state, times, each task's state, duration and log file) and links it to
what it produced: MLflow runs, registered model versions, gate decisions, Bentos and local deployments
(read from the values the steps reported), and the runs it triggered or was triggered by.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagsmith.codegen.compat import LOCAL_BASH

RECORD = "run.json"
EVENTS = "events.jsonl"
STATES = ("queued", "running", "success", "failed", "skipped")
"""Task states as dagsmith shows them (Airflow's ``airflow_state`` is kept beside)."""

_STATE_OF = {
    "running": "running",
    "success": "success",
    "failed": "failed",
    "skipped": "skipped",
    "upstream_failed": "skipped",
    "removed": "skipped",
}


def task_state(airflow_state: str | None) -> str:
    """The dagsmith state for an Airflow task instance state (waiting states are ``queued``)."""
    return _STATE_OF.get(airflow_state or "", "queued")


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique id for a local run: ``20260102T030405Z-1a2b``."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{moment}-{secrets.token_hex(2)}"


def run_dir(runs: Path, dag_id: str, run_id: str) -> Path:
    """The folder of one run's record, events and logs."""
    return runs / dag_id / run_id


def task_key(task_id: str, map_index: int) -> str:
    """``task`` or ``task[3]`` for a mapped task instance."""
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def log_name(task_id: str, map_index: int) -> str:
    """The log file name of a task instance inside the run's ``logs`` folder."""
    return f"{task_id}.log" if map_index < 0 else f"{task_id}.{map_index}.log"


def _temporary(path: Path) -> Path:
    """A temporary file beside ``path`` that no other process or thread writes at the same time."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_json(path: Path, data: Any, *, private: bool = False) -> None:
    """Write JSON atomically (a reader never sees half a file); ``private``: readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    temporary.replace(path)


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def read_record(folder: Path) -> dict[str, Any]:
    """The run record in ``folder``."""
    result: dict[str, Any] = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    return result


def list_runs(runs: Path, dag_id: str | None = None) -> list[dict[str, Any]]:
    """Run records in a workspace's ``runs`` folder (one pipeline's, or all), newest first."""
    pattern = f"{dag_id}/*/{RECORD}" if dag_id else f"*/*/{RECORD}"
    records = []
    for path in runs.glob(pattern):
        try:
            record = read_record(path.parent)
        except (OSError, ValueError):
            continue  # a run being written, or a damaged file: skip it
        if isinstance(record, dict) and isinstance(record.get("id"), str) and isinstance(record.get("dag_id"), str):
            records.append(record)  # else not a run record: skip it too
    return sorted(records, key=lambda record: str(record.get("id", "")), reverse=True)


_TRIAL = LOCAL_BASH + " trial "


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside a reported value (JSON text inside it too: trial specs travel as text)."""
    if isinstance(value, str) and value.startswith(_TRIAL):
        try:
            value = base64.urlsafe_b64decode(value[len(_TRIAL) :].encode()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            return
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def links(values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """What a run produced, from the values its tasks reported (task key -> value)."""
    mlflow_runs: dict[str, dict[str, Any]] = {}
    versions: dict[tuple[str, str], dict[str, Any]] = {}
    gates, monitors, bentos, deployments = [], [], [], []
    for key, value in values.items():  # in the order the tasks ran
        if isinstance(value, dict) and "passed" in value:
            gates.append({"task": key, "passed": value["passed"], "metrics": value.get("metrics")})
        if isinstance(value, dict) and "trigger" in value:
            monitors.append({"task": key, "trigger": value["trigger"], "metrics": value.get("metrics")})
        for item in _walk(value):
            run = item.get("run_id")
            if isinstance(run, str) and run and run not in mlflow_runs:
                mlflow_runs[run] = {"run_id": run, "task": key}
            name, version = item.get("name"), item.get("version")
            if isinstance(name, str) and isinstance(version, str | int) and "url" not in item:
                entry = versions.setdefault(
                    (name, str(version)), {"name": name, "version": str(version), "aliases": []}
                )
                alias = item.get("alias")
                if isinstance(alias, str) and alias not in entry["aliases"]:
                    entry["aliases"].append(alias)
                entry.setdefault("task", key)
            if isinstance(item.get("tag"), str) and "url" not in item:
                bentos.append({"task": key, "tag": item["tag"]})
            if isinstance(item.get("url"), str):
                deployments.append(
                    {"task": key, "name": item.get("name"), "url": item["url"], "bento": item.get("image")}
                )
    return {
        "mlflow_runs": list(mlflow_runs.values()),
        "model_versions": list(versions.values()),
        "gates": gates,
        "monitors": monitors,
        "bentos": bentos,
        "deployments": deployments,
    }


def seconds_between(start: Any, end: Any) -> float | None:
    """Seconds from one ISO 8601 time to another (None when either is missing or not a time)."""
    try:
        return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except (TypeError, ValueError):
        return None


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 text of an aware datetime (None stays None)."""
    return moment.isoformat() if moment is not None else None
