"""Hyper-parameter search, last task: pick the best trial by the objective metric."""

from __future__ import annotations

import json
import os
from typing import Any

from runtime import config, log, mlflow_client, need, open_path, output_path, report  # dagsmith: not embedded


def best_trial(trials: list[dict[str, Any]], direction: str) -> dict[str, Any] | None:
    """The trial with the best ``value`` (trials without one are skipped); None when none has one."""
    scored = [trial for trial in trials if trial.get("value") is not None]
    if not scored:
        return None
    pick = max if direction == "maximize" else min
    return pick(scored, key=lambda trial: trial["value"])


def main() -> None:
    """Read every trial's objective from MLflow, log the table, report the best run."""
    cfg = config()
    metric = cfg["objective_metric"]
    specs = [json.loads(entry[0]) for entry in json.loads(os.environ.get("DAGSMITH_TRIALS") or "[]")]
    client = mlflow_client()
    trials = []
    for spec in specs:
        run = client.get_run(spec["run_id"])
        trial = dict(spec, value=run.data.metrics.get(metric), status=run.info.status)
        trials.append(trial)
        log("trial " + str(spec["index"]) + " " + metric + "=" + str(trial["value"]) + " " + json.dumps(spec["params"]))
    best = need(
        best_trial(trials, cfg["direction"]), "no trial logged the metric " + repr(metric) + " to its MLflow run"
    )
    log("best: trial " + str(best["index"]) + " " + metric + "=" + str(best["value"]))
    with open_path(output_path("trials"), "w") as handle:
        json.dump(trials, handle, indent=2)
    report({"best_run": dict(best, metric=metric), "trials": {"count": len(trials), "best": best["value"]}})


if __name__ == "__main__":
    main()
