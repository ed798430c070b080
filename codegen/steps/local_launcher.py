"""dagsmith local launcher: run one step of a local DAG as its pod would, and hand its values to Airflow.

A local DAG runs every step through ``BashOperator`` with one fixed command, ``LAUNCH`` (below), which
starts this program. The step's command line arrives in ``DAGSMITH_ARGC`` and ``DAGSMITH_ARG_<i>`` (each
one rendered by Airflow on its own: no shell ever parses user text). The step runs in
``DAGSMITH_PROJECT_DIR`` with the same ``DAGSMITH_*`` variables as in a pod, and writes its values to
``DAGSMITH_XCOM_FILE`` instead of ``/airflow/xcom/return.json``. With ``DAGSMITH_LOCAL_PUSH`` set, this
program prints them as the last line of output, which BashOperator pushes to XCom (through ``json.loads``).

Hyper-parameter trials are mapped over the command: the trials task (``DAGSMITH_LOCAL_EXPAND``) reports
one command per trial, ``LAUNCH trial <token>``, where the token is the trial's spec in URL-safe base64 (an
alphabet the shell takes literally). Standard library only (the artifact layer, ``artifact_store``, is
embedded before ``main``: it fetches the step's inputs before the command and stores its outputs after it
exits 0, as a pod's step runtime does).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from dagsmith_steps.artifact_store import ArtifactError, artifact_run  # dagsmith: not embedded

LAUNCH = 'exec "${DAGSMITH_PYTHON:-python3}" -c "$DAGSMITH_LAUNCHER"'  # = compat.LOCAL_BASH
_TOKEN = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_OWN = ("DAGSMITH_LAUNCHER", "DAGSMITH_ARGC", "DAGSMITH_LOCAL_PUSH", "DAGSMITH_LOCAL_EXPAND")


def _say(message: str) -> None:
    print("[dagsmith local] " + message, flush=True)


def step_command(env: dict[str, str]) -> list[str]:
    """The step's command line; ``python`` means the interpreter that runs this launcher."""
    count = int(env.get("DAGSMITH_ARGC") or "0")
    argv = [env.get("DAGSMITH_ARG_" + str(index), "") for index in range(count)]
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def encode_trial(spec: str) -> str:
    """The command that runs one trial: ``LAUNCH trial <base64url of the spec>``."""
    return LAUNCH + " trial " + base64.urlsafe_b64encode(spec.encode("utf-8")).decode("ascii")


def decode_trial(token: str) -> str:
    """The trial spec (JSON text) in a token made by ``encode_trial``."""
    if not _TOKEN.fullmatch(token):
        raise ValueError("not a trial token: " + repr(token[:40]))
    return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")


def trial_commands(specs: Any) -> list[str]:
    """The trials task's report (``[[spec], ...]``) as one launcher command per trial."""
    return [encode_trial(entry[0]) for entry in specs]


def trial_specs(reported: Any) -> Any:
    """The trial specs as the pods' steps read them (``[[spec], ...]``), from launcher commands."""
    if isinstance(reported, list) and all(isinstance(entry, str) for entry in reported):
        return [[decode_trial(entry.rsplit(" ", 1)[-1])] for entry in reported]
    return reported


def main() -> None:
    """Run the step; exit with its status; print its values when this task pushes them."""
    env = dict(os.environ)
    argv = step_command(env)
    if not argv:
        _say("error: no step command (DAGSMITH_ARGC is not set)")
        sys.exit(2)
    extra = sys.argv[1:]
    if extra[:1] == ["trial"] and len(extra) == 2:
        argv.append(decode_trial(extra[1]))
    if env.get("DAGSMITH_TRIALS"):
        env["DAGSMITH_TRIALS"] = json.dumps(trial_specs(json.loads(env["DAGSMITH_TRIALS"])))
    push, expand = bool(env.get("DAGSMITH_LOCAL_PUSH")), bool(env.get("DAGSMITH_LOCAL_EXPAND"))
    for name in list(env):
        if name in _OWN or name.startswith("DAGSMITH_ARG_"):
            del env[name]
    handle, name = tempfile.mkstemp(prefix="dagsmith-xcom-", suffix=".json")
    os.close(handle)
    xcom = Path(name)
    xcom.unlink()
    env["DAGSMITH_XCOM_FILE"] = str(xcom)
    workdir = env.get("DAGSMITH_PROJECT_DIR") or None
    try:
        try:
            code = artifact_run(argv, env, cwd=workdir)
        except ArtifactError as error:
            _say(
                "error: node "
                + repr(env.get("DAGSMITH_NODE_ID") or env.get("DAGSMITH_TASK_ID", ""))
                + ": "
                + str(error)
            )
            sys.exit(1)
        if code != 0:
            _say("the step exited with status " + str(code))
            sys.exit(code if 0 < code < 256 else 1)
        values = json.loads(xcom.read_text(encoding="utf-8")) if xcom.exists() else None
    finally:
        xcom.unlink(missing_ok=True)
    if expand:
        values = trial_commands(values or [])
    if push:
        # A line of its own, whatever the step printed last: BashOperator pushes the last line.
        sys.stdout.write("\n" + json.dumps(values) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
