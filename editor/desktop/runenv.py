""" "Set up local runs": the run environment, made once with uv from the pinned lock file, then used.

The designer (the desktop package, or ``pip install dagsmith``) leaves Airflow, MLflow, BentoML and Feast
out. Local runs need them: File → Set up local runs creates ``<DAGSMITH_HOME>/runenv`` (a virtual
environment) with uv, installs every package of ``requirements.lock`` at its pinned version (in batches,
``--no-deps``, since the lock is complete: each batch moves the progress bar) and then dagsmith itself,
and writes ``runenv/dagsmith-runenv.json`` last. Only an environment with that file counts as ready.
From then on ``dagsmith desktop`` starts from that environment when the one it runs in lacks Airflow
(``reexec_argv``): the runs' code starts its subprocesses with ``sys.executable``, which is then the run
environment's Python. No NiceGUI here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..store.engine import dagsmith_home

MARKER = "dagsmith-runenv.json"
BATCH = 25
IN_RUNENV = "DAGSMITH_IN_RUNENV"
"""Set when ``dagsmith desktop`` was restarted from the run environment (so it never loops)."""
ROOT = Path(__file__).resolve().parents[2]

Progress = Callable[[float, str], None]
"""(fraction done 0..1, what happens now)."""


class SetupError(Exception):
    """Setting up the run environment failed; the message says why and what to do."""


def run_env_dir() -> Path:
    """``<DAGSMITH_HOME>/runenv``."""
    return dagsmith_home() / "runenv"


def run_env_python(folder: Path | None = None) -> Path | None:
    """The run environment's Python once its setup finished (its marker written); None before."""
    folder = folder or run_env_dir()
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    return python if (folder / MARKER).is_file() and python.exists() else None


def bundled_file(name: str) -> Path | None:
    """A file the package ships beside the code (``requirements.lock``, ``wheels/``): in the PyInstaller
    bundle's data folder, or the source checkout's root."""
    for base in (Path(getattr(sys, "_MEIPASS", "")) if getattr(sys, "frozen", False) else None, ROOT):
        if base is not None and (base / name).exists():
            return base / name
    return None


def requirements(lock: Path) -> list[str]:
    """The pinned requirements of a ``uv pip compile`` lock file (one per line; comments and options dropped)."""
    lines = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith(("#", "-")):
            lines.append(line.split(" #")[0].strip())
    return lines


def find_uv() -> str | None:
    """uv: beside this Python (the dev environment), else on PATH."""
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.is_file() else shutil.which("uv")


@dataclass(frozen=True, slots=True)
class Plan:
    """What a setup installs: the lock's requirements and dagsmith itself (a source folder or a wheel)."""

    lock: Path
    project: str
    offline: bool = False


def default_plan(*, offline: bool = False) -> Plan:
    """The lock and dagsmith as this installation has them; SetupError when it has no lock file."""
    lock = bundled_file("requirements.lock")
    if lock is None:
        raise SetupError("this installation of dagsmith has no requirements.lock; reinstall it or use pip")
    wheels = sorted((bundled_file("wheels") or Path("/nonexistent")).glob("dagsmith-*.whl"))
    project = str(wheels[-1]) if wheels else str(ROOT) if (ROOT / "pyproject.toml").is_file() else ""
    if not project:
        raise SetupError("this installation of dagsmith ships no wheel of itself; reinstall it or use pip")
    return Plan(lock, project, offline)


def _run(command: Sequence[str], what: str, env: dict[str, str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-6:]
        raise SetupError(f"{what} failed: " + " / ".join(detail) + " (check the network connection and try again)")


def set_up(plan: Plan, progress: Progress, *, folder: Path | None = None, uv: str | None = None) -> Path:
    """Create the run environment (in a temporary folder beside it, moved into place when complete, so a
    failed or interrupted setup leaves nothing half-made); its Python."""
    folder = folder or run_env_dir()
    uv = uv or find_uv()
    if uv is None:
        raise SetupError(
            "setting up local runs needs uv, which is not installed: install it (https://docs.astral.sh/uv/, "
            "e.g. pipx install uv) and try again"
        )
    pinned = requirements(plan.lock)
    if not pinned:
        raise SetupError(f"{plan.lock} lists no packages")
    env = {**os.environ, "UV_NO_PROGRESS": "1"}
    offline = ["--offline"] if plan.offline else []
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".runenv-", dir=folder.parent))
    try:
        progress(0.0, "Creating the run environment")
        _run([uv, "venv", "-q", "--python", "3.11", *offline, str(staging)], "creating the environment", env)
        python = staging / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        batches = [pinned[start : start + BATCH] for start in range(0, len(pinned), BATCH)]
        steps = len(batches) + 1
        for number, batch in enumerate(batches, 1):
            progress((number - 1) / steps, f"Installing packages {number} of {len(batches)} ({batch[0]} …)")
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
                listing.write("\n".join(batch) + "\n")
            try:
                install = [uv, "pip", "install", "-q", "--no-deps", *offline, "--python", str(python)]
                _run([*install, "-r", listing.name], f"installing {', '.join(batch[:3])} …", env)
            finally:
                Path(listing.name).unlink()
        progress(len(batches) / steps, "Installing dagsmith into the run environment")
        _run(
            [uv, "pip", "install", "-q", "--no-deps", *offline, "--python", str(python), plan.project],
            "installing dagsmith",
            env,
        )
        digest = hashlib.sha256(plan.lock.read_bytes()).hexdigest()
        (staging / MARKER).write_text(json.dumps({"lock_sha256": digest, "packages": len(pinned)}), "utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    progress(1.0, "Local runs are set up")
    ready = run_env_python(folder)
    if ready is None:
        raise SetupError(f"the run environment at {folder} is incomplete; remove the folder and try again")
    return ready


def has_airflow() -> bool:
    """Whether this environment can run pipelines itself (Airflow importable here)."""
    import importlib.util

    try:
        return importlib.util.find_spec("airflow") is not None
    except (ImportError, ValueError):
        return False


def reexec_argv(argv: Sequence[str]) -> list[str] | None:
    """The command that starts ``dagsmith ARGV`` from the run environment, when this one lacks Airflow and
    the run environment is ready; None to go on here."""
    if os.environ.get(IN_RUNENV) or has_airflow():
        return None
    python = run_env_python()
    if python is None:
        return None
    return [str(python), "-m", "dagsmith.editor.cli", *argv]
