"""Two tabs on one pipeline: the other tab's saved changes appear in this one live, merged into its document.

When another page saves the draft (announced at once by the pages' group, see ``drafts``), or when this
page's save is refused because the draft changed elsewhere (another editor process), this page gets the
saved draft from the pipeline's feed (``draft_feed``: the saving page's own document when it was saved in this
process, else one read of the store shared by the pages waiting for it; each page checked as its own user, its
session included) and merges it (``editor.merge``): the base is the draft this page last saved or loaded, so what
only the other tab changed is taken, what only this tab changed stays, and a value both changed keeps this
tab's (a non-blocking notice says which). The field the user is typing in is never written under them:
the browser says which field has the focus, and that field keeps this tab's text.

The canvas updates only what changed (the nodes, or the graph when nodes, edges or comments came or went),
keeping the viewport and selection; the form's fields get their new values in place, so focus, caret and
open sections stay. Only a change the form cannot show in place (a list item added, the node deleted) draws
it again, and then the focus and caret are put back.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from nicegui import background_tasks, ui

from dagsmith.nodes import Pipeline
from dagsmith.nodes.fileformat import DocumentError, dumps_mapping, from_dict, to_dict

from ..canvas import PipelineCanvas, canvas_edge, canvas_node
from ..merge import Path, changed_paths, describe, merge_draft
from ..services import DraftConflictError, EditorServices, UserError
from ..session import Change, EditorSession
from .draft_feed import SignedOut, feed_of
from .drafts import DraftSaver, page_client
from .inspector import Inspector

log = logging.getLogger(__name__)

NODE_FIELDS = ("label", "outputs", "access")
"""A node form's fields that are the node's own; the others are its parameters."""

FOCUSED = """
const el = document.activeElement;
const field = el && el.closest ? el.closest('[data-field]') : null;
if (!field) return null;
const input = el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' ? el : null;
return {field: field.getAttribute('data-field'), start: input ? input.selectionStart : null,
        end: input ? input.selectionEnd : null};
"""

REFOCUS = """
const [name, start, end] = [%s, %s, %s];
const field = document.querySelector(`[data-field="${CSS.escape(name)}"]`);
const input = field && (field.matches('input, textarea') ? field : field.querySelector('input, textarea'));
if (input) { input.focus(); if (start !== null) input.setSelectionRange(start, end); }
"""


class LiveMerge:
    """This page's side of the draft: saves it against the revision it knows and merges the other tabs' saves."""

    def __init__(
        self,
        services: EditorServices,
        pipeline_id: int,
        session: EditorSession,
        revision: int | None,
        *,
        on_saved: Callable[[int], None],
        on_failed: Callable[[Exception], None],
    ) -> None:
        self.services = services
        self.pipeline_id = pipeline_id
        self.session = session
        self.revision = revision  # the draft revision ``base`` is; saves refuse to overwrite a newer one
        self.base: Pipeline = session.frozen()  # the document as last saved or loaded
        self._saved: dict[int, Pipeline] = {}  # documents saved by the worker thread, by revision
        self._lock = asyncio.Lock()
        self._pulls: set[asyncio.Task[None]] = set()
        self._waiting = False  # a pull waits to run; it must reach revision ``_wanted`` (None: the store's now)
        self._wanted: int | None = None
        self._refused: int | None = None  # the revision the last refused save expected
        self.feed = feed_of(services, pipeline_id)  # the draft, shared with this pipeline's other pages here
        self._origin = contextvars.copy_context()  # the page's own (on a team server: its user)
        self._on_saved = on_saved
        self._on_failed = on_failed
        self.canvas: PipelineCanvas | None = None
        self.inspector: Inspector | None = None
        self.context: Any = None  # an element of the page: where the merges' updates go
        self.on_merged: Callable[[], None] | None = None  # the page's header (its title)
        self.drafts: DraftSaver[Pipeline] = DraftSaver(
            session.frozen, self.save, self.saved, self.failed, on_saved_elsewhere=self.saved_elsewhere
        )
        session.subscribe(self._told)

    def _told(self, change: Change) -> None:
        """An undo or redo that kept another user's change (merged in since) says so on this page."""
        if change.notice:
            ui.notify(change.notice, type="warning", position="bottom-right", multi_line=True)

    # -- saving ---------------------------------------------------------------------------------------------
    def save(self, document: Pipeline) -> int:
        """Save ``document`` as the draft (in the saver's worker thread); its revision."""
        text = dumps_mapping(to_dict(document))
        expected = self.revision
        try:
            revision = self.services.save_draft(self.pipeline_id, text, expected_revision=expected)
        except DraftConflictError:
            self._refused = expected  # the draft was past this revision: the merge needs a newer one
            raise
        self._saved[revision] = document
        return revision

    def saved(self, revision: int) -> None:
        document = self._saved.pop(revision, None)
        if document is not None:  # the other pages here merge it without reading it again
            self.feed.offer(revision, document)
        if self.revision is None or revision > self.revision:
            self.revision = revision
            if document is not None:
                self.base = document
        self._on_saved(revision)

    def failed(self, error: Exception) -> None:
        if isinstance(error, DraftConflictError):  # saved elsewhere (e.g. another editor process): merge it
            self.pull((self._refused or 0) + 1)
            return
        self._on_failed(error)

    def saved_elsewhere(self, revision: int) -> None:
        if self.revision is None or revision > self.revision:
            self.pull(revision)

    async def settled(self) -> None:
        """Wait until the draft holds this page's document: its saves, and the merges they led to, are done."""
        while True:
            await self.drafts.flush()
            if self._pulls:  # a merge under way ends first (and may ask for one more save)
                await asyncio.wait(set(self._pulls))
            elif not self.drafts.busy:
                return

    # -- merging --------------------------------------------------------------------------------------------
    def pull(self, revision: int | None = None) -> None:
        """Merge the saved draft, at ``revision`` or newer (None: as the store holds it now), into this page soon.

        One merge runs at a time; news arriving meanwhile makes one more merge, of the newest, not one each.
        """
        if self._waiting:  # a pull waits to run already: it takes the newest
            self._wanted = None if revision is None or self._wanted is None else max(self._wanted, revision)
            return
        self._waiting, self._wanted = True, revision
        # As the page's own user, whoever told it (another page's save, another replica's notice): the merge
        # and the save it may ask for run with this page's rights, never the teller's (or none).
        task = self._origin.copy().run(
            background_tasks.create, self._pull(), name="dagsmith-merge-draft", context=self.context
        )
        self._pulls.add(task)
        task.add_done_callback(self._pulls.discard)

    async def _pull(self) -> None:
        async with self._lock:
            wanted, self._waiting = self._wanted, False
            if wanted is not None and self.revision is not None and wanted <= self.revision:
                return  # this page saved or merged that revision meanwhile
            try:
                theirs, revision = await self.feed.draft(self.context, self._origin, wanted)
            except SignedOut:  # signed out, disabled or revoked: this page gets no other user's changes
                log.info("pipeline %s: a page whose session ended gets no more drafts", self.pipeline_id)
                return
            except UserError as exc:
                self._on_failed(exc)
                return
            except Exception as exc:  # the database is away: the next save here or notice merges what was missed
                log.warning("could not read pipeline %s's draft for a page: %s", self.pipeline_id, exc)
                return
            focused = await self._focused()
            if self.context is not None and page_client(self.context) is None:
                return  # the page closed while the draft was read: nothing is left to update
            if self.revision is not None and revision < self.revision:
                return  # older than what this page saved since
            protected = [self._document_path(focused["field"])] if focused else []
            current = to_dict(self.session.pipeline)
            base, other = to_dict(self.base), to_dict(theirs)
            # A draft this page saved itself (its save not yet acknowledged) holds no other tab's additions.
            result, renamed = merge_draft(base, current, other, protected=protected, own=revision in self._saved)
            try:
                merged = from_dict(result.document)
            except DocumentError as exc:
                log.warning("could not merge pipeline %s's draft: %s", self.pipeline_id, exc)
                self._on_failed(DraftConflictError(str(exc)))
                return
            self.revision, self.base = revision, theirs
            changed = changed_paths(current, result.document)
            if changed:
                self.session.take_remote(merged, _node_ids(changed))
                self._follow_renamed(renamed)
                self._show(changed, focused, protected[0] if protected else None)
            if result.document != to_dict(theirs):
                self.drafts.request()  # this page's own changes, on top of the other tab's
            elif not self.drafts.busy:  # the draft holds all of this page (e.g. after a refused save): say so
                self._on_saved(revision)
            for path in result.conflicts:
                ui.notify(
                    f"{_sentence(describe(path))} was also changed in another tab or window: your text here is kept.",
                    type="warning",
                    position="bottom-right",
                )

    async def _focused(self) -> dict[str, Any] | None:
        """The form field that has the focus in this page, and its caret (None: no field)."""
        try:
            found = await ui.run_javascript(FOCUSED, timeout=2.0)
        except Exception:  # the page is gone or slow: no field is protected, the merge goes on
            return None
        return found if isinstance(found, dict) and isinstance(found.get("field"), str) else None

    def _document_path(self, field: str) -> Path:
        """The document path of a form's ``data-field`` (a dotted path, as the inspector names fields)."""
        parts: tuple[str, ...] = tuple(field.split("."))
        node_id = self.inspector.node_id if self.inspector is not None else None
        if node_id is None:
            return ("settings", *parts)
        if parts[0] in NODE_FIELDS:
            return ("nodes", node_id, *parts)
        return ("nodes", node_id, "params", *parts)

    def _follow_renamed(self, renamed: dict[str, str]) -> None:
        """The selection and the form follow this page's nodes that the merge renamed (their old ids now
        name the other tab's nodes: an edit or a Delete must not land there)."""
        if self.canvas is not None and any(n in renamed for n in self.canvas.selection.get("nodes", [])):
            self.canvas.select([renamed.get(n, n) for n in self.canvas.selection["nodes"]])
        if self.inspector is not None and self.inspector.node_id in renamed:
            self.inspector.select(renamed[self.inspector.node_id])

    # -- showing ----------------------------------------------------------------------------------------
    def _show(self, changed: list[Path], focused: dict[str, Any] | None, typing: Path | None) -> None:
        if self.on_merged is not None:
            self.on_merged()
        if self.canvas is not None:
            self._show_canvas(changed)
        if self.inspector is not None and not self._show_form(changed, typing):
            self.inspector.refresh(rebuild=True)
            if focused:
                ui.run_javascript(REFOCUS % (json.dumps(focused["field"]), _js(focused["start"]), _js(focused["end"])))

    def _show_canvas(self, changed: list[Path]) -> None:
        assert self.canvas is not None
        pipeline = self.session.pipeline
        if any(p[0] != "nodes" or len(p) <= 2 for p in changed if p[0] != "settings"):
            # Nodes, edges or comments came or went: draw the graph again (view and selection are kept).
            self.canvas.load_pipeline(pipeline, viewport=self.canvas.viewport)
            self.canvas.show_issues(self.session.issues)
            return
        ids = _node_ids(changed)
        for node in pipeline.nodes:
            if node.id in ids:
                self.canvas.update_node(canvas_node(node))
        self.reload_edges(ids)

    def reload_edges(self, node_ids: Iterable[str]) -> None:
        """Draw the edges touching these nodes again (their colours follow the port types)."""
        assert self.canvas is not None
        ids = set(node_ids)
        nodes = {n["id"]: n for n in (canvas_node(node) for node in self.session.pipeline.nodes)}
        for edge in self.session.pipeline.edges:
            if edge.source in ids or edge.target in ids:
                self.canvas.add_edge(canvas_edge(edge, nodes.get(edge.source)))

    def _show_form(self, changed: list[Path], typing: Path | None) -> bool:
        """Give the form's fields their merged values in place, except the field the user is typing in (it
        keeps their text, and their next keystroke sends it); False when the form must be drawn again."""
        assert self.inspector is not None
        inspector = self.inspector
        node_id = inspector.node_id
        root: Path = ("settings",) if node_id is None else ("nodes", node_id)
        mine = [p[len(root) :] for p in changed if p[: len(root)] == root]
        if not mine:
            return True
        if node_id is not None and (not mine[0] or inspector.session.pipeline.node(node_id) is None):
            return False  # the node itself came or went
        widgets: dict[Path, tuple[Any, Any]] = {}
        for form in inspector.forms:
            for widget in form.widgets.values():
                name = widget.props.get("data-field")
                if isinstance(name, str):
                    name = json.loads(name) if name.startswith('"') else name
                    widgets[self._document_path(name)[len(root) :]] = (form, widget)
        data = _form_data(inspector.session.pipeline, node_id)
        updates = []
        for path in mine:
            if path[:1] == ("position",) or (typing and (*root, *path)[: len(typing)] == typing):
                continue  # not in the form, or the user's own text
            found = widgets.get(path)
            if found is None or not _simple(found[1]):
                return False  # a list grew, a key/value row changed, a field came or went
            updates.append((*found, _value_at(data, path)))
        for form, widget, value in updates:
            handler, form.on_change = form.on_change, _ignore  # the merged value is in the document already
            try:
                widget.set_value(_widget_value(widget, value))
            finally:
                form.on_change = handler
        inspector.show_errors()
        return True


def _ignore(*_: Any) -> None:
    return None


def _js(value: Any) -> str:
    return "null" if value is None else json.dumps(value)


def _node_ids(changed: list[Path]) -> list[str]:
    return list(dict.fromkeys(str(p[1]) for p in changed if p[0] == "nodes" and len(p) > 1))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _form_data(pipeline: Pipeline, node_id: str | None) -> dict[str, Any]:
    document = to_dict(pipeline)
    if node_id is None:
        return dict(document["settings"])
    node = next(n for n in document["nodes"] if n["id"] == node_id)
    return dict(node)


def _value_at(data: Any, path: Path) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _simple(widget: Any) -> bool:
    return isinstance(widget, ui.switch | ui.number | ui.select | ui.input_chips | ui.input)


def _widget_value(widget: Any, value: Any) -> Any:
    """A document value as the widget holds it (the form's own conversion, the other way)."""
    if isinstance(widget, ui.switch):
        return bool(value)
    if isinstance(widget, ui.number | ui.select):
        return value
    if isinstance(widget, ui.input_chips):
        return [str(item) for item in value] if isinstance(value, list) else []
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)
