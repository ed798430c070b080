"""Local runs through the real scheduler: ``dagsmith run --local --scheduler`` and the editor's setting.

``start_scheduled_run`` has the signature and the ``RunHandle`` of ``runs.start_local_run``: it renders
the pipeline (and the pipelines it triggers) for the local target, writes the run's record, and starts a
follower process (``follow``) that runs it on the project's local Airflow (``dagsmith airflow up``'s
instance, started when none runs) and writes the same events, logs and record as the in-process runs.
Selected by ``--scheduler`` or ``DAGSMITH_LOCAL_RUNS=scheduler``; the in-process runs stay the default.

The run's DAG is rendered without its schedule (manual runs only), as the in-process runs ignore it: the
follower unpauses the DAG for the run (and pauses it again after), and an unpaused DAG with a schedule
would get a scheduled run of its latest interval at once, beside the one asked for. The next
``dagsmith airflow up`` renders the project's files with their schedules again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagsmith.nodes import Pipeline, dumps

from ..runs import records
from ..runs.engine import EventCallback, RunHandle, StateCallback
from ..runs.extras import missing_extras_message, needed_modules
from ..runs.localize import LOCAL_STORE_ENV, LocalRunError, Setup, localize
from ..runs.workspace import Services, Workspace, redact
from .project import Project, default_workspace

MODE_ENV = "DAGSMITH_LOCAL_RUNS"
"""``scheduler``: local runs go through the project's local Airflow; anything else: the in-process runs."""


def through_scheduler(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the setting asks for local runs through the real scheduler."""
    return (os.environ if environ is None else environ).get(MODE_ENV, "").strip().lower() == "scheduler"


def project_for(project_dir: str | os.PathLike[str], workspace: str | os.PathLike[str] | None) -> Project:
    """The project (and its instance's workspace): ``workspace`` or the one ``dagsmith airflow up`` uses."""
    folder = Path(project_dir).expanduser().resolve()
    root = Path(workspace).expanduser().resolve() if workspace is not None else default_workspace(folder)
    return Project(folder=folder, workspace=Workspace.at(root))


def _aware(text: str | None) -> str | None:
    """An ISO 8601 date or time as the REST API wants it: with a time zone (UTC when it has none)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise LocalRunError(
            f"the logical date {text!r} is not ISO 8601; write e.g. 2026-01-02 or 2026-01-02T03:00"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def start_scheduled_run(
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
    source: str = "ui",
    environ: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> RunHandle:
    """Run ``pipeline`` on the project's local Airflow; returns at once with a handle on the run.

    The runs it triggers of the ``related`` pipelines are followed after it as local runs of their own
    (``follow_triggers``; else only listed in its record, and their DAGs are not unpaused for them).

    Raises ``ExportError`` or ``LocalRunError`` before anything runs (as ``start_local_run`` does).
    """
    from dagsmith.codegen import render
    from dagsmith.codegen.local import task_nodes

    logical_date = _aware(logical_date)
    project = project_for(project_dir or Path.cwd(), workspace)
    root = project.workspace
    root.create()
    services = Services.from_env(root, environ)
    missing = missing_extras_message(needed_modules((pipeline, *related), mlflow=services.embedded_mlflow))
    if missing:
        raise LocalRunError(missing)
    own_store = (os.environ if environ is None else environ).get(LOCAL_STORE_ENV) == "pipeline"
    dags: dict[str, str] = {}
    setup = Setup()
    described: dict[str, Any] = {}
    for each in (*related, pipeline):
        local, needs = localize(each, root, services, project_dir=project.folder, own_store=own_store)
        manual = local.model_copy(update={"settings": local.settings.model_copy(update={"schedule": None})})
        dags[f"{each.dag_id}.py"] = render(manual, target="local")
        records.write_text(root.pipelines / f"{each.dag_id}.dagsmith.json", dumps(each))
        if each is pipeline:
            setup = needs
            store = local.settings.artifact_store
            described = {
                "root": local.settings.artifact_root,
                "endpoint_url": store.endpoint_url,
                "region": store.region,
            }
    run_id = records.new_run_id()
    folder = records.run_dir(root.runs, pipeline.dag_id, run_id)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    record = {
        "id": run_id,
        "dag_id": pipeline.dag_id,
        "pipeline": pipeline.settings.name,
        "workspace": str(root.root),
        "project_dir": str(project.folder),
        "dag_file": str(project.dags / f"{pipeline.dag_id}.py"),
        "conf": dict(conf or {}),
        "requested_logical_date": logical_date,
        "services": services.describe(),
        "tracking_uri": redact(services.tracking_uri),
        "artifact_store": described,
        "nodes": task_nodes(pipeline),
        "triggered_by": None,
        "through": "scheduler",
        "state": "queued",
        "started": datetime.now(UTC).isoformat(),
    }
    records.write_json(folder / records.RECORD, record)
    spec = {
        "workspace": str(root.root),
        "project_dir": str(project.folder),
        "run_id": run_id,
        "run_dir": str(folder),
        "dag_id": pipeline.dag_id,
        "dags": dags,
        "conf": dict(conf or {}),
        "logical_date": logical_date,
        "setup": setup.to_dict(),
        "source": source,
        "follow_triggers": follow_triggers,
        "record": record,
        "timeout": timeout,
    }
    spec_path = folder / "spec.json"
    records.write_json(spec_path, spec, private=True)
    env = dict(os.environ if environ is None else environ)
    try:
        with (folder / "follow.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "dagsmith.editor.airflow_local.follow", str(spec_path)],
                env=env,
                cwd=str(project.folder),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as exc:
        record.update(state="failed", ended=datetime.now(UTC).isoformat(), error=f"could not start: {exc}")
        records.write_json(folder / records.RECORD, record)
        raise LocalRunError(f"the run could not start in {root.root}: {exc}") from exc
    return RunHandle(
        run_id=run_id,
        dag_id=pipeline.dag_id,
        folder=folder,
        queued=folder / "not-queued",
        runner_process=process,
        on_state=on_state,
        on_event=on_event,
    )
