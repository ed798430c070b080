"""The local Airflow's record, lock, status and stop, with plain processes standing in for its supervisor.

No Airflow runs here: a dummy long-running Python process is the "supervisor" (started in a session of its
own with the instance's environment marker, as ``instance._start`` starts the real one), so that finding,
reusing, reporting and stopping an instance are checked on real processes in seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from dagsmith.editor.airflow_local import follow, stopping
from dagsmith.editor.airflow_local.api import PASSWORDS
from dagsmith.editor.airflow_local.instance import claim, down, status
from dagsmith.editor.airflow_local.project import AirflowUpError, Project
from dagsmith.editor.airflow_local.state import State, free_port, read_state, since_boot, write_state
from dagsmith.editor.runs.workspace import Workspace

SLEEPER = "import time\nwhile True:\n    time.sleep(1)\n"
STUBBORN = """
import os, signal, subprocess, sys, time
CHILD = "import signal, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\nwhile True:\\n    time.sleep(1)\\n"
def write(path, text):
    open(path + ".tmp", "w").write(text)
    os.replace(path + ".tmp", path)
def on_term(signum, frame):  # a process started while stopping, in a session of its own
    child = subprocess.Popen([sys.executable, "-c", CHILD], start_new_session=True)
    write(sys.argv[1], str(child.pid))
signal.signal(signal.SIGTERM, on_term)  # and it does not stop on SIGTERM itself
write(sys.argv[2], "ready")
while True:
    time.sleep(1)
"""
"""A supervisor that ignores SIGTERM and, on SIGTERM, starts a child (its pid in argv[1]) in a session of
its own; argv[2] is written once it handles SIGTERM."""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """A project whose instance's processes are all stopped after the test (whatever it left)."""
    found = Project(folder=tmp_path, workspace=Workspace.at(tmp_path / "ws"))
    found.home.mkdir(parents=True)
    yield found
    for pid in stopping.processes(None, str(found.home)):
        with_kill(pid)


def with_kill(pid: int) -> None:
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).kill()


def supervisor(project: Project, code: str = SLEEPER) -> subprocess.Popen[bytes]:
    """A dummy supervisor: its own session, the instance's marker in its environment (``STUBBORN``: once
    it handles SIGTERM)."""
    env = dict(os.environ, **{stopping.MARKER: str(project.home)})
    paths = [str(project.folder / "late.pid"), str(project.folder / "ready")] if code == STUBBORN else []
    process = subprocess.Popen([sys.executable, "-c", code, *paths], env=env, start_new_session=True)
    if paths:
        wait_file(Path(paths[1]))
    return process


def record(project: Project, process: subprocess.Popen[bytes], started: datetime | None = None) -> State:
    """``instance.json`` for ``process``, as ``instance._start`` writes it (on a port nothing answers)."""
    state = State(
        pid=process.pid,
        port=free_port(),
        home=str(project.home),
        project_dir=str(project.folder),
        workspace=str(project.workspace.root),
        started=(started or datetime.now(UTC)).isoformat(),
        create_time=psutil.Process(process.pid).create_time(),
        since_boot=since_boot(process.pid),
    )
    write_state(project, state)
    return state


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def wait_file(path: Path, seconds: float = 60.0) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.05)
    return path.read_text(encoding="utf-8")


def test_a_running_supervisor_is_found_after_the_clock_moves_the_boot_time(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = supervisor(project)
    try:
        state = record(project, process)
        booted = psutil.boot_time()
        # /proc/stat's btime steps by a whole second when the clock is set or slewed (NTP on a loaded machine);
        # the wall-clock start psutil derives from it moves with it, the start since boot does not
        monkeypatch.setattr(psutil._psplatform, "boot_time", lambda: booted + 1.0)
        found = read_state(project)
        assert found is not None and found.pid == state.pid
        assert project.state.exists()
    finally:
        process.kill()
        process.wait()
    assert read_state(project) is None and not project.state.exists()  # a record of an ended one is removed


def test_two_ups_at_once_start_one_instance(project: Project) -> None:
    started: list[subprocess.Popen[bytes]] = []
    inside = threading.Event()
    second_inside = threading.Event()

    def start() -> State:
        if inside.is_set():
            second_inside.set()
        inside.set()
        # the first start holds on until the second `up` started too, or a while (it cannot while locked)
        second_inside.wait(3.0)
        process = supervisor(project)
        started.append(process)
        return record(project, process)

    results: dict[str, tuple[State, bool]] = {}

    def up(name: str) -> None:
        results[name] = claim(project, start)

    first = threading.Thread(target=up, args=("first",))
    first.start()
    assert inside.wait(60)
    second = threading.Thread(target=up, args=("second",))
    second.start()
    first.join(120)
    second.join(120)
    try:
        assert len(started) == 1
        assert results["first"][1] is False and results["second"][1] is True
        assert results["first"][0].pid == results["second"][0].pid == started[0].pid
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_a_live_supervisor_whose_api_does_not_answer_is_reused_not_duplicated(project: Project) -> None:
    process = supervisor(project)
    try:
        state = record(project, process)
        (project.home / PASSWORDS).write_text(json.dumps({"admin": "secret"}), encoding="utf-8")

        def start() -> State:
            raise AssertionError("a second instance was started beside a running one")

        found, reused = claim(project, start)
        assert reused and found.pid == state.pid
        # the scheduled run's follower waits for it instead of starting one when it does not answer
        with pytest.raises(AirflowUpError, match=f"pid {state.pid}.*runs but did not answer"):
            follow._running(project, 0.0)
        assert read_state(project) is not None
    finally:
        process.kill()
        process.wait()


def test_status_of_a_live_instance_whose_api_does_not_answer(project: Project) -> None:
    process = supervisor(project)
    try:
        record(project, process)
        report = status(project)
        assert report["running"] and report["state"] == "starting" and not report["healthy"]
        record(project, process, started=datetime.now(UTC) - timedelta(hours=1))
        report = status(project)
        assert report["running"] and report["state"] == "not answering"
    finally:
        process.kill()
        process.wait()
    assert status(project)["state"] == "down"


def test_down_stops_processes_started_while_it_stops_and_outside_the_group(project: Project) -> None:
    process = supervisor(project, STUBBORN)
    record(project, process)
    assert down(project, grace=5.0)
    child = int(wait_file(project.folder / "late.pid"))  # started on SIGTERM, in a session of its own
    process.wait(60)
    assert gone(process.pid) and gone(child)
    assert read_state(project) is None and not project.state.exists()


def test_down_stops_what_outlived_its_supervisor(project: Project) -> None:
    leftover = supervisor(project)  # a component whose supervisor ended: no record names it
    try:
        assert down(project, grace=5.0)
        leftover.wait(60)
        assert gone(leftover.pid)
    finally:
        leftover.kill()
        leftover.wait()


def test_down_reports_processes_that_are_still_running(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    process = supervisor(project, STUBBORN)
    try:
        record(project, process)
        monkeypatch.setattr(stopping, "KILL_WAIT", 0.0)  # it gives up at once: what is left is reported
        with pytest.raises(AirflowUpError, match=f"still running after SIGKILL: .*{process.pid}"):
            down(project, grace=0.0)
        assert read_state(project) is not None  # the record stays while a process of it runs
        monkeypatch.undo()
        assert down(project, grace=2.0)
        assert gone(process.pid)
    finally:
        process.kill()
        process.wait()
