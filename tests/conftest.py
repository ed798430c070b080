"""Shared fixtures: where ../shared lives, and test isolation from the user's home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]

settings.register_profile(
    "dagsmith", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60, derandomize=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dagsmith"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder beside the checkout (design notes and fixtures); DAGSMITH_SHARED overrides."""
    path = Path(os.environ.get("DAGSMITH_SHARED", ROOT.parent / "shared"))
    assert (path / "fixtures").is_dir(), f"shared fixtures not found at {path}; set DAGSMITH_SHARED"
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep Airflow, dagsmith and BentoML state out of the real home directory."""
    home = tmp_path_factory.getbasetemp() / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("DAGSMITH_HOME", str(home / "dagsmith"))
    monkeypatch.setenv("AIRFLOW_HOME", str(home / "airflow"))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    monkeypatch.setenv("FEAST_USAGE", "False")
