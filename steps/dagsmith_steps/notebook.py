"""Notebook step: execute a notebook with papermill and keep the executed copy as 'executed'."""

from __future__ import annotations

import json
import os
import sys

from dagsmith_steps.runtime import config, log, output_path  # dagsmith: not embedded


def main() -> None:
    """Run the notebook with its parameters; a failing cell fails the task (the copy is still kept)."""
    import papermill

    cfg = config()
    # The kernel inherits this environment: the notebook finds its paths in DAGSMITH_* variables.
    os.environ["DAGSMITH_ARGV"] = json.dumps(sys.argv[1:])
    executed = output_path("executed")
    log("executing " + cfg["notebook"] + " into " + executed)
    papermill.execute_notebook(
        cfg["notebook"],
        executed,
        parameters=cfg.get("parameters") or {},
        kernel_name=cfg.get("kernel") or "python3",
        log_output=True,
    )


if __name__ == "__main__":
    main()
