"""The user's own step: ``python -m dagsmith_steps exec -- COMMAND [ARGS...]`` runs it inside the artifact layer.

A ``script`` node's file or command runs through this step on every target, as the built-in steps do: its
path-mode inputs are fetched from the store before the command starts (``DAGSMITH_INPUT_<PORT>`` is then a
local copy), and when the command exits 0 each output is stored at ``DAGSMITH_OUTPUT_<PORT>_URI`` with its
manifest, and its access enforced where it lives (``runtime.run_step`` around ``main``). The command runs as a
child process with the contract's environment; its output streams to the task log, SIGTERM reaches it
(``runtime.run_command``), and its exit status is the task's: a failed command stores nothing.
"""

from __future__ import annotations

import os
import shlex
import sys

from dagsmith_steps.artifact_store import ARTIFACT_LAYER  # dagsmith: not embedded
from dagsmith_steps.runtime import fail, log, run_command  # dagsmith: not embedded


def user_command(argv: list[str]) -> list[str]:
    """The command line after ``--``; stops the step when there is none."""
    args = list(argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        node = os.environ.get("DAGSMITH_NODE_ID") or os.environ.get("DAGSMITH_TASK_ID") or "this step"
        fail("node " + repr(node) + ": no command to run; give the script node a script file or a command")
    return args


def main() -> None:
    """Run the user's command; exit with its status when it fails (the layer then stores nothing)."""
    command = user_command(sys.argv[1:])
    # The layer runs around this program; a dagsmith step that the command itself starts must not run it again.
    env = {**os.environ, ARTIFACT_LAYER: "launcher"}
    log("running " + shlex.join(command))
    code = run_command(command, env)
    if code != 0:
        log("the command exited with status " + str(code) + "; no output is stored")
        sys.exit(code)


if __name__ == "__main__":
    main()
