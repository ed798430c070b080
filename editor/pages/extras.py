"""Smaller editor dialogs: canvas comments, the read-only notebook view, and downloading the document."""

from __future__ import annotations

import logging
from pathlib import Path

from nicegui import run, ui

from dagsmith.nodes import Pipeline, dumps

from ..session import EditorSession

log = logging.getLogger("dagsmith.editor")


class CommentDialog:
    """Edit a comment's text and the nodes it is attached to, or delete it."""

    def __init__(self, session: EditorSession) -> None:
        self.session = session
        self.comment_id: str | None = None
        with ui.dialog().mark("comment-dialog") as self.dialog, ui.card().style("min-width: 420px"):
            ui.label("Comment").classes("text-h6")
            self.text = ui.textarea("Text").classes("w-full").mark("comment-text")
            self.nodes = ui.select([], multiple=True, label="Attached to").classes("w-full").mark("comment-nodes")
            with ui.row().classes("w-full"):
                ui.button("Delete", icon="delete", on_click=self.delete).props("flat color=negative")
                ui.space()
                ui.button("Cancel", on_click=self.dialog.close).props("flat")
                ui.button("Save", on_click=self.save).mark("comment-save")

    def open(self, comment_id: str) -> bool:
        """Show the dialog for a comment; False when ``comment_id`` is not a comment."""
        comment = self.session.comment(comment_id)
        if comment is None:
            return False
        self.comment_id = comment_id
        self.text.value = comment.text
        self.nodes.set_options({n.id: n.display_name for n in self.session.pipeline.nodes}, value=list(comment.nodes))
        self.dialog.open()
        return True

    def save(self) -> None:
        if self.comment_id is not None:
            self.session.edit_comment(self.comment_id, self.text.value or "", list(self.nodes.value or []))
        self.dialog.close()

    def delete(self) -> None:
        if self.comment_id is not None:
            self.session.delete([self.comment_id])
        self.dialog.close()


class NotebookPathError(ValueError):
    """A notebook the viewer will not open; the message says why and what to do (and quotes no file)."""


def resolve_notebook(path: str, roots: list[Path]) -> Path:
    """The notebook's file inside one of ``roots`` (the project's folders), symlinks resolved.

    The viewer reads files on the editor's machine, so it opens nothing outside the project: no absolute
    paths, no ``..`` and no symlink that leads out.
    """
    if not roots:
        raise NotebookPathError(
            f"{path!r} cannot be shown: the project has no local folder (set the project's git repository)"
        )
    candidate = Path(path)
    where = ", ".join(str(root) for root in roots)
    outside = NotebookPathError(
        f"{path!r} is not inside the project folder ({where}); the viewer opens only notebooks there. "
        "Give the notebook's path relative to the project folder."
    )
    if candidate.is_absolute() or ".." in candidate.parts:
        raise outside
    found = False
    for root in roots:
        option = root / candidate
        if not option.is_file():
            continue
        found = True
        resolved = option.resolve()
        if resolved.is_relative_to(root.resolve()):
            return resolved
    if found:  # it exists, but only through a symlink that leads out of the project
        raise outside
    raise NotebookPathError(f"{path!r} was not found in the project folder ({where})")


def notebook_html(path: Path) -> str:
    """The notebook rendered read-only to HTML with nbconvert (inputs and outputs, no execution)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(path, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    return str(body)


class NotebookView:
    """A dialog showing a notebook rendered by nbconvert, in a sandboxed frame (no scripts run)."""

    def __init__(self) -> None:
        with ui.dialog().props("full-width") as self.dialog, ui.card().classes("w-full"):
            with ui.row().classes("w-full items-center"):
                self.title = ui.label().classes("text-h6")
                ui.space()
                ui.button(icon="close", on_click=self.dialog.close).props("flat round")
            self.frame = ui.element("iframe").props('sandbox=""').classes("w-full").style("height: 75vh; border: 0")
            self.frame.mark("notebook-frame")

    async def show(self, notebook: str, roots: list[Path]) -> None:
        """Render and show ``notebook``; a clear message when it is outside the project, missing or unreadable."""
        try:
            path = resolve_notebook(notebook, roots)
        except NotebookPathError as exc:
            ui.notify(str(exc), type="warning", multi_line=True)
            return
        try:
            page = await run.io_bound(notebook_html, path)
        except Exception as exc:  # a broken notebook must not break the editor; its text is never echoed
            log.info("cannot render notebook %s: %s", path, type(exc).__name__)
            ui.notify(
                f"cannot render {notebook!r}: it is not a readable Jupyter notebook ({type(exc).__name__}). "
                "Check that the notebook parameter names an .ipynb file.",
                type="negative",
                multi_line=True,
            )
            return
        self.title.set_text(str(path))
        self.frame.props["srcdoc"] = page
        self.dialog.open()


def download_document(pipeline: Pipeline) -> None:
    """Send the pipeline document (``<dag_id>.dagsmith.json``) to the browser."""
    ui.download.content(dumps(pipeline).encode(), f"{pipeline.dag_id}.dagsmith.json")
