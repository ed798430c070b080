"""The designer stays light: drawing, validating, exporting and serving the editor never import Airflow,
MLflow, BentoML or Feast (they are the ``airflow`` and ``mlops`` extras, left out of the desktop bundle),
and a local run without them is refused with a message that names the extra to install.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dagsmith.editor.runs import extras
from dagsmith.nodes import load_example, save

HEAVY = ("airflow", "mlflow", "bentoml", "feast", "papermill", "authlib", "joserfc")  # authlib: the team extra

PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import dagsmith.codegen, dagsmith.editor, dagsmith.nodes
    from dagsmith.editor.cli import run

    RUN_ONLY = ("dagsmith.codegen.steps", "dagsmith.editor.runs.execution", "dagsmith.editor.store.migrations")
    imported = []
    for package in (dagsmith.nodes, dagsmith.codegen, dagsmith.editor):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.startswith(RUN_ONLY):
                importlib.import_module(module.name)
                imported.append(module.name)
    out = sys.argv[1]
    codes = [run(["validate", sys.argv[2]]), run(["export", "--out", out, sys.argv[2]])]
    print(json.dumps({"imported": imported, "codes": codes, "heavy": sorted(
        name for name in sys.modules if name.split(".")[0] in sys.argv[3].split(","))}))
    """
)


def test_designer_modules_and_export_import_no_run_only_packages(tmp_path: Path) -> None:
    pipeline = tmp_path / "keyword.dagsmith.json"
    save(load_example("keyword_recommendation"), pipeline)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "out"), str(pipeline), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={"DAGSMITH_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The walk reached the editor's pages, its services and its app, not only the package roots.
    assert {"dagsmith.editor.app", "dagsmith.editor.pages.workbench", "dagsmith.editor.run_services"} <= set(
        report["imported"]
    )
    assert report["codes"] == [0, 0], result.stderr
    assert list((tmp_path / "out").glob("*.py")), "the export wrote no DAG file"
    assert report["heavy"] == []


def test_cli_help_imports_no_run_only_packages() -> None:
    probe = (
        "import sys, contextlib, io\nfrom dagsmith.editor.cli import run\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): run(['--help'])\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_needed_modules_follow_the_node_types() -> None:
    pipeline = load_example("keyword_recommendation")
    types = {node.type for node in pipeline.nodes}
    needed = extras.needed_modules([pipeline])
    assert needed[0] == "airflow"
    assert ("feast" in needed) == bool(types & {"feature_retrieval", "feature_materialize"})
    assert ("bentoml" in needed) == bool(types & {"bentoml_build", "bentoml_deploy"})
    assert extras.needed_modules([], mlflow=True) == ["airflow", "mlflow"]


def test_missing_extras_name_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extras, "installed", lambda name: name == "mlflow")
    message = extras.missing_extras_message(["airflow", "mlflow", "feast"])
    assert message is not None
    assert "airflow, feast" in message
    assert "pip install 'dagsmith[airflow,mlops]'" in message
    monkeypatch.setattr(extras, "installed", lambda name: True)
    assert extras.missing_extras_message(["airflow", "mlflow"]) is None


def test_the_desktop_app_says_it_leaves_local_runs_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extras, "installed", lambda name: False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    message = extras.missing_extras_message(["airflow"])
    assert message is not None
    assert "desktop app does not include" in message
    assert "File → Set up local runs" in message
    assert "pip install 'dagsmith[airflow]'" in message


def test_a_local_run_without_airflow_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dagsmith.editor.runs import LocalRunError, engine

    monkeypatch.setattr(extras, "installed", lambda name: name != "airflow")
    pipeline = load_example("keyword_recommendation")
    with pytest.raises(LocalRunError, match=r"dagsmith\[airflow\]"):
        engine.start_local_run(pipeline, tmp_path / "ws", project_dir=tmp_path, environ={"DAGSMITH_FEAST_REPO": ""})
    assert not list((tmp_path / "ws").rglob("record.json")), json.dumps([str(p) for p in tmp_path.rglob("*")])
