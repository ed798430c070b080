""" "Set up local runs": the run environment made with the real uv, offline from uv's cache (no network
here or in CI), from a small lock cut out of requirements.lock; and how the app then starts from it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
from pathlib import Path

import pytest

from dagsmith.editor.desktop import launch, runenv

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "uv"  # where `make` installs from (UV_CACHE_DIR)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(runenv.IN_RUNENV, raising=False)
    return tmp_path / "home"


def small_lock(tmp_path: Path, names: tuple[str, ...]) -> Path:
    """A lock with ``names`` at the versions requirements.lock pins (so uv's cache has them)."""
    pinned = [line for line in runenv.requirements(ROOT / "requirements.lock") if line.split("==")[0] in names]
    assert len(pinned) == len(names), pinned
    lock = tmp_path / "small.lock"
    lock.write_text("# cut from requirements.lock\n" + "\n".join(f"{line}\n    # via test" for line in pinned))
    return lock


def test_the_lock_file_is_read_as_its_pinned_requirements() -> None:
    text = (ROOT / "requirements.lock").read_text()
    pinned = runenv.requirements(ROOT / "requirements.lock")
    assert len(pinned) == sum(1 for line in text.splitlines() if line[:1].isalnum()) > 100
    assert all("==" in line and "#" not in line for line in pinned)
    assert not {line.split("==")[0] for line in pinned} & {"", "via"}


def test_set_up_makes_the_environment_with_uv_offline_and_reports_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not CACHE.is_dir():
        pytest.skip("no uv cache at .cache/uv (make fills it); this test must not use the network")
    monkeypatch.setenv("UV_CACHE_DIR", str(CACHE))
    monkeypatch.setattr(runenv, "BATCH", 1)  # one package per step: the bar moves per package
    lock = small_lock(tmp_path, ("six", "idna"))
    steps: list[tuple[float, str]] = []
    assert runenv.run_env_python() is None
    python = runenv.set_up(runenv.Plan(lock, str(ROOT), offline=True), lambda f, text: steps.append((f, text)))
    assert python == runenv.run_env_python() == runenv.run_env_dir() / "bin" / "python"
    fractions = [fraction for fraction, _ in steps]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len({text for _, text in steps if text.startswith("Installing packages")}) == 2
    probe = "import importlib.metadata as m, six, idna; print(six.__version__, idna.__version__, m.version('dagsmith'))"
    shown = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    pins = dict(line.split("==") for line in runenv.requirements(lock))
    assert shown == [pins["six"], pins["idna"], importlib.metadata.version("dagsmith")]
    marker = json.loads((runenv.run_env_dir() / runenv.MARKER).read_text())
    assert marker["packages"] == 2
    assert [path.name for path in runenv.run_env_dir().parent.iterdir()] == ["runenv"]  # no staging left


def test_a_failed_setup_says_why_and_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not CACHE.is_dir():
        pytest.skip("no uv cache at .cache/uv (make fills it); this test must not use the network")
    monkeypatch.setenv("UV_CACHE_DIR", str(CACHE))
    lock = tmp_path / "bad.lock"
    lock.write_text("no-such-package-dagsmith-test==9.9.9\n")
    with pytest.raises(runenv.SetupError, match=r"no-such-package-dagsmith-test.*check the network connection"):
        runenv.set_up(runenv.Plan(lock, str(ROOT), offline=True), lambda f, text: None)
    assert runenv.run_env_python() is None
    assert not runenv.run_env_dir().exists()
    assert [path.name for path in runenv.run_env_dir().parent.iterdir()] == []


def test_without_uv_the_setup_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "any.lock"
    lock.write_text("six==1.17.0\n")
    monkeypatch.setattr(runenv, "find_uv", lambda: None)
    with pytest.raises(runenv.SetupError, match="needs uv, which is not installed: install it"):
        runenv.set_up(runenv.Plan(lock, str(ROOT)), lambda f, text: None)


def test_the_desktop_starts_from_the_run_environment_once_it_is_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = runenv.run_env_dir()
    monkeypatch.setattr(runenv, "has_airflow", lambda: False)  # as in the packaged app
    assert runenv.reexec_argv(["desktop"]) is None  # not set up: go on here
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_text("")
    assert runenv.reexec_argv(["desktop"]) is None  # half made (no marker): not used
    (folder / runenv.MARKER).write_text("{}")
    command = runenv.reexec_argv(["desktop", "/tmp/a.dagsmith.json"])
    assert command == [str(folder / "bin" / "python"), "-m", "dagsmith.editor.cli", "desktop", "/tmp/a.dagsmith.json"]
    execs: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: execs.append((path, argv, env)))
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/dagsmith/_internal")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    launch.restart_in_run_env(["desktop"])
    ((path, argv, env),) = execs
    assert path == str(folder / "bin" / "python") and argv[-1] == "desktop"
    assert env[runenv.IN_RUNENV] == "1" and env["LD_LIBRARY_PATH"] == "/usr/local/lib"
    # Restarted, or where Airflow is installed already (the dev environment): it stays.
    monkeypatch.setenv(runenv.IN_RUNENV, "1")
    assert runenv.reexec_argv(["desktop"]) is None
    monkeypatch.delenv(runenv.IN_RUNENV)
    monkeypatch.setattr(runenv, "has_airflow", lambda: True)
    assert runenv.reexec_argv(["desktop"]) is None


def test_every_package_of_the_source_is_in_the_wheel_the_run_environment_installs() -> None:
    """pyproject.toml lists dagsmith's packages one by one: a sub-package left out is missing from the wheel
    (and from ``pip install dagsmith``), and the run environment's ``dagsmith`` fails on import."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    tracked = subprocess.run(
        ["git", "ls-files", "*/__init__.py"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    folders = {folder: name for name, folder in config["package-dir"].items()}
    missing = []
    for init in tracked:
        folder = str(Path(init).parent)
        for root, name in folders.items():
            if folder == root or folder.startswith(root + "/"):
                package = name + folder[len(root) :].replace("/", ".")
                if package not in listed:
                    missing.append(package)
    assert missing == [], f"add {missing} to [tool.setuptools] packages in pyproject.toml"
