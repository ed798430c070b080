"""Monitor step: measure a quality or drift metric and decide whether to trigger retraining.

Reports ``trigger``; the DAG's short-circuit task reads it and runs the retraining trigger only when it
is true. The step triggers only when the metric crossed the threshold, no run of the retraining DAG is
queued or running (``DAGSMITH_RETRAIN_ACTIVE_RUNS``, counted by Airflow when it starts the task), and
no trigger is recorded in the monitoring experiment within the cooldown. It records each trigger there
(a run tagged ``dagsmith.kind=retrain-trigger``, with the triggered run's id) before reporting it.

Source ``mlflow`` reads the metric from the monitoring experiment (see CONTRACT.md): the newest finished
run tagged with the model's name and version, as the monitoring step logged it. Source ``drift`` measures
the drift itself and logs each measurement there (a run tagged ``dagsmith.kind=drift`` and, when the model
is known, its name and version), so that drift can be charted over time like a logged metric.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from dagsmith_steps.runtime import (  # dagsmith: not embedded
    config,
    fail,
    input_path,
    log,
    mlflow_client,
    need,
    read_table,
    report,
    value,
)

TRIGGER_KIND = "retrain-trigger"
"""The ``dagsmith.kind`` tag of the runs that record a retraining trigger."""
DRIFT_KIND = "drift"
"""The ``dagsmith.kind`` tag of the runs that record a drift measurement (source ``drift``)."""


def population_stability(reference: list[float], current: list[float], bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (numbers), over reference deciles."""
    ordered = sorted(reference)
    if not ordered or not current:
        fail("drift needs non-empty reference and current data")
    edges = [ordered[min(len(ordered) - 1, (len(ordered) * i) // bins)] for i in range(1, bins)]

    def shares(values: list[float]) -> list[float]:
        counts = [0] * bins
        for item in values:
            counts[sum(1 for edge in edges if item > edge)] += 1
        return [max(count / len(values), 1e-6) for count in counts]

    expected, actual = shares(reference), shares(current)
    return sum((a - e) * math.log(a / e) for e, a in zip(expected, actual, strict=True))


def should_trigger(measured: float, threshold: float, when: str) -> bool:
    """True when ``measured`` crossed ``threshold`` in the watched direction."""
    return measured < threshold if when == "below" else measured > threshold


def _quoted(text: str) -> str:
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


def experiment_id(client: Any, name: str) -> str:
    """The id of the MLflow experiment ``name``, created when it does not exist."""
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)


def monitored_version(client: Any, cfg: dict[str, Any]) -> tuple[str, str]:
    """The model's name and version: the upstream's evaluated version, else the alias's."""
    upstream = value("model")
    upstream = upstream if isinstance(upstream, dict) else {}
    name = need(
        cfg["model_name"] or upstream.get("name"), "no model name: set it on the node or connect a registered model"
    )
    if upstream.get("name") == name and upstream.get("version"):
        return name, str(upstream["version"])
    return name, str(client.get_model_version_by_alias(name, cfg["model_alias"]).version)


def logged_metric(client: Any, experiment: str, metric: str, name: str, version: str) -> float:
    """The metric from the newest finished monitoring run of ``name`` version ``version`` (the contract)."""
    where = client.get_experiment_by_name(experiment)
    runs = []
    if where is not None:
        query = (
            "tags.`dagsmith.model_name` = "
            + _quoted(name)
            + " and tags.`dagsmith.model_version` = "
            + _quoted(version)
            + " and attributes.status = 'FINISHED'"
        )
        runs = client.search_runs([where.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=50)
    for run in runs:
        if metric in run.data.metrics and run.data.tags.get("dagsmith.kind") != DRIFT_KIND:
            log("metric from monitoring run " + run.info.run_id + " in experiment " + repr(experiment))
            return float(run.data.metrics[metric])
    return fail(
        "no finished run in the MLflow experiment "
        + repr(experiment)
        + " tagged dagsmith.model_name="
        + name
        + ", dagsmith.model_version="
        + version
        + " logs the metric "
        + repr(metric)
        + "; the monitoring step must log it there (see the step contract), or set monitoring_experiment"
    )


def refusal(client: Any, experiment: str, retrain_dag_id: str, cooldown_hours: float, now: float) -> str | None:
    """Why a trigger is refused now (a retraining run still going, or the cooldown), or None."""
    active = os.environ.get("DAGSMITH_RETRAIN_ACTIVE_RUNS", "").strip()
    if active.isdigit() and int(active) > 0:
        return retrain_dag_id + " has " + active + " run(s) queued or running"
    if not active.isdigit():
        log("cannot count the runs of " + retrain_dag_id + " (Airflow 2): relying on the cooldown")
    where = client.get_experiment_by_name(experiment)
    if where is None:
        return None
    query = (
        "tags.`dagsmith.kind` = '" + TRIGGER_KIND + "' and tags.`dagsmith.retrain_dag_id` = " + _quoted(retrain_dag_id)
    )
    last = client.search_runs([where.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=1)
    if not last:
        return None
    since = (now - last[0].info.start_time / 1000.0) / 3600.0
    if since < cooldown_hours:
        triggered = last[0].data.tags.get("dagsmith.triggered_run_id", "?")
        return (
            "retraining of "
            + retrain_dag_id
            + " was triggered "
            + str(round(since, 2))
            + " h ago (run "
            + triggered
            + "), within the cooldown of "
            + str(cooldown_hours)
            + " h"
        )
    return None


def drifted_model(client: Any, cfg: dict[str, Any]) -> tuple[str, str]:
    """The model a drift monitor watches (name, version), as far as known: ``""`` for what is not."""
    upstream = value("model")
    upstream = upstream if isinstance(upstream, dict) else {}
    name = str(cfg.get("model_name") or upstream.get("name") or "")
    if not name:
        return "", ""
    if upstream.get("name") == name and upstream.get("version"):
        return name, str(upstream["version"])
    try:
        return name, str(client.get_model_version_by_alias(name, cfg["model_alias"]).version)
    except Exception:  # no such model or alias yet: the drift is still recorded, without a version
        return name, ""


def record_drift(client: Any, experiment: str, cfg: dict[str, Any], measured: float) -> None:
    """Log the drift measurement in the monitoring experiment (a finished run; the dashboard charts them)."""
    name, version = drifted_model(client, cfg)
    tags = {
        "dagsmith.kind": DRIFT_KIND,
        "dagsmith.dag_id": os.environ.get("DAGSMITH_DAG_ID", ""),
        "dagsmith.task_id": os.environ.get("DAGSMITH_TASK_ID", ""),
        "dagsmith.run_id": os.environ.get("DAGSMITH_RUN_ID", ""),
        "mlflow.runName": "drift " + cfg["metric"],
    }
    if name:
        tags["dagsmith.model_name"] = name
    if version:
        tags["dagsmith.model_version"] = version
    run = client.create_run(experiment_id(client, experiment), tags=tags)
    client.log_metric(run.info.run_id, cfg["metric"], measured)
    client.log_param(run.info.run_id, "threshold", cfg["threshold"])
    client.log_param(run.info.run_id, "trigger_when", cfg["trigger_when"])
    client.set_terminated(run.info.run_id, "FINISHED")
    model = (" for " + name + (" v" + version if version else "")) if name else ""
    log("recorded the drift" + model + " as run " + run.info.run_id + " in experiment " + repr(experiment))


def record_trigger(client: Any, experiment: str, retrain_dag_id: str, measured: float, metric: str) -> None:
    """Record the trigger in the monitoring experiment (what the cooldown reads)."""
    tags = {
        "dagsmith.kind": TRIGGER_KIND,
        "dagsmith.retrain_dag_id": retrain_dag_id,
        "dagsmith.triggered_run_id": os.environ.get("DAGSMITH_RETRAIN_RUN_ID", ""),
        "dagsmith.dag_id": os.environ.get("DAGSMITH_DAG_ID", ""),
        "dagsmith.task_id": os.environ.get("DAGSMITH_TASK_ID", ""),
        "dagsmith.run_id": os.environ.get("DAGSMITH_RUN_ID", ""),
        "mlflow.runName": "retrain " + retrain_dag_id,
    }
    run = client.create_run(experiment_id(client, experiment), tags=tags)
    client.log_metric(run.info.run_id, metric, measured)
    client.set_terminated(run.info.run_id, "FINISHED")
    log("recorded the trigger as run " + run.info.run_id + " in experiment " + repr(experiment))


def main() -> None:
    """Measure, decide (threshold, running retraining, cooldown), record a trigger, report."""
    cfg = config()
    metric = cfg["metric"]
    client = mlflow_client()
    experiment = cfg["monitoring_experiment"]
    if cfg["source"] == "drift":
        reference = read_table(need(input_path("reference"), "connect the 'reference' input"))
        current = read_table(need(input_path("current"), "connect the 'current' input"))
        measured = population_stability(reference[metric].dropna().tolist(), current[metric].dropna().tolist())
        record_drift(client, experiment, cfg, measured)
    else:
        name, version = monitored_version(client, cfg)
        measured = logged_metric(client, experiment, metric, name, version)
    crossed = should_trigger(measured, cfg["threshold"], cfg["trigger_when"])
    log(metric + "=" + str(measured) + " threshold " + cfg["trigger_when"] + " " + str(cfg["threshold"]))
    reason = refusal(client, experiment, cfg["retrain_dag_id"], cfg["cooldown_hours"], time.time()) if crossed else None
    trigger = crossed and reason is None
    if trigger:
        record_trigger(client, experiment, cfg["retrain_dag_id"], measured, metric)
    log("decision: " + ("TRIGGER RETRAINING" if trigger else "no retraining" + (": " + reason if reason else "")))
    measurement = {"metric": metric, "value": measured, "threshold": cfg["threshold"]}
    report({"metrics": measurement, "trigger": trigger, "crossed": crossed, "refused": reason})


if __name__ == "__main__":
    main()
