"""Helpers shared by the code generation tests (a module of its own: every test folder has a conftest)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sample_pipelines import KINDS, mlops_loop, single

from dagsmith.nodes import Pipeline, example_names, load_example

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"


def sample_pipelines() -> dict[str, Pipeline]:
    """File stem -> pipeline: one per node type, the MLOps loop and the bundled examples."""
    found = {f"only_{kind}": single(kind) for kind in KINDS}
    found["loop"] = mlops_loop()
    found.update({f"example_{name}": load_example(name) for name in example_names()})
    return found


def ruff(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ruff with its default settings (no project configuration), as a DAG repository might."""
    return subprocess.run([str(RUFF), *args, "--isolated"], cwd=cwd, capture_output=True, text=True, check=False)
