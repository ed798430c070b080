"""A real MLflow store for the model health tests: three versions, monitoring runs over ten days, two triggers.

v2 fails the gate (val_auc 0.78 does not beat v1's 0.80); v1 is measured first and crosses the ctr threshold
0.035, a retraining is triggered (run r1), the champion alias moves to v3, which is measured and crosses
it again, and a second retraining is triggered (run r2) two days before ``NOW``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dagsmith.nodes import Pipeline

MODEL = "keyword-recommender"
NOW = 1_780_000_000.0
DAY = 86400.0


def pipeline_document(**monitor: Any) -> Pipeline:
    """Register → gate → monitor (reading the model through the gate's approved output)."""
    params = {
        "metric": "ctr",
        "threshold": 0.035,
        "trigger_when": "below",
        "monitoring_experiment": "keyword-monitoring",
        "retrain_dag_id": "keyword_retrain",
        "cooldown_hours": 72,
        **monitor,
    }
    return Pipeline.model_validate(
        {
            "settings": {"name": "Keyword recommender"},
            "nodes": [
                {"id": "register", "type": "register_model", "params": {"model_name": MODEL}},
                {
                    "id": "gate",
                    "type": "model_gate",
                    "params": {"metric": "val_auc", "threshold": 0.75, "compare_to_champion": True},
                },
                {"id": "watch", "type": "monitor", "params": params},
            ],
            "edges": [
                {
                    "id": "e1",
                    "source": "register",
                    "source_port": "model",
                    "target": "gate",
                    "target_port": "candidate",
                },
                {"id": "e2", "source": "gate", "source_port": "approved", "target": "watch", "target_port": "model"},
            ],
        }
    )


def _run(client: Any, experiment: str, at: float, tags: dict[str, str], metrics: dict[str, float]) -> str:
    run = client.create_run(experiment, start_time=int(at * 1000), tags=tags)
    for name, value in metrics.items():
        client.log_metric(run.info.run_id, name, value, timestamp=int(at * 1000))
    client.set_terminated(run.info.run_id, "FINISHED", end_time=int(at * 1000) + 1000)
    return str(run.info.run_id)


def build_store(folder: Path) -> str:
    """An MLflow SQLite store at ``folder/mlflow.db`` with the model's versions, monitoring runs and triggers."""
    from mlflow import MlflowClient

    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # MLflow's default artifact root is ./mlruns
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        training = client.create_experiment("keyword-training", artifact_location=str(folder / "artifacts"))
        client.create_registered_model(MODEL)
        for number, auc in ((1, 0.80), (2, 0.78), (3, 0.85)):
            run = _run(client, training, NOW - (12 - 3 * number) * DAY, {}, {"val_auc": auc})
            client.create_model_version(MODEL, source=str(folder / "artifacts" / f"m{number}"), run_id=run)
        client.set_registered_model_alias(MODEL, "champion", "1")
        monitoring = client.create_experiment("keyword-monitoring", artifact_location=str(folder / "artifacts"))
        for version, days_ago, ctr in (("1", 10, 0.05), ("1", 9, 0.045), ("1", 8, 0.033), ("1", 7, 0.031)):
            tags = {"dagsmith.model_name": MODEL, "dagsmith.model_version": version}
            _run(client, monitoring, NOW - days_ago * DAY, tags, {"ctr": ctr})
        trigger_tags = {"dagsmith.kind": "retrain-trigger", "dagsmith.retrain_dag_id": "keyword_retrain"}
        _run(client, monitoring, NOW - 7.5 * DAY, {**trigger_tags, "dagsmith.triggered_run_id": "r1"}, {"ctr": 0.033})
        client.set_registered_model_alias(MODEL, "champion", "3")
        for version, days_ago, ctr in (("3", 6, 0.05), ("3", 3, 0.034), ("3", 2.5, 0.032)):
            tags = {"dagsmith.model_name": MODEL, "dagsmith.model_version": version}
            _run(client, monitoring, NOW - days_ago * DAY, tags, {"ctr": ctr})
        _run(client, monitoring, NOW - 2 * DAY, {**trigger_tags, "dagsmith.triggered_run_id": "r2"}, {"ctr": 0.032})
        other = {"dagsmith.model_name": "other-model", "dagsmith.model_version": "1"}
        _run(client, monitoring, NOW - 1 * DAY, other, {"ctr": 0.001})  # another model's run is not shown
    return uri
