"""One-time workspace setup for the embedded services; run by the worker as ``python -m`` subprocesses.

``mlflow``: create the SQLite tracking and registry database, with the default experiment's artifacts
beside it (experiments the steps create get theirs there too: see ``workspace.worker_environment``).
``feast``: copy a feature repo into the workspace, run its ``generate_data.py`` (if it has one) to write
the sample data, and ``feast apply`` it. Both skip work already done.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

DIGEST_FILE = ".dagsmith-digest"
GENERATOR = "generate_data.py"
CREATED = ".dagsmith-created"


def mlflow_done(spec: dict[str, Any]) -> bool:
    """True when the database was created (by an earlier run)."""
    return (Path(spec["artifacts"]).parent / CREATED).exists()


def setup_mlflow(spec: dict[str, Any]) -> None:
    """Create the database (tracking and registry tables, the default experiment)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    artifacts = Path(spec["artifacts"])
    artifacts.mkdir(parents=True, exist_ok=True)
    SqlAlchemyStore(spec["uri"], artifacts.as_uri())
    (artifacts.parent / CREATED).write_text(spec["uri"], encoding="utf-8")


def feast_done(spec: dict[str, str]) -> bool:
    """True when the repository copy is up to date with its source and applied."""
    marker = Path(spec["target"]) / DIGEST_FILE
    return marker.exists() and marker.read_text(encoding="utf-8").strip() == spec["digest"]


def setup_feast(spec: dict[str, str]) -> None:
    """Copy, generate the data, apply; the digest marker is written last (a failure is retried)."""
    source, target = Path(spec["source"]), Path(spec["target"])
    (target / DIGEST_FILE).unlink(missing_ok=True)
    shutil.copytree(
        source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("data", "__pycache__", DIGEST_FILE)
    )
    if (target / GENERATOR).exists():
        print(f"generating the sample data of {source.name} ({GENERATOR})", flush=True)
        subprocess.run([sys.executable, GENERATOR], cwd=target, check=True)
    print(f"feast apply in {target}", flush=True)
    subprocess.run([sys.executable, "-m", "feast.cli.cli", "apply"], cwd=target, check=True)
    (target / DIGEST_FILE).write_text(spec["digest"], encoding="utf-8")


def main(argv: list[str]) -> int:
    """``setup.py mlflow|feast SPEC_JSON``."""
    kind, spec = argv[0], json.loads(argv[1])
    if kind == "mlflow":
        setup_mlflow(spec)
    elif kind == "feast":
        setup_feast(spec)
    else:
        print(f"unknown setup {kind!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
