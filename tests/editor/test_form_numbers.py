"""Numbers typed into a form reach the document as typed: a fraction in a whole-number field is not truncated."""

from __future__ import annotations

from dagsmith.editor.forms.values import as_number
from dagsmith.nodes import Code, Node, Pipeline, PipelineSettings, validate


def test_a_fraction_in_a_whole_number_field_is_kept_for_validation() -> None:
    assert as_number(2.0, "integer") == 2
    assert isinstance(as_number(2.0, "integer"), int)
    assert as_number(2.7, "integer") == 2.7  # was int(2.7) == 2: a silent change of the GPU count
    assert as_number(None, "integer") is None
    assert as_number(3, "number") == 3.0


def test_the_kept_fraction_is_an_error_at_the_gpu_field() -> None:
    gpus = as_number(2.7, "integer")
    params = {"script": "x.py", "pod": {"resources": {"gpu": gpus, "gpu_resource": "nvidia.com/gpu"}}}
    pipeline = Pipeline(
        settings=PipelineSettings(default_image="python:3.11"), nodes=[Node(id="a", type="script", params=params)]
    )
    [issue] = validate(pipeline)
    assert (issue.code, issue.node, issue.field) == (Code.INVALID_VALUE, "a", "pod.resources.gpu")
    assert "enter a whole number" in issue.message
