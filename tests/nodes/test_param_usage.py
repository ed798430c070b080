"""Run-time parameters that no node uses are reported; the examples take what their parameters say."""

from __future__ import annotations

from typing import Any

import pytest
from factories import node, only, pipeline, valid_pipeline
from pydantic import ValidationError

from dagsmith.nodes import Code, Pipeline, Severity, load_example, validate
from dagsmith.nodes.param_usage import used_params
from dagsmith.nodes.types import BatchPredict

TOP_K = {"name": "top_k", "type": "integer", "default": 100}


def _script_taking(argument: str) -> Pipeline:
    return pipeline(node("n", "script", {"script": "train.py", "arguments": ["--k", argument]}), params=[TOP_K])


def test_a_param_no_node_uses_is_a_warning_naming_it() -> None:
    issue = only(validate(_script_taking("100")), Code.UNUSED_PARAM)
    assert issue.severity is Severity.WARNING
    assert issue.field == "settings.params.0.name"
    assert "'top_k'" in issue.message and "{{ params.top_k }}" in issue.message


@pytest.mark.parametrize("text", ["{{ params.top_k }}", "{{params.top_k|int}}", "--k={{ params['top_k'] }}"])
def test_a_param_used_in_any_form_is_not_reported(text: str) -> None:
    doc = _script_taking(text)
    assert used_params(doc) == {"top_k"}
    assert Code.UNUSED_PARAM not in [issue.code for issue in validate(doc)]


def test_batch_prediction_takes_top_k_from_a_param_but_not_from_other_text() -> None:
    assert BatchPredict.model_validate({"id_column": "id", "top_k": "{{ params.top_k }}"}).top_k == "{{ params.top_k }}"
    assert BatchPredict.model_validate({"id_column": "id", "top_k": 5}).top_k == 5
    for bad in ("ten", "{{ conf }}", 0):
        with pytest.raises(ValidationError):
            BatchPredict.model_validate({"id_column": "id", "top_k": bad})
    doc = valid_pipeline("batch_predict", {"id_column": "id", "top_k": "{{ params.top_k }}"})
    data = doc.model_dump(mode="json")
    data["settings"]["params"] = [TOP_K]  # the parameter it names is defined
    doc = Pipeline.model_validate(data)
    assert [issue for issue in validate(doc) if issue.is_error] == []


def test_user_targeting_takes_top_k_from_its_param() -> None:
    example = load_example("user_targeting")
    predict: dict[str, Any] = next(n.params for n in example.nodes if n.type == "batch_predict")
    assert predict["top_k"] == "{{ params.top_k }}"  # not a copy of the param's default that a run cannot change
    assert Code.UNUSED_PARAM not in [issue.code for issue in validate(example)]
