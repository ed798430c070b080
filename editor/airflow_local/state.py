"""What ``instance.json`` records about a running local Airflow, whether it still runs, ports, the log's end.

``instance`` starts and stops the instance; ``up``, ``status``, ``logs`` and ``down`` find it from here.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .project import AirflowUpError, Project

TAIL = 25
SAME_START = 1.5
"""Seconds two readings of one process's start since boot may differ by (its start in whole clock ticks
since boot never changes; the two readings of the boot time it is taken from may fall either side of a
clock adjustment). A pid reused by another process starts far later than that."""
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
    since_boot: float | None = None
    """The supervisor's start in seconds since boot (what identifies it; ``create_time`` is wall-clock)."""

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
    if alive(state.pid, state.create_time, state.since_boot):
        return state
    project.state.unlink(missing_ok=True)
    return None


def since_boot(pid: int) -> float:
    """When process ``pid`` started, in seconds since the machine booted (``psutil.Error`` when it is gone).

    ``create_time`` is that plus the boot time as the clock says now, which moves when the clock is set
    or slewed (``/proc/stat``'s ``btime`` steps by whole seconds): the difference of the two read together
    stays put.
    """
    import psutil

    return float(psutil.Process(pid).create_time() - psutil.boot_time())


def alive(pid: int, create_time: float, booted: float | None = None) -> bool:
    """Whether the process that started as ``pid`` (at ``booted`` since boot, else ``create_time``) runs.

    A record without ``booted`` (written by an older dagsmith) compares the wall-clock start loosely.
    """
    import psutil

    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        process = psutil.Process(pid)
        same = (
            abs(since_boot(pid) - booted) < SAME_START
            if booted is not None
            else abs(process.create_time() - create_time) < SAME_START + 1
        )
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@contextlib.contextmanager
def locked(project: Project) -> Iterator[None]:
    """Hold the instance's lock (a file lock on its home): one ``up`` decides and starts at a time, and
    ``down`` does not stop an instance while another ``up`` is recording it."""
    project.home.mkdir(parents=True, exist_ok=True)
    with (project.home / "instance.lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
