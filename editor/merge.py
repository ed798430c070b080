"""A three-way merge of pipeline documents: another tab's saved draft into this tab's document.

Documents are ``fileformat.to_dict`` mappings. What only one side changed is taken from that side; what
both changed to different values keeps this tab's value and is reported as a conflict. Lists whose items
all carry an ``id`` (nodes, edges, comments) are merged item by item; other lists are single values. A
``protected`` path (the field this tab's user is typing in) is merged the same way, but any change the other
side made to it is reported: the page leaves the field's text as the user has it, and their next keystroke
sends it.

Paths are tuples of keys; an item of an id list is addressed by its id (``("nodes", "train", "label")``).
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from dagsmith.nodes import Node

Key = str | int
Path = tuple[Key, ...]


class _Missing:
    """The value of a key or item that a version does not have."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(slots=True)
class Merged:
    """The merged document and the paths where both sides changed a value differently (this tab's kept)."""

    document: Any
    conflicts: list[Path] = field(default_factory=list)


def merge(base: Any, mine: Any, theirs: Any, *, protected: Collection[Path] = ()) -> Merged:
    """Merge ``theirs`` (saved elsewhere since ``base``) into ``mine`` (this tab's document, also from ``base``)."""
    merger = _Merger(tuple(protected))
    return Merged(merger.merge(base, mine, theirs, ()), merger.conflicts)


@dataclass(slots=True)
class _Merger:
    protected: tuple[Path, ...]
    conflicts: list[Path] = field(default_factory=list)

    def merge(self, base: Any, mine: Any, theirs: Any, path: Path) -> Any:
        if path in self.protected and theirs not in (mine, base):
            self.conflicts.append(path)  # the user's text stays on screen; the notice says why
            return theirs if mine == base else mine
        if theirs in (mine, base):
            return mine
        # Above a protected field, look inside: the field's own change is reported, though only one side changed.
        if mine == base and not any(p[: len(path)] == path for p in self.protected):
            return theirs
        if isinstance(mine, dict) and isinstance(theirs, dict):
            old = base if isinstance(base, dict) else {}
            result: dict[str, Any] = {}
            for key in [*theirs, *(k for k in mine if k not in theirs)]:
                value = self.merge(
                    old.get(key, MISSING), mine.get(key, MISSING), theirs.get(key, MISSING), (*path, key)
                )
                if value is not MISSING:
                    result[key] = value
            return result
        if _id_list(mine) and _id_list(theirs) and (base is MISSING or _id_list(base)):
            return self.merge_items(base if isinstance(base, list) else [], mine, theirs, path)
        if mine == base:
            return theirs
        self.conflicts.append(path)  # both changed it: this tab's value is kept
        return mine

    def merge_items(self, base: list[Any], mine: list[Any], theirs: list[Any], path: Path) -> list[Any]:
        """Items by id, in ``theirs``' order, then the items only this tab added."""
        old = {item["id"]: item for item in base}
        ours = {item["id"]: item for item in mine}
        others = {item["id"]: item for item in theirs}
        order = [*others, *(i for i in ours if i not in others and i not in old)]
        order += [i for i in ours if i not in others and i in old]  # deleted there; kept only if changed here
        result = []
        for item_id in order:
            value = self.merge(old.get(item_id, MISSING), ours.get(item_id, MISSING), others.get(item_id, MISSING),
                               (*path, item_id))  # fmt: skip
            if value is not MISSING:
                result.append(value)
        return result


def _id_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and isinstance(item.get("id"), str) for item in value)


def changed_paths(old: Any, new: Any, path: Path = ()) -> list[Path]:
    """The paths of the values that differ between two documents (as deep as dicts and id lists go)."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [*old, *(k for k in new if k not in old)]
        return [p for k in keys for p in changed_paths(old.get(k, MISSING), new.get(k, MISSING), (*path, k))]
    if _id_list(old) and _id_list(new):
        before = {item["id"]: item for item in old}
        after = {item["id"]: item for item in new}
        if list(before) != list(after) and set(before) == set(after):
            return [path]  # only the order changed
        ids = [*before, *(i for i in after if i not in before)]
        return [p for i in ids for p in changed_paths(before.get(i, MISSING), after.get(i, MISSING), (*path, i))]
    return [path]


def keep_both_added(
    base: Any, mine: Any, theirs: Any, *, protected: Collection[Path] = ()
) -> tuple[Any, dict[str, str]]:
    """``mine`` with the nodes, edges and comments it added under an id the other side also added since
    ``base`` (for something else) given fresh ids, so that ``merge`` keeps both instead of folding them into one.

    New ids are drawn so that pages do not collide (``session_core.fresh_id``); documents from before that
    (``script_1`` on both sides) still merge here. A node this side added also gets a label of its own when
    the other side has a node of another id with the same Airflow task id (it comes from the label), unless
    its label is being typed (``protected``); this side's edges and comments follow a renamed node to its new
    id. Returns the document and the renamed nodes' new ids.
    """
    renamed: dict[str, dict[str, str]] = {}
    for key in ("nodes", "edges", "comments"):
        old = {item["id"] for item in base.get(key, [])}
        added = {item["id"]: item for item in theirs.get(key, []) if item["id"] not in old}
        clashes = [item["id"] for item in mine.get(key, []) if item["id"] in added and item != added[item["id"]]]
        if clashes:
            taken = {item["id"] for side in (base, mine, theirs) for item in side.get(key, [])}
            renamed[key] = {}
            for item_id in clashes:
                stem = item_id.rstrip("0123456789")
                stem = stem if stem.endswith("_") or key != "nodes" else stem + "_"
                fresh = next(f"{stem}{i}" for i in count(1) if f"{stem}{i}" not in taken)
                taken.add(fresh)
                renamed[key][item_id] = fresh
    nodes = renamed.get("nodes", {})
    relabel = _label_clashes(base, mine, theirs, nodes, protected)
    if not renamed and not relabel:
        return mine, {}
    result = copy.deepcopy(mine)
    labels = {node.get("label") for side in (base, mine, theirs) for node in side.get("nodes", [])}
    task_ids = {_task_id(node) for side in (base, mine, theirs) for node in side.get("nodes", [])}
    for key, ids in renamed.items():
        for item in result.get(key, []):
            if item["id"] in ids:
                item["id"] = ids[item["id"]]
    for item in result.get("nodes", []):
        if item["id"] in relabel:
            label = str(item["label"])
            item["label"] = next(
                f"{label} {i}"
                for i in count(2)
                if f"{label} {i}" not in labels and _task_id({"label": f"{label} {i}"}) not in task_ids
            )
            labels.add(item["label"])
            task_ids.add(_task_id(item))
    for edge in result.get("edges", []):
        edge["source"], edge["target"] = (
            nodes.get(edge["source"], edge["source"]),
            nodes.get(edge["target"], edge["target"]),
        )
    for comment in result.get("comments", []):
        comment["nodes"] = [nodes.get(node_id, node_id) for node_id in comment.get("nodes", [])]
    return result, nodes


def _task_id(node: dict[str, Any]) -> str:
    label = node.get("label")
    return Node.model_construct(
        id=str(node.get("id") or "node"),
        type=str(node.get("type") or ""),
        label=label if isinstance(label, str) else "",
    ).task_id()


def _label_clashes(base: Any, mine: Any, theirs: Any, renamed: dict[str, str], protected: Collection[Path]) -> set[str]:
    """The ids (after ``renamed``) of the nodes ``mine`` added whose task id a node of ``theirs`` of another id
    has; those not added by ``mine`` (a label edited on both sides) are a conflict the validation shows."""
    old = {node["id"] for node in base.get("nodes", [])}
    others: dict[str, set[str]] = {}
    for node in theirs.get("nodes", []):
        others.setdefault(_task_id(node), set()).add(node["id"])
    result = set()
    for node in mine.get("nodes", []):
        new_id = renamed.get(node["id"], node["id"])
        if node["id"] in old or not node.get("label") or ("nodes", new_id, "label") in protected:
            continue
        if others.get(_task_id(node), set()) - {new_id}:
            result.add(new_id)
    return result


def merge_draft(
    base: Any, mine: Any, theirs: Any, *, protected: Collection[Path] = (), own: bool = False
) -> tuple[Merged, dict[str, str]]:
    """What a page does with a draft saved elsewhere (``pages.live_merge``): keep what both sides added
    (``keep_both_added``), then merge. ``own``: the draft is this page's own save, read back before its
    acknowledgement (it holds no other page's additions). Returns the merge and the renamed nodes' ids."""
    kept, renamed = (mine, {}) if own else keep_both_added(base, mine, theirs, protected=protected)
    return merge(base, kept, theirs, protected=protected), renamed


def describe(path: Path) -> str:
    """A document path in words, for notices: "the field x of node train" (``params`` left out), "node train",
    "the setting schedule"."""
    if path[:1] == ("nodes",) and len(path) > 2:
        return f"the field {'.'.join(str(p) for p in path[2:] if p != 'params')} of node {path[1]}"
    if path[:1] in (("nodes",), ("edges",), ("comments",)) and len(path) == 2:
        return f"{str(path[0])[:-1]} {path[1]}"
    if path[:1] == ("settings",) and len(path) > 1:
        return f"the setting {'.'.join(str(p) for p in path[1:])}"
    return "the pipeline" if not path else " ".join(str(p) for p in path)
