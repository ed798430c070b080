"""The DAG's wiring follows what each step means, checked on the generated files in a real Airflow 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sample_pipelines import edge, node, pipeline

from dagsmith.codegen import render
from dagsmith.codegen.wiring import reads_champion
from dagsmith.nodes import load_example


def _load(folder: Path, pipeline_: Any) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    (folder / f"{pipeline_.dag_id}.py").write_text(render(pipeline_), encoding="utf-8")
    bag = DagBag(dag_folder=str(folder / f"{pipeline_.dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[pipeline_.dag_id]


@pytest.fixture
def dags(airflow_home: Path, tmp_path: Path) -> Any:
    """Load one pipeline's generated file in a real Airflow 3."""
    return lambda pipeline_: _load(tmp_path, pipeline_)


def test_target_list_does_not_wait_for_the_candidate_to_win(dags: Any) -> None:
    example = load_example("user_targeting")
    example.settings.service_accounts.groups.update({"marketing": "ml-project", "ml": "ml-project"})
    dag = dags(example)
    predict, join = dag.get_task("target_users"), dag.get_task("target_users__champion")
    assert predict.upstream_task_ids == {"target_users__champion", "scoring_features"}
    # after the promotion when there is one (the new champion), and whatever the gate and promotion ended as
    assert join.upstream_task_ids == {"gate", "gate__promote"}
    assert join.trigger_rule == "all_done"
    assert predict.trigger_rule == "all_success"
    # a loss skips only what the short circuit's direct downstream tasks lead to by their trigger rules
    assert dag.get_task("gate__passed").ignore_downstream_trigger_rules is False
    assert not {"target_users", "target_users__champion"} & set(dag.get_task("gate__passed").downstream_task_ids)


def test_a_step_that_acts_on_the_promotion_still_waits_for_a_pass(dags: Any) -> None:
    dag = dags(_gate_to("prod", "bentoml_build"))
    assert dag.get_task("use").upstream_task_ids == {"gate__passed"}


def _gate_to(reader_alias: str, reader_type: str = "batch_predict") -> Any:
    params: dict[str, Any] = {"model_alias": reader_alias}
    if reader_type == "batch_predict":
        params["id_column"] = "id"
    nodes = [
        node("train", "script", inputs=[], outputs=[{"name": "run", "type": "mlflow_run"}]),
        node("register", "register_model", model_name="m"),
        node("gate", "model_gate", metric="auc", champion_alias="prod"),
        node("data", "script", inputs=[], outputs=[{"name": "rows", "type": "dataset"}]),
        node("use", reader_type, **params),
    ]
    edges = [
        edge("train", "run", "register", "run"),
        edge("register", "model", "gate", "candidate"),
        edge("gate", "approved", "use", "model"),
    ]
    if reader_type == "batch_predict":
        edges.append(edge("data", "rows", "use", "dataset"))
    return pipeline("Alias wiring", nodes, edges)


def test_only_a_reader_of_the_gates_own_champion_alias_skips_the_decision(dags: Any) -> None:
    reads, other = _gate_to("prod"), _gate_to("candidate")
    assert reads_champion(reads.nodes[2], reads.nodes[4])
    assert not reads_champion(other.nodes[2], other.nodes[4])
    assert dags(reads).get_task("use").upstream_task_ids == {"use__champion", "data"}
    assert dags(other).get_task("use").upstream_task_ids == {"gate__passed", "data"}
