"""Driving the real editor in headless Chromium: the server subprocess, the driver, and canvas gestures.

Shared by ``test_e2e_editor.py`` and ``bench/bench_editor.py``. Needs Debian's ``chromium`` and
``chromium-driver`` (or CHROME_BINARY_LOCATION / CHROMEDRIVER) and selenium; imports no dagsmith module,
so the bench can use it before the store is filled.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("CHROME_BINARY_LOCATION", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
DAGSMITH = Path(sys.executable).with_name("dagsmith")
# Environment variables that would change how the server runs: pytest's and NiceGUI's own (test mode).
HIDDEN_ENV_PREFIXES = ("PYTEST", "NICEGUI")
T = TypeVar("T")
TOKEN = secrets.token_urlsafe(32)
"""The launch token (DAGSMITH_TOKEN) of every editor started here; a browser opens ``with_token(url)`` first."""


class BrowserCheckError(RuntimeError):
    """The editor server did not start or a wait timed out."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(home: Path) -> dict[str, str]:
    """The server's environment: ours without pytest's and NiceGUI's variables, with its own store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(HIDDEN_ENV_PREFIXES)}
    env.pop("DAGSMITH_DATABASE_URL", None)
    env["DAGSMITH_HOME"] = str(home)
    env["DAGSMITH_TOKEN"] = TOKEN
    env.pop("CI", None)  # irrelevant with --no-browser; keeps the command identical to a user's
    return env


@contextmanager
def editor_server(home: Path, *, timeout: float = 60) -> Iterator[str]:
    """Run ``dagsmith edit`` on a free port with ``home`` as DAGSMITH_HOME and TOKEN; yields the base URL.

    A browser must open ``with_token(url)`` once: the editor then sets its cookie for the later pages.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    home.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(DAGSMITH), "edit", "--port", str(port), "--no-browser"],
            cwd=ROOT,
            env=server_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BrowserCheckError(f"the editor did not start:\n{server_log(home)}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def with_token(url: str) -> str:
    """``url`` with the launch token as a query parameter (the editor trades it for a cookie)."""
    return f"{url}{'&' if '?' in url else '?'}token={TOKEN}"


def server_log(home: Path) -> str:
    """What the server printed so far."""
    path = home / "server.log"
    return path.read_text(errors="replace") if path.exists() else ""


def chromium(*, downloads: Path | None = None, width: int = 1600, height: int = 1000) -> Any:
    """A headless Chromium WebDriver with browser logs; files it downloads go to ``downloads``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise BrowserCheckError(
            f"Chromium not found ({CHROMIUM}, {CHROMEDRIVER}): apt-get install -y chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads is not None:
        downloads.mkdir(parents=True, exist_ok=True)
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
                "download.directory_upgrade": True,
                "safebrowsing.enabled": True,
            },
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if downloads is not None:  # headless Chromium honours the prefs only with this as well
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


def wait_for(condition: Callable[[], T], what: str, timeout: float = 15, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy; raise BrowserCheckError naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # e.g. a stale element while Vue re-renders
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise BrowserCheckError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(interval)


def click_into(driver: Any, locate: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    """Click into the field that ``locate`` finds until it holds the focus; the focused element.

    A panel that is still rendering may replace the field under the click (a stale element), so the
    field is found again and clicked again, as a person clicks again when the first click missed.
    """

    def focused() -> Any:
        element = locate()
        element.click()
        return element if driver.execute_script("return document.activeElement === arguments[0]", element) else None

    return wait_for(focused, what, timeout=timeout)


def show_tab(driver: Any, label: str, timeout: float = 30) -> None:
    """Click the bottom panel's tab ``label`` until it is the active tab and its panel has slid in.

    A click while the page is still mounting, or while another panel slides, can be taken by the browser
    and do nothing (no error); the tab is clicked again then, as a person would click again.
    """
    from selenium.webdriver.common.by import By

    xpath = f"//div[contains(@class,'q-tab__label')][normalize-space(text())='{label}']"

    def shown() -> bool:
        tab = driver.find_element(By.XPATH, f"{xpath}/ancestor::*[contains(@class,'q-tab ')][1]")
        if "q-tab--active" not in (tab.get_attribute("class") or ""):
            tab.click()
            return False
        return not driver.find_elements(By.CSS_SELECTOR, ".q-tab-panels [class*='q-transition--']")

    wait_for(shown, f"the {label} tab", timeout=timeout, interval=0.3)


def count(driver: Any, selector: str) -> int:
    """How many elements match ``selector`` (counted in the page: one round trip)."""
    return int(driver.execute_script("return document.querySelectorAll(arguments[0]).length", selector))


def node_selector(node_id: str) -> str:
    """The canvas node element of ``node_id``."""
    return f'.vue-flow__node[data-id="{node_id}"]'


def node_ids(driver: Any) -> list[str]:
    """The ids of the nodes on the canvas, in DOM order."""
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('.vue-flow__node')].map(n => n.getAttribute('data-id'))"
        )
    )


def drop_from_palette(driver: Any, kind: str, x: float, y: float) -> None:
    """Drag palette item ``kind`` onto the page point (x, y).

    WebDriver cannot perform HTML5 drag and drop, so dispatch the events a real drag fires; canvas.js's
    own dragstart listener fills in the payload, as it does for a user.
    """
    driver.execute_script(
        """
        const [kind, x, y] = arguments;
        const data = new DataTransfer();
        const item = document.querySelector(`[data-dagsmith-node="${kind}"]`);
        if (!item) throw new Error(`no palette item ${kind}`);
        item.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: data}));
        const pane = document.elementFromPoint(x, y);
        for (const type of ['dragenter', 'dragover', 'drop']) {
          const init = {bubbles: true, cancelable: true, dataTransfer: data, clientX: x, clientY: y};
          pane.dispatchEvent(new DragEvent(type, init));
        }
        item.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: data}));
        """,
        kind,
        x,
        y,
    )


def handle(driver: Any, node_id: str, side: str, port: str) -> Any:
    """A port handle: ``side`` is 'left' (inputs) or 'right' (outputs)."""
    from selenium.webdriver.common.by import By

    selector = f'{node_selector(node_id)} .vue-flow__handle-{side}[data-handleid="{port}"]'
    return driver.find_element(By.CSS_SELECTOR, selector)


def pan_into_view(driver: Any, *elements: Any) -> None:
    """Drag the canvas background, as a person does, until ``elements`` are all inside the visible pane.

    The fitted view never zooms below a readable size, so a wide pipeline can reach past the pane's edge.
    A drag starts on an empty spot and ends inside the pane; a long way takes several drags.
    """
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    pane = driver.find_element(By.CSS_SELECTOR, ".vue-flow__pane")
    margin = 40
    for _ in range(4):
        box = pane.rect
        rects = [element.rect for element in elements]
        left = min(r["x"] for r in rects)
        right = max(r["x"] + r["width"] for r in rects)
        top = min(r["y"] for r in rects)
        bottom = max(r["y"] + r["height"] for r in rects)
        if (
            left >= box["x"] + margin
            and right <= box["x"] + box["width"] - margin
            and (top >= box["y"] + margin and bottom <= box["y"] + box["height"] - margin)
        ):
            return
        limit_x, limit_y = box["width"] * 0.6, box["height"] * 0.6
        dx = int(max(-limit_x, min(limit_x, box["x"] + box["width"] / 2 - (left + right) / 2)))
        dy = int(max(-limit_y, min(limit_y, box["y"] + box["height"] / 2 - (top + bottom) / 2)))
        # An empty spot of the background to grab, from which the drag ends inside the pane.
        spot = driver.execute_script(
            """const pane = arguments[0], dx = arguments[1], dy = arguments[2], r = pane.getBoundingClientRect();
            for (let fy = 0.1; fy < 0.95; fy += 0.1) for (let fx = 0.05; fx < 0.96; fx += 0.05) {
              const x = r.left + r.width * fx, y = r.top + r.height * fy;
              const ex = x + dx, ey = y + dy;
              if (ex < r.left + 5 || ex > r.right - 5 || ey < r.top + 5 || ey > r.bottom - 5) continue;
              if (document.elementFromPoint(x, y) === pane) return [x - r.left - r.width / 2, y - r.top - r.height / 2];
            }
            return null;""",
            pane,
            dx,
            dy,
        )
        if spot is None:
            raise BrowserCheckError("no empty spot of the canvas to drag the view by")
        chain = ActionChains(driver).move_to_element_with_offset(pane, int(spot[0]), int(spot[1])).click_and_hold()
        for _ in range(10):  # a drag in steps, as a hand moves
            chain.move_by_offset(dx // 10, dy // 10)
        chain.pause(0.1).release().perform()
    raise BrowserCheckError("the elements did not come into view after four drags of the canvas")


def drag_handle(driver: Any, source: Any, target: Any) -> None:
    """Drag a connection from handle ``source`` to handle ``target`` with the mouse."""
    from selenium.webdriver.common.action_chains import ActionChains

    start, end = source.rect, target.rect
    dx = (end["x"] + end["width"] / 2) - (start["x"] + start["width"] / 2)
    dy = (end["y"] + end["height"] / 2) - (start["y"] + start["height"] / 2)
    chain = ActionChains(driver).move_to_element(source).click_and_hold()
    for _ in range(5):  # Vue Flow follows mouse moves, not a jump; head for the target (no auto-pan at the edge)
        chain.move_by_offset(int(dx / 10), int(dy / 10))
    chain.move_to_element(target).pause(0.1).release().perform()


def severe_logs(driver: Any) -> list[str]:
    """The browser console's SEVERE entries since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@contextmanager
def screenshot_on_failure(driver: Any, name: str) -> Iterator[None]:
    """Save artifacts/<name>.png when the block raises."""
    try:
        yield
    except BaseException:
        with suppress(Exception):
            screenshot(driver, name)
        raise


def screenshot(driver: Any, name: str) -> Path:
    """Save a screenshot as artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
