"""The local-run API without running anything: workspace, services, localisation, history, the CLI's output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dagsmith.codegen import ExportError
from dagsmith.codegen.compat import LOCAL_BASH
from dagsmith.editor import cli, run_cli
from dagsmith.editor.runs import (
    LocalRunError,
    Services,
    Workspace,
    default_workspace,
    list_runs,
    records,
    start_local_run,
)
from dagsmith.editor.runs.localize import localize
from dagsmith.editor.runs.workspace import MLFLOW_VARIABLE_ENV, worker_environment
from dagsmith.nodes import Pipeline, dumps, load, load_example

ROOT = Path(__file__).resolve().parents[2]
KEYWORD = ROOT / "nodes" / "examples" / "workloads" / "keyword" / "pipeline.dagsmith.json"


def test_importing_the_run_api_does_not_import_airflow() -> None:
    code = (
        "import sys, dagsmith.editor.runs, dagsmith.editor.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'mlflow', 'bentoml', 'feast')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_public_names_are_sorted() -> None:
    from dagsmith.editor import runs

    assert list(runs.__all__) == sorted(runs.__all__)
    assert all(hasattr(runs, name) for name in runs.__all__)


def test_default_workspace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DAGSMITH_WORKSPACE", raising=False)
    monkeypatch.setenv("DAGSMITH_HOME", str(tmp_path / "home"))
    assert default_workspace("keyword_recommendation") == tmp_path / "home" / "workspace" / "keyword_recommendation"
    monkeypatch.setenv("DAGSMITH_WORKSPACE", str(tmp_path / "shared"))
    assert default_workspace("anything") == tmp_path / "shared"


def test_services_are_embedded_unless_the_environment_names_real_ones(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path)
    embedded = Services.from_env(workspace, {})
    assert embedded.embedded_mlflow and embedded.tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert embedded.feast_repo is None and embedded.bentoml_home == str(tmp_path / "bentoml")
    assert Services.from_env(workspace, {"MLFLOW_TRACKING_URI": workspace.mlflow_uri}).embedded_mlflow
    real = Services.from_env(
        workspace,
        {
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
            "DAGSMITH_FEAST_REPO": "/srv/feast",
            "BENTOML_HOME": "/srv/bento",
        },
    )
    assert (real.tracking_uri, real.embedded_mlflow, real.feast_repo, real.bentoml_home) == (
        "http://mlflow:5000",
        False,
        "/srv/feast",
        "/srv/bento",
    )


def test_passwords_stay_out_of_the_record(tmp_path: Path) -> None:
    services = Services.from_env(Workspace.at(tmp_path), {"MLFLOW_TRACKING_URI": "https://me:secret@mlflow:5000/x"})
    assert services.describe()["mlflow"] == "https://me:***@mlflow:5000/x"


def test_the_worker_environment_points_airflow_and_the_steps_at_the_workspace(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path)
    env = worker_environment(
        workspace, Services.from_env(workspace, {}), project_dir=tmp_path / "p", base={"PATH": "/bin"}
    )
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "airflow" / "dags")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}")
    assert env[MLFLOW_VARIABLE_ENV] == env["MLFLOW_TRACKING_URI"] == workspace.mlflow_uri
    assert env["BENTOML_HOME"] == str(tmp_path / "bentoml") and env["BENTOML_DO_NOT_TRACK"] == "true"
    assert env["FEAST_USAGE"] == "False" and env["DAGSMITH_PROJECT_DIR"] == str(tmp_path / "p")
    assert env["PATH"].endswith(":/bin") and env["DAGSMITH_PYTHON"] == sys.executable
    assert env["_MLFLOW_SERVER_ARTIFACT_ROOT"] == str(tmp_path / "mlflow" / "artifacts")


def test_localize_moves_artifacts_and_feature_repos_into_the_workspace(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path)
    pipeline = load(KEYWORD)
    local, setup = localize(pipeline, workspace, Services.from_env(workspace, {}), project_dir=KEYWORD.parent)
    assert local.settings.artifact_root == str(tmp_path / "artifacts")
    assert pipeline.settings.artifact_root == "s3://ml-artifacts/dagsmith"  # the document itself is unchanged
    features = next(node for node in local.nodes if node.type == "feature_retrieval")
    assert features.params["feast_repo"] == str(tmp_path / "feast" / "feature_repo")
    (repo,) = setup.feast
    assert repo["source"] == str(KEYWORD.parent / "feature_repo") and len(repo["digest"]) == 16
    assert setup.mlflow == {"uri": workspace.mlflow_uri, "artifacts": str(tmp_path / "mlflow" / "artifacts")}
    real = Services.from_env(workspace, {"MLFLOW_TRACKING_URI": "http://m:5000", "DAGSMITH_FEAST_REPO": "/srv/f"})
    local, setup = localize(pipeline, workspace, real, project_dir=KEYWORD.parent)
    assert next(node for node in local.nodes if node.type == "feature_retrieval").params["feast_repo"] == "/srv/f"
    assert setup.feast == [] and setup.mlflow is None


def test_a_feature_repo_that_is_not_here_is_explained(tmp_path: Path) -> None:
    workspace = Workspace.at(tmp_path)
    with pytest.raises(LocalRunError, match=r"node 'features'.*'/feast/keyword'.*DAGSMITH_FEAST_REPO"):
        localize(
            load_example("keyword_recommendation"), workspace, Services.from_env(workspace, {}), project_dir=tmp_path
        )


def test_an_invalid_pipeline_fails_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ExportError):
        start_local_run(Pipeline.model_validate({"nodes": [{"id": "a", "type": "script"}]}), tmp_path, environ={})
    assert list((tmp_path / "runs").glob("*/*")) == []


def test_task_states_and_run_ids() -> None:
    assert [records.task_state(state) for state in (None, "scheduled", "queued", "up_for_retry")] == ["queued"] * 4
    assert records.task_state("running") == "running" and records.task_state("upstream_failed") == "skipped"
    first, second = records.new_run_id(), records.new_run_id()
    assert first != second and len(first) == len("20260102T030405Z-1a2b")
    assert records.task_key("t", -1) == "t" and records.task_key("t", 2) == "t[2]"
    assert records.log_name("t", 2) == "t.2.log"


def test_history_is_listed_newest_first_and_damaged_records_are_skipped(tmp_path: Path) -> None:
    for run_id in ("20260101T000000Z-aaaa", "20260102T000000Z-bbbb"):
        records.write_json(records.run_dir(tmp_path, "p", run_id) / records.RECORD, {"id": run_id, "dag_id": "p"})
    (tmp_path / "p" / "broken").mkdir()
    (tmp_path / "p" / "broken" / records.RECORD).write_text("{")
    assert [record["id"] for record in list_runs(tmp_path, "p")] == ["20260102T000000Z-bbbb", "20260101T000000Z-aaaa"]
    assert list_runs(tmp_path, "other") == []


VALUES: dict[str, Any] = {
    "train": {"run": {"run_id": "r1"}},
    "tune__trials": [LOCAL_BASH + " trial " + "eyJydW5faWQiOiAidDEifQ=="],  # {"run_id": "t1"}
    "register": {"model": {"name": "m", "version": "2", "alias": "candidate", "run_id": "r1"}},
    "gate": {"passed": False, "approved": {"name": "m", "version": "1", "alias": "champion"}, "metrics": {"c": 1}},
    "build": {"bento": {"tag": "m:abc", "image": None}},
    "deploy": {"deployment": {"name": "api", "namespace": "local", "image": "m:abc", "url": "http://127.0.0.1:1"}},
    "watch": {"metrics": {"value": 0.1}, "trigger": True},
}


def test_links_say_what_a_run_produced() -> None:
    found = records.links(VALUES)
    assert [item["run_id"] for item in found["mlflow_runs"]] == ["r1", "t1"]
    assert found["model_versions"] == [
        {"name": "m", "version": "2", "aliases": ["candidate"], "task": "register"},
        {"name": "m", "version": "1", "aliases": ["champion"], "task": "gate"},
    ]
    assert found["gates"] == [{"task": "gate", "passed": False, "metrics": {"c": 1}}]
    assert found["bentos"] == [{"task": "build", "tag": "m:abc"}]
    assert found["deployments"] == [{"task": "deploy", "name": "api", "url": "http://127.0.0.1:1", "bento": "m:abc"}]
    assert found["monitors"] == [{"task": "watch", "trigger": True, "metrics": {"value": 0.1}}]


def _event(**fields: Any) -> dict[str, Any]:
    base = {"kind": "task", "time": 1767225600.0, "run": "r", "dag_id": "d", "map_index": -1, "airflow_state": None}
    return {**base, **fields}


def test_progress_prints_one_line_per_state_change(capsys: pytest.CaptureFixture[str]) -> None:
    progress = run_cli.Progress()
    progress(_event(task_id="train", state="queued"))
    progress(_event(task_id="train", state="queued", airflow_state="scheduled"))
    progress(_event(task_id="train", state="running", airflow_state="running"))
    progress(_event(task_id="train", state="success", airflow_state="success", time=1767225612.5))
    progress(_event(task_id="tune__trial", map_index=1, state="skipped", airflow_state="upstream_failed"))
    progress({"kind": "setup", "time": 1767225600.0, "step": "mlflow", "state": "success", "seconds": 3.25})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("train                        running")
    assert lines[1].endswith("train                        success 12.5s")
    assert lines[2].endswith("tune__trial[1]               skipped (upstream_failed)")
    assert lines[3].endswith("setup mlflow                 success 3.2s")


def test_summary_lists_tasks_and_links(tmp_path: Path) -> None:
    record = {
        "id": "x",
        "dag_id": "d",
        "state": "success",
        "workspace": str(tmp_path),
        "started": "2026-01-01T00:00:00+00:00",
        "ended": "2026-01-01T00:01:00+00:00",
        "airflow_run_id": "manual__1",
        "tracking_uri": "sqlite:///m.db",
        "tasks": [{"task_id": "train", "map_index": -1, "state": "success", "duration": 2.0}],
        "links": records.links(VALUES),
        "triggered": [{"dag_id": "k", "airflow_run_id": "manual__2", "run": "y"}],
    }
    text = "\n".join(run_cli.summary(record))
    assert "d x: success in 60.0s (Airflow run manual__1)" in text
    assert "model version: m v2 @candidate (from register)" in text
    assert "gate gate: failed: the champion stays" in text
    assert "serving api at http://127.0.0.1:1" in text
    assert "monitor watch: " in text and "retraining triggered" in text
    assert "triggered k (manual__2) -> local run y" in text
    assert "/#/models/" not in text  # a database store has no UI to link to
    served = "\n".join(run_cli.summary({**record, "tracking_uri": "https://me:***@mlflow.example.com/"}))
    assert "model version: m v2 @candidate (from register) https://mlflow.example.com/#/models/m/versions/2" in served


def test_cli_run_needs_local_and_a_json_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.run(["run", str(KEYWORD), "--workspace", str(tmp_path)]) == 2
    assert "add --local" in capsys.readouterr().err
    assert cli.run(["run", str(KEYWORD), "--local", "--workspace", str(tmp_path), "--conf", "[1]"]) == 2
    assert "JSON object" in capsys.readouterr().err
    assert cli.run(["run", str(KEYWORD), "--local", "--workspace", str(tmp_path), "--conf", "{"]) == 2
    assert cli.run(["run", str(KEYWORD), "--stop", "--workspace", str(tmp_path)]) == 0
    assert "nothing was running" in capsys.readouterr().out


def test_cli_refuses_a_pipeline_that_cannot_run_here(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    example = tmp_path / "keyword.dagsmith.json"
    example.write_text(dumps(load_example("keyword_recommendation")))
    assert cli.run(["run", str(example), "--local", "--workspace", str(tmp_path / "ws")]) == 1
    assert "DAGSMITH_FEAST_REPO" in capsys.readouterr().err


def test_cli_runs_lists_the_history_and_shows_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.run(["runs", str(KEYWORD), "--workspace", str(tmp_path)]) == 0
    assert "no local runs of keyword_recommendation" in capsys.readouterr().out
    base = {"dag_id": "keyword_recommendation", "workspace": str(tmp_path), "tasks": [], "links": {}}
    first = {**base, "id": "20260101T000000Z-aaaa", "state": "success", "started": "2026-01-01T00:00:00+00:00"}
    first["ended"] = "2026-01-01T00:00:42+00:00"
    second = {
        **base,
        "id": "20260102T000000Z-bbbb",
        "state": "failed",
        "started": "2026-01-02T00:00:00+00:00",
        "triggered_by": {"dag_id": "keyword_monitor", "run": "20260101T230000Z-cccc"},
    }
    for record in (first, second):
        records.write_json(tmp_path / "runs" / "keyword_recommendation" / record["id"] / "run.json", record)
    assert cli.run(["runs", str(KEYWORD), "--workspace", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:2] == ["20260102T000000Z-bbbb", "failed"]
    assert lines[1].endswith("triggered by keyword_monitor 20260101T230000Z-cccc")
    assert lines[2].split()[:2] == ["20260101T000000Z-aaaa", "success"] and "42.0s" in lines[2]
    assert cli.run(["runs", str(KEYWORD), "--workspace", str(tmp_path), "--show", first["id"]]) == 0
    assert "keyword_recommendation 20260101T000000Z-aaaa: success in 42.0s" in capsys.readouterr().out
    assert cli.run(["runs", str(KEYWORD), "--workspace", str(tmp_path), "--show", "nope"]) == 1
    assert "no run nope" in capsys.readouterr().err
