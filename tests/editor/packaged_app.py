"""Driving the packaged desktop app (``make package``'s .deb) under Xvfb: install, launch, look, close.

Shared by ``test_desktop_package.py`` and ``bench/bench_desktop.py``. The window is Qt WebEngine; its
DevTools endpoint (QTWEBENGINE_REMOTE_DEBUGGING) says which page it shows, evaluates JavaScript in it and
takes screenshots. Imports no dagsmith module: what runs is the package's own binary.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEB_ENV = "DAGSMITH_DEB"
HIDDEN_ENV_PREFIXES = ("PYTEST", "NICEGUI", "DAGSMITH_", "VIRTUAL_ENV", "PYTHON")


def find_deb() -> Path | None:
    """The package to check: DAGSMITH_DEB, else the newest dist/dagsmith_*.deb; None when none is built."""
    if os.environ.get(DEB_ENV):
        return Path(os.environ[DEB_ENV])
    built = sorted((ROOT / "dist").glob("dagsmith_*.deb"), key=lambda path: path.stat().st_mtime)
    return built[-1] if built else None


def install(deb: Path, prefix: Path) -> Path:
    """Unpack ``deb`` into ``prefix`` (as dpkg would install it under /); the app's executable."""
    subprocess.run(["dpkg-deb", "-x", str(deb), str(prefix)], check=True)
    return prefix / "opt" / "dagsmith" / "dagsmith"


def example_file(exe: Path, target: Path, name: str) -> list[str]:
    """Write the package's own keyword example, renamed ``name``, to ``target``; its node ids.

    The file comes from the package, not from this checkout, so a package built from an older tree still
    reads it.
    """
    source = exe.parent / "_internal" / "dagsmith" / "nodes" / "examples" / "keyword_recommendation.dagsmith.json"
    document = json.loads(source.read_text(encoding="utf-8"))
    document["settings"]["name"] = name
    target.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return [node["id"] for node in document["nodes"]]


def all_drawn(node_ids: list[str]) -> str:
    """A JavaScript expression: whether the canvas shows a node for each of ``node_ids``."""
    return (
        f"{json.dumps(node_ids)}.every((id) => "
        'document.querySelector(`.vue-flow__node[data-id="${CSS.escape(id)}"]`))'
    )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def xvfb(size: str = "1400x900x24") -> Iterator[str]:
    """A virtual X display for the window; yields its DISPLAY."""
    read, write = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as source:
            number = source.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start (apt-get install xvfb)")
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class App:
    """A running packaged app: its process (a session leader), its server port and its DevTools port."""

    process: subprocess.Popen[bytes]
    port: int
    devtools: int
    token: str
    log: Path

    def answers(self) -> bool:
        """Whether the editor server answers ``/`` with this launch's token."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/", headers={"Authorization": f"token {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def pages(self) -> list[dict[str, str]]:
        """The pages the window shows (empty until its DevTools endpoint answers)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.devtools}/json/list", timeout=2) as response:
                return [page for page in json.load(response) if page.get("type") == "page"]
        except (OSError, ValueError):
            return []

    def session(self) -> list[str]:
        """Command lines of every process still in the app's session (children included, orphans too)."""
        listing = subprocess.run(
            ["ps", "-ww", "-o", "pid=,args=", "-s", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [line.strip() for line in listing.splitlines() if line.strip()]

    def output(self) -> str:
        """What the app printed so far."""
        return self.log.read_text(errors="replace") if self.log.is_file() else ""


def launch(exe: Path, display: str, home: Path, *args: str, extra_env: dict[str, str] | None = None) -> App:
    """Start ``exe desktop ARGS`` on ``display`` with ``home`` as DAGSMITH_HOME and a fixed token
    (``extra_env``: more variables for the app)."""
    port, devtools, token = free_port(), free_port(), secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(HIDDEN_ENV_PREFIXES)}
    env.update(
        DISPLAY=display,
        DAGSMITH_HOME=str(home),
        DAGSMITH_TOKEN=token,
        QT_QPA_PLATFORM="xcb",
        QTWEBENGINE_REMOTE_DEBUGGING=f"127.0.0.1:{devtools}",
    )
    env.update(extra_env or {})
    home.mkdir(parents=True, exist_ok=True)
    log = home / "desktop.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(exe), "desktop", "--port", str(port), *args],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return App(process, port, devtools, token, log)


def run_again(exe: Path, display: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``exe ARGS`` to the end as a second launch would (same DAGSMITH_HOME and display)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(HIDDEN_ENV_PREFIXES)}
    env.update(DISPLAY=display, DAGSMITH_HOME=str(home), QT_QPA_PLATFORM="xcb")
    return subprocess.run(
        [str(exe), *args], env=env, cwd=home, capture_output=True, text=True, timeout=120, check=False
    )


def wait_until(check: Any, timeout: float, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    return None


def close(app: App, timeout: float = 30) -> list[str]:
    """Ask the app to quit (SIGTERM to its main process only, as a desktop session's logout does) and wait;
    the processes of its session still alive after that (an empty list when it closed cleanly)."""
    with suppress(ProcessLookupError):
        app.process.send_signal(signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        app.process.wait(timeout=timeout)
    left = wait_until(lambda: not app.session(), timeout=10, interval=0.2)
    return [] if left else app.session()


def kill(app: App) -> None:
    """Whatever is left of the app's session: kill it (cleanup after a failed check)."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(app.process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        app.process.wait(timeout=10)


def devtools(page: dict[str, str], method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """One DevTools protocol call on ``page`` (from ``App.pages()``); its result."""
    import websocket  # websocket-client, which pywebview brings

    connection = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=20, suppress_origin=True)
    try:
        connection.send(json.dumps({"id": 1, "method": method, "params": params or {}}))
        while True:
            message = json.loads(connection.recv())
            if message.get("id") == 1:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                return dict(message["result"])
    finally:
        connection.close()


def evaluate(page: dict[str, str], expression: str) -> Any:
    """The value of a JavaScript expression in the window's page."""
    result = devtools(page, "Runtime.evaluate", {"expression": expression, "returnByValue": True})
    return result.get("result", {}).get("value")


def screenshot(page: dict[str, str], path: Path) -> Path:
    """A PNG of what the window shows."""
    data = devtools(page, "Page.captureScreenshot", {"format": "png"})["data"]
    path.write_bytes(base64.b64decode(data))
    return path
