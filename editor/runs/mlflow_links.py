"""From a run record to MLflow: where its MLflow runs and model versions are, and links into MLflow's UI.

A record lists the MLflow run ids and model versions its steps reported (``records.links``).
``resolve`` asks MLflow for the details (experiment, run name, metrics, aliases now) and builds UI
links against a base URL: the tracking server itself when it is one, else the workspace's own MLflow UI,
which ``start_ui`` starts on 127.0.0.1 on request (the embedded store is a SQLite file that no server
serves until then). Importing this module does not import MLflow.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from dagsmith.codegen.steps.local_runtime import stop_server

from .workspace import Workspace

UI_RECORD = "ui.json"
"""The workspace's MLflow UI server: ``<workspace>/mlflow/ui.json`` (pid, url) and ``ui.log``."""


@dataclass(frozen=True, slots=True)
class MlflowRun:
    """An MLflow run a task reported."""

    run_id: str
    task: str
    experiment_id: str | None = None
    name: str | None = None
    status: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A registered model version a task reported, with the aliases it has now."""

    name: str
    version: str
    task: str
    aliases: tuple[str, ...] = ()
    run_id: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    """What ``resolve`` found; ``error`` says why MLflow could not be asked (the ids are still listed)."""

    runs: tuple[MlflowRun, ...]
    versions: tuple[ModelVersion, ...]
    error: str | None = None


def server_base(tracking_uri: str) -> str | None:
    """The UI address of a tracking server URI (without credentials); None for a database or file store."""
    parts = urlsplit(tracking_uri)
    if parts.scheme not in ("http", "https"):
        return None
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI page of a run."""
    return f"{base}/#/experiments/{quote(experiment_id, safe='')}/runs/{quote(run_id, safe='')}"


def version_url(base: str, name: str, version: str) -> str:
    """The MLflow UI page of a registered model version."""
    return f"{base}/#/models/{quote(name, safe='')}/versions/{quote(version, safe='')}"


def resolve(tracking_uri: str, links: dict[str, Any], base: str | None = None) -> Resolved:
    """Ask MLflow about a record's runs and model versions; links against ``base`` when there is one."""
    reported_runs = [item for item in links.get("mlflow_runs") or [] if isinstance(item, dict)]
    reported_versions = [item for item in links.get("model_versions") or [] if isinstance(item, dict)]
    base = base or server_base(tracking_uri)
    runs: list[MlflowRun] = []
    versions: list[ModelVersion] = []
    try:
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        for item in reported_runs:
            found = client.get_run(str(item["run_id"]))
            info = found.info
            runs.append(
                MlflowRun(
                    run_id=info.run_id,
                    task=str(item.get("task", "")),
                    experiment_id=str(info.experiment_id),
                    name=info.run_name,
                    status=info.status,
                    metrics=dict(found.data.metrics),
                    url=run_url(base, str(info.experiment_id), info.run_id) if base else None,
                )
            )
        for item in reported_versions:
            name, number = str(item["name"]), str(item["version"])
            model = client.get_model_version(name, number)
            versions.append(
                ModelVersion(
                    name=name,
                    version=number,
                    task=str(item.get("task", "")),
                    aliases=tuple(sorted(getattr(model, "aliases", None) or ())),
                    run_id=model.run_id,
                    url=version_url(base, name, number) if base else None,
                )
            )
    except Exception as exc:  # an unreachable server, a deleted run: list what the record says
        listed_runs = {run.run_id for run in runs}
        listed_versions = {(version.name, version.version) for version in versions}
        runs += [
            MlflowRun(run_id=str(item["run_id"]), task=str(item.get("task", "")))
            for item in reported_runs
            if str(item["run_id"]) not in listed_runs
        ]
        versions += [
            ModelVersion(
                name=str(item["name"]),
                version=str(item["version"]),
                task=str(item.get("task", "")),
                aliases=tuple(item.get("aliases") or ()),
            )
            for item in reported_versions
            if (str(item["name"]), str(item["version"])) not in listed_versions
        ]
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = server_base(tracking_uri) or tracking_uri
        return Resolved(tuple(runs), tuple(versions), f"MLflow at {where}: {message}")
    return Resolved(tuple(runs), tuple(versions))


# ---- the workspace's MLflow UI -----------------------------------------------------------------------


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def ui_address(workspace: Workspace) -> str | None:
    """The URL of the workspace's MLflow UI while its server is up."""
    try:
        record = json.loads((workspace.mlflow / UI_RECORD).read_text(encoding="utf-8"))
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    url = str(record["url"])
    return url if _answers(url) else None


def start_ui(workspace: Workspace, *, timeout: float = 120.0) -> str:
    """Start (or find) the MLflow UI over the workspace's embedded store; its URL once it answers.

    RuntimeError, with the end of the server's log, when it does not come up in ``timeout`` seconds.
    """
    running = ui_address(workspace)
    if running:
        return running
    workspace.mlflow.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    log = workspace.mlflow / "ui.log"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        workspace.mlflow_uri,
        "--default-artifact-root",
        str(workspace.mlflow / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    (workspace.mlflow / UI_RECORD).write_text(json.dumps({"pid": process.pid, "url": url}), encoding="utf-8")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(url):
            return url
        if process.poll() is not None:
            break
        time.sleep(0.5)
    stop_ui(workspace)
    tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-10:])
    raise RuntimeError(f"the MLflow UI did not start on {url}:\n{tail}")


def stop_ui(workspace: Workspace, *, timeout: float = 15.0) -> bool:
    """Stop the workspace's MLflow UI server; True if one was running."""
    path: Path = workspace.mlflow / UI_RECORD
    try:
        pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    path.unlink(missing_ok=True)
    return stop_server({"pgid": pid}, timeout)  # it leads its own session: its pid is its group
