"""Register model step: register the model an upstream MLflow run logged and point an alias at it."""

from __future__ import annotations

from typing import Any

from dagsmith_steps.runtime import config, log, mlflow_client, move_alias, need, report, value  # dagsmith: not embedded


def run_id_of(upstream: Any) -> str | None:
    """The run id in an upstream value: a plain id or an object with ``run_id``."""
    if isinstance(upstream, dict):
        upstream = upstream.get("run_id")
    return upstream if isinstance(upstream, str) and upstream else None


def main() -> None:
    """Register ``runs:/<run>/<artifact_path>`` under the model name and set the alias on it."""
    import mlflow

    cfg = config()
    run_id = need(run_id_of(value("run")), "the upstream step reported no MLflow run id for its 'run' output")
    client = mlflow_client()
    version = mlflow.register_model("runs:/" + run_id + "/" + cfg["artifact_path"], cfg["model_name"], tags=cfg["tags"])
    move_alias(client, cfg["model_name"], cfg["alias"], str(version.version))  # recorded on the version
    log("registered " + cfg["model_name"] + " version " + str(version.version) + " as @" + cfg["alias"])
    model = {"name": cfg["model_name"], "version": str(version.version), "alias": cfg["alias"], "run_id": run_id}
    report({"model": model})


if __name__ == "__main__":
    main()
