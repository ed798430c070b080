"""Hyper-parameter search, first task: sample the trials and open one MLflow run for each."""

from __future__ import annotations

import itertools
import json
import math
import os
import random
from typing import Any

from dagsmith_steps.runtime import config, log, mlflow_client, report  # dagsmith: not embedded


def _grid_values(dimension: dict[str, Any]) -> list[Any]:
    if dimension["kind"] == "choice":
        return list(dimension["values"])
    return list(range(int(dimension["low"]), int(dimension["high"]) + 1))


def _sample(rng: random.Random, dimension: dict[str, Any]) -> Any:
    kind = dimension["kind"]
    if kind == "choice":
        return rng.choice(dimension["values"])
    if kind == "int":
        return rng.randint(int(dimension["low"]), int(dimension["high"]))
    if kind == "loguniform":
        return math.exp(rng.uniform(math.log(dimension["low"]), math.log(dimension["high"])))
    return rng.uniform(dimension["low"], dimension["high"])


def generate_trials(space: dict[str, Any], algorithm: str, max_trials: int, seed: int) -> list[dict[str, Any]]:
    """At most ``max_trials`` parameter sets: the grid in order, or seeded random samples."""
    names = sorted(space)
    if algorithm == "grid":
        grid = itertools.product(*(_grid_values(space[name]) for name in names))
        return [dict(zip(names, values, strict=True)) for values in itertools.islice(grid, max_trials)]
    rng = random.Random(seed)
    return [{name: _sample(rng, space[name]) for name in names} for _ in range(max_trials)]


def main() -> None:
    """Report one argument list per trial: the trial's JSON spec, read by the trial wrapper."""
    cfg = config()
    trials = generate_trials(cfg["search_space"], cfg["algorithm"], cfg["max_trials"], cfg["seed"])
    client = mlflow_client()
    name = cfg["experiment"]
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    tags = {
        "dagsmith.dag_id": os.environ.get("DAGSMITH_DAG_ID", ""),
        "dagsmith.task_id": os.environ.get("DAGSMITH_TASK_ID", ""),
        "dagsmith.run_id": os.environ.get("DAGSMITH_RUN_ID", ""),
    }
    specs = []
    for index, params in enumerate(trials):
        run = client.create_run(experiment_id, tags=dict(tags, **{"dagsmith.trial": str(index)}))
        for key, item in params.items():
            client.log_param(run.info.run_id, key, item)
        specs.append([json.dumps({"index": index, "params": params, "run_id": run.info.run_id})])
        log("trial " + str(index) + ": " + json.dumps(params, sort_keys=True))
    report(specs)


if __name__ == "__main__":
    main()
