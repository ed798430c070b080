"""Hyper-parameter search, last task: pick the best trial among the successful ones.

The task runs when some trials failed (trigger rule ``none_skipped``), so one failed trial does not fail
the search. A trial succeeded when its MLflow run ended ``FINISHED``: the trial wrapper ends every trial's
run as its command ended (``FINISHED`` on exit status 0, ``FAILED`` otherwise); a run still ``RUNNING``
belongs to a pod that was killed. The step fails, naming each trial's state, when fewer trials than
``min_successful_trials`` succeeded.
"""

from __future__ import annotations

import json
import os
from typing import Any

from dagsmith_steps.runtime import (  # dagsmith: not embedded
    config,
    fail,
    log,
    mlflow_client,
    need,
    open_path,
    output_path,
    report,
)

SUCCEEDED = "FINISHED"
"""The MLflow run status of a trial whose command exited 0."""


def best_trial(trials: list[dict[str, Any]], direction: str) -> dict[str, Any] | None:
    """The trial with the best ``value`` (trials without one are skipped); None when none has one."""
    scored = [trial for trial in trials if trial.get("value") is not None]
    if not scored:
        return None
    pick = max if direction == "maximize" else min
    return pick(scored, key=lambda trial: trial["value"])


def trial_specs(text: str | None) -> list[dict[str, Any]]:
    """The trial specs the trials task reported (``DAGSMITH_TRIALS``: one argument list per trial)."""
    entries = json.loads(text or "null")
    if not isinstance(entries, list) or not entries:
        fail("the trials task reported no trials (it failed or did not run); see its log")
    return [json.loads(entry[0]) for entry in entries]


def successful(trials: list[dict[str, Any]], minimum: int) -> list[dict[str, Any]]:
    """The trials that succeeded; stops the step when fewer than ``minimum`` did."""
    done = [trial for trial in trials if trial["status"] == SUCCEEDED]
    if len(done) < minimum:
        states = ", ".join("trial " + str(trial["index"]) + " " + str(trial["status"]) for trial in trials)
        fail(
            str(len(done))
            + " of "
            + str(len(trials))
            + " trials succeeded, the search needs at least "
            + str(minimum)
            + " (min_successful_trials) ("
            + states
            + "; RUNNING: the trial's pod ended before its run was closed); see the failed trials' logs"
        )
    return done


def _status(client: Any, run_id: str) -> tuple[str, dict[str, float]]:
    try:
        run = client.get_run(run_id)
    except Exception as error:  # a deleted run or an unreachable server: not a successful trial
        log("cannot read trial run " + run_id + ": " + str(error))
        return "MISSING", {}
    return str(run.info.status), dict(run.data.metrics)


def main() -> None:
    """Read every trial's state and objective from MLflow, log the table, report the best successful run."""
    cfg = config()
    metric = cfg["objective_metric"]
    specs = trial_specs(os.environ.get("DAGSMITH_TRIALS"))
    client = mlflow_client()
    trials = []
    for spec in specs:
        status, metrics = _status(client, spec["run_id"])
        trial = dict(spec, value=metrics.get(metric), status=status)
        trials.append(trial)
        line = "trial " + str(spec["index"]) + " " + status + " " + metric + "=" + str(trial["value"])
        log(line + " " + json.dumps(spec["params"]))
    done = successful(trials, int(cfg.get("min_successful_trials") or 1))
    best = need(
        best_trial(done, cfg["direction"]),
        "no successful trial logged the metric " + repr(metric) + " to its MLflow run",
    )
    log("best: trial " + str(best["index"]) + " " + metric + "=" + str(best["value"]))
    # 'trials' is a metrics port: its value travels by XCom and the DAG gives it no path. A caller that
    # sets a path (a test, a wrapper) still gets the whole table; the task log always has it.
    log("trials: " + json.dumps(trials, sort_keys=True))
    if os.environ.get("DAGSMITH_OUTPUT_TRIALS"):
        with open_path(output_path("trials"), "w") as handle:
            json.dump(trials, handle, indent=2)
    counts = {"count": len(trials), "succeeded": len(done), "best": best["value"]}
    report({"best_run": dict(best, metric=metric), "trials": counts})


if __name__ == "__main__":
    main()
