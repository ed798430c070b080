"""Local runs: a pipeline run for real on this machine, with Airflow and the embedded MLOps services.

``start_local_run(pipeline, workspace, on_state=...)`` renders the pipeline for the ``local`` target and
runs it in a worker process; the ``RunHandle`` it returns follows task states (queued, running, success,
failed, skipped), gives each task's log file, and waits for or cancels the run. A warm runner per
workspace keeps Airflow loaded between runs (``stop_runner`` stops it; it also exits when idle).
``list_runs`` reads the run history a workspace keeps; ``servers`` and ``stop_serving`` manage the
BentoML servers that local deploy steps started. Importing this package does not import Airflow.
"""

from __future__ import annotations

from .engine import RunHandle, TaskEvent, start_local_run
from .localize import LocalRunError
from .records import STATES, list_runs
from .runner import stop_runner
from .serving import servers, stop_serving
from .workspace import Services, Workspace, default_workspace

__all__ = [
    "LocalRunError",
    "RunHandle",
    "STATES",
    "Services",
    "TaskEvent",
    "Workspace",
    "default_workspace",
    "list_runs",
    "servers",
    "start_local_run",
    "stop_runner",
    "stop_serving",
]
