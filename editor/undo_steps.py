"""The steps of undo and redo (``session_core``): what a step puts back and what it left.

A part of the document (the whole of it, one node, or the settings) is saved as its ``model_dump`` (python
mode), the same form ``editor.merge`` merges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Saved:
    """What an undo (or redo) step puts back: the whole document, one node, or the pipeline settings."""

    kind: str  # "pipeline", "node", "settings"
    data: dict[str, Any]
    node_id: str = ""


@dataclass(slots=True)
class Step:
    """An undo (or redo) step: what it puts back, and what the step left in that part of the document.

    ``after`` is None while the document still holds what the step left (this page's later steps aside: no
    merge came since); a merge fills it in (``SessionCore._settle``). The step is put back as it was saved
    (``before``) while no merge came since ``after`` was taken (``epoch``, the merge count then; -1: never),
    else by a three-way merge of ``before`` onto the document with ``after`` as the base.
    """

    before: Saved
    description: str
    after: Saved | None = None
    epoch: int = -1


def part(document: dict[str, Any], like: Saved) -> Saved:
    """The part of a dumped document that ``like`` saves (a node without that node: empty data)."""
    if like.kind == "node":
        node: dict[str, Any] = next((n for n in document.get("nodes", []) if n.get("id") == like.node_id), {})
        return Saved("node", node, like.node_id)
    if like.kind == "settings":
        return Saved("settings", document.get("settings", {}))
    return Saved("pipeline", document)


def put(document: dict[str, Any], saved: Saved) -> dict[str, Any]:
    """A dumped document with ``saved`` put back, as ``SessionCore._restore`` does (``document`` unchanged)."""
    if saved.kind == "node":
        nodes = [saved.data if n.get("id") == saved.node_id else n for n in document.get("nodes", [])]
        return {**document, "nodes": nodes}
    if saved.kind == "settings":
        return {**document, "settings": saved.data}
    return saved.data


def validated(model: type[Model], data: Any) -> Model | None:
    """``data`` as a ``model``; None when the merge made something it cannot hold (the document stays)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return None
