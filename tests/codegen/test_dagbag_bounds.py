"""The largest durations validation allows still make a DAG file that a real Airflow 3 imports (issue 12 D5).

Before the bounds, ``retry_delay_seconds=10**18`` or a timeout of ``1e300`` minutes passed validation and
the DAG failed to import with OverflowError; now such values are validation errors, and the maximum
values (365 days) must load.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sample_pipelines import node, pipeline

from dagsmith.codegen import render
from dagsmith.nodes import validate
from dagsmith.nodes.checks import MAX_DURATION_MINUTES, MAX_DURATION_SECONDS

YEAR = dt.timedelta(days=365)


@pytest.fixture(scope="module")
def bounded_dag(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    pod = {
        "timeout_minutes": MAX_DURATION_MINUTES,
        "startup_timeout_seconds": MAX_DURATION_SECONDS,
        "retries": 100,
        "tolerations": [
            {"key": "k", "operator": "Exists", "effect": "NoExecute", "toleration_seconds": MAX_DURATION_SECONDS}
        ],
    }
    train = node("train", "script", "Train", pod=pod, inputs=[])
    subject = pipeline(
        "Bounded",
        [train],
        [],
        retries=100,
        retry_delay_seconds=MAX_DURATION_SECONDS,
        execution_timeout_minutes=MAX_DURATION_MINUTES,
        dagrun_timeout_minutes=MAX_DURATION_MINUTES,
        max_active_runs=1000,
    )
    assert [issue for issue in validate(subject) if issue.is_error] == []
    folder = tmp_path_factory.mktemp("bounded-dags")
    (folder / "bounded.py").write_text(render(subject), encoding="utf-8")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    return bag.dags["bounded"]


def test_the_largest_allowed_values_import_in_airflow(bounded_dag: Any) -> None:
    assert bounded_dag.dagrun_timeout == YEAR
    assert bounded_dag.max_active_runs == 1000
    train = bounded_dag.get_task("train")
    assert train.execution_timeout == YEAR
    assert train.retries == 100
    assert train.startup_timeout_seconds == MAX_DURATION_SECONDS
    assert train.tolerations[0].toleration_seconds == MAX_DURATION_SECONDS
    assert bounded_dag.default_args["retry_delay"] == dt.timedelta(seconds=MAX_DURATION_SECONDS)
