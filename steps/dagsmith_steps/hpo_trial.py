"""Hyper-parameter search, one mapped trial: run the training command with the trial's parameters.

Arguments: ``-- COMMAND... SPEC``. The command gets ``--name=value`` for each parameter and the
environment variables ``MLFLOW_RUN_ID`` (the trial's run, which ``mlflow.start_run()`` resumes),
``DAGSMITH_TRIAL_INDEX`` and ``DAGSMITH_TRIAL_PARAMS`` (JSON). When the command ends, the trial's run is
ended with its outcome (``FINISHED`` or ``FAILED``), which the best-trial task reads.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from dagsmith_steps.runtime import fail, log, run_command  # dagsmith: not embedded


def trial_command(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """The command line and the spec from this program's arguments."""
    args = list(argv)
    if args and args[0] == "--":
        args = args[1:]
    if len(args) < 2:
        fail("expected the trial command and the trial spec as arguments")
    spec = json.loads(args[-1])
    flags = []
    for key, item in spec["params"].items():
        flags.append("--" + key + "=" + (item if isinstance(item, str) else json.dumps(item)))
    return args[:-1] + flags, spec


def close_run(run_id: str, ok: bool) -> None:
    """End the trial's run as its command ended: ``FINISHED`` on exit status 0, ``FAILED`` otherwise.

    The best-trial task counts a trial as successful by this status, so the exit status decides, whatever
    the command did with the run (a retried trial that succeeds ends ``FINISHED`` after a ``FAILED`` try).
    """
    try:
        from mlflow import MlflowClient
    except ImportError:
        log("mlflow is not installed in the trial image: the trial's run stays open and counts as failed")
        return
    client = MlflowClient()
    wanted = "FINISHED" if ok else "FAILED"
    if client.get_run(run_id).info.status != wanted:
        client.set_terminated(run_id, wanted)


def main() -> None:
    """Run one trial; its exit status is the task's."""
    command, spec = trial_command(sys.argv[1:])
    env = dict(os.environ)
    env["MLFLOW_RUN_ID"] = spec["run_id"]
    env["DAGSMITH_TRIAL_INDEX"] = str(spec["index"])
    env["DAGSMITH_TRIAL_PARAMS"] = json.dumps(spec["params"])
    log("trial " + str(spec["index"]) + ": " + " ".join(command))
    code = run_command(command, env)  # SIGTERM reaches the trial's command
    if os.environ.get("MLFLOW_TRACKING_URI"):
        close_run(spec["run_id"], code == 0)
    sys.exit(code)


if __name__ == "__main__":
    main()
