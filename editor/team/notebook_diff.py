"""File diffs for a review: notebooks cell by cell, the way nbdime shows them, other files line by line.

A notebook is compared as cells, never as raw JSON: cells are matched in order by their type and source
(``difflib.SequenceMatcher``), and each pair is reported as unchanged, added, removed or modified. A
modified cell carries a unified diff of its source and says whether its outputs changed. Cell metadata,
ids and execution counts are left out, as nbdime's default view leaves them out; they do not change
what the notebook does.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import nbformat

CellChange = Literal["unchanged", "added", "removed", "modified"]


@dataclass(frozen=True, slots=True)
class CellDiff:
    """One cell of a notebook diff; ``old_index``/``new_index`` count from 0 (None: not on that side)."""

    change: CellChange
    cell_type: str
    old_index: int | None
    new_index: int | None
    source: str  # the new source (the old one for a removed cell)
    source_diff: list[str] = field(default_factory=list)  # unified diff lines of a modified cell's source
    outputs_changed: bool = False


@dataclass(frozen=True, slots=True)
class FileDiff:
    """How one file a pipeline runs differs between the reviewed content and its base.

    ``kind`` is ``notebook`` (``cells`` filled) or ``text`` (``lines``: a unified diff). ``status`` is
    ``added``, ``removed``, ``modified``, ``unchanged`` or ``missing`` (on neither side), and ``note``
    explains a file that could not be read.
    """

    path: str
    kind: Literal["notebook", "text"]
    status: str
    cells: list[CellDiff] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for the API)."""
        return {
            "path": self.path,
            "kind": self.kind,
            "status": self.status,
            "note": self.note,
            "lines": self.lines,
            "cells": [
                {
                    "change": cell.change,
                    "cell_type": cell.cell_type,
                    "old_index": cell.old_index,
                    "new_index": cell.new_index,
                    "source": cell.source,
                    "source_diff": cell.source_diff,
                    "outputs_changed": cell.outputs_changed,
                }
                for cell in self.cells
            ],
        }


class NotebookReadError(ValueError):
    """A file named ``.ipynb`` that is not a notebook nbformat can read."""


def _cells(data: bytes | None, path: str) -> list[dict[str, Any]]:
    if data is None:
        return []
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as exc:
        raise NotebookReadError(
            f"{path} is not a Jupyter notebook that can be read ({exc}); fix or re-save it"
        ) from None
    return [dict(cell) for cell in notebook.cells]


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _outputs(cell: dict[str, Any]) -> str:
    """The outputs without execution counts (a re-run with the same results is no change)."""
    outputs = [{k: v for k, v in dict(out).items() if k != "execution_count"} for out in cell.get("outputs", [])]
    return json.dumps(outputs, sort_keys=True, default=str)


def _text_diff(old: str, new: str, path: str) -> list[str]:
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"a/{path}", tofile=f"b/{path}"
        )
    ]


def diff_cells(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[CellDiff]:
    """The cell-level diff of two notebooks' cells, in the new notebook's order."""
    keys_old = [(cell.get("cell_type", ""), _source(cell)) for cell in old]
    keys_new = [(cell.get("cell_type", ""), _source(cell)) for cell in new]
    result: list[CellDiff] = []
    matcher = difflib.SequenceMatcher(a=keys_old, b=keys_new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                changed = _outputs(old[i]) != _outputs(new[j])
                kind: CellChange = "modified" if changed else "unchanged"
                result.append(CellDiff(kind, keys_new[j][0], i, j, keys_new[j][1], outputs_changed=changed))
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for offset in range(paired):  # a replaced run: pair cells of one type as edits of each other
            i, j = i1 + offset, j1 + offset
            if keys_old[i][0] != keys_new[j][0]:
                result.append(CellDiff("removed", keys_old[i][0], i, None, keys_old[i][1]))
                result.append(CellDiff("added", keys_new[j][0], None, j, keys_new[j][1]))
                continue
            diff = _text_diff(keys_old[i][1], keys_new[j][1], f"cell {j}")[2:]  # no file header lines
            changed = _outputs(old[i]) != _outputs(new[j])
            result.append(CellDiff("modified", keys_new[j][0], i, j, keys_new[j][1], diff, changed))
        result.extend(CellDiff("removed", keys_old[i][0], i, None, keys_old[i][1]) for i in range(i1 + paired, i2))
        result.extend(CellDiff("added", keys_new[j][0], None, j, keys_new[j][1]) for j in range(j1 + paired, j2))
    return result


def _status(old: bytes | None, new: bytes | None) -> str:
    if old is None and new is None:
        return "missing"
    if old is None:
        return "added"
    if new is None:
        return "removed"
    return "unchanged" if old == new else "modified"


def diff_file(path: str, old: bytes | None, new: bytes | None) -> FileDiff:
    """The diff of one file (``None``: absent on that side): cell by cell for a notebook, else by line."""
    status = _status(old, new)
    if status == "missing":
        return FileDiff(path, "notebook" if path.endswith(".ipynb") else "text", status, note=_MISSING)
    if path.endswith(".ipynb"):
        try:
            cells = diff_cells(_cells(old, path), _cells(new, path))
        except NotebookReadError as exc:
            return FileDiff(path, "notebook", status, note=str(exc))
        if status == "modified" and all(cell.change == "unchanged" for cell in cells):
            status = "unchanged"  # only metadata or execution counts differ
        return FileDiff(path, "notebook", status, cells=cells)
    old_text = (old or b"").decode("utf-8", errors="replace")
    new_text = (new or b"").decode("utf-8", errors="replace")
    return FileDiff(path, "text", status, lines=_text_diff(old_text, new_text, path))


_MISSING = (
    "not found in the project's repository, neither in its checkout nor on the target branch; "
    "the reviewer cannot see it (add it to the repository, or fix the path in the node)"
)


def render_text(diff: FileDiff) -> str:
    """A plain-text view of a file diff, cells as nbdime's terminal view lists them."""
    head = f"{diff.path}: {diff.status}" + (f" ({diff.note})" if diff.note else "")
    if diff.kind == "text":
        return "\n".join([head, *diff.lines])
    lines = [head]
    for cell in diff.cells:
        if cell.change == "unchanged":
            continue
        where = cell.new_index if cell.new_index is not None else cell.old_index
        lines.append(f"## {cell.change} {cell.cell_type} cell {where}")
        if cell.change == "modified":
            lines.extend(cell.source_diff)
            if cell.outputs_changed:
                lines.append("   (outputs changed)")
        else:
            sign = "+" if cell.change == "added" else "-"
            lines.extend(f"{sign}{line}" for line in cell.source.splitlines())
    return "\n".join(lines)
