"""Editor test fixtures: NiceGUI's simulated ``user`` (no browser), and the real editor server for browser tests.

``pytest_plugins = ['nicegui.testing.user_plugin']`` is refused in a conftest below the root when the
whole suite runs, and the plugin's ``user`` fixture looks for a ``main.py`` this project does not have.
So the fixture is rebuilt here from NiceGUI's own parts; pages are declared inside each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import BrowserCheckError, chromium, editor_server
from nicegui.testing.general_fixtures import pytest_configure  # noqa: F401  (temporary app storage)
from nicegui.testing.user import User
from nicegui.testing.user_simulation import user_simulation

from dagsmith.editor.services import EditorServices
from dagsmith.editor.store.engine import DB_FILENAME

BROWSER_RERUNS = 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that drives real Chromium gets one rerun when it fails.

    Only those: on CI's two shared cores a click can still land on an element that a re-render replaced a
    moment before, and one such miss otherwise fails the whole run. A second failure fails the test, and
    every rerun is listed in the run's summary (``R``), so a test that needed one stays visible.
    """
    for item in items:
        if "driver" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.flaky(reruns=BROWSER_RERUNS, reruns_delay=1))


@pytest.fixture
async def user(caplog: pytest.LogCaptureFixture) -> AsyncIterator[User]:
    """A simulated user of a fresh NiceGUI app; the test fails if the app logged an error."""
    async with user_simulation() as simulated:
        yield simulated
    errors = [record.getMessage() for record in caplog.get_records("call") if record.levelname == "ERROR"]
    if errors:
        pytest.fail(f"the app logged errors: {errors}", pytrace=False)


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    """The real ``dagsmith edit`` server for a browser test module, with the module's ``home`` fixture
    as DAGSMITH_HOME; yields its URL."""
    try:
        with editor_server(home) as url:
            yield url
    except BrowserCheckError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def services(server: str, home: Path) -> EditorServices:
    """The store the browser test module's server uses (opened after the server created it): what it saved."""
    return EditorServices.open(f"sqlite:///{home / DB_FILENAME}")


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """Headless Chromium for a browser test module (a module may define its own, e.g. with a downloads folder)."""
    try:
        browser = chromium()
    except BrowserCheckError as exc:
        pytest.fail(str(exc))
    try:
        yield browser
    finally:
        browser.quit()
