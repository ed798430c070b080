"""The BentoML servers that local deploy steps started in a workspace: list them, stop them.

The local deploy step (``codegen/steps/bentoml_serve_local.py``) writes ``<workspace>/serving/<name>.json``
with the server's process group and URL; a server keeps serving after its run, until stopped here or
replaced by the next deployment of the same name.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def servers(serving: Path) -> list[dict[str, Any]]:
    """The serving records of a workspace's ``serving`` folder, with ``running`` set."""
    found = []
    for path in sorted(serving.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        record["running"] = int(record.get("pgid") or 0) > 1 and _alive(int(record["pgid"]))
        record["record"] = str(path)
        found.append(record)
    return found


def stop_server(record: dict[str, Any], timeout: float = 15.0) -> bool:
    """Stop one server's process group (SIGTERM, then SIGKILL after ``timeout``); False if not running."""
    group = int(record.get("pgid") or 0)
    if group <= 1 or not _alive(group):
        return False
    os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(group):
            return True
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    return True


def stop_serving(serving: Path, name: str | None = None) -> list[str]:
    """Stop the servers (all, or the deployment ``name``); the names of those that were running."""
    stopped = []
    for record in servers(serving):
        if name is not None and record.get("name") != name:
            continue
        if stop_server(record):
            stopped.append(str(record.get("name")))
    return stopped
