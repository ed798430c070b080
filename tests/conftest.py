"""Shared fixtures: where ../shared lives, and test isolation from the user's home."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]

settings.register_profile(
    "dagsmith", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60, derandomize=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dagsmith"))


def shared_folder() -> Path:
    """The shared folder beside the checkout (design notes and third-party fixtures); DAGSMITH_SHARED overrides."""
    return Path(os.environ.get("DAGSMITH_SHARED", ROOT.parent / "shared"))


def shared_required() -> bool:
    """CI sets both: there the shared fixtures must be present, and a test that needs them fails instead of skipping."""
    return os.environ.get("CI") == "true" and os.environ.get("DAGSMITH_REQUIRE_SHARED") == "1"


def require_shared(path: Path) -> None:
    """Skip the calling test when ``path`` (inside the shared folder) is absent; fail instead in CI."""
    if path.exists():
        return
    if shared_required():
        pytest.fail(f"shared fixture {path} not found, and CI requires it (DAGSMITH_REQUIRE_SHARED=1)", pytrace=False)
    pytest.skip(f"needs the shared fixtures at {path} (absent in a bare clone; set DAGSMITH_SHARED)")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder; tests that use it skip when its fixtures are absent (fail in CI, see shared_required)."""
    path = shared_folder()
    require_shared(path / "fixtures")
    return path


@pytest.fixture
def shared_fixture() -> Callable[[str], Path]:
    """``shared_fixture("elyra/x.pipeline")``: that file under the shared fixtures; skips the test when absent."""

    def find(relative: str) -> Path:
        path = shared_folder() / "fixtures" / relative
        require_shared(path)
        return path

    return find


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep Airflow, dagsmith and BentoML state out of the real home directory."""
    home = tmp_path_factory.getbasetemp() / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("DAGSMITH_HOME", str(home / "dagsmith"))
    monkeypatch.setenv("AIRFLOW_HOME", str(home / "airflow"))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    monkeypatch.setenv("FEAST_USAGE", "False")
