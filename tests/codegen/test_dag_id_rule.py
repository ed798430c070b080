"""The exporter refuses exactly the dag_ids that validation refuses, with the same message (nodes.checks)."""

from __future__ import annotations

import pytest

from dagsmith.codegen.history import GitExportError, check_dag_id
from dagsmith.nodes import Pipeline, PipelineSettings, validate
from dagsmith.nodes.checks import dag_id_problem

BAD_DAG_IDS = ["", ".", "..", ".hidden", "../x", "a/b", "a\\b", "bad id", "日本", "x" * 251, "a\x00b"]
GOOD_DAG_IDS = ["a", "my_dag", "x.y-z", "A1", "_private", "x" * 250, "v1..2"]


@pytest.mark.parametrize("dag_id", BAD_DAG_IDS + GOOD_DAG_IDS)
def test_validation_and_the_exporter_agree_on_every_dag_id(dag_id: str) -> None:
    pipeline = Pipeline(settings=PipelineSettings(name="p", dag_id=dag_id or None))
    validation_refuses = any(i.field == "settings.dag_id" for i in validate(pipeline))
    try:
        check_dag_id(dag_id)
    except GitExportError as exc:
        assert str(exc) == dag_id_problem(dag_id)
        exporter_refuses = True
    else:
        exporter_refuses = False
    assert exporter_refuses == (dag_id_problem(dag_id) is not None)
    if dag_id:  # an empty dag_id means "derive it from the name", which validation accepts
        assert validation_refuses == exporter_refuses
