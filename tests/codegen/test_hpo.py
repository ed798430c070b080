"""Hyper-parameter search: one failed trial does not fail the search; the best is chosen among the successful.

The form's ``min_successful_trials`` is validated, the best-trial task runs with ``none_skipped`` in a real
Airflow 3 (both targets), and the step programs run against a real MLflow store on SQLite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sample_pipelines import edge, node, pipeline

from dagsmith.codegen import render
from dagsmith.codegen.steps import source
from dagsmith.nodes import validate


def _search(**params: Any) -> Any:
    nodes = [
        node("data", "script", inputs=[], outputs=[{"name": "rows", "type": "dataset"}]),
        node("tune", "hyperparameter_search", **params),
    ]
    return pipeline("search", nodes, [edge("data", "rows", "tune", "dataset")])


def _errors(document: Any) -> list[tuple[str | None, str | None, str]]:
    return [(issue.node, issue.field, issue.message) for issue in validate(document) if issue.is_error]


@pytest.mark.parametrize("minimum", [0, -1, 9])
def test_min_successful_trials_is_between_one_and_the_number_of_trials(minimum: int) -> None:
    errors = _errors(_search(max_trials=8, min_successful_trials=minimum))
    assert [(node_id, field) for node_id, field, _ in errors] == [("tune", "min_successful_trials")]
    if minimum == 9:
        assert "lower the minimum of successful trials to max_trials or less" in errors[0][2]


def test_min_successful_trials_defaults_to_one_and_reaches_the_best_trial_task() -> None:
    assert _errors(_search()) == []
    assert _errors(_search(max_trials=8, min_successful_trials=8)) == []
    text = render(_search(max_trials=8, min_successful_trials=5))
    assert '\\"min_successful_trials\\": 5' in text or '"min_successful_trials": 5' in text


def _load(folder: Path, document: Any, target: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    path = folder / f"{target}.py"
    path.write_text(render(document, target=target), encoding="utf-8")
    bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}
    return bag.dags[document.dag_id]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["airflow3", "local"])
def test_the_best_trial_runs_after_failed_trials_but_not_in_a_skipped_branch(
    airflow_home: Path, tmp_path: Path, target: str
) -> None:
    dag = _load(tmp_path, _search(), target)
    best = dag.get_task("tune")
    assert best.upstream_task_ids == {"tune__trial"}
    assert best.trigger_rule == "none_skipped"
    # the trials themselves still need their upstream to succeed
    assert dag.get_task("tune__trials").trigger_rule == "all_success"
    assert dag.get_task("tune__trial").partial_kwargs.get("trigger_rule", "all_success") == "all_success"


TRIAL_SCRIPT = """
import os, sys
import mlflow
value = float(os.environ["DAGSMITH_TRIAL_PARAMS"].split(":")[1].strip(" }"))
with mlflow.start_run():
    mlflow.log_metric("val_auc", value)
sys.exit(1 if value > 0.8 else 0)  # the best-looking trial crashes after logging its metric
"""


def _step(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    program = source("runtime") + "\n\n\n" + source(name)
    return subprocess.run(
        [sys.executable, "-c", program, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_the_best_is_chosen_among_successful_trials_and_too_few_fail_the_search(tmp_path: Path) -> None:
    """Three trials: one fails after logging the best value, one succeeds, one's pod dies (run left open)."""
    (tmp_path / "trial.py").write_text(TRIAL_SCRIPT, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "DAGSMITH_XCOM_FILE": str(tmp_path / "xcom.json"),
        "DAGSMITH_OUTPUT_TRIALS": str(tmp_path / "trials.json"),
        "DAGSMITH_DAG_ID": "search",
        "DAGSMITH_TASK_ID": "tune__trials",
        "DAGSMITH_RUN_ID": "manual__1",
    }
    space = {"x": {"kind": "choice", "values": [0.9, 0.5, 0.7]}}
    config = {"search_space": space, "algorithm": "grid", "max_trials": 3, "seed": 0, "experiment": "search"}
    trials = _step("hpo_trials", {**env, "DAGSMITH_CONFIG": json.dumps(config)})
    assert trials.returncode == 0, trials.stdout + trials.stderr
    specs = json.loads((tmp_path / "xcom.json").read_text())
    assert [json.loads(entry[0])["params"] for entry in specs] == [{"x": 0.9}, {"x": 0.5}, {"x": 0.7}]
    for entry in specs[:2]:  # the third trial's pod never finishes: its run stays RUNNING
        ran = _step("hpo_trial", env, "--", sys.executable, str(tmp_path / "trial.py"), entry[0])
        assert ran.returncode == (1 if json.loads(entry[0])["index"] == 0 else 0), ran.stdout + ran.stderr

    def best(minimum: int) -> subprocess.CompletedProcess[str]:
        cfg = {"objective_metric": "val_auc", "direction": "maximize", "min_successful_trials": minimum}
        return _step("hpo_best", {**env, "DAGSMITH_CONFIG": json.dumps(cfg), "DAGSMITH_TRIALS": json.dumps(specs)})

    chosen = best(1)
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    reported = json.loads((tmp_path / "xcom.json").read_text())
    assert (reported["best_run"]["index"], reported["best_run"]["value"]) == (1, 0.5)
    assert reported["trials"] == {"count": 3, "succeeded": 1, "best": 0.5}
    table = json.loads((tmp_path / "trials.json").read_text())
    assert [(trial["index"], trial["status"]) for trial in table] == [(0, "FAILED"), (1, "FINISHED"), (2, "RUNNING")]

    too_few = best(2)
    assert too_few.returncode == 1
    assert "1 of 3 trials succeeded, the search needs at least 2 (min_successful_trials)" in too_few.stdout
    assert "trial 0 FAILED, trial 1 FINISHED, trial 2 RUNNING" in too_few.stdout

    missing = _step("hpo_best", {**env, "DAGSMITH_CONFIG": json.dumps({"objective_metric": "val_auc"})})
    assert missing.returncode == 1
    assert "the trials task reported no trials" in missing.stdout
