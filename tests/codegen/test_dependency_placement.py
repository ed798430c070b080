"""Each ``a >> b`` is written right after the later of its two tasks, not all at the end of the file.

Airflow hashes the DAG on every ``>>``, and the hash covers every task defined so far: written at the end,
each dependency costs a hash over all the tasks; written as soon as both tasks exist, half of that on
average. At 1,000 tasks that was the one place where Airflow did more work for the generated file than for
the hand-written one (bench/PROFILE.md, Session 7: DagBag parse).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from codegen_support import sample_pipelines

from dagsmith.codegen import render
from dagsmith.codegen.plan import build_plan

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from synthetic import synthetic_pipeline  # bench/ is not a package

PIPELINES = {**sample_pipelines(), "synthetic_40": synthetic_pipeline(40)}


def _with_body(source: str) -> list[ast.stmt]:
    """The statements inside ``with DAG(...) as dag:``."""
    block = next(stmt for stmt in ast.parse(source).body if isinstance(stmt, ast.With))
    return block.body


def _edge(stmt: ast.stmt) -> tuple[str, str] | None:
    """``(upstream, downstream)`` of an ``a >> b`` statement, else None."""
    value = stmt.value if isinstance(stmt, ast.Expr) else None
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.RShift):
        left, right = value.left, value.right
        assert isinstance(left, ast.Name) and isinstance(right, ast.Name), ast.dump(value)
        return left.id, right.id
    return None


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_each_dependency_follows_the_later_of_its_tasks(name: str) -> None:
    pipeline = PIPELINES[name]
    body = _with_body(render(pipeline))
    defined: list[str] = []  # task variables in the order the file defines them
    written: list[tuple[str, str]] = []
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            target = stmt.targets[0]
            assert isinstance(target, ast.Name)
            defined.append(target.id)
        elif (edge := _edge(stmt)) is not None:
            upstream, downstream = edge
            assert upstream in defined and downstream in defined, f"{name}: {edge} before its tasks"
            later = max(defined.index(upstream), defined.index(downstream))
            # No task is defined between the later task and its dependencies.
            assert later == len(defined) - 1, f"{name}: {edge} is not written right after {defined[later]}"
            written.append(edge)
    # Every dependency of the plan, each once, in the plan's order within each task.
    plan = build_plan(pipeline, version=1)
    assert sorted(written) == sorted(plan.dependencies)
    assert len(written) == len(set(written))
