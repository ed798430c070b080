"""What ``instance.json`` records about a running local Airflow, whether it still runs, ports, the log's end.

``instance`` starts and stops the instance; ``up``, ``status``, ``logs`` and ``down`` find it from here.
"""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .project import AirflowUpError, Project

TAIL = 25
_children: dict[int, subprocess.Popen[bytes]] = {}
"""Instances this process started (waited for on ``down``, so that none stays a zombie)."""


@dataclass(slots=True)
class State:
    """What ``instance.json`` records about a running instance."""

    pid: int
    port: int
    home: str
    project_dir: str
    workspace: str
    started: str
    create_time: float
    dag_ids: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The UI (and API) address."""
        return f"http://127.0.0.1:{self.port}"


@dataclass(slots=True)
class Ready:
    """What ``up`` reports: where the UI is, the login, and what the instance parsed."""

    state: State
    user: str
    password: str
    dag_ids: list[str]
    import_errors: dict[str, str]
    reused: bool
    seconds: float


def read_state(project: Project) -> State | None:
    """The recorded instance, if it is still running (a stale record is removed)."""
    try:
        state = State(**json.loads(project.state.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if alive(state.pid, state.create_time):
        return state
    project.state.unlink(missing_ok=True)
    return None


def alive(pid: int, create_time: float) -> bool:
    import psutil

    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        process = psutil.Process(pid)
        return abs(process.create_time() - create_time) < 1 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether the API server could listen on ``port`` of 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the API server binds: a closed
        try:  # connection's TIME_WAIT left by the previous instance is no conflict, a listener still is
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_port(port: int) -> None:
    if not port_free(port):
        raise AirflowUpError(f"port {port} on 127.0.0.1 is in use by another program; pick a free one with --port")


def tail(path: Path, lines: int = TAIL) -> str:
    """The last ``lines`` lines of a log (empty when there is none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def write_state(project: Project, state: State) -> None:
    from ..runs.records import write_json

    write_json(project.state, asdict(state), private=True)
