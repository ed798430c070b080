"""The local Airflow's parent process: its four components started at once, their output in one log.

``python -m dagsmith.editor.airflow_local.supervisor AIRFLOW`` (started detached by ``instance.up``, in a
process group of its own) starts ``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer``
together and writes each line they print as ``"<component> | <line>"`` (the layout ``airflow standalone``
uses, which ``dagsmith airflow logs COMPONENT`` filters on). Unlike ``standalone`` it does not
initialise the database or generate passwords first: ``instance`` copies a migrated database and
writes the login before it starts this. When one component exits, the others are stopped and so is this
process (``up`` and ``status`` then see the instance gone); SIGTERM stops all four.

The supervisor imports Airflow once (``preload``) and forks the four components from it, so that the
work every component would repeat (importing Airflow, its models and jobs, building the CLI) is done once.
Each component then runs Airflow's own CLI command (``airflow scheduler`` …) in its forked child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from typing import IO, Any

COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")
"""In start order: the UI and the DAG parsing first, since ``up`` waits for them."""
GRACE = 20.0
FORK_ENV = "DAGSMITH_AIRFLOW_FORK"
"""``0``: start each component as its own ``airflow COMPONENT`` process instead of forking them."""

_write_lock = threading.Lock()
_pumps: list[threading.Thread] = []


def say(name: str, line: str) -> None:
    """One line of the log, prefixed with its component's name."""
    with _write_lock:
        sys.stdout.write(f"{name:10} | {line.rstrip()}\n")
        sys.stdout.flush()


def _pump(name: str, stream: IO[bytes]) -> None:
    for raw in stream:
        say(name, raw.decode("utf-8", errors="replace"))


def preload() -> Any:
    """Import what every component imports (Airflow, its models and jobs, the CLI); the CLI's parser.

    The components are then forked from this process instead of each importing it again: on two cores,
    four imports of Airflow at once cost seconds of the start. None when that fails (each component is
    then started as its own ``airflow COMPONENT`` process).
    """
    if os.environ.get(FORK_ENV, "1") == "0":
        return None
    try:
        from airflow.cli import cli_parser
        from airflow.configuration import write_default_airflow_configuration_if_needed
        from airflow.jobs import dag_processor_job_runner, scheduler_job_runner, triggerer_job_runner  # noqa: F401

        write_default_airflow_configuration_if_needed()
        return cli_parser.get_parser()
    except Exception as exc:  # an Airflow that moved its internals: the plain commands still work
        say("supervisor", f"preloading Airflow failed ({type(exc).__name__}: {exc}); starting plain commands")
        return None


def _fork(name: str, parser: Any) -> tuple[int, IO[bytes]]:
    """Fork a child that runs ``airflow NAME`` through the preloaded CLI; its pid and output pipe."""
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the component
        code = 1
        try:
            os.close(read)
            os.dup2(write, 1)
            os.dup2(write, 2)
            os.close(write)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            with contextlib.suppress(ImportError):
                from setproctitle import setproctitle

                setproctitle(f"airflow {name}")  # the API server sets its own
            args = parser.parse_args([name])
            args.func(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(write)
    return pid, os.fdopen(read, "rb")


class Forked:
    """A forked component, with the part of ``subprocess.Popen`` the supervisor uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status once it ended (collected), else None."""
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait (up to ``timeout`` seconds) for it to end; ``subprocess.TimeoutExpired`` when it did not."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.05)
        return self.returncode or 0

    def terminate(self) -> None:
        """SIGTERM."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


Component = subprocess.Popen[bytes] | Forked


def start(airflow: str, parser: Any) -> dict[str, Component]:
    """Start every component (forked from the preloaded CLI, or ``airflow COMPONENT``), output copied."""
    started: dict[str, Component] = {}
    streams: list[tuple[str, IO[bytes]]] = []
    for name in COMPONENTS:  # every fork before any copying thread starts
        process: Component
        if parser is not None:
            pid, stream = _fork(name, parser)
            process = Forked(pid)
        else:
            process = subprocess.Popen(
                [airflow, name], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            assert process.stdout is not None
            stream = process.stdout
        started[name] = process
        streams.append((name, stream))
    for name, stream in streams:
        pump = threading.Thread(target=_pump, args=(name, stream), daemon=True)
        pump.start()
        _pumps.append(pump)
        say("supervisor", f"started {name} (pid {started[name].pid})")
    return started


def stop(started: dict[str, Component], grace: float = GRACE) -> None:
    """SIGTERM every component, then SIGKILL what is still running after ``grace`` seconds."""
    for process in started.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for name, process in started.items():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say("supervisor", f"{name} did not stop in {grace:.0f}s; killing it")
            process.kill()
            process.wait()


def main(argv: list[str]) -> int:
    """Run the components until one exits or SIGTERM/SIGINT arrives; the exit status says which."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m dagsmith.editor.airflow_local.supervisor PATH_OF_AIRFLOW\n")
        return 2
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parser = preload()
    started = start(argv[0], parser)
    code = 0
    while not stopping.is_set():
        ended = [(name, process.poll()) for name, process in started.items() if process.poll() is not None]
        if ended:
            name, status = ended[0]
            say("supervisor", f"{name} exited with status {status}; stopping the other components")
            code = status or 1
            break
        stopping.wait(0.5)
    say("supervisor", "shutting down components")
    stop(started)
    deadline = time.monotonic() + 3  # the components' last lines reach the log before this one
    for pump in _pumps:  # (a component's own children may hold its pipe open: not for long)
        pump.join(max(0.0, deadline - time.monotonic()))
    say("supervisor", "stopped")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
