"""``render`` builds a file with the cyclic garbage collector off and leaves it as it found it (issue 9 speed).

Its collections over the syntax tree of the safety check were half of that check's time at 1,000 nodes.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from types import FrameType

import pytest
from sample_pipelines import mlops_loop, node, pipeline

from dagsmith.codegen import ExportError, render

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
