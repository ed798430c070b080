"""What makes an export fast without changing it (issue 9): behaviour the speed work relies on.

``render`` builds a file with the cyclic garbage collector off and leaves it as it found it (its collections
over the syntax tree of the safety check were half of that check's time at 1,000 nodes), and the plan builds
from the node parameters that validation read instead of validating every node again.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from types import FrameType

import pytest
from sample_pipelines import mlops_loop, node, pipeline

from dagsmith.codegen import ExportError, render
from dagsmith.codegen.plan import build_plan
from dagsmith.nodes import CATALOG, validate
from dagsmith.nodes.types import NodeType, Script

BUILDING = frozenset({"validate", "build_plan", "check_source"})
"""Functions that build the file, besides the template's own code."""


def _building(frame: FrameType | None) -> str | None:
    """The building function (or template) on the stack from ``frame`` out, if any."""
    while frame is not None:
        code = frame.f_code
        if code.co_name in BUILDING or code.co_filename.endswith(".jinja2"):
            return code.co_name
        frame = frame.f_back
    return None


@pytest.fixture
def collections() -> Iterator[list[str]]:
    """Each collection that starts inside the building of a file: the function it interrupted."""
    seen: list[str] = []

    def note(phase: str, info: dict[str, int]) -> None:
        where = _building(sys._getframe(1)) if phase == "start" else None
        if where is not None:
            seen.append(where)

    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)


def test_no_collection_runs_while_a_file_is_built_and_the_collector_is_on_after(collections: list[str]) -> None:
    assert gc.isenabled()
    text = render(mlops_loop(), target="airflow3")
    assert collections == []  # the plan, the template and the parse allocate far past gen 0's threshold
    assert gc.isenabled()
    assert len(text) > 10_000


def test_a_refused_export_turns_the_collector_back_on() -> None:
    broken = pipeline("broken", [node("a", "script", script="", inputs=[])], [])
    with pytest.raises(ExportError):
        render(broken)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        render(mlops_loop())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_validation_hands_the_plan_the_parameters_it_read() -> None:
    sample = mlops_loop()
    instances: dict[str, NodeType] = {}
    assert not [issue for issue in validate(sample, instances=instances) if issue.is_error]
    assert set(instances) == {n.id for n in sample.nodes}
    for n in sample.nodes:  # checked and unchecked validation read the same values
        node_type = CATALOG.get(n.type)
        assert node_type is not None
        assert instances[n.id] == node_type.model_validate(n.params)


def test_the_plan_builds_from_the_instances_it_is_given() -> None:
    sample = pipeline("given", [node("a", "script", inputs=[])], [])
    given = Script.model_validate({**sample.nodes[0].params, "script": "given.py"})
    [task] = build_plan(sample, version=1, instances={"a": given}).tasks
    assert task.pod is not None and "given.py" in task.pod.cmds
    [task] = build_plan(sample, version=1).tasks
    assert task.pod is not None and "given.py" not in task.pod.cmds
