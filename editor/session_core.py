"""How a change of the editing session is recorded and published: undo and redo, validation, listeners.

Every change is one undoable step (``_commit``), then re-validated and announced to the listeners
(``_changed``). Typing must never wait for the server, so a step's own work is small: an undo step keeps
only what the edit replaces (the node, or the settings), and the document's objects are replaced, never
changed in place, so ``frozen()`` (a shallow copy) can be read in a worker thread while editing goes on.
On a large pipeline (``validate_in_background``) validation runs in a worker thread after the change,
coalesced with the changes that follow; its issues are published with a ``Change("issues")`` when they
arrive. ``EditorSession`` (``session.py``) builds the edits on this.

Undo reverts this page's own steps only. Other tabs' and users' saved changes are merged in (``take_remote``)
without an undo step; when one lands, each step not yet settled records what it left (``_Step.after``), and
undoing (or redoing) a step from before a merge is a three-way merge (``editor.merge``): what the step changed
goes back, what others changed since stays. Where another user changed the same value since, theirs is kept
and the change's ``notice`` says so.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Collection, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dagsmith.nodes import Issue, Node, Pipeline, validate

from . import merge
from .undo_steps import Saved as _Saved
from .undo_steps import Step as _Step
from .undo_steps import part as _part
from .undo_steps import put as _put
from .undo_steps import validated as _validated

Path = Sequence[str | int]
Listener = Callable[["Change"], None]
Guard = Callable[[], None]
"""Raises ``PermissionError`` when the session's user may not change the document (a team server's viewer)."""
Starter = Callable[[Coroutine[Any, Any, None]], Any]
"""Starts a coroutine as a background task (the page's, so its updates reach the right browser)."""
MAX_UNDO = 200
BACKGROUND_NODES = 100
"""From this many nodes on, a full validation takes long enough (tens of milliseconds and more) to delay
the next keystroke: with ``validate_in_background`` it then runs in a worker thread."""


ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
"""The letters of a new id's suffix: lower case, no 0/o or 1/l to confuse when read aloud or typed."""
ID_SUFFIX = 6


def fresh_id(stem: str, taken: Collection[str]) -> str:
    """A new id ``<stem>_<random suffix>`` (``script_k3x9qa``) that no other page will also choose.

    Several pages (tabs, users, replicas) edit one draft at once and each adds nodes, edges and comments
    before it has seen the others' saves. A counter (``script_1``) made two of them pick the same id; the live
    merge then renamed one of them while its page still had keystrokes or canvas events in flight to the
    old id, which now named the other page's node (bench_team_load's lost updates). An id drawn from 32**6
    (about 10**9) suffixes per stem needs no coordination and stays short enough to read. ``taken`` (this
    document's ids) excludes the rare draw that this document already holds.
    """
    while True:
        candidate = f"{stem}_{''.join(secrets.choice(ID_ALPHABET) for _ in range(ID_SUFFIX))}"
        if candidate not in taken:
            return candidate


@dataclass(frozen=True, slots=True)
class Change:
    """What a step changed, so that views update only what they must."""

    # "add", "connect", "delete" (nodes/edges), "graph", "node", "settings", "layout", "reload";
    # "issues": only the issues changed (a background validation finished);
    # "merge": another tab's saved changes were merged in (``take_remote``; not an undo step)
    kind: str
    node_ids: tuple[str, ...] = ()
    description: str = ""
    edge_ids: tuple[str, ...] = ()
    notice: str = ""
    """For the user, when an undo or redo kept another user's change it would have overwritten."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was refused, in words for the user."""

    message: str


class SessionCore:
    """One open document with undo/redo, live validation and change notifications (the edits: ``EditorSession``)."""

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        self.pipeline = pipeline if pipeline is not None else Pipeline()
        self.issues: list[Issue] = validate(self.pipeline)
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._merges = 0  # other tabs' changes merged in so far (``take_remote``)
        self._listeners: list[Listener] = []
        self._last_coalesce: str | None = None
        self._start: Starter | None = None  # set by validate_in_background
        self._background_nodes = BACKGROUND_NODES
        self._generation = 0  # counts changes; background issues are published only for the latest
        self._validated = 0  # the generation ``issues`` belong to
        self._validating = False
        self.refused: dict[tuple[str | None, str], str] = {}
        """Values a form sent that the document cannot hold (a fraction in a whole-number setting): the message
        by (node id or None for the settings, field path), shown under the field until it holds a good value."""
        self.guard: Guard | None = None  # set by a team server: checks the user's role before each change

    # -- plumbing --------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` after every change (after validation ran)."""
        self._listeners.append(listener)

    def validate_in_background(self, start: Starter, *, min_nodes: int = BACKGROUND_NODES) -> None:
        """From ``min_nodes`` nodes on, validate after a change in a worker thread (started with ``start``),
        coalescing the changes made meanwhile; listeners hear ``Change("issues")`` when the issues arrive."""
        self._start = start
        self._background_nodes = min_nodes

    @property
    def validation_pending(self) -> bool:
        """True while ``issues`` do not describe the document yet (a background validation is due or running)."""
        return self._validated != self._generation

    def frozen(self) -> Pipeline:
        """The document as it is now, safe to read in a worker thread while editing goes on.

        Shallow copies (milliseconds at thousands of nodes): edits replace a node's fields, the settings and
        the lists' items instead of changing them in place.
        """
        p = self.pipeline
        return p.model_copy(
            update={
                "nodes": [node.model_copy() for node in p.nodes],
                "edges": list(p.edges),
                "comments": [comment.model_copy() for comment in p.comments],
            }
        )

    def _allowed(self) -> None:
        """Raise (``guard``'s ``PermissionError``) unless this session's user may change the document.

        Every change takes its undo snapshot before it touches the document, so the snapshots call this:
        one choke point that no canvas or form event (a forged one included) gets around.
        """
        if self.guard is not None:
            self.guard()

    def _snapshot(self) -> _Saved:
        self._allowed()
        return _Saved("pipeline", self.pipeline.model_dump(mode="python"))

    def _node_snapshot(self, node: Node) -> _Saved:
        self._allowed()
        return _Saved("node", node.model_dump(mode="python"), node.id)

    def _settings_snapshot(self) -> _Saved:
        self._allowed()
        return _Saved("settings", self.pipeline.settings.model_dump(mode="python"))

    def _restore(self, saved: _Saved) -> _Saved:
        """Put ``saved`` back; what it replaced (for the opposite step)."""
        if saved.kind == "node":
            node = self.pipeline.node(saved.node_id)
            if node is not None:
                self.pipeline.nodes[self.pipeline.nodes.index(node)] = Node.model_validate(saved.data)
                return self._node_snapshot(node)
        elif saved.kind == "settings":
            current = self._settings_snapshot()
            self.pipeline.settings = type(self.pipeline.settings).model_validate(saved.data)
            return current
        current = self._snapshot()
        if saved.kind == "pipeline":
            self.pipeline = Pipeline.model_validate(saved.data)
        return current

    def _commit(
        self,
        before: _Saved,
        change: Change,
        *,
        coalesce: str | None = None,
        issues: list[Issue] | None = None,
    ) -> None:
        # Consecutive edits of the same field (typing) form one undo step.
        if not (coalesce and self._last_coalesce == coalesce and self._undo):
            self._undo.append(_Step(before, change.description))
            del self._undo[:-MAX_UNDO]
        self._last_coalesce = coalesce
        self._redo.clear()
        self._changed(change, issues)

    def _changed(self, change: Change, issues: list[Issue] | None = None) -> None:
        self._generation += 1
        if change.kind in ("reload", "merge"):
            self.refused.clear()  # the forms show the document's values again
        if issues is not None:
            self.issues, self._validated = issues, self._generation
        elif self._start is not None and len(self.pipeline.nodes) >= self._background_nodes:
            self._validate_later()
        else:
            self.issues, self._validated = validate(self.pipeline), self._generation
        self._notify(change)

    def _notify(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    def _validate_later(self) -> None:
        if self._validating or self._start is None:
            return  # the running validation goes on with the newest document
        self._validating = True
        self._start(self._validate_until_current())

    async def _validate_until_current(self) -> None:
        """Validate the newest document in a worker thread until no change came in meanwhile; publish that."""
        try:
            while self.validation_pending:
                generation = self._generation
                issues = await asyncio.to_thread(validate, self.frozen())
                if generation == self._generation:
                    self.issues, self._validated = issues, generation
                    self._notify(Change("issues"))
        finally:
            self._validating = False

    @property
    def can_undo(self) -> bool:
        """True when there is a step to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """True when there is an undone step to redo."""
        return bool(self._redo)

    def undo(self) -> str | None:
        """Undo the last step; its description, or None when there was nothing to undo."""
        if not self._undo:
            return None
        self._allowed()
        step = self._undo.pop()
        self._last_coalesce = None
        opposite, notice = self._revert(step)
        self._redo.append(opposite)
        self._changed(Change("reload", description=f"undo {step.description}", notice=notice))
        return step.description

    def redo(self) -> str | None:
        """Redo the last undone step; its description, or None."""
        if not self._redo:
            return None
        self._allowed()
        step = self._redo.pop()
        self._last_coalesce = None  # the next edit is a step of its own (typing does not extend a redone step)
        opposite, notice = self._revert(step)
        self._undo.append(opposite)
        self._changed(Change("reload", description=f"redo {step.description}", notice=notice))
        return step.description

    def _revert(self, step: _Step) -> tuple[_Step, str]:
        """Put ``step`` back; the opposite step (for redo, or undo again) and a notice for the user ("": none)."""
        if step.after is None or step.epoch == self._merges or step.after.kind != step.before.kind:
            replaced = self._restore(step.before)  # nothing merged in since: the document holds ``after``
            return _Step(replaced, step.description, step.before, self._merges), ""
        conflicts = self._merge_back(step.before, step.after)
        notice = ""
        if conflicts:
            what = ", ".join(dict.fromkeys(merge.describe(path) for path in conflicts))
            notice = (
                f"{step.description}: another user changed {what} since; their change is kept "
                "(change it yourself if you want it otherwise)"
            )
        return _Step(step.after, step.description, step.before), notice

    def _merge_back(self, target: _Saved, base: _Saved) -> list[merge.Path]:
        """Merge what ``target`` holds and ``base`` (what the step left) does not into the document: this page's
        step is reverted, the changes merged in since stay. The paths where both differ (the document's kept)."""
        prefix: merge.Path
        if target.kind == "node":
            prefix = ("nodes", target.node_id)
            node = self.pipeline.node(target.node_id)
            mine = node.model_dump(mode="python") if node is not None else merge.MISSING
            merged = merge.merge(base.data or merge.MISSING, mine, target.data)
            if node is not None and isinstance(merged.document, dict):
                updated = _validated(Node, merged.document)
                if updated is None:
                    return [prefix]
                self.pipeline.nodes[self.pipeline.nodes.index(node)] = updated
        elif target.kind == "settings":
            prefix = ("settings",)
            current = self.pipeline.settings.model_dump(mode="python")
            merged = merge.merge(base.data, current, target.data)
            settings = _validated(type(self.pipeline.settings), merged.document)
            if settings is None:
                return [prefix]
            self.pipeline.settings = settings
        else:
            prefix = ()
            merged = merge.merge(base.data, self.pipeline.model_dump(mode="python"), target.data)
            pipeline = _validated(Pipeline, merged.document)
            if pipeline is None:
                return [prefix]
            self.pipeline = pipeline
        return [(*prefix, *path) for path in merged.conflicts]

    def _settle(self) -> None:
        """Before a merge: the undo steps that do not know what they left yet learn it (``_Step.after``).

        Walks from the newest step down to the oldest unsettled one, putting back each step on a copy of the
        document (all of these came after the last merge, so the copy holds what each one left).
        """
        unsettled = [i for i, step in enumerate(self._undo) if step.after is None]
        if not unsettled:
            return
        document = self.pipeline.model_dump(mode="python")
        for step in reversed(self._undo[unsettled[0] :]):
            if step.after is None:
                step.after, step.epoch = _part(document, step.before), self._merges
            document = _put(document, step.before)

    def take_remote(self, pipeline: Pipeline, node_ids: Iterable[str] = ()) -> None:
        """Another tab's saved changes, merged into this document (``editor.merge``): not an undo step of
        this tab's user (undo leaves them in place); the next edit starts a new one."""
        self._settle()
        self._merges += 1
        self.pipeline = pipeline
        self._last_coalesce = None
        self._changed(Change("merge", tuple(node_ids), "merge changes from another tab"))

    # -- queries -----------------------------------------------------------------------------------------
    def issues_by_node(self) -> dict[str, list[Issue]]:
        """Issues grouped by node id (for the canvas highlight)."""
        result: dict[str, list[Issue]] = {}
        for issue in self.issues:
            if issue.node is not None:
                result.setdefault(issue.node, []).append(issue)
        return result

    def field_errors(self, node_id: str | None) -> dict[str, str]:
        """Error messages by field path for one node's form (None: the settings form)."""
        result = {field: message for (node, field), message in self.refused.items() if node == node_id}
        for issue in self.issues:
            if issue.node == node_id and issue.field is not None and issue.is_error:
                result.setdefault(issue.field, issue.message)
        return result
