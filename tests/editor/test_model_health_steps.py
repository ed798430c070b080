"""Model health from what the real steps record: alias moves (register and promote) and drift measurements.

The steps run as the local target embeds them (the runtime, then the step's source: the same modules a pod
runs) against a real MLflow SQLite store; the health model is then read from that store as the page reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from health_store import DAY, pipeline_document
from nicegui import ui
from nicegui.testing import User

from dagsmith.codegen.steps import RUNTIME_VERSION, source
from dagsmith.editor.integrations.decay import ALIAS_MOVE_TAG
from dagsmith.editor.integrations.decay_reader import HealthReport, read_health
from dagsmith.editor.pages.health import health_page
from dagsmith.editor.services import EditorServices

pytest.importorskip("mlflow")

MODEL = "keyword-recommender"
STEPS_ROOT = Path(__file__).resolve().parents[2] / "steps"
"""The step runtime's distribution folder in this checkout, as the step image installs it."""


class Steps:
    """Runs step programs in this process with the step contract's environment; keeps what they reported."""

    def __init__(self, folder: Path, uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder, self.uri, self.monkeypatch = folder, uri, monkeypatch
        self.logs: list[str] = []

    def run(self, step: str, config: dict[str, Any], **env: str) -> dict[str, Any]:
        xcom = self.folder / "xcom.json"
        xcom.unlink(missing_ok=True)
        namespace: dict[str, Any] = {"__name__": f"dagsmith_step_{step}"}
        exec(compile(source("runtime") + "\n\n\n" + source(step), step, "exec"), namespace)
        with self.monkeypatch.context() as mp:
            for name, text in {
                "MLFLOW_TRACKING_URI": self.uri,
                "DAGSMITH_CONFIG": json.dumps(config),
                "DAGSMITH_XCOM_FILE": str(xcom),
                "DAGSMITH_DAG_ID": "keyword",
                "DAGSMITH_TASK_ID": step,
                **env,
            }.items():
                mp.setenv(name, text)
            namespace["main"]()
        return json.loads(xcom.read_text()) if xcom.exists() else {}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Steps, dict[str, Any]]]:
    """v1 registered and measured before alias moves were recorded; then the steps register v2 and v3 (their
    candidate alias moves are recorded), promote v2 and v3 (recorded) and a drift monitor measures twice."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("steps-health")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    seen: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # MLflow's default artifact root is ./mlruns
        previous_uri = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(uri)
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            steps = Steps(folder, uri, mp)
            now = time.time()
            training = client.create_experiment("keyword-training", artifact_location=str(folder / "artifacts"))
            runs = []
            for auc in (0.80, 0.82, 0.85):
                run = client.create_run(training)
                client.log_metric(run.info.run_id, "val_auc", auc)
                client.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")  # what register_model looks for
                client.set_terminated(run.info.run_id, "FINISHED")
                runs.append(run.info.run_id)
            # v1, as before this change: registered and aliased by hand, so it records nothing
            client.create_registered_model(MODEL)
            client.create_model_version(MODEL, source=str(folder / "m1"), run_id=runs[0])
            client.set_registered_model_alias(MODEL, "champion", "1")
            monitoring = client.create_experiment("keyword-monitoring", artifact_location=str(folder / "artifacts"))
            for days_ago, ctr in ((3, 0.05), (2, 0.045)):
                tags = {"dagsmith.model_name": MODEL, "dagsmith.model_version": "1"}
                run = client.create_run(monitoring, start_time=int((now - days_ago * DAY) * 1000), tags=tags)
                client.log_metric(run.info.run_id, "ctr", ctr)
                client.set_terminated(run.info.run_id, "FINISHED")
            register = {"model_name": MODEL, "artifact_path": "model", "alias": "candidate", "tags": {}}
            for number, run_id in ((2, runs[1]), (3, runs[2])):
                reported = steps.run("register_model", register, DAGSMITH_VALUE_RUN=json.dumps({"run_id": run_id}))
                assert reported["model"]["version"] == str(number)
                decision = {"promote": True, "name": MODEL, "version": str(number), "previous": str(number - 1)}
                promote = {"champion_alias": "champion"}
                steps.run(
                    "promote_model",
                    promote,
                    DAGSMITH_VALUE_DECISION=json.dumps(decision),
                    DAGSMITH_RUN_ID=f"run{number}",
                )
            # a retried promote task: the alias already names v3, so no second record
            steps.run("promote_model", promote, DAGSMITH_VALUE_DECISION=json.dumps(decision), DAGSMITH_RUN_ID="retry")
            # a quality run of v3 measuring ctr, then the drift monitor measures the ctr column twice
            run = client.create_run(monitoring, tags={"dagsmith.model_name": MODEL, "dagsmith.model_version": "3"})
            client.log_metric(run.info.run_id, "ctr", 0.06)
            client.set_terminated(run.info.run_id, "FINISHED")
            reference = folder / "reference.csv"
            pd.DataFrame({"ctr": [i / 100 for i in range(100)]}).to_csv(reference, index=False)
            drift = {
                "source": "drift",
                "metric": "ctr",
                "model_name": MODEL,
                "model_alias": "champion",
                "threshold": 0.25,
                "trigger_when": "above",
                "retrain_dag_id": "keyword_retrain",
                "monitoring_experiment": "keyword-monitoring",
                "cooldown_hours": 24,
            }
            seen["drift"] = []
            for shift in (0.0, 0.5):
                current = folder / f"current-{shift}.csv"
                pd.DataFrame({"ctr": [i / 100 + shift for i in range(100)]}).to_csv(current, index=False)
                inputs = {"DAGSMITH_INPUT_REFERENCE": str(reference), "DAGSMITH_INPUT_CURRENT": str(current)}
                reported = steps.run("monitor", drift, DAGSMITH_RETRAIN_ACTIVE_RUNS="0", **inputs)
                seen["drift"].append(reported["metrics"]["value"])
            quality = {**drift, "source": "mlflow", "threshold": 0.03, "trigger_when": "below"}
            seen["quality"] = steps.run("monitor", quality, DAGSMITH_RETRAIN_ACTIVE_RUNS="0")["metrics"]["value"]
            seen["tags"] = {str(v.version): dict(v.tags) for v in client.search_model_versions(f"name = '{MODEL}'")}
            seen["now"] = time.time()
            yield uri, steps, seen
        finally:
            mlflow.set_tracking_uri(previous_uri)


@pytest.fixture(scope="module")
def health(store: tuple[str, Steps, dict[str, Any]]) -> HealthReport:
    uri, _, seen = store
    return read_health(uri, pipeline_document(monitoring_experiment="keyword-monitoring"), now=seen["now"])


def moves(tags: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(text) for key, text in sorted(tags.items()) if key.startswith(ALIAS_MOVE_TAG)]


def test_register_and_promote_record_each_alias_move_on_the_version(store: tuple[str, Steps, dict[str, Any]]) -> None:
    tags = store[2]["tags"]
    assert moves(tags["1"]) == []  # moved by hand before the steps recorded anything
    for number in (2, 3):
        candidate, champion = sorted(moves(tags[str(number)]), key=lambda move: move["alias"] != "candidate")
        assert (candidate["alias"], candidate["version"], candidate["previous"]) == (
            "candidate",
            str(number),
            None if number == 2 else "2",
        )
        assert (champion["alias"], champion["previous"], champion["run_id"]) == (
            "champion",
            str(number - 1),
            f"run{number}",
        )
        assert (champion["dag_id"], champion["task_id"]) == ("keyword", "promote_model")
    assert all(move["run_id"] != "retry" for move in moves(tags["3"]))  # a retry that moved nothing records nothing


def test_who_held_the_alias_comes_from_the_records_and_earlier_holders_are_inferred(health: HealthReport) -> None:
    (model,) = health.models
    (panel,) = model.panels
    spans = [(s.version, s.inferred, s.recorded, s.end is None) for s in panel.spans]
    assert spans == [("1", True, False, False), ("2", False, True, False), ("3", False, True, True)]
    assert panel.spans[0].end == panel.spans[1].start and panel.spans[1].end == panel.spans[2].start


def test_the_drift_monitor_logs_each_measurement_and_the_page_charts_it(
    store: tuple[str, Steps, dict[str, Any]],
) -> None:
    uri, _, seen = store
    document = pipeline_document(source="drift", model_name=MODEL, trigger_when="above", threshold=0.25)
    report = read_health(uri, document, now=seen["now"])
    (model,) = report.models
    (panel,) = model.panels
    low, high = seen["drift"]
    assert low < 0.25 < high
    assert list(panel.series) == ["3"] and [value for _, value in panel.series["3"]] == [low, high]
    assert panel.status.startswith(f"ctr {high:g} (v3) is above the threshold 0.25")
    assert len(panel.triggers) == 1  # the second measurement crossed it and triggered


def test_a_quality_monitor_does_not_read_a_drift_measurement_of_the_same_metric(
    store: tuple[str, Steps, dict[str, Any]], health: HealthReport
) -> None:
    assert store[2]["quality"] == 0.06  # the newest run of v3 logging ctr is the drift monitor's, not read
    (panel,) = health.models[0].panels
    assert [value for _, value in panel.series["3"]] == [0.06]


def test_a_pod_records_the_same_as_a_local_run(tmp_path: Path, store: tuple[str, Steps, dict[str, Any]]) -> None:
    """The promote step as a pod runs it (``python -m dagsmith_steps``, the checkout's step runtime) writes the
    record the embedded (local) program writes: the same tag and the same fields."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(MODEL)
    for number in (1, 2):
        client.create_model_version(MODEL, source=str(tmp_path / f"m{number}"))
    client.set_registered_model_alias(MODEL, "champion", "1")
    decision = {"promote": True, "name": MODEL, "version": "2", "previous": "1"}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(STEPS_ROOT),
        "DAGSMITH_RUNTIME_VERSION": RUNTIME_VERSION,
        "MLFLOW_TRACKING_URI": uri,
        "DAGSMITH_CONFIG": json.dumps({"champion_alias": "champion"}),
        "DAGSMITH_VALUE_DECISION": json.dumps(decision),
        "DAGSMITH_XCOM_FILE": str(tmp_path / "xcom.json"),
        "DAGSMITH_DAG_ID": "keyword",
        "DAGSMITH_TASK_ID": "promote_model",
        "DAGSMITH_RUN_ID": "run2",
    }
    command = [sys.executable, "-m", "dagsmith_steps", "promote_model"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (pod,) = moves(dict(client.get_model_version(MODEL, "2").tags))
    (local,) = [move for move in moves(store[2]["tags"]["2"]) if move["alias"] == "champion"]
    assert {**pod, "time": 0} == {**local, "time": 0}


async def test_the_page_charts_the_drift_and_labels_the_recorded_holders(
    user: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: tuple[str, Steps, dict[str, Any]]
) -> None:
    for name in ("DAGSMITH_MLFLOW_TRACKING_URI", "DAGSMITH_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store[0])
    services = EditorServices.open(f"sqlite:///{tmp_path / 'editor.db'}")
    document = pipeline_document(source="drift", model_name=MODEL, trigger_when="above", threshold=0.25)
    info = services.create(services.local_project().id, document)

    @ui.page("/pipeline/{pipeline_id}/health")
    async def page(pipeline_id: int) -> None:
        await health_page(services, pipeline_id)

    await user.open(f"/pipeline/{info.id}/health")
    await user.should_see(marker=f"health-status-{MODEL}-watch", retries=300)
    (chart,) = user.find(marker=f"health-chart-{MODEL}-watch").elements
    series = {item["name"]: item for item in chart.options["series"]}  # type: ignore[attr-defined]
    assert [value for _, value in series["v3"]["data"]] == store[2]["drift"]
    found = sorted(user.find(marker="health-alias").elements, key=lambda element: element.id)
    holders = [element.text for element in found]  # type: ignore[attr-defined]
    assert [text.split(" ")[0] for text in holders] == ["v2", "v3"]
    assert all(text.endswith("(recorded)") for text in holders)
