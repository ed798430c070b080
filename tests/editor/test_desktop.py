"""Smoke test: the desktop app starts its native window (Qt WebEngine under Xvfb) and serves the editor.

The window must open the editor itself, not the "Token required" page: Qt WebEngine's DevTools endpoint
(QTWEBENGINE_REMOTE_DEBUGGING) says which address and title the window shows.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _window_pages(devtools: int) -> list[dict[str, str]]:
    """The pages the native window shows, from Qt WebEngine's DevTools endpoint (empty until it answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{devtools}/json/list", timeout=2) as response:
            return [page for page in json.load(response) if page.get("type") == "page"]
    except (OSError, ValueError):
        return []


def test_desktop_window_starts_and_serves_the_editor(tmp_path: Path) -> None:
    xvfb_run = shutil.which("xvfb-run")
    assert xvfb_run, "install xvfb (apt-get install xvfb); .ci/run does"
    port, devtools = _free_port(), _free_port()
    token = secrets.token_urlsafe(16)
    # NiceGUI switches to its test mode when it sees pytest's variables: hide them from the app.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "NICEGUI"))},
        "DAGSMITH_HOME": str(tmp_path / "home"),
        "PYWEBVIEW_GUI": "qt",
        "QTWEBENGINE_DISABLE_SANDBOX": "1",
        "QT_QPA_PLATFORM": "xcb",
        "QTWEBENGINE_REMOTE_DEBUGGING": f"127.0.0.1:{devtools}",
        "DAGSMITH_TOKEN": token,
    }
    exe = str(Path(sys.executable).with_name("dagsmith"))
    process = subprocess.Popen(
        [xvfb_run, "-a", exe, "desktop", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/", headers={"Authorization": f"token {token}"}
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    body = response.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        assert "dagsmith" in body
        # The native window is a Qt WebEngine process tree under the app: give it a moment, then look.
        session = ""
        for _ in range(30):
            session = subprocess.run(
                ["ps", "-ww", "-o", "args=", "-s", str(process.pid)], capture_output=True, text=True, check=False
            ).stdout
            if "QtWebEngineProcess" in session:
                break
            time.sleep(1)
        assert "QtWebEngineProcess" in session, session
        # The window opened the address with the token: it shows the editor, and the token left the address.
        title = re.search(r"<title>(.*?)</title>", body)
        assert title, body
        pages: list[dict[str, str]] = []
        for _ in range(60):
            pages = _window_pages(devtools)
            if any(page.get("url") == f"http://127.0.0.1:{port}/" and page.get("title") for page in pages):
                break
            time.sleep(1)
        assert [(page.get("url"), page.get("title")) for page in pages] == [(f"http://127.0.0.1:{port}/", title[1])]
        assert process.poll() is None, "the desktop app exited after opening its window"
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
