"""The BentoML servers that local deploy steps started in a workspace: list them, stop them.

The local deploy step (``codegen/steps/bentoml_serve_local.py``) writes ``<workspace>/serving/<name>.json``
with the server's process group and URL; a server keeps serving after its run, until stopped here or
replaced by the next deployment of the same name. Stopping is the step runtime's ``stop_server``,
which the deploy step also uses to stop the previous server of a deployment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dagsmith.codegen.steps.local_runtime import process_group_alive, stop_server


def servers(serving: Path) -> list[dict[str, Any]]:
    """The serving records of a workspace's ``serving`` folder, with ``running`` set."""
    found = []
    for path in sorted(serving.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        record["running"] = int(record.get("pgid") or 0) > 1 and process_group_alive(int(record["pgid"]))
        record["record"] = str(path)
        found.append(record)
    return found


def stop_serving(serving: Path, name: str | None = None) -> list[str]:
    """Stop the servers (all, or the deployment ``name``); the names of those that were running."""
    stopped = []
    for record in servers(serving):
        if name is not None and record.get("name") != name:
            continue
        if stop_server(record):
            stopped.append(str(record.get("name")))
    return stopped
