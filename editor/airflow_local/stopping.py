"""Every process of one local Airflow instance, found and stopped.

An instance's processes are its supervisor's process group, the supervisor's descendants, and every
process whose environment names the instance's home in ``DAGSMITH_AIRFLOW_INSTANCE`` (set by ``instance``
for the supervisor, so that Airflow's components, executors and task processes inherit it): a process that
started a session of its own, or whose parent already ended, is still found. ``stop`` signals them again
on every round, so that a process forked while the others shut down is stopped too, and says which ones
outlived it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from .state import _children

MARKER = "DAGSMITH_AIRFLOW_INSTANCE"
"""Environment variable naming the instance's home in each of its processes."""
KILL_WAIT = 20.0
"""Seconds ``stop`` waits for SIGKILLed processes to be gone."""
ROUND = 0.2


def processes(pid: int | None, home: str | None = None) -> list[int]:
    """The instance's living processes: the supervisor ``pid``'s group and descendants, and (with ``home``)
    every process marked with it; never this process or its ancestors."""
    import psutil

    found: set[int] = set()
    if pid is not None:
        with contextlib.suppress(psutil.Error):
            found.update(child.pid for child in psutil.Process(pid).children(recursive=True))
            found.add(pid)
    for process in psutil.process_iter(["pid"]):
        try:
            in_group = pid is not None and os.getpgid(process.pid) == pid
            if in_group or (home is not None and process.environ().get(MARKER) == home):
                found.add(process.pid)
        except (OSError, psutil.Error):
            continue
    return sorted(set(_living(sorted(found))) - _ours())


def _ours() -> set[int]:
    """This process and its ancestors (a ``down`` run from inside the instance does not stop itself)."""
    import psutil

    mine = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        mine.update(parent.pid for parent in psutil.Process().parents())
    return mine


def stop(pid: int | None, home: str | None, grace: float) -> list[int]:
    """SIGTERM every process of the instance (each one once, as it is found), SIGKILL whatever is left after
    ``grace`` seconds; the pids still running after that (empty when every one is gone)."""
    deadline = time.monotonic() + grace
    killing = deadline + KILL_WAIT
    told = set(processes(pid, home))
    _group_signal(pid, signal.SIGTERM)
    for each in told:
        if pid is None or _group(each) != pid:
            _kill(each, signal.SIGTERM)
    while True:
        _reap(pid)
        members = set(processes(pid, home))
        if not members:
            return []
        now = time.monotonic()
        if now > killing:
            return sorted(members)
        if now < deadline:
            for each in members - told:  # forked while the others shut down
                _kill(each, signal.SIGTERM)
            told |= members
        else:
            _group_signal(pid, signal.SIGKILL)
            for each in members:
                _kill(each, signal.SIGKILL)
        time.sleep(ROUND)


def _group_signal(pid: int | None, how: signal.Signals) -> None:
    if pid is not None:
        with contextlib.suppress(OSError):
            os.killpg(pid, how)


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _kill(pid: int, how: signal.Signals) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, how)


def _living(pids: list[int]) -> list[int]:
    import psutil

    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.Error:
            continue
    return alive


def _reap(pid: int | None) -> None:
    """Collect the supervisor's exit status when this process started it (no zombie is left)."""
    child = _children.get(pid) if pid is not None else None
    if child is not None and child.poll() is not None:
        _children.pop(child.pid, None)
