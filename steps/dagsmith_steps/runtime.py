"""dagsmith step runtime: the step contract's helpers, embedded before every step program.

Standard library only, Python 3.10 or newer (``PYTHON_REQUIRES``; the packages the steps use, such as
MLflow and Feast, need it too). Reads the step's configuration (``DAGSMITH_CONFIG``), its input and
output paths and upstream values from the environment, and reports values through the XCom file.
Also holds what several steps share: importing a model into BentoML and building the Bento (both BentoML
build steps). What only local runs need lives in ``local_runtime``, so that cluster DAGs do not carry it.
The artifact layer (``artifact_store``) is embedded right after this module: every step's ``main`` runs
through ``run_step``, which fetches inputs before it and stores outputs after it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

from dagsmith_steps.artifact_store import (  # dagsmith: not embedded
    ARTIFACT_LAYER,
    ArtifactError,
    artifact_cleanup,
    artifact_finish,
    artifact_prepare,
)

_ENV_REF = "$dagsmith_env"

PYTHON_REQUIRES = (3, 10)
"""The oldest Python the step runtime and its steps run on (CONTRACT.md says the same)."""

if sys.version_info < PYTHON_REQUIRES:
    sys.exit(
        "[dagsmith] error: the step runtime needs Python "
        + ".".join(map(str, PYTHON_REQUIRES))
        + " or newer; this image runs Python "
        + ".".join(map(str, sys.version_info[:3]))
    )


def log(message: str) -> None:
    """One line in the task log."""
    print("[dagsmith] " + message, flush=True)


def fail(message: str) -> NoReturn:
    """Stop the step with a message in the task log (the Airflow task fails)."""
    log("error: " + message)
    sys.exit(1)


def need(value: Any, message: str) -> Any:
    """``value`` when it is set (not None or empty); otherwise stop the step with ``message``."""
    if value is None or (isinstance(value, str | dict) and not value):
        fail(message)
    return value


def _resolve(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ENV_REF}:
            return os.environ.get(value[_ENV_REF], "")
        return {key: _resolve(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item) for item in value]
    return value


def _stop(signum: int, _frame: Any) -> None:
    log("stopped by " + signal.Signals(signum).name + "; no output is stored")
    sys.exit(128 + signum)


def run_step(main: Any) -> None:
    """Run the step's ``main`` inside the artifact layer: inputs fetched before it, outputs stored after it.

    A failing step (an exception, or ``sys.exit`` with a non-zero status) stores nothing. Under the local
    launcher, which runs the layer around the whole command (``DAGSMITH_ARTIFACT_LAYER``), it only runs ``main``.
    """
    layered = os.environ.get(ARTIFACT_LAYER) != "launcher"
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        # As a container's first process the step would ignore SIGTERM (the pod's delete on Airflow's kill or
        # timeout) until SIGKILL; stop as a failed step instead, cleaning up and storing nothing.
        signal.signal(signal.SIGTERM, _stop)
    try:
        if layered:
            artifact_prepare(dict(os.environ))
        try:
            main()
        except SystemExit as done:
            if done.code not in (None, 0):
                raise
        finally:
            if layered:
                artifact_cleanup(dict(os.environ))
        if layered:
            artifact_finish(dict(os.environ))
    except ArtifactError as error:
        fail(
            "node "
            + repr(os.environ.get("DAGSMITH_NODE_ID") or os.environ.get("DAGSMITH_TASK_ID", ""))
            + ": "
            + str(error)
        )


_FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP")


def run_command(argv: list[str], env: dict[str, str], cwd: str | None = None) -> int:
    """Run a child command with its output streaming to this task's log; its exit status (128 + N for signal N).

    SIGTERM, SIGINT and SIGHUP that reach this process are passed to the child, so Airflow's kill or timeout
    (a pod's delete, a local task's terminate) stops the user's code; as a container's first process this
    program would otherwise ignore them. ``python`` or ``python3`` as the command means this interpreter.
    """
    if argv and argv[0] in ("python", "python3"):
        argv = [sys.executable, *argv[1:]]
    try:
        child = subprocess.Popen(argv, env=env, cwd=cwd)
    except OSError as error:
        log("error: cannot start " + repr(argv[0]) + ": " + str(error))
        return 127

    def forward(signum: int, _frame: Any) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {}
    for name in _FORWARDED:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, forward)
    try:
        code = child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 128 - code if code < 0 else code


def config() -> dict[str, Any]:
    """The node's parameters; values with run-time macros arrive rendered in their own variables."""
    return _resolve(json.loads(os.environ.get("DAGSMITH_CONFIG", "{}")))


def input_path(port: str) -> str | None:
    """Where the artifact connected to input ``port`` is (None when it is not connected)."""
    return os.environ.get("DAGSMITH_INPUT_" + port.upper()) or None


def output_path(port: str) -> str:
    """Where to write output ``port``."""
    path = os.environ.get("DAGSMITH_OUTPUT_" + port.upper())
    if not path:
        fail("no path for output " + repr(port) + " (DAGSMITH_OUTPUT_" + port.upper() + " is not set)")
    return path


def value(port: str) -> Any:
    """The value an upstream step reported for the output connected to input ``port``, or None."""
    return json.loads(os.environ.get("DAGSMITH_VALUE_" + port.upper()) or "null")


def report(values: Any) -> None:
    """Report values (one entry per output port) to Airflow as this task's XCom."""
    path = Path(os.environ.get("DAGSMITH_XCOM_FILE") or "/airflow/xcom/return.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values), encoding="utf-8")
    # A dict names its output ports; a list (the trials task's mapped arguments) is counted.
    log("reported " + (", ".join(sorted(values)) if isinstance(values, dict) else str(len(values)) + " items"))


def open_path(path: str, mode: str = "r") -> Any:
    """Open a local path, ``file://`` URI, or (with fsspec installed) any other URI."""
    if path.startswith("file://"):
        path = path[len("file://") :]
    if "://" not in path:
        if "w" in mode:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Path(path).open(mode)
    import fsspec

    return fsspec.open(path, mode).open()


def mlflow_client() -> Any:
    """An MLflow client for the tracking server named by ``MLFLOW_TRACKING_URI``."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        fail(
            "MLFLOW_TRACKING_URI is empty; set the Airflow Variable dagsmith_mlflow_tracking_uri "
            "or give the step an MLFLOW_TRACKING_URI variable or secret"
        )
    from mlflow import MlflowClient

    return MlflowClient()


ALIAS_MOVE_TAG = "dagsmith.alias_move."
"""Prefix of the model-version tags that record an alias move: ``<prefix><alias>.<epoch ms>`` (CONTRACT.md)."""


def alias_holder(client: Any, name: str, alias: str) -> str | None:
    """The version an alias names now (None when it names none)."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:  # MLflow raises a generic error for a missing alias
        return None


def move_alias(client: Any, name: str, alias: str, version: str) -> str | None:
    """Point ``alias`` at ``version`` and record the move on that version (MLflow keeps no alias history).

    The record is a tag on the version (``ALIAS_MOVE_TAG``), JSON with the previous holder, the time and
    the Airflow run; none when the alias already named the version (a retried task). Returns the previous holder.
    """
    import time

    before = alias_holder(client, name, alias)
    client.set_registered_model_alias(name, alias, version)
    if before == version:
        return before
    moment = time.time()
    record = {
        "alias": alias,
        "version": version,
        "previous": before,
        "time": moment,
        "dag_id": os.environ.get("DAGSMITH_DAG_ID", ""),
        "task_id": os.environ.get("DAGSMITH_TASK_ID", ""),
        "run_id": os.environ.get("DAGSMITH_RUN_ID", ""),
    }
    key = ALIAS_MOVE_TAG + alias + "." + str(int(moment * 1000))
    try:
        client.set_model_version_tag(name, version, key, json.dumps(record, sort_keys=True))
    except Exception as exc:  # the alias has moved: a missing record only loses history, so the step goes on
        log("warning: could not record the move of @" + alias + " on " + name + " v" + version + ": " + str(exc))
    return before


def read_table(path: str) -> Any:
    """A pandas DataFrame from a CSV, Parquet or JSON-lines file (by extension; Parquet otherwise)."""
    import pandas as pd

    lowered = path.lower()
    with open_path(path, "rb") as handle:
        if lowered.endswith(".csv"):
            return pd.read_csv(handle)
        if lowered.endswith((".jsonl", ".ndjson")):
            return pd.read_json(handle, lines=True)
        return pd.read_parquet(handle)


def write_table(frame: Any, path: str, fmt: str = "parquet") -> None:
    """Write a DataFrame as CSV, Parquet or JSON lines."""
    with open_path(path, "wb") as handle:
        if fmt == "csv":
            handle.write(frame.to_csv(index=False).encode("utf-8"))
        elif fmt == "jsonl":
            handle.write(frame.to_json(orient="records", lines=True).encode("utf-8"))
        else:
            frame.to_parquet(handle, index=False)
    log("wrote " + str(len(frame)) + " rows to " + path)


def bento_model_name(name: str) -> str:
    """A BentoML model name for a registered model name (lowercase letters, digits, '_', '.', '-')."""
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.") or "model"


def build_bento(cfg: dict[str, Any], **options: Any) -> tuple[Any, Any]:
    """Import ``models:/<name>@<alias>`` into BentoML and build the Bento; (bento, model).

    The name is the node's ``model_name`` or else the upstream model's; the Bento is ``bento_name``,
    built from ``service`` in ``build_context``. ``options`` go to ``bentoml.bentos.build`` as well.
    When the upstream value names a version for this model and alias (a gate's ``approved``: the version
    the alias moves to once the deploy succeeds), that version is packaged: ``models:/<name>/<version>``.
    """
    import bentoml

    upstream = value("model")
    upstream = upstream if isinstance(upstream, dict) else {}
    name = need(
        cfg["model_name"] or upstream.get("name"), "no model name: set it on the node or connect a registered model"
    )
    uri = "models:/" + name + "@" + cfg["model_alias"]
    if upstream.get("version") and upstream.get("name") == name and upstream.get("alias") == cfg["model_alias"]:
        uri = "models:/" + name + "/" + str(upstream["version"])
    model = bentoml.mlflow.import_model(bento_model_name(name), model_uri=uri)
    log("imported " + uri + " as " + str(model.tag))
    bento = bentoml.bentos.build(
        cfg["service"], name=cfg["bento_name"], build_ctx=cfg["build_context"], models=[str(model.tag)], **options
    )
    return bento, model
