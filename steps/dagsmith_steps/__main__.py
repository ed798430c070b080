"""``python -m dagsmith_steps <step> [args...]`` (or ``dagsmith-step``): run one built-in step in a pod.

Checks first that this runtime is the version the DAG was exported for (``DAGSMITH_RUNTIME_VERSION``),
then runs the step's ``main`` inside the artifact layer (``runtime.run_step``). The step sees the arguments
after its name as ``sys.argv[1:]``, exactly as the embedded program of a local run does.
"""

from __future__ import annotations

import importlib
import os
import sys

from dagsmith_steps import RUNTIME_VERSION, STEPS, VERSION_ENV, step_module

USAGE = "usage: python -m dagsmith_steps <step> [arguments...]; steps: " + ", ".join(STEPS)


def version_error(wanted: str) -> str | None:
    """Why this runtime may not run a step of a DAG that needs ``wanted`` (None when it may)."""
    if not wanted or wanted == RUNTIME_VERSION:
        return None
    return (
        "this pod's image has dagsmith step runtime "
        + RUNTIME_VERSION
        + ", the DAG needs "
        + wanted
        + "; rebuild the step image with `dagsmith step-image --build --tag <image>` from a dagsmith checkout "
        "at the version that exported the DAG (or re-export the DAG with this dagsmith), and set the pipeline's "
        "step_image setting to that image (a script, notebook or trial step runs in its node's own image: install "
        "dagsmith-steps " + wanted + " there)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the step named by the first argument; the exit status of the task."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        print(RUNTIME_VERSION, flush=True)
        return 0
    if not args or args[0] not in STEPS:
        named = repr(args[0]) if args else "no step"
        print("[dagsmith] error: " + named + " is not a dagsmith step; " + USAGE, file=sys.stderr, flush=True)
        return 2
    problem = version_error(os.environ.get(VERSION_ENV, ""))
    if problem is not None:
        print("[dagsmith] error: " + problem, file=sys.stderr, flush=True)
        return 3
    from dagsmith_steps.runtime import run_step

    module = importlib.import_module("dagsmith_steps." + step_module(args[0]))
    sys.argv = [sys.argv[0], *args[1:]]
    run_step(module.main)  # a failing step exits non-zero from inside (runtime.fail)
    return 0


def entry() -> None:
    """The ``dagsmith-step`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
