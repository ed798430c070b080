"""Saving a version while other pages edit the same draft: their saved changes are merged in, not refused.

A page saves a version of its document once its own draft saves landed; another page (a tab, a user, a
replica) may have saved the draft since. The version is then the three-way merge (``editor.merge``) of the
stored draft and this page's document over ``base``, the draft this page last saved or loaded, as the
pages' live merge does it. The merged document is saved as the draft against the revision it was read at
(a save that overtakes it is merged in turn), and the version is made from it. Only a value both sides
changed differently refuses the version, with a message that names the node and the field and both values;
nothing is written then, so nothing either side did is lost.
"""

from __future__ import annotations

from typing import Any

from dagsmith.nodes import DocumentError, Pipeline
from dagsmith.nodes.fileformat import from_dict, to_dict

from .errors import UserError
from .merge import MISSING, Path, merge
from .store import Conflict, Store

MAX_TRIES = 5
"""Merges in a row that other saves may overtake before the version is refused (try again)."""


def version_document(store: Store, pipeline_id: int, pipeline: Pipeline, base: Pipeline | None) -> Pipeline:
    """The document a version of ``pipeline_id`` is made from, saved as its draft: the stored draft, with
    ``pipeline`` (this page's document) merged in over ``base``; UserError when both changed a value, or
    (without ``base``) when the stored draft is not ``pipeline``."""
    for _ in range(MAX_TRIES):
        draft = store.get_draft(pipeline_id)
        stored = draft.pipeline()
        if stored == pipeline:
            return stored
        if base is None:
            raise UserError("the saved draft differs from this page (changed in another tab?); reload the page")
        old, mine, theirs = to_dict(base), to_dict(pipeline), to_dict(stored)
        result = merge(old, mine, theirs)
        if result.conflicts:
            raise UserError(conflict_message(result.conflicts, mine, theirs))
        try:
            merged = from_dict(result.document)
        except DocumentError as exc:
            raise UserError(
                f"the version is not saved: this page's changes and those saved in another tab or window do not "
                f"make a valid pipeline together ({exc.detail}); reload the page, then save the version again"
            ) from None
        if merged == stored:
            return stored  # the draft holds this page's changes already (and others')
        try:
            store.save_draft(pipeline_id, merged, expected_revision=draft.revision)
        except Conflict:
            continue  # saved elsewhere meanwhile: merge that too
        return merged
    raise UserError("the version is not saved: the draft kept changing in other tabs or windows; try again")


def conflict_message(conflicts: list[Path], mine: Any, theirs: Any) -> str:
    """Which values both sides changed (node and field, or setting, with both values), and what to do."""
    shown = [_describe(path, mine, theirs) for path in conflicts[:3]]
    more = f" (and {len(conflicts) - 3} more)" if len(conflicts) > 3 else ""
    return (
        "The version is not saved: "
        + "; ".join(shown)
        + more
        + ". Nothing is lost: this page keeps your values and the draft keeps the other ones. Set the value "
        "you want in the form (your next change saves this page's values over the others), then save the "
        "version again."
    )


def _describe(path: Path, mine: Any, theirs: Any) -> str:
    here, there = _value(mine, path), _value(theirs, path)
    values = f"{_show(there)} there, {_show(here)} here"
    if path[:1] == ("nodes",) and len(path) > 1:
        node = _item(theirs, "nodes", path[1]) or _item(mine, "nodes", path[1]) or {}
        label = node.get("label")
        name = f"{label!r} ({path[1]})" if label else str(path[1])
        field = ".".join(str(p) for p in path[2:] if p != "params") or "the node itself"
        return f"the field {field} of node {name} was also changed in another tab or window ({values})"
    if path[:1] == ("settings",):
        setting = ".".join(str(p) for p in path[1:]) or "settings"
        return f"the pipeline setting {setting} was also changed in another tab or window ({values})"
    kind = {"edges": "connection", "comments": "comment"}.get(str(path[0]), str(path[0]))
    where = ".".join(str(p) for p in path[1:])
    return f"the {kind} {where} was also changed in another tab or window ({values})"


def _item(document: Any, key: str, item_id: Any) -> dict[str, Any] | None:
    return next((item for item in document.get(key, []) if item.get("id") == item_id), None)


def _value(document: Any, path: Path) -> Any:
    current = document
    for key in path:
        if isinstance(current, list):
            current = next((item for item in current if isinstance(item, dict) and item.get("id") == key), MISSING)
        elif isinstance(current, dict):
            current = current.get(key, MISSING)
        else:
            return MISSING
        if current is MISSING:
            return MISSING
    return current


def _show(value: Any) -> str:
    if value is MISSING:
        return "deleted"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
