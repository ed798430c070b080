"""Each package's public face: a sorted ``__all__`` whose names all exist."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "dagsmith.nodes",
    "dagsmith.nodes.types",
    "dagsmith.codegen",
    "dagsmith.editor",
    "dagsmith.editor.integrations",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported)
    assert len(set(exported)) == len(exported)
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == []
