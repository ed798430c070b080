"""The warm runner: one background process per workspace that has Airflow loaded and forks each run.

Importing Airflow, migrating its database and building the in-process Execution API (Cadwyn generates
every API version's routes on the first request) cost seconds. The runner pays that once, then waits for
run specs in ``<workspace>/queue/`` and forks a child per run (``worker.run_spec``): a run starts at once.
It exits after ``DAGSMITH_RUNNER_IDLE`` seconds without work (default 600; 0: after the queued runs). When
its Airflow settings or its code changed, ``start_local_run`` retires it (SIGUSR1: it finishes its runs,
then exits) and starts a new one, which waits for the runner lock. ``stop_runner`` stops it (SIGTERM:
the runs in progress are cancelled).

The parent-side helpers here (``ensure_runner``, ``submit``, ``stop_runner``) do not import Airflow.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import records

IDLE_ENV = "DAGSMITH_RUNNER_IDLE"
DEFAULT_IDLE = 600.0
QUEUE, INFO, LOCK, LOG = "queue", "runner.json", ".runner.lock", "runner.log"
_POLL = 0.05


def runner_key(env: dict[str, str]) -> str:
    """What a runner was started with: Airflow's settings, the interpreter, this package's code."""
    digest = hashlib.sha256(sys.executable.encode())
    for name in sorted(env):
        if name.startswith("AIRFLOW") and not name.startswith("AIRFLOW_VAR_"):
            digest.update(f"{name}={env[name]}\n".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(f"{path.name}:{path.stat().st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _locked(workspace: Path) -> bool:
    """True while a runner holds the workspace's runner lock."""
    path = workspace / LOCK
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def info(workspace: Path) -> dict[str, Any] | None:
    """The live runner's ``runner.json`` (None when no runner is running)."""
    path = workspace / INFO
    if not _locked(workspace) or not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    return data


def stop_runner(workspace: Path, timeout: float = 30.0) -> bool:
    """Stop the workspace's runner (its runs in progress are cancelled); False if none was running."""
    current = info(workspace)
    if current is None:
        return False
    pid = int(current["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # started by this process: collect it
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    return True


def ensure_runner(
    workspace: Path, env: dict[str, str], *, announce: Path, warm: bool
) -> subprocess.Popen[bytes] | None:
    """A runner for these settings: the live one, or a new one (announcing its start-up in ``announce``)."""
    key = runner_key(env)
    current = info(workspace)
    if current is not None and current.get("key") == key and warm:
        return None
    if current is not None:  # older settings or code: it finishes its runs, then the new one takes over
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(current["pid"]), signal.SIGUSR1)
    idle = env.get(IDLE_ENV, str(DEFAULT_IDLE)) if warm else "0"
    command = [sys.executable, "-m", "dagsmith.editor.runs.runner", str(workspace), key, idle, str(announce)]
    with (workspace / LOG).open("ab") as log:
        return subprocess.Popen(
            command,
            env=env,
            cwd=str(workspace),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def submit(workspace: Path, spec: dict[str, Any]) -> Path:
    """Queue a run for the runner; the queue file (rename it to cancel a run that has not started).

    The spec holds the run's environment (which may hold credentials): the file is the owner's only,
    and the run deletes it as soon as it has started.
    """
    queue = workspace / QUEUE
    queue.mkdir(parents=True, exist_ok=True)
    path = queue / f"{spec['run_id']}.json"
    records.write_json(path, spec, private=True)
    return path


def warm_execution_api() -> None:
    """Build the in-process Execution API and serve one request (children inherit it ready)."""
    import asyncio

    from airflow.sdk.execution_time.supervisor import in_process_api_server

    app = in_process_api_server().app

    async def request() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            return None

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/health",
            "raw_path": b"/health",
            "query_string": b"",
            "headers": [(b"host", b"in-process")],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("in-process", 80),
            "client": ("in-process", 1),
            "root_path": "",
        }
        await app(scope, receive, send)

    asyncio.run(request())


def _claim(queue: Path) -> list[tuple[Path, dict[str, Any]]]:
    claimed = []
    for path in sorted(queue.glob("*.json")):
        taken = path.with_suffix(".claimed")
        try:
            path.rename(taken)  # atomic: a cancelled run (renamed away) is never taken
        except FileNotFoundError:
            continue
        claimed.append((taken, json.loads(taken.read_text(encoding="utf-8"))))
    return claimed


def _fork_run(spec: dict[str, Any], claimed: Path) -> int:
    """Start one run in a child process with a session of its own (``cancel`` signals that group)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        folder = Path(spec["run_dir"])
        records.write_text(folder / "pid", str(os.getpid()))
        claimed.unlink(missing_ok=True)
        with (folder / "worker.log").open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        from .worker import run_spec

        code = run_spec(spec)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(workspace: Path, key: str, idle: float, announce: Path) -> int:
    """Hold the runner lock, get Airflow ready, then fork a child for every queued run until idle."""
    lock = (workspace / LOCK).open("a")
    fcntl.flock(lock, fcntl.LOCK_EX)  # after a retiring runner has finished its runs
    records.write_json(workspace / INFO, {"pid": os.getpid(), "key": key, "started": time.time(), "ready": False})
    from .worker import Events, migrate

    events = Events(announce) if announce.parent.exists() else None
    began = time.time()
    migrate(workspace, events)
    warm_execution_api()
    from airflow import settings

    if settings.Session is not None and settings.engine is not None:  # no connection crosses a fork
        settings.Session.remove()
        settings.engine.dispose()
    if events is not None:
        events.emit("setup", step="airflow", state="success", seconds=round(time.time() - began, 2))
    records.write_json(workspace / INFO, {"pid": os.getpid(), "key": key, "started": time.time(), "ready": True})
    stopping, retiring = False, False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping, retiring
        stopping = stopping or signum == signal.SIGTERM
        retiring = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, stop)  # retire: take no new run, finish the runs in progress
    children: set[int] = set()
    last_work = time.monotonic()
    while not stopping and not (retiring and not children):
        for claimed, spec in [] if retiring else _claim(workspace / QUEUE):
            children.add(_fork_run(spec, claimed))
        for pid in list(children):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
        if children:
            last_work = time.monotonic()
        elif time.monotonic() - last_work >= idle:
            break
        time.sleep(_POLL)
    for pid in children:  # stopping: cancel the runs in progress
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])))
