"""dagsmith step runtime, local target only: stopping a local server's process group.

Embedded after ``runtime`` in the local target's programs (the local deploy step stops the previous
server with it); the editor imports it as ``dagsmith.codegen.steps.local_runtime`` to list and stop the
servers. Cluster DAGs never carry it. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any


def process_group_alive(group: int) -> bool:
    """True while process group ``group`` has a process this user may signal."""
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_server(record: dict[str, Any], timeout: float = 15.0) -> bool:
    """Stop the server a serving record names (its whole process group); False if it was not running.

    The group (``pgid``) gets SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds.
    """
    group = int(record.get("pgid") or 0)
    if group <= 1 or not process_group_alive(group):
        return False
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:  # it ended since the check
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_group_alive(group):
            return True
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    return True
