"""Literals and identifiers: exact round trips, ruff's formatting, and refusals."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from codegen_support import ruff
from hypothesis import given
from hypothesis import strategies as st

from dagsmith.codegen import ident, py_literal
from dagsmith.codegen.literals import py_block

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(JSON)
def test_literal_reads_back_exactly(value: object) -> None:
    text = py_literal(value, 4)
    assert ast.literal_eval(text) == value
    assert repr(ast.literal_eval(text)) == repr(value)  # same types, -0.0 stays -0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ('say "hi"', "'say \"hi\"'"),
        ("it's", '"it\'s"'),
        ("a\nb\x00\u2028", '"a\\nb\\x00\\u2028"'),
        (1e16, "1e16"),
        (-2.5e-05, "-2.5e-05"),
        (True, "True"),
        ([], "[]"),
        (["a"], '[\n    "a",\n]'),
        ({"k": [1]}, '{\n    "k": [\n        1,\n    ],\n}'),
    ],
)
def test_literal_forms(value: object, expected: str) -> None:
    assert py_literal(value) == expected


@pytest.mark.parametrize("value", [object(), (1, 2), {1: "a"}, b"x", {"a"}, 1j])
def test_non_data_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match=r"cannot be written|keys must be strings"):
        py_literal(value)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        py_literal(value)


def test_ruff_formats_literals_as_written(tmp_path: Path) -> None:
    # One file with many awkward strings: ruff's quote choice and escapes must match ours.
    samples = ["", "'", '"', "'\"", '"\'"', "\\", "\\'", "a\tb", "é✓", "\x7f", "\U0001f600", "{{ x }}", "\r\n"]
    samples += ["say \"hi\" and 'bye'", "x" * 200, "\\\\\"'"]
    values = [*samples, [samples[:3], {"k": samples[3:6]}], 0.1, 1e300, -0.0, 10**30]
    body = "".join(f"V{index} = {py_literal(value)}\n" for index, value in enumerate(values))
    (tmp_path / "literals.py").write_text(body, encoding="utf-8")
    result = ruff("format", "--check", "--diff", "literals.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["train_task", "STEP_REGISTER_MODEL", "x", "_private"])
def test_ident_accepts(name: str) -> None:
    assert ident(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("class", "keyword"),
        ("match", "keyword"),
        ("print", "builtin"),
        ("__import__", "builtin"),
        ("__class__", "double underscore"),
        ("1abc", "identifier"),
        ("a-b", "identifier"),
        ("é", "identifier"),
        ("a b", "identifier"),
        ("", "identifier"),
    ],
)
def test_ident_refuses(name: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        ident(name)


def test_block_reads_back_and_prefers_double_quotes() -> None:
    text = 'import os\nprint("a\\nb")'
    assert py_block(text).startswith('r"""')
    assert ast.literal_eval(py_block(text)) == text
    assert py_block('"""doc"""\nx = 1').startswith("r'''")


@pytest.mark.parametrize("text", ["ends with \\", "\"\"\" and '''", "tab\there", "naïve"])
def test_block_refuses_what_a_raw_literal_cannot_hold(text: str) -> None:
    with pytest.raises(ValueError, match=r"block|printable"):
        py_block(text)
